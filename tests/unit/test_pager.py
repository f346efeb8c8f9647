"""The action pager against a small in-test feed with either boundary semantics."""

from __future__ import annotations

import random
from typing import Any

import pytest

from trello_sync.trello.pager import PagingStalled, action_order, fetch_all_actions

T0 = 1_700_000_000  # seconds; ids embed their creation second like Mongo ObjectIds


def make_actions(n: int, *, same_second: bool = False) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        sec = T0 if same_second else T0 + i // 3  # several actions share each second
        ms = 0 if same_second else (i % 3) * 10
        out.append(
            {
                "id": f"{sec:08x}{i:016x}",
                "type": "commentCard",
                "date": f"2023-11-14T22:{(sec - T0) // 60 % 60:02d}:{(sec - T0) % 60:02d}"
                f".{ms:03d}Z",
            }
        )
    return out


class Feed:
    """Newest first; `before`/`since` compare ids, inclusive or exclusive as asked."""

    def __init__(self, actions: list[dict[str, Any]], *, inclusive: bool = False) -> None:
        self.actions = actions
        self.inclusive = inclusive
        self.calls: list[dict[str, str]] = []

    def __call__(self, params: dict[str, str]) -> list[dict[str, Any]]:
        self.calls.append(dict(params))
        rows = sorted(self.actions, key=lambda a: a["id"], reverse=True)
        if "since" in params:
            s = params["since"]
            rows = [a for a in rows if a["id"] > s or (self.inclusive and a["id"] == s)]
        if "before" in params:
            b = params["before"]
            rows = [a for a in rows if a["id"] < b or (self.inclusive and a["id"] == b)]
        return rows[: int(params["limit"])]


def ids(actions: list[dict[str, Any]]) -> list[str]:
    return [a["id"] for a in actions]


@pytest.mark.parametrize("inclusive", [False, True])
@pytest.mark.parametrize(("n", "requests"), [(0, 1), (999, 1), (1000, 2), (1001, 2), (2500, 3)])
def test_every_action_once_oldest_first(n: int, requests: int, inclusive: bool) -> None:
    actions = make_actions(n)
    feed = Feed(actions, inclusive=inclusive)
    got = fetch_all_actions(feed, since=None, action_filter="commentCard")
    assert ids(got) == ids(sorted(actions, key=action_order))
    assert len(set(ids(got))) == n
    assert len(feed.calls) == requests
    assert feed.calls[0] == {"filter": "commentCard", "limit": "1000"}
    if n > 1000:
        # before = the oldest id of the previous page
        assert feed.calls[1]["before"] == sorted(ids(actions), reverse=True)[999]


@pytest.mark.parametrize("inclusive", [False, True])
def test_many_actions_with_one_timestamp(inclusive: bool) -> None:
    actions = make_actions(2100, same_second=True)
    assert len({a["date"] for a in actions}) == 1
    got = fetch_all_actions(Feed(actions, inclusive=inclusive), since=None, action_filter="x")
    assert ids(got) == sorted(ids(actions))  # ties broken by id


@pytest.mark.parametrize("inclusive", [False, True])
def test_since_is_respected_and_its_own_action_left_out(inclusive: bool) -> None:
    actions = make_actions(1500)
    since = sorted(ids(actions))[400]
    feed = Feed(actions, inclusive=inclusive)
    got = fetch_all_actions(feed, since=since, action_filter="x", page_size=100)
    assert ids(got) == sorted(ids(actions))[401:]
    assert all(c["since"] == since for c in feed.calls)


def test_inclusive_since_reached_exactly_at_a_page_end() -> None:
    actions = make_actions(3)
    since = sorted(ids(actions))[0]
    feed = Feed(actions, inclusive=True)
    got = fetch_all_actions(feed, since=since, action_filter="x", page_size=3)
    assert ids(got) == sorted(ids(actions))[1:]
    assert len(feed.calls) == 1


def test_boundary_action_repeated_between_pages() -> None:
    actions = make_actions(25)
    feed = Feed(actions, inclusive=True)  # every page restarts with the previous oldest
    got = fetch_all_actions(feed, since=None, action_filter="x", page_size=10)
    assert ids(got) == sorted(ids(actions))
    assert ids(got).count(feed.calls[1]["before"]) == 1


def test_a_repeating_page_stops_instead_of_looping() -> None:
    actions = make_actions(50)
    calls = []

    def broken(params: dict[str, str]) -> list[dict[str, Any]]:
        calls.append(params)  # ignores `before`: the same newest page, forever
        return sorted(actions, key=lambda a: a["id"], reverse=True)[:10]

    with pytest.raises(PagingStalled, match="refusing to return a partial history"):
        fetch_all_actions(broken, since=None, action_filter="x", page_size=10)
    assert len(calls) == 2


def test_page_out_of_order_is_handled() -> None:
    actions = make_actions(35)
    rng = random.Random(3)
    feed = Feed(actions)

    def shuffled(params: dict[str, str]) -> list[dict[str, Any]]:
        page = feed(params)
        rng.shuffle(page)
        return page

    got = fetch_all_actions(shuffled, since=None, action_filter="x", page_size=10)
    assert ids(got) == sorted(ids(actions))


def test_actions_added_while_paging_are_not_lost_or_doubled() -> None:
    actions = make_actions(30)
    feed = Feed(actions[:25])

    def growing(params: dict[str, str]) -> list[dict[str, Any]]:
        if len(feed.calls) == 1:
            feed.actions = actions  # five newer actions arrive after the first page
        return feed(params)

    got = fetch_all_actions(growing, since=None, action_filter="x", page_size=10)
    assert ids(got) == sorted(ids(actions[:25]))  # the new ones wait for the next poll


def test_action_dated_before_its_neighbours_is_kept_in_date_order() -> None:
    actions = make_actions(5)
    actions[4]["date"] = "2000-01-01T00:00:00.000Z"  # newest id, oldest date
    got = fetch_all_actions(Feed(actions), since=None, action_filter="x", page_size=2)
    assert got[0]["id"] == actions[4]["id"] and len(got) == 5


def test_on_page_reports_progress() -> None:
    seen: list[tuple[int, str | None]] = []
    fetch_all_actions(
        Feed(make_actions(25)),
        since=None,
        action_filter="x",
        page_size=10,
        on_page=lambda n, oldest: seen.append((n, oldest)),
    )
    assert [n for n, _ in seen] == [10, 20, 25]
    assert all(d is not None for _, d in seen)
    assert seen[-1][1] == min(a["date"] for a in make_actions(25))


@pytest.mark.parametrize("size", [0, 1001])
def test_page_size_bounds(size: int) -> None:
    with pytest.raises(ValueError):
        fetch_all_actions(Feed([]), since=None, action_filter="x", page_size=size)
