"""A board's whole history, oldest first, in time slices: pure paging logic, no HTTP.

Trello answers a board's actions feed newest first, at most 1000 actions a request, and
takes a date (or an action id) for both `since` and `before`. Paging newest first with
`before=<oldest id>` means reading the whole history before the oldest action is known,
while a first sync must apply it oldest first. Slices turn that around: the history is
cut into consecutive ranges of dates, each read with since=<its start> and before=<its
end>, and handed over whole, the oldest slice first, so that a caller can apply and
checkpoint one slice while the next one is read.

What a caller may rely on:

- every action of the feed dated in [start, end) comes exactly once across the slices;
- each slice is complete (every action of the feed dated in its range is in it) and
  sorted oldest first by (date, id);
- slices come oldest first. The one exception is an action the feed did not show when
  the slice of its date was read (Trello showing it late, or an id whose embedded time
  disagrees with its date by more than the margin): it comes, once, in the next slice
  that reads it, at the front of that slice.

Whether Trello's `since` and `before` include their boundary, and whether a date bound
is compared with an action's `date` or with the time embedded in its id (to the
second), is not known for sure. So every request reaches a margin (2 s) past both ends
of its slice, each action is placed in the slice of its own `date` (one read later than
its slice is kept for the slice it belongs to), and the ids handed over near an edge are
remembered: whichever way the feed draws its boundaries, the overlap is read by both
neighbours and handed over once.

Each slice is sized from the density of the one before, so that it takes a few requests
of which all but the last bring a full page, and the last one nearly a full page. The
first request reads the newest page of the whole range: a short history is that one
request, as with plain paging; a longer one keeps that page as its last slice, so no
page is read twice. A slice denser than its estimate is paged within by
`before=<oldest id>`; one whose pages show it would take more than `held_pages` pages is
given up and read again narrower (the pages it took are read again: the one case where a
page is read twice), so that memory stays bounded whatever the board holds. Only a
stretch narrower than `min_width_ms` is held whole, however many pages it takes.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from trello_sync.trello.pager import MAX_PAGE_SIZE, PagingStalled, action_order
from trello_sync.trello.port import PageProgress

Action = dict[str, Any]
FetchPage = Callable[[dict[str, str]], list[Action]]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
# Before any Trello board existed: where a history whose board id tells no creation time
# is looked for from (empty slices grow eightfold, so the years before cost a few requests).
TRELLO_EPOCH = datetime(2011, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SlicePolicy:
    """How slices are sized. The defaults suit Trello's 1000-action pages."""

    pages: int = 5  # requests a slice aims to take (all but the last one full)
    margin_ms: int = 2000  # each request reaches this far past both ends of its slice
    growth: float = 4.0  # a slice is at most this many times wider than the one before
    empty_growth: float = 8.0  # ... or this many, after a slice that held nothing
    held_pages: int = 15  # a slice that would take more is read again, narrower
    first_width_ms: int = 86_400_000  # when nothing tells the density: one day
    # No narrower (unless the range itself is): below a few margins, each request would
    # mostly re-read its neighbours' overlap. A denser stretch is paged within instead.
    min_width_ms: int = 8000
    first_error: float = 0.05  # the assumed spread of an estimate before any is checked
    reserve_min: float = 0.02  # a slice aims below `pages` full pages by at least this
    reserve_max: float = 0.3  # ... and at most this (fractions of the pages)
    # Slices are sized from the same stretch one period earlier (boards follow the days
    # and the week), corrected by the trend between the last two periods.
    period_ms: int = 7 * 86_400_000


def _ms(when: datetime) -> int:
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when!r}: slices need aware instants")
    return (when - _EPOCH) // _MS


def _text(ms: int) -> str:
    """Trello's date form (`2026-11-28T09:15:00.000Z`): fixed width, so that plain string
    order is time order and an action's `date` compares with it as it is."""
    when = _EPOCH + max(ms, 0) * _MS
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _parse_ms(text: str) -> int | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return _ms(parsed)


def _id_second(ms: int) -> str:
    # The first 8 hex digits of an ObjectId made at that instant (its creation second).
    return f"{max(ms, 0) // 1000:08x}"


def _date(action: Action) -> str:
    return str(action.get("date") or "")


