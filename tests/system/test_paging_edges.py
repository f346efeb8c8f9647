"""Paging edges, through HttpTrello over real HTTP against the sandbox.

Every action must come back exactly once, oldest first by (date, id), and no page may be
fetched twice: the request count comes from the sandbox's own request log.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from contract.trello_fixtures import (
    MENTOR,
    STUDENT,
    T0,
    action_requests,
    at,
    feed_of,
    http_client,
    ids,
    long_history,
    make_state,
    order_key,
    running_server,
)

from trello_sync.readahead import read_ahead
from trello_sync.sandbox import SandboxServer, SandboxState
from trello_sync.sandbox.shapes import Json
from trello_sync.trello.client import HttpTrello


class Sandbox:
    def __init__(self, state: SandboxState, server: SandboxServer, client: HttpTrello) -> None:
        self.state, self.server, self.client = state, server, client


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    state, token = make_state(seed=8)
    with running_server(state) as server, http_client(server, token) as client:
        yield Sandbox(state, server, client)


def assert_each_once_in_order(got: list[Json], expected: list[Json]) -> None:
    assert len(set(ids(got))) == len(got), "an action came back twice"
    assert ids(got) == ids(expected)
    assert got == sorted(got, key=order_key)


def assert_no_page_fetched_twice(requests: list[Json], pages: int) -> None:
    assert [r["status"] for r in requests] == [200] * pages
    cursors = [r["query"].get("before") for r in requests]
    assert cursors[0] is None
    assert len(set(cursors)) == len(cursors), f"a page was fetched twice: {cursors}"
    assert all(r["query"]["limit"] == "1000" for r in requests)


@pytest.mark.parametrize(("n", "pages"), [(999, 1), (1000, 2), (1001, 2), (2500, 3)])
def test_long_histories_come_back_whole_in_the_fewest_pages(
    sb: Sandbox, n: int, pages: int
) -> None:
    board, _, _ = long_history(sb.state, n)
    got = sb.client.board_actions(board)
    assert len(got) == n
    assert_each_once_in_order(got, feed_of(sb.state, board))
    assert_no_page_fetched_twice(action_requests(sb.server, board), pages)


def test_many_actions_in_one_millisecond(sb: Sandbox) -> None:
    board, _, _ = long_history(sb.state, 2500, same_instant=True)
    expected = feed_of(sb.state, board)
    assert len({a["date"] for a in expected}) == 1  # one timestamp; only the ids differ
    got = sb.client.board_actions(board)
    assert_each_once_in_order(got, expected)
    assert ids(got) == sorted(ids(got))
    assert_no_page_fetched_twice(action_requests(sb.server, board), 3)


def test_one_second_straddling_a_page_boundary(sb: Sandbox) -> None:
    # 900 actions a second apart, then 300 in one second (distinct ms), then 300 in one
    # millisecond: pages end inside both crowds.
    board, lst, card = long_history(sb.state, 900)
    for i in range(300):
        sb.state.comment(MENTOR, card, f"burst {i}", at=at(2000, ms=i))
    for i in range(300):
        sb.state.comment(STUDENT, card, f"same ms {i}", at=at(3000))
    got = sb.client.board_actions(board)
    assert len(got) == 1500
    assert_each_once_in_order(got, feed_of(sb.state, board))
    assert_no_page_fetched_twice(action_requests(sb.server, board), 2)
    assert lst and card  # built through the state's API, not mocked


def test_actions_added_while_paging_are_never_doubled_and_nothing_older_is_lost(
    sb: Sandbox,
) -> None:
    board, _, card = long_history(sb.state, 2500)
    at_start = feed_of(sb.state, board)
    added: list[str] = []

    def on_page(count: int, oldest: str | None) -> None:
        # Between pages: new actions now, one backdated into the part not yet read and one
        # into the part already read, and a comment edited in the unread part.
        stamp = T0 + timedelta(days=1, seconds=count)
        added.append(sb.state.comment(MENTOR, card, f"live {count}", at=stamp)["id"])
        added.append(sb.state.comment(MENTOR, card, "backfill", at=at(10, ms=count % 1000))["id"])
        added.append(sb.state.comment(MENTOR, card, "late", at=at(2400, ms=count % 1000))["id"])
        if count == 1000:
            sb.state.edit_comment(MENTOR, at_start[5]["id"], "edited while paging")

    got = sb.client.board_actions(board, on_page=on_page)
    got_ids = ids(got)
    assert len(set(got_ids)) == len(got_ids), "an action came back twice"
    assert set(ids(at_start)) <= set(got_ids), "an action older than the start was lost"
    assert set(got_ids) <= set(ids(at_start)) | set(added)
    assert got == sorted(got, key=order_key)
    assert next(a for a in got if a["id"] == at_start[5]["id"])["data"]["text"] == (
        "edited while paging"
    )
    assert_no_page_fetched_twice(action_requests(sb.server, board), 3)

    # The next poll, from the newest action seen, brings the rest, again each once.
    later = sb.client.board_actions(board, since=got[-1]["id"])
    assert not set(ids(later)) & set(got_ids)
    assert set(ids(later)) <= set(added)


def test_an_update_dated_before_its_cards_creation(sb: Sandbox) -> None:
    # 2000 comments older than the card, then the card, then 999 newer: the createCard is
    # the last action of page 1 and its updateCard (dated 29 ms earlier, as Trello did for
    # a card created with a due date) the first of page 2.
    board, lst, old_card = long_history(sb.state, 2000)
    created = at(5000)
    card = sb.state.create_card(MENTOR, lst, "Dana", at=created)["id"]
    sb.state.rename_card(MENTOR, card, "Dana L.", at=created - timedelta(milliseconds=29))
    for i in range(999):
        sb.state.comment(MENTOR, old_card, f"after {i}", at=at(6000 + i))

    got = sb.client.board_actions(board)
    assert len(got) == 3001
    assert_each_once_in_order(got, feed_of(sb.state, board))
    mine = [a for a in got if (a["data"].get("card") or {}).get("id") == card]
    assert [a["type"] for a in mine] == ["updateCard", "createCard"]
    assert mine[0]["date"] < mine[1]["date"]
    requests = action_requests(sb.server, board)
    assert_no_page_fetched_twice(requests, 4)
    assert requests[1]["query"]["before"] == mine[1]["id"]  # the boundary fell between them

    # Resuming from the createCard's id leaves both out; from a date just before the
    # updateCard's, both come back, in order.
    after = sb.client.board_actions(board, since=mine[1]["id"])
    assert not {a["id"] for a in mine} & set(ids(after))
    resumed = sb.client.board_actions(board, since=mine[0]["date"][:-4] + "000Z")
    assert [a["id"] for a in resumed if a["id"] in {m["id"] for m in mine}] == ids(mine)


# --- the history in time slices (board_history_slices) ----------------------------------


def slices_whole(sb: Sandbox, board: str, **kw: object) -> list[Json]:
    got: list[Json] = []
    for piece in sb.client.board_history_slices(board, **kw):  # type: ignore[arg-type]
        assert piece == sorted(piece, key=order_key), "a slice out of order"
        got.extend(piece)
    return got


def assert_slices_fetched_once(requests: list[Json]) -> None:
    assert requests and all(r["status"] == 200 for r in requests)
    keys = [(r["query"].get("since"), r["query"].get("before")) for r in requests]
    assert len(set(keys)) == len(keys), f"a page was fetched twice: {keys}"
    assert all(r["query"]["limit"] == "1000" for r in requests)
    assert "since" not in requests[0]["query"] and "before" not in requests[0]["query"]


def test_slices_read_with_dates_and_hand_over_every_action_once(sb: Sandbox) -> None:
    board, _, card = long_history(sb.state, 6000)
    for i in range(300):  # 300 in one second, then 300 in one millisecond
        sb.state.comment(MENTOR, card, f"burst {i}", at=at(3000, ms=i))
    for i in range(300):
        sb.state.comment(STUDENT, card, f"same ms {i}", at=at(4500))
    got = slices_whole(sb, board)
    assert_each_once_in_order(got, feed_of(sb.state, board))
    requests = action_requests(sb.server, board)
    assert_slices_fetched_once(requests)
    assert len(requests) <= 10  # plain paging: 7 pages
    dated = [r for r in requests[1:] if "since" in r["query"]]
    assert dated, "the slices below the newest page are read with since=<date>"
    assert all(r["query"]["since"].endswith("Z") for r in dated)
    assert any(r["query"]["before"].endswith("Z") for r in dated)


def test_slices_of_an_update_dated_before_its_cards_creation(sb: Sandbox) -> None:
    board, lst, old_card = long_history(sb.state, 2000)
    created = at(5000)
    card = sb.state.create_card(MENTOR, lst, "Dana", at=created)["id"]
    sb.state.rename_card(MENTOR, card, "Dana L.", at=created - timedelta(milliseconds=29))
    for i in range(999):
        sb.state.comment(MENTOR, old_card, f"after {i}", at=at(6000 + i))
    got = slices_whole(sb, board)
    assert_each_once_in_order(got, feed_of(sb.state, board))
    mine = [a for a in got if (a["data"].get("card") or {}).get("id") == card]
    assert [a["type"] for a in mine] == ["updateCard", "createCard"]
    assert_slices_fetched_once(action_requests(sb.server, board))


def test_slices_with_actions_added_while_reading(sb: Sandbox) -> None:
    board, _, card = long_history(sb.state, 4000)
    at_start = feed_of(sb.state, board)
    added: list[str] = []

    def on_page(count: int, reached: str | None) -> None:
        # Between requests: a new action now, one backdated into what is not read yet,
        # one into what was handed over already.
        added.append(sb.state.comment(MENTOR, card, "live", at=T0 + timedelta(days=2))["id"])
        added.append(sb.state.comment(MENTOR, card, "ahead", at=at(3900, ms=count % 1000))["id"])
        added.append(sb.state.comment(MENTOR, card, "behind", at=at(5, ms=count % 1000))["id"])

    got = slices_whole(sb, board, on_page=on_page)
    got_ids = ids(got)
    assert len(set(got_ids)) == len(got_ids), "an action came back twice"
    assert set(ids(at_start)) <= set(got_ids), "an action older than the start was lost"
    assert set(got_ids) <= set(ids(at_start)) | set(added)
    assert_slices_fetched_once(action_requests(sb.server, board))


def test_slices_from_a_date_on_match_the_feed_since_then(sb: Sandbox) -> None:
    board, _, _ = long_history(sb.state, 3000)
    start = T0 + timedelta(seconds=1200)
    got = slices_whole(sb, board, start=start)
    expected = [a for a in feed_of(sb.state, board) if a["date"] >= got[0]["date"]]
    assert got[0]["date"] == expected[0]["date"] and len(got) == 1800
    assert_each_once_in_order(got, expected)


# --- one client, two threads; pacing at the limits the answers state ------------------


def test_history_read_ahead_in_a_thread_while_the_main_thread_uses_the_same_client(
    sb: Sandbox,
) -> None:
    board, _, _ = long_history(sb.state, 5000)
    expected = feed_of(sb.state, board)
    got: list[Json] = []
    snapshots = 0
    with read_ahead(sb.client.board_history_slices(board), ahead=2) as slices:
        for piece in slices:
            got.extend(piece)
            # The main thread asks too, while the producer reads the next slices.
            snapshot = sb.client.board_snapshot(board)
            assert len(snapshot.cards) == 1
            snapshots += 1
    assert_each_once_in_order(got, expected)
    assert snapshots >= 2
    # Every request counted once, each answered 200: nothing interleaved on the wire.
    api = [e for e in sb.server.log.entries() if e["path"].startswith("/1/")]
    assert sb.client.stats.requests == len(api)
    assert all(e["status"] == 200 for e in api)


def test_pacing_follows_the_limits_the_answers_state() -> None:
    state, token = make_state(seed=9)
    # A limit of 20 requests a second: the client learns it from the first answer.
    with running_server(state, token_limit=20, interval_s=1.0) as server:
        with http_client(server, token) as client:
            started = time.monotonic()
            for _ in range(50):
                client.me()
            elapsed = time.monotonic() - started
            stats = client.stats
        statuses = [e["status"] for e in server.log.entries()]
    assert statuses == [200] * 50  # never a 429
    assert stats.rate_limited == 0 and stats.paced > 0
    # 16 a second (20 less the reserve and the margin): 50 requests span 3 intervals.
    assert elapsed >= 3.0
