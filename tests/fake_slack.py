"""A Slack incoming webhook on a local port, for the tests: a real HTTP server in a thread
that records every request and answers what the test scripts — Slack's `200 ok` when
nothing is scripted, and Slack's own error answers on demand."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False  # read the request, then close the connection without an answer


OK = Answer()


def slack_error(code: str) -> Answer:
    """Slack's answer for one of its error codes, with the status Slack gives it."""
    status = {
        "invalid_payload": 400,
        "invalid_blocks": 400,
        "no_text": 400,
        "too_many_attachments": 400,
        "user_not_found": 404,
        "channel_not_found": 404,
        "no_service": 404,
        "no_service_id": 400,
        "no_team": 404,
        "channel_is_archived": 410,
        "team_disabled": 403,
        "invalid_token": 403,
        "action_prohibited": 403,
        "posting_to_general_channel_denied": 403,
        "rollup_error": 500,
    }[code]
    return Answer(status, code, {"Content-Type": "text/html"})


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answer: Answer

    @property
    def payload(self) -> Any:
        return json.loads(self.body)


class FakeSlack:
    def __init__(self) -> None:
        # A token as long as Slack's: the URL is a secret the tests look for in outputs.
        self.token = "Xs" + secrets.token_hex(11)
        self.path = f"/services/T0TESTTEAM/B0TESTHOOK/{self.token}"
        self.received: list[Received] = []
        self._answers: deque[Answer] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        # A short poll: shutting down waits for it, at the end of every test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.path}"

    def script(self, *answers: Answer) -> None:
        """The next answers, in order; then `200 ok` again."""
        with self._lock:
            self._answers.extend(answers)

    @property
    def delivered(self) -> list[Any]:
        """The payloads answered with a success, in order."""
        with self._lock:
            return [r.payload for r in self.received if 200 <= r.answer.status < 300]

    def texts(self) -> list[str]:
        return [str(payload.get("text", "")) for payload in self.delivered]

    def wait_for(self, count: int, timeout: float = 20) -> list[Any]:
        deadline = time.monotonic() + timeout
        while len(self.delivered) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.delivered)} of {count} messages: {self.texts()}")
            time.sleep(0.05)
        return self.delivered

    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _next(self, path: str) -> Answer:
        if path != self.path:
            return Answer(404, "no_service")
        with self._lock:
            return self._answers.popleft() if self._answers else OK

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                answer = fake._next(self.path)
                with fake._lock:
                    fake.received.append(Received(self.path, dict(self.headers), body, answer))
                if answer.delay_s:
                    time.sleep(answer.delay_s)
                if answer.drop:
                    self.close_connection = True
                    return
                data = answer.body.encode()
                try:
                    self.send_response(answer.status)
                    headers = {"Content-Type": "text/html", **answer.headers}
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up waiting (a time-out)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test reads `received`

        return Handler


@contextmanager
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server