def iter_history_slices(
    fetch_page: FetchPage,
    *,
    origin: datetime | None,
    start: datetime | None = None,
    end: datetime | None = None,
    action_filter: str,
    page_size: int = MAX_PAGE_SIZE,
    on_page: PageProgress | None = None,
    policy: SlicePolicy | None = None,
) -> Iterator[list[Action]]:
    """The feed's actions dated in [start, end), in slices oldest first (see the module).

    `fetch_page(params)` performs one request with these query parameters and returns the
    decoded JSON list. `origin` is when the board was created (None if unknown): where the
    first slice is sized from when `start` is None (that slice has no lower bound, so an
    action dated before the board is still read). `end` None reads up to the newest
    action. `on_page(count, reached)` is called after each request: actions read so far,
    and the date up to which the history has been handed over (None at first).
    A request runs only when the next slice is asked for.
    """
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, not {page_size}")
    if start is not None and end is not None and end <= start:
        return
    slicer = _Slicer(
        fetch_page,
        action_filter=action_filter,
        page_size=page_size,
        policy=policy or SlicePolicy(),
        on_page=on_page,
        lo=_ms(start) if start is not None else None,
        hi=_ms(end) if end is not None else None,
    )
    yield from slicer.run(_ms(origin) if origin is not None else None)


@dataclass
class _Read:
    """What the requests of one slice brought, in the order they came."""

    actions: list[Action]
    full: bool  # the last page was full (only when reading stopped after one page)
    cursor: str | None  # the smallest id of the last page
    oldest: str | None  # the oldest date read
    # Set when the read was given up because the slice holds far more than estimated:
    # the density (actions per ms) of its last page, to size a narrower slice with.
    too_dense: float | None = None


