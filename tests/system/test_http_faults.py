"""Trello's hiccups, and a bad key or token: HttpTrello against the sandbox's faults.

The HTTP is real (loopback sockets, a SandboxServer in a background thread, its fault
switches); only the client's sleeps go to a FakeClock, so a 30 s back-off costs nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise

import pytest
from contract.trello_fixtures import (
    MENTOR,
    action_requests,
    feed_of,
    http_client,
    ids,
    long_history,
    make_state,
    running_server,
)

from trello_sync.clock import FakeClock
from trello_sync.sandbox import SandboxServer, SandboxState
from trello_sync.sandbox.faults import Fault
from trello_sync.sandbox.shapes import Json
from trello_sync.trello.http import RetryPolicy
from trello_sync.trello.port import TrelloAuthError, TrelloUnavailable

READ_TIMEOUT = 0.5  # the client's; a timeout fault holds the request longer than this
POLICY = RetryPolicy()  # the production defaults
HOLD = 2.0  # how long a timeout fault holds the request: longer than READ_TIMEOUT
PAGE = 100  # small pages keep the test fast; 250 actions = 3 pages


@dataclass
class Run:
    result: list[Json]
    sleeps: list[float]
    requests: list[Json]


@dataclass
class Sandbox:
    state: SandboxState
    server: SandboxServer
    token: str
    board: str
    last: Run = field(default_factory=lambda: Run([], [], []))  # the latest run, even failed

    def arm(self, status: int = 0, times: int = 1, **kw: object) -> None:
        where = {"path_contains": "/actions", "method": "GET"}
        self.server.faults.add(Fault(status=status, times=times, **where, **kw))  # type: ignore[arg-type]

    def run(
        self,
        *,
        seed: int = 1,
        retry: RetryPolicy | None = None,
        between_pages: Callable[[int], None] | None = None,
    ) -> Run:
        """board_actions with a fresh client and FakeClock; the request log starts empty."""
        self.server.log.clear()
        clock = FakeClock()
        timeout = (2.0, READ_TIMEOUT)
        with http_client(
            self.server, self.token, clock=clock, seed=seed, timeout=timeout, retry=retry
        ) as client:
            pages = 0

            def on_page(_count: int, _oldest: str | None) -> None:
                nonlocal pages
                pages += 1
                if between_pages is not None:
                    between_pages(pages)

            result: list[Json] = []
            try:
                result = client.board_actions(self.board, page_size=PAGE, on_page=on_page)
            finally:
                self.last = Run(result, clock.sleeps, action_requests(self.server, self.board))
        return self.last


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    state, token = make_state(seed=9)
    board, _, _ = long_history(state, 250)  # 3 pages of PAGE
    with running_server(state) as server:
        yield Sandbox(state, server, token, board)
        server.faults.clear()


def statuses(run: Run) -> list[int]:
    return [r["status"] for r in run.requests]


def assert_whole_feed(sb: Sandbox, run: Run) -> None:
    assert ids(run.result) == ids(feed_of(sb.state, sb.board))
    ok = [r["query"].get("before") for r in run.requests if r["status"] == 200]
    assert len(ok) == 3 and len(set(ok)) == 3  # no page fetched twice


def assert_growing(sleeps: list[float]) -> None:
    assert all(a < b for a, b in pairwise(sleeps)), sleeps


# --- 429 -------------------------------------------------------------------------------


@pytest.mark.parametrize("error", ["API_TOKEN_LIMIT_EXCEEDED", "API_KEY_LIMIT_EXCEEDED"])
def test_429_waits_out_trellos_window_longer_each_time_with_jitter(sb: Sandbox, error: str) -> None:
    sb.arm(429, times=3, error=error)
    run = sb.run(seed=1)
    assert_whole_feed(sb, run)
    assert statuses(run) == [429, 429, 429, 200, 200, 200]
    # The sandbox's headers say a 10 s window: wait it out, doubling, capped at 30 s, plus
    # up to 10 % of the window as jitter.
    assert len(run.sleeps) == 3
    for sleep, base in zip(run.sleeps, (10, 20, 30), strict=True):
        assert base <= sleep < base + 1.0
    assert_growing(run.sleeps)

    sb.arm(429, times=3, error=error)
    other = sb.run(seed=2)
    assert ids(other.result) == ids(run.result)
    assert other.sleeps != run.sleeps  # jittered: two clients do not retry in step


def test_429_inside_paging_retries_that_page_only(sb: Sandbox) -> None:
    run = sb.run(between_pages=lambda page: sb.arm(429, times=2) if page == 1 else None)
    assert_whole_feed(sb, run)
    assert statuses(run) == [200, 429, 429, 200, 200]
    befores = [r["query"].get("before") for r in run.requests]
    assert befores[1] == befores[2] == befores[3] is not None  # the same page, asked again


# --- 5xx and timeouts ------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_backs_off_exponentially_with_jitter(sb: Sandbox, status: int) -> None:
    sb.arm(status, times=3)
    run = sb.run(seed=3)
    assert_whole_feed(sb, run)
    assert statuses(run) == [status] * 3 + [200] * 3
    # "Equal jitter": the n-th wait lies in [d/2, d], d = base * 2^n.
    for n, sleep in enumerate(run.sleeps):
        d = min(POLICY.backoff_cap_s, POLICY.backoff_base_s * 2**n)
        assert d / 2 <= sleep <= d
    assert len(run.sleeps) == 3
    assert_growing(run.sleeps)

    sb.arm(status, times=3)
    assert sb.run(seed=4).sleeps != run.sleeps


def test_a_get_that_times_out_is_retried_after_a_growing_wait(sb: Sandbox) -> None:
    sb.arm(kind="timeout", times=2, delay_s=HOLD)
    run = sb.run(seed=5)
    assert_whole_feed(sb, run)
    assert statuses(run) == [0, 0, 200, 200, 200]  # 0: held, closed, never answered
    assert len(run.sleeps) == 2
    assert 0.5 <= run.sleeps[0] <= 1.0 <= run.sleeps[1] <= 2.0
    assert_growing(run.sleeps)


def test_mixed_faults_on_later_pages_still_give_the_whole_feed(sb: Sandbox) -> None:
    def between(page: int) -> None:
        if page == 1:
            sb.arm(503)
            sb.arm(429, error="API_KEY_LIMIT_EXCEEDED")
            sb.arm(kind="timeout", delay_s=HOLD)
        if page == 2:
            sb.arm(502, times=2)

    run = sb.run(seed=6, between_pages=between)
    assert_whole_feed(sb, run)
    assert statuses(run) == [200, 503, 429, 0, 200, 502, 502, 200]
    # 5xx/timeout waits grow per call (0.5-1, 1-2), a 429 waits the window; a new page
    # (a new call) starts its back-off afresh.
    s = run.sleeps
    assert len(s) == 5
    assert 0.5 <= s[0] <= 1 and 10 <= s[1] < 11 and 1 <= s[2] <= 2
    assert 0.5 <= s[3] <= 1 <= s[4] <= 2


# --- the budget runs out ---------------------------------------------------------------


def test_when_the_attempts_run_out_the_call_is_unavailable(sb: Sandbox) -> None:
    sb.arm(503, times=50)
    with pytest.raises(TrelloUnavailable) as err:
        sb.run(seed=7)
    assert "HTTP 503" in str(err.value)
    assert statuses(sb.last) == [503] * POLICY.max_attempts
    assert len(sb.last.sleeps) == POLICY.max_attempts - 1
    assert_growing(sb.last.sleeps)
    assert all(s <= POLICY.backoff_cap_s for s in sb.last.sleeps)
    assert sum(sb.last.sleeps) <= POLICY.max_total_wait_s


def test_when_the_wait_budget_runs_out_on_429s_the_call_is_unavailable(sb: Sandbox) -> None:
    sb.arm(429, times=50)
    with pytest.raises(TrelloUnavailable) as err:
        sb.run(seed=8)
    assert "API_TOKEN_LIMIT_EXCEEDED" in str(err.value)
    sleeps = sb.last.sleeps
    # 10, 20, 30 (+ jitter) and the next 30 would pass 90 s: given up before waiting it.
    assert len(sleeps) == 3 and sum(sleeps) <= POLICY.max_total_wait_s
    assert all(
        s <= POLICY.rate_backoff_cap_s + POLICY.rate_window_s * POLICY.rate_jitter for s in sleeps
    )
    assert len(sb.last.requests) == len(sleeps) + 1


def test_timeouts_past_the_budget_are_unavailable(sb: Sandbox) -> None:
    sb.arm(kind="timeout", times=10, delay_s=HOLD)
    with pytest.raises(TrelloUnavailable) as err:
        sb.run(seed=9, retry=RetryPolicy(max_attempts=3))
    assert "read timeout" in str(err.value)
    assert statuses(sb.last) == [0, 0, 0]
    assert len(sb.last.sleeps) == 2


def test_a_budget_spent_mid_paging_returns_nothing_partial(sb: Sandbox) -> None:
    with pytest.raises(TrelloUnavailable):
        sb.run(seed=10, between_pages=lambda page: sb.arm(500, times=50) if page == 2 else None)
    assert statuses(sb.last) == [200, 200] + [500] * POLICY.max_attempts


# --- 401 -------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["token", "key"])
def test_401_names_the_setting_and_never_the_secret(
    sb: Sandbox, which: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key, token = sb.state.api_key, sb.token
    if which == "token":
        token = "0badc0de" * 8
    else:
        key = "feedface" * 4
    clock = FakeClock()
    sb.server.log.clear()
    with http_client(sb.server, token, api_key=key, clock=clock) as client:
        with pytest.raises(TrelloAuthError) as err:
            client.board_actions(sb.board)
        with pytest.raises(TrelloAuthError):
            client.me()
    message = str(err.value)
    setting = "TRELLO_TOKEN" if which == "token" else "TRELLO_API_KEY"
    assert setting in message
    assert "\n" not in message  # one line
    entries = sb.server.log.entries()
    assert [e["status"] for e in entries] == [401, 401]  # never retried
    assert clock.sleeps == []
    records = " ".join(r.getMessage() for r in caplog.records)
    for secret in (key, token):
        assert secret not in message and secret not in repr(err.value)
        assert secret not in records
        assert secret not in str(entries)


def test_401_for_a_board_the_token_cannot_see(sb: Sandbox) -> None:
    other, _, _ = long_history(sb.state, 1)
    stranger = sb.state.add_member("stranger", "Not A Mentor")
    token = sb.state.add_token(stranger["id"])
    with (
        http_client(sb.server, token, clock=FakeClock()) as client,
        pytest.raises(TrelloAuthError) as err,
    ):
        client.board_actions(other)
    assert "TRELLO_TOKEN" in str(err.value) and token not in str(err.value)
    assert MENTOR not in str(err.value)
