"""Shared helpers for the Trello port suites: a sandbox state, a live sandbox server, clients.

Used by tests/contract/test_trello_contract.py and the system tests (paging edges, HTTP
faults). Everything here is real: the server listens on loopback in a background thread
of the test process and the HTTP client talks to it over sockets.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from trello_sync.clock import Clock, SystemClock
from trello_sync.sandbox import SandboxServer, SandboxState
from trello_sync.sandbox.shapes import Json
from trello_sync.trello.client import HttpTrello
from trello_sync.trello.http import RetryPolicy
from trello_sync.trello.port import ACTION_FILTER

T0 = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)  # the history starts here
NOW = T0 + timedelta(days=30)  # the sandbox's clock: later than any backdated action
MENTOR = "mentor"
STUDENT = "student"
FEED_TYPES = frozenset(ACTION_FILTER.split(","))
UNKNOWN_BOARD = "5f21eea50f40e30520c6cda3"  # a well-formed id no board has


def at(seconds: float = 0.0, ms: int = 0) -> datetime:
    return T0 + timedelta(seconds=seconds, milliseconds=ms)


def make_state(seed: int = 7) -> tuple[SandboxState, str]:
    """A state with a mentor (who owns the returned token) and a student."""
    state = SandboxState(seed=seed, clock=lambda: NOW)
    state.add_member(MENTOR, "Camille Martin")
    state.add_member(STUDENT, "Alice Nguyen")
    token = state.add_token(MENTOR)
    return state, token


@contextmanager
def running_server(state: SandboxState, **options: object) -> Iterator[SandboxServer]:
    server = SandboxServer(state, **options)  # type: ignore[arg-type]
    server.start()
    try:
        yield server
    finally:
        server.stop()


def http_client(
    server: SandboxServer,
    token: str,
    *,
    api_key: str | None = None,
    clock: Clock | None = None,
    seed: int = 0,
    timeout: tuple[float, float] = (2.0, 10.0),
    retry: RetryPolicy | None = None,
) -> HttpTrello:
    return HttpTrello(
        server.url,
        api_key if api_key is not None else server.state.api_key,
        token,
        clock=clock or SystemClock(),
        rng=random.Random(seed),
        timeout=timeout,
        retry=retry,
    )


def feed_of(state: SandboxState, board_id: str) -> list[Json]:
    """The board's feed as the port must return it: ACTION_FILTER types, oldest first."""
    return [
        a
        for a in state.all_actions()
        if a["type"] in FEED_TYPES and (a["data"].get("board") or {}).get("id") == board_id
    ]


def ids(actions: list[Json]) -> list[str]:
    return [str(a["id"]) for a in actions]


def order_key(action: Json) -> tuple[str, str]:
    return (str(action["date"]), str(action["id"]))


def action_requests(server: SandboxServer, board_id: str) -> list[Json]:
    """Every request the server logged for this board's actions feed, in order."""
    path = f"/1/boards/{board_id}/actions"
    return [e for e in server.log.entries() if e["path"] == path]


def long_history(
    state: SandboxState, n: int, *, same_instant: bool = False, start: datetime = T0
) -> tuple[str, str, str]:
    """A board whose feed holds exactly `n` actions: one createCard, then n - 1 comments.

    Backdated one second apart (or all at one instant, ids still distinct).
    Returns (board id, list id, card id).
    """
    board = state.create_board(MENTOR, "Long history", at=start)
    lst = state.create_list(MENTOR, board["id"], "Doing", at=start)
    card = state.create_card(MENTOR, lst["id"], "Alice", at=start)
    for i in range(1, n):
        when = start if same_instant else start + timedelta(seconds=i)
        state.comment(MENTOR, card["id"], f"session {i}", at=when)
    return str(board["id"]), str(lst["id"]), str(card["id"])
