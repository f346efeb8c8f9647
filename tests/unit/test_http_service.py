"""HttpService: credentials, URL rewrite, pacing, retries and error mapping (no real waits)."""

from __future__ import annotations

import logging
import random
import socket
import threading

import pytest
import requests
import responses
from responses import matchers
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from trello_sync.clock import FakeClock
from trello_sync.trello.http import HttpService, PacingPolicy, RetryPolicy
from trello_sync.trello.port import (
    PostOutcomeUnknown,
    TrelloAuthError,
    TrelloError,
    TrelloNotFound,
    TrelloRefused,
    TrelloUnavailable,
)

KEY = "k3y0123456789abcdef0123456789ab"
TOKEN = "t0ken9876543210fedcba9876543210fedcba9876543210fedcba98765432"
BASE = "http://sandbox.test/1"
TRELLO = "https://api.trello.com/1"
AUTH = f'OAuth oauth_consumer_key="{KEY}", oauth_token="{TOKEN}"'


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(clock: FakeClock, seed: int = 7, **kw: object) -> HttpService:
    return HttpService(BASE, KEY, TOKEN, clock=clock, rng=random.Random(seed), **kw)  # type: ignore[arg-type]


def get(svc: HttpService, path: str, **params: str) -> requests.Response:
    # The way py-trello calls it: full api.trello.com URL, key/token as (None) params.
    return svc.request("GET", f"{TRELLO}{path}", params={**params, "key": None, "token": None})


def post(svc: HttpService, path: str) -> requests.Response:
    return svc.request("POST", f"{TRELLO}{path}", params={"key": None}, data='{"text": "hi"}')


def connect_refused() -> requests.ConnectionError:
    # What requests raises when the TCP connection could not be opened.
    reason = NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, BASE, reason))  # type: ignore[arg-type]


def no_secret(text: str) -> bool:
    return KEY not in text and TOKEN not in text


@responses.activate
def test_oauth_header_rewrite_and_no_secret_in_url(clock: FakeClock) -> None:
    responses.get(
        f"{BASE}/members/me",
        json={"id": "m1"},
        match=[matchers.header_matcher({"Authorization": AUTH})],
    )
    resp = get(make(clock), "/members/me", fields="id")
    assert resp.json() == {"id": "m1"}
    sent = responses.calls[0].request
    assert sent.url == f"{BASE}/members/me?fields=id"
    assert no_secret(sent.url or "")


@responses.activate
def test_refuses_to_send_credentials_elsewhere(clock: FakeClock) -> None:
    with pytest.raises(TrelloError, match=r"unexpected host: evil\.test"):
        make(clock).request("GET", "https://evil.test/1/members/me")
    assert len(responses.calls) == 0


