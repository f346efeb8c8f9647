"""SandboxServer: a real local HTTP server that answers like Trello's REST API.

`/1/...` is the API (auth by key and token, rate limits per token and per key, Trello's
status codes and bodies). `/_sandbox/...` is an admin area without auth: health, the
request log and fault switches. Key and token values are never logged nor echoed.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from trello_sync.sandbox.faults import Fault, Faults, empty_lists_and_cards, shuffled
from trello_sync.sandbox.routes import Api, flatten_query
from trello_sync.sandbox.shapes import (
    NOT_FOUND_TEXT,
    BadRequest,
    Json,
    SandboxError,
    format_date,
)
from trello_sync.sandbox.state import SandboxState
from trello_sync.sandbox.webhooks import NOT_MINE, TRELLO_RETRY_DELAYS, WebhookHub

JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_AUTH_PAIR = r'(\w+)="([^"]*)"'
WRITE_METHODS = frozenset(("POST", "PUT", "DELETE"))


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)
    hang_s: float = 0.0  # > 0: hold the request this long, then close without answering
    drop: bool = False  # close the connection without answering (after hang_s, if any)
    late_s: float = 0.0  # > 0: answer only after this long (the client has given up)

    @classmethod
    def json(cls, status: int, value: Any) -> Response:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        return cls(status, text.encode("utf-8"), JSON_TYPE)

    @classmethod
    def text(cls, status: int, message: str) -> Response:
        return cls(status, message.encode("utf-8"), TEXT_TYPE)


class RateLimiter:
    """A fixed window per identity (a token or a key), on a monotonic clock."""

    def __init__(
        self, max_requests: int, interval_s: float, monotonic: Callable[[], float]
    ) -> None:
        self.max_requests = max_requests
        self.interval_s = interval_s
        self._monotonic = monotonic
        self._windows: dict[str, tuple[float, int]] = {}

    def _count(self, ident: str) -> int:
        start, count = self._windows.get(ident, (0.0, 0))
        if self._monotonic() - start >= self.interval_s:
            return 0
        return count

    def remaining(self, ident: str) -> int:
        return max(self.max_requests - self._count(ident), 0)

    def take(self, ident: str) -> None:
        now = self._monotonic()
        start, count = self._windows.get(ident, (now, 0))
        if now - start >= self.interval_s:
            start, count = now, 0
        self._windows[ident] = (start, count + 1)

    def headers(self, kind: str, ident: str) -> dict[str, str]:
        prefix = f"x-rate-limit-api-{kind}"
        return {
            f"{prefix}-interval-ms": str(int(self.interval_s * 1000)),
            f"{prefix}-max": str(self.max_requests),
            f"{prefix}-remaining": str(self.remaining(ident)),
        }


class RequestLog:
    """Every API request: {seq, method, path, query, body, status, member, time}."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[Json] = []
        self._seq = 0

    def record(self, entry: Json) -> None:
        with self._lock:
            self._seq += 1
            self._entries.append({"seq": self._seq, **entry})

    def entries(self, since_seq: int = 0) -> list[Json]:
        with self._lock:
            return [dict(e) for e in self._entries if e["seq"] > since_seq]

    def clear(self) -> int:
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            return count


