"""History slices against an in-test feed that draws its boundaries every plausible way.

Trello's `since`/`before` take a date or an id; whether they include their boundary, and
whether a date is compared with an action's `date` or with the time its id embeds (to
the second), is unknown. The feed here does each: the slices must come out the same.
"""

from __future__ import annotations

import itertools
import random
from bisect import bisect_left, bisect_right
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from trello_sync.trello.pager import PagingStalled, action_order
from trello_sync.trello.slices import SlicePolicy, iter_history_slices

Action = dict[str, Any]
T0 = datetime(2024, 3, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PAGE = 100  # small pages keep the histories small; the logic is the same at 1000


def ms_of(when: datetime) -> int:
    return (when - EPOCH) // timedelta(milliseconds=1)


def date_text(ms: int) -> str:
    when = EPOCH + timedelta(milliseconds=ms)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


class History:
    """Actions whose ids embed their creation second, as Trello's ObjectIds do."""

    def __init__(self) -> None:
        self.actions: list[Action] = []
        self._n = 0

    def add(self, ms: int, *, id_ms: int | None = None) -> Action:
        """An action dated `ms`; its id made at `id_ms` (default: the same instant)."""
        self._n += 1
        made = ms if id_ms is None else id_ms
        action = {
            "id": f"{made // 1000:08x}{made % 1000:03x}{self._n:013x}",
            "type": "commentCard",
            "date": date_text(ms),
        }
        self.actions.append(action)
        return action

    def spread(self, n: int, start: datetime, span: timedelta, seed: int = 1) -> None:
        rng = random.Random(seed)
        first, width = ms_of(start), span // timedelta(milliseconds=1)
        for ms in sorted(first + rng.randrange(width) for _ in range(n)):
            self.add(ms)

    def ordered(self) -> list[Action]:
        return sorted(self.actions, key=action_order)


def _is_id(value: str) -> bool:
    return len(value) == 24 and all(c in "0123456789abcdef" for c in value)


class Feed:
    """Newest first, `limit` at most. `by="date"`: a date bound is compared with `date`
    (to the millisecond), an id bound with ids; `by="id"`: the feed is in id order and a
    date bound becomes the id of its second (as Mongo's ObjectId.createFromTime would)."""

    def __init__(self, history: History, *, by: str = "date", inclusive: bool = False) -> None:
        self.history, self.by, self.inclusive = history, by, inclusive
        self.calls: list[dict[str, str]] = []
        self.sizes: list[int] = []  # how many actions each answer held
        self._index: tuple[int, list[Action], list[str], list[str], bool] | None = None

    def _sorted(self) -> tuple[list[Action], list[str], list[str], bool]:
        n = len(self.history.actions)
        if self._index is None or self._index[0] != n:
            order = action_order if self.by == "date" else (lambda a: a["id"])
            rows = sorted(self.history.actions, key=order)
            id_list = [a["id"] for a in rows]
            self._index = (n, rows, [a["date"] for a in rows], id_list, id_list == sorted(id_list))
        return self._index[1:]

    def _position(self, bound: str, *, upper: bool) -> tuple[int, bool]:
        """Where `bound` falls in the sorted feed, and whether that position is exact."""
        _, dates, id_list, ids_sorted = self._sorted()
        if _is_id(bound):
            keys, value, exact = id_list, bound, ids_sorted or self.by == "id"
        elif self.by == "date":
            keys, value, exact = dates, bound, True
        else:
            second = int(datetime.fromisoformat(bound.replace("Z", "+00:00")).timestamp())
            keys, value, exact = id_list, f"{second:08x}" + "0" * 16, True
        # since: the first row after the bound; before: the first row at or past it.
        take_equal = self.inclusive != upper
        pos = bisect_left(keys, value) if take_equal else bisect_right(keys, value)
        return pos, exact

    def __call__(self, params: dict[str, str]) -> list[Action]:
        self.calls.append(dict(params))
        rows, _, _, _ = self._sorted()
        lo, hi, exact = 0, len(rows), True
        if "since" in params:
            lo, ok = self._position(params["since"], upper=False)
            exact = exact and ok
        if "before" in params:
            hi, ok = self._position(params["before"], upper=True)
            exact = exact and ok
        # Ids out of step with dates: compare one by one.
        chosen = rows[lo:hi] if exact else [a for a in rows if self._inside(a, params)]
        page = [dict(a) for a in reversed(chosen[-int(params["limit"]) :])]
        if int(params["limit"]) == 0:
            page = []
        self.sizes.append(len(page))
        return page

    def _inside(self, action: Action, params: dict[str, str]) -> bool:
        for name, sign in (("since", 1), ("before", -1)):
            if name not in params:
                continue
            bound = params[name]
            mine = action["id"] if _is_id(bound) else action["date"]
            if (mine > bound) - (mine < bound) not in ((sign, 0) if self.inclusive else (sign,)):
                return False
        return True


FEEDS = [("date", False), ("date", True), ("id", False), ("id", True)]


def slices_of(
    feed: Feed, *, origin: datetime | None = T0, page_size: int = PAGE, **kw: Any
) -> list[list[Action]]:
    return list(
        iter_history_slices(feed, origin=origin, action_filter="x", page_size=page_size, **kw)
    )


def ids(actions: list[Action]) -> list[str]:
    return [a["id"] for a in actions]


def assert_whole_and_in_order(slices: list[list[Action]], expected: list[Action]) -> None:
    got = [a for s in slices for a in s]
    assert len(set(ids(got))) == len(got), "an action came twice"
    for s in slices:
        assert s == sorted(s, key=action_order), "a slice out of order"
    # Each slice sorted and their concatenation the whole feed sorted: each slice is
    # exactly the feed's actions between its first and its last (complete).
    assert ids(got) == ids(expected)


def assert_no_request_twice(feed: Feed) -> None:
    keys = Counter(tuple(sorted(c.items())) for c in feed.calls)
    assert max(keys.values(), default=1) == 1, "a page was fetched twice"


@pytest.mark.parametrize(("by", "inclusive"), FEEDS)
@pytest.mark.parametrize("n", [0, 1, PAGE - 1, PAGE, PAGE + 1, 7_000])
def test_every_action_once_oldest_first_in_complete_slices(
    n: int, by: str, inclusive: bool
) -> None:
    history = History()
    history.spread(n, T0 + timedelta(days=2), timedelta(days=300))
    feed = Feed(history, by=by, inclusive=inclusive)
    slices = slices_of(feed)
    assert_whole_and_in_order(slices, history.ordered())
    assert_no_request_twice(feed)
    assert all(c["limit"] == str(PAGE) for c in feed.calls)
    if n < PAGE:
        assert len(feed.calls) == 1  # a short history is one request, as plain paging
        assert feed.calls[0] == {"filter": "x", "limit": str(PAGE)}


def mentor_days(n: int, seed: int = 1) -> History:
    """A mentor's board over three years: students start one after another and are
    followed for a year each, comments only in working hours (8:00 to 18:00)."""
    rng = random.Random(seed)
    students = max(10, n // 500)
    step = timedelta(days=2 * 365) / students
    dates = []
    for k in range(students):
        first = T0 + step * k + timedelta(days=2)
        for _ in range(n // students):
            day = first + timedelta(days=rng.randrange(361))
            dates.append(ms_of(day.replace(hour=8)) + rng.randrange(10 * 3600 * 1000))
    history = History()
    for ms in sorted(dates):
        history.add(ms)
    return history


@pytest.mark.parametrize(("by", "inclusive"), FEEDS)
def test_requests_stay_close_to_the_fewest_pages(by: str, inclusive: bool) -> None:
    history = mentor_days(60_000)
    feed = Feed(history, by=by, inclusive=inclusive)
    slices = slices_of(feed, page_size=1000)
    assert_whole_and_in_order(slices, history.ordered())
    fewest = 60_000 // 1000 + 1  # plain paging with before=<oldest id>
    assert len(feed.calls) <= fewest * 1.15, f"{len(feed.calls)} requests for {fewest} pages"
    # Slices aim just below a few full pages: most requests bring a full page.
    assert sum(feed.sizes) / len(feed.sizes) >= 870
    assert max(len(s) for s in slices) <= SlicePolicy().held_pages * 1000


def test_a_slice_is_read_with_since_and_before_dates_around_its_range() -> None:
    history = History()
    history.spread(3_000, T0, timedelta(days=100))
    feed = Feed(history)
    slices = slices_of(feed)
    # The first request is the newest page of everything; every later one is bounded by
    # dates (or, inside a slice that filled a page, by the oldest id read).
    assert "since" not in feed.calls[0] and "before" not in feed.calls[0]
    for call in feed.calls[2:]:
        assert "since" in call and "before" in call
    dated = [c for c in feed.calls[2:] if not _is_id(c["before"])]
    assert dated and all(c["since"] < c["before"] for c in dated)
    # Consecutive slices overlap by the margin on each side: nothing falls between.
    for a, b in itertools.pairwise(dated):
        assert b["since"] < a["before"]
    assert len(slices) >= 3


def test_start_and_end_bound_the_dates_handed_over() -> None:
    history = History()
    history.spread(2_000, T0, timedelta(days=40))
    start, end = T0 + timedelta(days=10), T0 + timedelta(days=30)
    feed = Feed(history)
    slices = slices_of(feed, start=start, end=end)
    expected = [a for a in history.ordered() if date_text(ms_of(start)) <= a["date"]]
    expected = [a for a in expected if a["date"] < date_text(ms_of(end))]
    assert_whole_and_in_order(slices, expected)
    assert slices_of(Feed(history), start=end, end=start) == []


def test_an_action_exactly_at_a_bound_is_in_once_whichever_way_the_feed_counts_it() -> None:
    for by, inclusive in FEEDS:
        history = History()
        history.spread(500, T0, timedelta(days=10))
        start = T0 + timedelta(days=3)
        on_start = history.add(ms_of(start))
        feed = Feed(history, by=by, inclusive=inclusive)
        got = [a for s in slices_of(feed, start=start) for a in s]
        assert ids(got).count(on_start["id"]) == 1
        assert got[0]["id"] == on_start["id"] or got[0]["date"] == on_start["date"]


@pytest.mark.parametrize(("by", "inclusive"), FEEDS)
def test_crowds_in_one_millisecond_and_one_second_at_slice_edges(by: str, inclusive: bool) -> None:
    history = History()
    history.spread(2_000, T0, timedelta(days=60))
    for day in (5, 17, 33):  # bursts somewhere inside or across slices
        at = ms_of(T0 + timedelta(days=day, hours=3))
        for _ in range(450):
            history.add(at)  # one millisecond
        for i in range(450):
            history.add(at + 5000 + i)  # one second
    feed = Feed(history, by=by, inclusive=inclusive)
    assert_whole_and_in_order(slices_of(feed), history.ordered())
    assert_no_request_twice(feed)


def test_a_dense_stretch_is_cut_short_so_no_slice_holds_too_much() -> None:
    history = History()
    history.spread(400, T0, timedelta(days=200), seed=2)  # sparse: wide slices
    history.spread(20_000, T0 + timedelta(days=120), timedelta(hours=6), seed=3)  # then dense
    history.spread(400, T0 + timedelta(days=200), timedelta(days=50), seed=5)
    policy = SlicePolicy(held_pages=8)
    for by, inclusive in FEEDS:
        feed = Feed(history, by=by, inclusive=inclusive)
        slices = slices_of(feed, policy=policy)
        assert_whole_and_in_order(slices, history.ordered())
        # Bounded by what may be held, plus one page past the cut and the carried edge.
        assert max(len(s) for s in slices) <= (policy.held_pages + 2) * PAGE


def test_one_instant_holding_many_pages_is_still_read_whole() -> None:
    history = History()
    history.spread(300, T0, timedelta(days=10))
    at = ms_of(T0 + timedelta(days=4))
    for _ in range(3_000):
        history.add(at)  # more than held_pages pages in one millisecond: cannot be cut
    for by, inclusive in FEEDS:
        feed = Feed(history, by=by, inclusive=inclusive)
        assert_whole_and_in_order(
            slices_of(feed, policy=SlicePolicy(held_pages=5)), history.ordered()
        )


@pytest.mark.parametrize("inclusive", [False, True])
def test_an_id_far_from_its_date_comes_once(inclusive: bool) -> None:
    # Trello's order is not causal: an update dated before the card's creation. Here
    # actions whose ids were made milliseconds to a day away from their dates, both ways,
    # in a feed in id order whose date bounds are ids of their second (a feed in date
    # order but cut by ids would lose such actions to plain `before=<id>` paging too).
    by = "id"
    history = History()
    history.spread(3_000, T0, timedelta(days=90))
    odd = []
    for k, shift in enumerate((-29, 29, -90_000, 90_000, -3_600_000, 3_600_000, -86_400_000)):
        when = ms_of(T0 + timedelta(days=10 + 9 * k))
        odd.append(history.add(when, id_ms=when + shift))
    feed = Feed(history, by=by, inclusive=inclusive)
    slices = slices_of(feed)
    got = [a for s in slices for a in s]
    assert Counter(ids(got)) == Counter(ids(history.actions)), "lost or doubled"
    for s in slices:
        assert s == sorted(s, key=action_order)


def test_actions_before_the_boards_creation_or_with_no_known_origin() -> None:
    history = History()
    history.spread(2_500, T0, timedelta(days=30))
    early = history.add(ms_of(T0 - timedelta(days=400)))  # dated before the board
    for origin in (T0, None, T0 + timedelta(days=365)):
        feed = Feed(history)
        slices = slices_of(feed, origin=origin)
        assert_whole_and_in_order(slices, history.ordered())
        assert slices[0][0]["id"] == early["id"]


def test_actions_added_while_paging_are_never_doubled_and_nothing_older_is_lost() -> None:
    history = History()
    history.spread(3_000, T0, timedelta(days=60))
    at_start = history.ordered()
    feed = Feed(history)
    added: list[str] = []

    def growing(params: dict[str, str]) -> list[Action]:
        n = len(feed.calls)
        # Between requests: a new action now, one backdated into the part not yet read,
        # one into the part already handed over.
        added.append(history.add(ms_of(T0 + timedelta(days=61, seconds=n)))["id"])
        added.append(history.add(ms_of(T0 + timedelta(days=55, seconds=n)))["id"])
        added.append(history.add(ms_of(T0 + timedelta(days=1, seconds=n)))["id"])
        return feed(params)

    slices = list(iter_history_slices(growing, origin=T0, action_filter="x", page_size=PAGE))
    got = [a for s in slices for a in s]
    assert len(set(ids(got))) == len(got), "an action came twice"
    assert set(ids(at_start)) <= set(ids(got)), "an action older than the start was lost"
    assert set(ids(got)) <= set(ids(at_start)) | set(added)
    for s in slices:
        assert s == sorted(s, key=action_order)


def test_an_edited_comment_comes_in_its_latest_copy() -> None:
    history = History()
    history.spread(1_000, T0, timedelta(days=20))
    target = history.ordered()[-5]  # on the newest page, which is handed over last
    feed = Feed(history)
    seen = 0

    def editing(params: dict[str, str]) -> list[Action]:
        nonlocal seen
        seen += 1
        if seen == 3:
            target["data"] = {"text": "edited while paging"}
        return feed(params)

    got = [
        a
        for s in iter_history_slices(editing, origin=T0, action_filter="x", page_size=PAGE)
        for a in s
    ]
    mine = next(a for a in got if a["id"] == target["id"])
    # Read first on the newest page; read again at the edge of the slice below it only if
    # its date sits in the overlap. Either way it comes once, and never older than read.
    assert ids(got).count(target["id"]) == 1
    assert mine.get("data") in (None, {"text": "edited while paging"})


def test_a_feed_that_ignores_before_stops_instead_of_looping() -> None:
    history = History()
    history.spread(1_000, T0, timedelta(days=20))
    calls = []

    def broken(params: dict[str, str]) -> list[Action]:
        calls.append(params)  # the same newest page whatever is asked
        return sorted(history.actions, key=action_order, reverse=True)[:PAGE]

    with pytest.raises(PagingStalled, match="refusing to return a partial history"):
        slices_of(broken)  # type: ignore[arg-type]
    assert len(calls) < 50


def test_pages_out_of_order_change_nothing() -> None:
    history = History()
    history.spread(2_000, T0, timedelta(days=30))
    feed, rng = Feed(history), random.Random(3)

    def shuffled(params: dict[str, str]) -> list[Action]:
        page = feed(params)
        rng.shuffle(page)
        return page

    assert_whole_and_in_order(slices_of(shuffled), history.ordered())  # type: ignore[arg-type]


def test_requests_run_only_as_slices_are_asked_for_and_progress_is_reported() -> None:
    history = History()
    history.spread(3_000, T0, timedelta(days=60))
    feed = Feed(history)
    seen: list[tuple[int, str | None]] = []
    slices = iter_history_slices(
        feed, origin=T0, action_filter="x", page_size=PAGE, on_page=lambda n, d: seen.append((n, d))
    )
    assert feed.calls == []
    first = next(slices)
    asked = len(feed.calls)
    assert asked <= 3  # the newest page, then the first slice
    assert first and first[0]["id"] == history.ordered()[0]["id"]
    rest = list(slices)
    assert len(feed.calls) > asked and rest
    assert len(seen) == len(feed.calls)
    counts = [n for n, _ in seen]
    assert counts == sorted(counts) and counts[-1] >= 3_000
    reached = [d for _, d in seen if d is not None]
    assert reached == sorted(reached) and reached  # the date handed over up to


def test_page_size_and_naive_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        slices_of(Feed(History()), page_size=1001)
    with pytest.raises(ValueError):
        slices_of(Feed(History()), start=datetime(2024, 1, 1))