@responses.activate
def test_429_waits_grow_are_jittered_and_bounded_then_succeed(clock: FakeClock) -> None:
    body = {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"}
    for _ in range(3):
        responses.get(f"{BASE}/boards/b1", status=429, json=body)
    responses.get(f"{BASE}/boards/b1", json={"id": "b1"})
    svc = make(clock)
    assert get(svc, "/boards/b1").status_code == 200
    w = clock.sleeps
    assert len(w) == 3
    # At least to the end of the 10 s window, doubling, capped at 30 s, plus ≤ 1 s jitter.
    assert 10 <= w[0] <= 11 and 20 <= w[1] <= 21 and 30 <= w[2] <= 31
    assert w[0] < w[1] < w[2]
    assert svc.stats.rate_limited == 3 and svc.stats.retries == 3 and svc.stats.requests == 4
    assert svc.stats.by_status == {429: 3, 200: 1}
    # Jitter: another seed, other waits.
    clock2 = FakeClock()
    for _ in range(3):
        responses.get(f"{BASE}/boards/b2", status=429, json=body)
    responses.get(f"{BASE}/boards/b2", json={"id": "b2"})
    get(make(clock2, seed=8), "/boards/b2")
    assert clock2.sleeps != w


@responses.activate
def test_429_honours_the_window_from_headers(clock: FakeClock) -> None:
    # The sandbox can shorten Trello's window; the back-off follows it.
    headers = {"x-rate-limit-api-key-interval-ms": "200"}
    responses.get(
        f"{BASE}/x", status=429, json={"error": "API_KEY_LIMIT_EXCEEDED"}, headers=headers
    )
    responses.get(f"{BASE}/x", json={})
    get(make(clock), "/x")
    assert 0.2 <= clock.sleeps[0] <= 0.22


@responses.activate
def test_budget_spent_raises_unavailable_in_one_line(clock: FakeClock) -> None:
    responses.get(f"{BASE}/boards/b1/actions", status=503, body="busy")
    svc = make(clock)
    with pytest.raises(TrelloUnavailable) as err:
        get(svc, "/boards/b1/actions", limit="1000")
    msg = str(err.value)
    assert "\n" not in msg and no_secret(msg)
    assert "GET /boards/b1/actions failed 6 times" in msg and "HTTP 503" in msg
    assert len(responses.calls) == 6
    # Equal-jitter exponential: each wait in [d/2, d], d = 1, 2, 4, 8, 16.
    for n, wait in enumerate(clock.sleeps):
        d = min(16.0, 2.0**n)
        assert d / 2 <= wait <= d
    assert sum(clock.sleeps) <= RetryPolicy().max_total_wait_s


@responses.activate
def test_total_wait_budget_gives_up_before_sleeping_past_it(clock: FakeClock) -> None:
    responses.get(f"{BASE}/x", status=429, json={"error": "API_TOKEN_LIMIT_EXCEEDED"})
    svc = make(clock, retry=RetryPolicy(max_attempts=10, max_total_wait_s=40))
    with pytest.raises(TrelloUnavailable, match="API_TOKEN_LIMIT_EXCEEDED"):
        get(svc, "/x")
    assert len(clock.sleeps) == 2 and sum(clock.sleeps) <= 40  # 10 + 20; a 30 s wait won't fit


@pytest.mark.parametrize(
    "failure",
    [
        requests.ReadTimeout("read timed out"),
        requests.ConnectTimeout("connect timed out"),
        connect_refused(),
        requests.ConnectionError(ProtocolError("Connection aborted.")),
        requests.exceptions.ChunkedEncodingError("broken"),
    ],
)
@responses.activate
def test_get_retries_network_failures_and_5xx(clock: FakeClock, failure: Exception) -> None:
    responses.get(f"{BASE}/x", body=failure)
    responses.get(f"{BASE}/x", status=502)
    responses.get(f"{BASE}/x", json=[1])
    svc = make(clock)
    assert get(svc, "/x").json() == [1]
    assert len(clock.sleeps) == 2 and clock.sleeps[0] <= 1 and 1 <= clock.sleeps[1] <= 2
    assert svc.stats.network_errors == 1 and svc.stats.retries == 2


@pytest.mark.parametrize(
    "failure",
    [
        requests.ReadTimeout("read timed out"),
        requests.ConnectionError(ProtocolError("Connection aborted.")),
    ],
)
@responses.activate
def test_post_is_never_retried_when_it_may_have_arrived(
    clock: FakeClock, failure: Exception
) -> None:
    responses.post(f"{BASE}/cards/c1/actions/comments", body=failure)
    with pytest.raises(PostOutcomeUnknown, match="may or may not have applied"):
        post(make(clock), "/cards/c1/actions/comments")
    assert len(responses.calls) == 1 and clock.sleeps == []


@responses.activate
def test_post_5xx_is_outcome_unknown(clock: FakeClock) -> None:
    responses.post(f"{BASE}/cards/c1/actions/comments", status=500)
    with pytest.raises(PostOutcomeUnknown):
        post(make(clock), "/cards/c1/actions/comments")
    assert len(responses.calls) == 1


@pytest.mark.parametrize(
    "first",
    [
        {"status": 429, "json": {"error": "API_TOKEN_LIMIT_EXCEEDED"}},
        {"body": connect_refused()},
        {"body": requests.ConnectTimeout("connect timed out")},
    ],
)
@responses.activate
def test_post_retried_on_429_and_unopened_connection(
    clock: FakeClock, first: dict[str, object]
) -> None:
    url = f"{BASE}/cards/c1/actions/comments"
    responses.post(url, **first)
    responses.post(url, json={"id": "a1"})
    assert post(make(clock), "/cards/c1/actions/comments").json() == {"id": "a1"}
    assert len(responses.calls) == 2 and len(clock.sleeps) == 1


@pytest.mark.parametrize(
    ("body", "setting"),
    [
        ("invalid token", "TRELLO_TOKEN"),
        ("invalid key", "TRELLO_API_KEY"),
        ("unauthorized permission requested", "TRELLO_TOKEN"),
        ("unauthorized card permission requested", "TRELLO_TOKEN"),
    ],
)
@responses.activate
def test_401_names_the_setting_never_the_secret(clock: FakeClock, body: str, setting: str) -> None:
    responses.get(f"{BASE}/members/me", status=401, body=body, content_type="text/plain")
    with pytest.raises(TrelloAuthError) as err:
        get(make(clock), "/members/me")
    msg = str(err.value)
    assert setting in msg and body in msg and no_secret(msg) and "\n" not in msg
    assert len(responses.calls) == 1


@responses.activate
def test_401_message_exact(clock: FakeClock) -> None:
    responses.get(f"{BASE}/members/me", status=401, body="invalid key")
    with pytest.raises(TrelloAuthError) as err:
        get(make(clock), "/members/me")
    assert str(err.value) == "Trello rejected the API key (TRELLO_API_KEY): invalid key"


@responses.activate
def test_404_and_400(clock: FakeClock) -> None:
    responses.get(f"{BASE}/boards/nope", status=404, body="The requested resource was not found.")
    responses.get(f"{BASE}/boards/bad", status=400, body="invalid id")
    svc = make(clock)
    with pytest.raises(TrelloNotFound, match="GET /boards/nope"):
        get(svc, "/boards/nope")
    # Refused as it is: not retried, and the outbox gives such a reply up.
    with pytest.raises(TrelloRefused, match="HTTP 400: invalid id"):
        get(svc, "/boards/bad")
    assert len(responses.calls) == 2 and clock.sleeps == []


@responses.activate
def test_200_that_is_not_json(clock: FakeClock) -> None:
    responses.get(f"{BASE}/x", body="<html>portal</html>", content_type="text/html")
    with pytest.raises(TrelloError, match="not JSON"):
        get(make(clock), "/x")


@responses.activate
def test_pacing_from_headers_sleeps_when_remaining_reaches_0(clock: FakeClock) -> None:
    headers = {
        "x-rate-limit-api-token-interval-ms": "10000",
        "x-rate-limit-api-token-max": "100",
        "x-rate-limit-api-token-remaining": "0",
    }
    responses.get(f"{BASE}/x", json={}, headers=headers)
    responses.get(f"{BASE}/x", json={})
    svc = make(clock)
    get(svc, "/x")
    assert clock.sleeps == []
    get(svc, "/x")
    assert clock.sleeps == [10.0] and svc.stats.paced == 1


@responses.activate
def test_pacing_ignores_plenty_remaining(clock: FakeClock) -> None:
    responses.get(f"{BASE}/x", json={}, headers={"x-rate-limit-api-key-remaining": "250"})
    svc = make(clock)
    for _ in range(3):
        get(svc, "/x")
    assert clock.sleeps == []


@responses.activate
def test_client_side_sliding_window(clock: FakeClock) -> None:
    responses.get(f"{BASE}/x", json={})
    svc = make(clock, pacing=PacingPolicy(max_requests=3, window_s=10))
    for _ in range(3):
        get(svc, "/x")
        clock.advance(1)
    assert clock.sleeps == []
    get(svc, "/x")  # 4th within 10 s of the 1st: waits until the 1st leaves the window
    assert clock.sleeps == [pytest.approx(7.0)]
    # With the default 90/10 s, 100 quick requests never exceed 90 in any 10 s.
    clock2 = FakeClock()
    svc2 = make(clock2)
    times = []
    for _ in range(100):
        get(svc2, "/x")
        times.append(clock2.monotonic())
    assert all(times[i + 90] - times[i] >= 10 for i in range(10))


@responses.activate
def test_logs_each_request_and_retry_without_secrets(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    responses.get(f"{BASE}/boards/b1/actions", status=500)
    responses.get(f"{BASE}/boards/b1/actions", json=[])
    responses.get(f"{BASE}/members/me", status=401, body="invalid token")
    svc = make(clock)
    with caplog.at_level(logging.DEBUG):
        get(svc, "/boards/b1/actions", before="abc")
        with pytest.raises(TrelloAuthError):
            get(svc, "/members/me")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert no_secret(text)
    ours = [r for r in caplog.records if r.name == "trello_sync.trello.http"]
    levels = [r.levelno for r in ours]
    assert levels == [logging.DEBUG, logging.WARNING, logging.DEBUG, logging.DEBUG]
    assert "GET /boards/b1/actions?before=abc -> 500" in ours[0].getMessage()


def test_stats_copy_is_independent(clock: FakeClock) -> None:
    svc = make(clock)
    snap = svc.stats.copy()
    svc.stats.by_status[200] = 5
    assert snap.by_status == {}


# -- real sockets: the classification of "never opened" vs "may have arrived" ----------


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


def test_real_refused_connection_is_retried_for_a_post(clock: FakeClock) -> None:
    svc = HttpService(
        f"http://127.0.0.1:{_closed_port()}/1",
        KEY,
        TOKEN,
        clock=clock,
        rng=random.Random(1),
        retry=RetryPolicy(max_attempts=2),
    )
    with pytest.raises(TrelloUnavailable, match="could not connect") as err:
        post(svc, "/cards/c1/actions/comments")
    assert svc.stats.requests == 2 and no_secret(str(err.value))


def _one_shot_server(answer: bytes | None, hold_s: float) -> tuple[int, list[bytes]]:
    """Accepts one connection, reads the request, then answers `answer` or just closes."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    seen: list[bytes] = []

    def serve() -> None:
        conn, _ = srv.accept()
        seen.append(conn.recv(65536))
        if answer is None:
            threading.Event().wait(hold_s)
        else:
            conn.sendall(answer)
        conn.close()
        srv.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1], seen


@pytest.mark.parametrize("hold_s", [0.0, 0.5])  # dropped at once / answered after the timeout
def test_real_post_whose_answer_is_lost_is_not_retried(clock: FakeClock, hold_s: float) -> None:
    port, seen = _one_shot_server(None, hold_s)
    svc = HttpService(f"http://127.0.0.1:{port}/1", KEY, TOKEN, clock=clock, timeout=(1.0, 0.2))
    with pytest.raises(PostOutcomeUnknown) as err:
        post(svc, "/cards/c1/actions/comments")
    assert svc.stats.requests == 1 and len(seen) == 1
    assert no_secret(str(err.value))
    assert f"Authorization: {AUTH}".encode() in seen[0]
    assert TOKEN.encode() not in seen[0].split(b"\r\n")[0]  # not in the request line