class SandboxServer:
    def __init__(
        self,
        state: SandboxState,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token_limit: int = 100,
        key_limit: int = 300,
        interval_s: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
        webhook_retry_delays: tuple[float, ...] = TRELLO_RETRY_DELAYS,
    ) -> None:
        self.state = state
        self.api = Api(state)
        self.webhooks = WebhookHub(state, retry_delays=webhook_retry_delays)
        self.log = RequestLog()
        self.faults = Faults()
        self.token_limiter = RateLimiter(token_limit, interval_s, monotonic)
        self.key_limiter = RateLimiter(key_limit, interval_s, monotonic)
        self._limits_lock = threading.Lock()
        self._httpd = _HTTPServer((host, port), _Handler, self)
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """The server's root (the admin area lives at `{base_url}/_sandbox/...`)."""
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The API base URL a Trello client uses, e.g. `http://127.0.0.1:PORT/1`."""
        return f"{self.base_url}/1"

    def start(self) -> SandboxServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"trello-sandbox-{self.port}",
                daemon=True,
            )
            self._thread.start()
            self.webhooks.start()
        return self

    def stop(self) -> None:
        self.webhooks.stop()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        with self._conn_lock:
            for conn in list(self._connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self._connections.clear()
        self._httpd.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _track(self, conn: socket.socket, alive: bool) -> None:
        with self._conn_lock:
            if alive:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # --- the API -------------------------------------------------------------------------

    def respond(
        self, method: str, path: str, query: Json, body: Json, authorization: str | None
    ) -> Response:
        """Answers one `/1/...` request (auth, rate limits, faults, route) and logs it."""
        query, body = dict(query), dict(body)
        key, token = _credentials(authorization, query, body)
        entry: Json = {
            "method": method,
            "path": path,
            "query": query,
            "body": body,
            "member": None,
            "time": format_date(self.state.now()),
        }
        response = self._answer(method, path, {**query, **body}, key, token, entry)
        entry["status"] = response.status
        if response.drop or response.hang_s > 0:
            entry["answered"] = False  # the client never got an answer
        self.log.record(entry)
        return response

    def _answer(
        self, method: str, path: str, params: Json, key: str, token: str, entry: Json
    ) -> Response:
        try:
            member_id, may_write = self.state.authorize(key, token)
        except SandboxError as error:
            return self._with_limits(Response.text(error.status, error.message), key, token)
        entry["member"] = self.state.member(member_id)["username"]
        with self._limits_lock:
            if self.token_limiter.remaining(token) <= 0:
                limited = "API_TOKEN_LIMIT_EXCEEDED"
            elif self.key_limiter.remaining(key) <= 0:
                limited = "API_KEY_LIMIT_EXCEEDED"
            else:
                limited = ""
                self.token_limiter.take(token)
                self.key_limiter.take(key)
        if limited:
            body = {"error": limited, "message": "Rate limit exceeded"}
            return self._with_limits(Response.json(429, body), key, token)
        if method in WRITE_METHODS and not may_write:
            # A read-only token: refused after it was counted (Trello counts every request
            # it authenticates), before the faults, so it takes no switch meant for a write.
            refused = Response.text(401, "unauthorized permission requested")
            return self._with_limits(refused, key, token)
        faults = self.faults.take(method, path, params)
        if faults:
            entry["faults"] = [f.kind for f in faults]
        if faults and faults[0].group == "stop":
            return self._with_limits(_fault_response(faults[0]), key, token)
        try:
            result = self.webhooks.route(token, member_id, method, path[2:], params)
            if result is NOT_MINE:
                result = self.api.handle(member_id, method, path[2:] or "/", params)
            result = self._after_apply(faults, path, params, result)
            response = Response.json(200, result)
        except SandboxError as error:
            response = Response.text(error.status, error.message)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            response = Response.text(500, REASONS[500])
        for fault in faults:
            if fault.kind == "drop":
                response.drop, response.hang_s = True, fault.delay
            elif fault.kind == "late":
                response.late_s = fault.delay
        return self._with_limits(response, key, token)

    def _after_apply(self, faults: list[Fault], path: str, params: Json, result: Any) -> Any:
        """The read and visibility faults, on a request that was applied."""
        for fault in faults:
            if fault.kind == "empty":
                result = empty_lists_and_cards(path, params, result)
            elif fault.kind == "shuffle":
                result = shuffled(result, fault.seed)
            elif fault.kind == "hide" and isinstance(result, dict) and result.get("id"):
                self.state.hide_action(str(result["id"]), fault.delay)
        return result

    def _with_limits(self, response: Response, key: str, token: str) -> Response:
        with self._limits_lock:
            response.headers.update(self.token_limiter.headers("token", token))
            response.headers.update(self.key_limiter.headers("key", key))
        return response

    # --- the admin area ------------------------------------------------------------------

    def admin(self, method: str, path: str, query: Json, body: Any) -> Response:
        route = path.rstrip("/")
        if route == "/_sandbox/health" and method == "GET":
            return Response.json(200, {"status": "ok", "url": self.url})
        if route == "/_sandbox/requests":
            if method == "GET":
                since = int(query.get("since", "0") or 0)
                return Response.json(200, self.log.entries(since))
            if method == "DELETE":
                return Response.json(200, {"cleared": self.log.clear()})
        if route == "/_sandbox/actions" and method == "GET":
            return Response.json(200, self.state.all_actions())
        if route == "/_sandbox/webhooks":
            if method == "GET":
                return Response.json(200, self.webhooks.describe())
            if method == "POST":
                try:
                    self.webhooks.set_switches(body)
                except (TypeError, ValueError) as error:
                    return Response.text(400, str(error))
                return Response.json(200, self.webhooks.describe())
        if route == "/_sandbox/faults":
            if method == "GET":
                return Response.json(200, self.faults.describe())
            if method == "DELETE":
                self.faults.clear()
                return Response.json(200, [])
            if method == "POST":
                try:
                    self.faults.add(Fault.from_json(body))
                except (TypeError, ValueError) as error:
                    return Response.text(400, str(error))
                return Response.json(200, self.faults.describe())
        return Response.text(404, NOT_FOUND_TEXT)


def _credentials(authorization: str | None, query: Json, body: Json) -> tuple[str, str]:
    """Key and token from the OAuth header, else the parameters; removed from both dicts."""
    key = str(query.pop("key", None) or body.pop("key", None) or "")
    token = str(query.pop("token", None) or body.pop("token", None) or "")
    if authorization and authorization.strip().lower().startswith("oauth"):
        pairs = dict(re.findall(_AUTH_PAIR, authorization))
        key = pairs.get("oauth_consumer_key", key)
        token = pairs.get("oauth_token", token)
    return key, token


def _fault_response(fault: Fault) -> Response:
    if fault.kind == "timeout":  # logged with status 0: no answer was ever sent
        return Response(0, b"", TEXT_TYPE, hang_s=fault.delay)
    if fault.status == 429:
        return Response.json(429, {"error": fault.error, "message": "Rate limit exceeded"})
    return Response.text(fault.status, REASONS.get(fault.status, "Error"))


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], owner: SandboxServer
    ) -> None:
        self.owner = owner
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY the body waits for the
    # client's delayed ACK (about 40 ms a request on loopback).
    disable_nagle_algorithm = True
    server: _HTTPServer
    timeout = 60  # idle keep-alive connections are closed after this

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the request line may carry the key and token."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        owner = self.server.owner
        split = urlsplit(self.path)
        path, query = split.path, flatten_query(split.query)
        try:
            body = self._read_body()
            if path == "/_sandbox" or path.startswith("/_sandbox/"):
                response = owner.admin(method, path, query, body)
            elif path == "/1" or path.startswith("/1/"):
                if not isinstance(body, dict):
                    raise BadRequest("invalid JSON body: an object was expected")
                authorization = self.headers.get("Authorization")
                response = owner.respond(method, path, query, body, authorization)
            else:
                response = Response.text(404, NOT_FOUND_TEXT)
        except SandboxError as error:
            response = Response.text(error.status, error.message)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            response = Response.text(500, REASONS[500])
        self._send(response)

    def _read_body(self) -> Any:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raw = self._read_chunked()
        else:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                raise BadRequest("invalid Content-Length") from None
            raw = self.rfile.read(length)
        if not raw.strip():
            return {}
        content_type = self.headers.get("Content-Type", "").lower()
        text = raw.decode("utf-8", errors="replace")
        if "json" in content_type:
            try:
                return json.loads(text)
            except ValueError:
                raise BadRequest("invalid JSON body") from None
        return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _send(self, response: Response) -> None:
        if response.hang_s > 0 or response.drop:
            if response.hang_s > 0:
                time.sleep(response.hang_s)
            self.close_connection = True
            return
        if response.late_s > 0:
            time.sleep(response.late_s)
            self.close_connection = True
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except OSError:
            if response.late_s <= 0:
                raise
            self.close_connection = True  # a late answer to a client that has left