class _Slicer:
    def __init__(
        self,
        fetch_page: FetchPage,
        *,
        action_filter: str,
        page_size: int,
        policy: SlicePolicy,
        on_page: PageProgress | None,
        lo: int | None,
        hi: int | None,
    ) -> None:
        self._fetch = fetch_page
        self._filter = action_filter
        self._page_size = page_size
        self._policy = policy
        self._on_page = on_page
        self._lo, self._hi = lo, hi
        self._lo_text = _text(lo) if lo is not None else None
        self._hi_text = _text(hi) if hi is not None else None
        self._margin = policy.margin_ms
        # Read before the slice of their date: kept for it (id -> action).
        self._carried: dict[str, Action] = {}
        # Handed over, and near enough the edge to be read again (id -> date).
        self._handed: dict[str, str] = {}
        self._read_count = 0
        self._reached: str | None = None
        self._spread = policy.first_error  # of the density estimate, as a log ratio
        # The dates (ms) of the actions handed over in the last two periods and a slice,
        # oldest first, from `_known_from` on (where the slices below the newest began).
        self._times: list[int] = []
        self._known_from: int | None = None
        self._last_width = 0

    # --- the plan ------------------------------------------------------------------------
    def run(self, origin: int | None) -> Iterator[list[Action]]:
        probe = self._read(self._lo, self._hi, first_page_only=True)
        if not probe.full:
            yield from self._hand_over(probe.actions, self._lo, None)
            return
        # The newest page of the range is full: it becomes the last slice, from its
        # oldest date on; the slices below it are read and handed over first.
        tail_from = _parse_ms(probe.oldest or "")
        floor = self._lo if self._lo is not None else origin
        if self._lo is None and (floor is None or (tail_from is not None and floor >= tail_from)):
            floor = _ms(TRELLO_EPOCH)  # no creation time to trust: from before any board
        assert floor is not None
        if tail_from is None or tail_from <= floor:
            # No room below that page (or no date to cut at): page on by ids, one slice.
            rest = self._read(self._lo, self._hi, cursor=probe.cursor)
            yield from self._hand_over(probe.actions + rest.actions, self._lo, None)
            return
        yield from self._slices_below(floor, tail_from, _page_rate(probe.actions))
        # The newest page, with what the slices below read of its range (fresher copies).
        carried, self._carried = list(self._carried.values()), {}
        yield from self._hand_over(probe.actions + carried, tail_from, None)

    def _slices_below(self, floor: int, stop: int, rate: float | None) -> Iterator[list[Action]]:
        """Slices from `floor` up to `stop` (exclusive), each sized from the ones before."""
        policy, margin = self._policy, self._margin
        begin = floor
        self._known_from = floor
        lower: int | None = self._lo  # the first slice's request: no `since` if None
        # The first slice aims at one page: its estimate (from the newest page) is the
        # weakest, and the start of a history is often sparser or denser than its end.
        width = self._width(1, rate)
        predicted: float | None = rate * (width + 2 * margin) if rate else None
        while begin < stop:
            finish = min(begin + width, stop)
            if finish < begin + width:
                predicted = None  # cut at the newest page: not the width estimated
            narrow = finish - begin > policy.min_width_ms
            read = self._read(lower, finish, narrower_from=begin if narrow else None)
            if read.too_dense is not None:
                # Given up after a page or a few: narrower, from the same start.
                rate = read.too_dense
                width = min(self._width(policy.pages, rate), (finish - begin) // 2)
                width = max(width, policy.min_width_ms)
                predicted = rate * (width + 2 * margin)
                continue
            returned = len(read.actions)
            if predicted is not None and predicted >= self._page_size / 2 and returned:
                self._learn(returned / predicted)
            yield from self._hand_over(read.actions, lower, finish)
            self._reached = _text(finish)
            previous = finish - begin
            span = previous + 2 * margin
            begin = lower = finish
            self._last_width = previous
            if returned:
                rate = returned / span
                width = min(self._width(policy.pages, rate), int(previous * policy.growth))
                width = max(width, policy.min_width_ms)
                predicted = rate * (width + 2 * margin)
                seasonal = self._seasonal(begin, policy.pages, width)
                if seasonal is not None:
                    width, predicted = seasonal
            else:
                width = max(int(previous * policy.empty_growth), policy.min_width_ms)
                predicted = None

    def _period(self, width: int) -> int:
        unit = self._policy.period_ms
        return unit * max(1, math.ceil((width + 2 * self._margin) / unit))

    def _seasonal(self, begin: int, pages: int, width: int) -> tuple[int, float] | None:
        """The width whose requests should bring the target, judged by what the same
        stretch one period earlier held, times the trend from the period before that;
        and the count that predicts. None when too little is known (then the density
        alone sizes the slice). Kept within a factor 4 of `width` (the density's)."""
        margin, times = self._margin, self._times
        # Whole periods, at least as long as the slice: its shifted window is all known.
        period = self._period(width)
        if self._known_from is None or begin - 2 * period < self._known_from:
            return None
        last = bisect_left(times, begin) - bisect_left(times, begin - period)
        before = bisect_left(times, begin - period) - bisect_left(times, begin - 2 * period)
        trend = min(max(last / before, 0.5), 2.0) if before >= self._page_size else 1.0
        wanted = self._target(pages) / trend  # actions in the shifted window
        first = bisect_left(times, begin - margin - period)
        index = first + int(wanted)
        if index >= len(times) or times[index] > begin - margin:
            return None  # the shifted window would reach past what is known
        end = times[index] - margin + period  # so that [begin - m, end + m) shifted holds it
        chosen = min(max(end - begin, width // 4, self._policy.min_width_ms), width * 4)
        shifted = bisect_left(times, begin + chosen + margin - period) - first
        return chosen, shifted * trend

    def _width(self, pages: int, rate: float | None) -> int:
        """The width (ms) whose requests should bring about `pages` pages at `rate`."""
        if not rate or rate <= 0:
            return self._policy.first_width_ms
        width = int(self._target(pages) / rate) - 2 * self._margin
        return max(width, self._policy.min_width_ms)

    def _target(self, pages: int) -> float:
        """Actions to aim at: just below `pages` full pages, by twice the estimate's
        spread (a slice of exactly n full pages needs one more request to end)."""
        policy = self._policy
        reserve = min(max(2 * self._spread, policy.reserve_min), policy.reserve_max)
        return max(pages * self._page_size * (1 - reserve), 1.0)

    def _learn(self, ratio: float) -> None:
        """How far off the last estimate was, into the spread of estimates (a log ratio).
        Clipped: one slice far off (a history's first weeks, a burst) says little about
        the next, and must not make every slice after it aim low."""
        error = min(max(math.log(ratio), -0.1), 0.1)
        self._spread = math.sqrt(0.7 * self._spread**2 + 0.3 * error * error)

    # --- requests --------------------------------------------------------------------------
    def _read(
        self,
        lower: int | None,
        upper: int | None,
        *,
        first_page_only: bool = False,
        cursor: str | None = None,
        narrower_from: int | None = None,
    ) -> _Read:
        """Every action the feed has in [lower - margin, upper + margin): one request, then
        `before=<oldest id>` while pages come back full. With `narrower_from` (where the
        slice starts), the read is given up as soon as its pages show that the slice
        holds more than `held_pages` pages (the caller then reads a narrower one)."""
        base = {"filter": self._filter, "limit": str(self._page_size)}
        if lower is not None:
            base["since"] = _text(lower - self._margin)
        pages: list[list[Action]] = []
        oldest: str | None = None
        smallest: str | None = None
        while True:
            params = dict(base)
            if cursor is not None:
                params["before"] = cursor
            elif upper is not None:
                params["before"] = _text(upper + self._margin)
            page = self._fetch(params)
            smallest = None
            for action in page:
                aid, date = str(action["id"]), _date(action)
                # The smallest id, not the last item: a page can arrive out of order.
                if smallest is None or aid < smallest:
                    smallest = aid
                if date and (oldest is None or date < oldest):
                    oldest = date
            full = len(page) >= self._page_size
            if full and cursor is not None and smallest is not None and smallest >= cursor:
                raise PagingStalled(
                    f"Trello's actions feed stopped moving back at action {smallest} "
                    f"({self._read_count} actions read); refusing to return a partial history"
                )
            pages.append(page)
            self._read_count += len(page)
            if self._on_page is not None:
                self._on_page(self._read_count, self._reached)
            if not full or smallest is None or first_page_only:
                break
            cursor = smallest
            if narrower_from is not None and oldest:
                dense = self._too_dense(page, len(pages), narrower_from, oldest)
                if dense is not None:
                    return _Read([], full, smallest, oldest, too_dense=dense)
        actions = [action for page in pages for action in page]
        return _Read(actions, full, smallest, oldest)

    def _too_dense(self, page: list[Action], pages: int, begin: int, oldest: str) -> float | None:
        """The density of this last page, if at that density the slice would take more
        than `held_pages` pages in all; else None."""
        rate = _page_rate(page)
        reached = _parse_ms(oldest)
        if rate is None or reached is None:
            return None
        left = max(reached - (begin - self._margin), 0) * rate / self._page_size
        return rate if pages + left > self._policy.held_pages else None

    # --- handing over ----------------------------------------------------------------------
    def _hand_over(
        self, fresh: list[Action], lower: int | None, upper: int | None
    ) -> Iterator[list[Action]]:
        """The slice [lower, upper): what its requests read (later copies win), with what
        earlier requests read of it, minus what was handed over already; what belongs to
        a later slice is kept for it. Nothing is yielded for an empty slice."""
        lower_text = _text(lower) if lower is not None else None
        upper_text = _text(upper) if upper is not None else None
        lo_text, hi_text, handed = self._lo_text, self._hi_text, self._handed
        chosen: dict[str, Action] = {}
        if self._carried:
            for aid, action in list(self._carried.items()):
                if upper_text is None or _date(action) < upper_text:
                    chosen[aid] = action
                    del self._carried[aid]
        for action in fresh:
            aid, date = str(action["id"]), _date(action)
            if lo_text is not None and date < lo_text:
                continue  # before the range asked for
            if hi_text is not None and date >= hi_text:
                continue  # after it
            if upper_text is not None and date >= upper_text:
                self._carried[aid] = action  # a later slice's
                chosen.pop(aid, None)
                continue
            if lower_text is not None and date < lower_text and aid in handed:
                continue  # an earlier slice's, handed over already
            chosen[aid] = action
        ordered = sorted(chosen.values(), key=action_order)
        for action in ordered:
            handed[str(action["id"])] = _date(action)
        self._forget(upper)
        if upper is not None and self._known_from is not None:
            self._remember_times(ordered, upper)
        if ordered:
            yield ordered

    def _remember_times(self, ordered: list[Action], upper: int) -> None:
        """Keep the dates the sizing reads: two periods and a slice back from `upper`."""
        times = self._times
        newest = times[-1] if times else None
        for action in ordered:
            at = _parse_ms(_date(action))
            if at is not None and (newest is None or at >= newest):
                times.append(at)  # a late action (dated before the last ones) is left out
                newest = at
        keep_from = upper - 3 * self._period(self._last_width)
        drop = bisect_left(times, keep_from)
        if drop > len(times) // 2:
            del times[:drop]

    def _forget(self, upper: int | None) -> None:
        """Ids that no later request can bring back: neither dated nor made within the
        margin (and a second, for an id's whole-second time) of the next slice."""
        if upper is None:
            self._handed.clear()
            return
        edge = upper - self._margin - 1000
        date_edge, id_edge = _text(edge), _id_second(edge)
        self._handed = {
            aid: date
            for aid, date in self._handed.items()
            if date >= date_edge or aid[:8] >= id_edge
        }


def _page_rate(page: list[Action]) -> float | None:
    """Actions per ms over the dates a page spans (None if it spans no time)."""
    dates = [d for d in (_date(a) for a in page) if d]
    if len(dates) < 2:
        return None
    newest, oldest = _parse_ms(max(dates)), _parse_ms(min(dates))
    if newest is None or oldest is None or newest <= oldest:
        return None
    return len(page) / (newest - oldest)
