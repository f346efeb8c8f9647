"""The webhook receiver: Trello's deliveries in, verified, kept in the inbox, answered.

Served by waitress (a pure-Python WSGI server with no dependency of its own, maintained
by the Pylons project) on one thread of the worker: it parses HTTP, bounds what it
reads and times idle connections out, so no HTTP is parsed here. This module only
answers, in a few milliseconds:

- `HEAD` (and `GET`) on any path: 200, empty. Trello sends a HEAD to the callback URL
  before it creates a webhook and refuses one that does not answer 200.
- `POST`: a body over MAX_BODY_BYTES is 413 (waitress refuses it before reading it); a
  missing or wrong `X-Trello-Webhook` signature is 401; a signed body that is not JSON
  is 400. A signed delivery is read (domain/webhooks.py), kept in the inbox and
  answered 200, also when it is for a board not watched (Trello would only retry it);
  once the worker is stopping, 503 (Trello tries it again later).

Nothing here reads the ledger or calls Trello: the work happens in the worker's loop
after the answer, because Trello waits 30 s at most and retries a delivery three times.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from waitress import wasyncore
from waitress.server import create_server

from trello_sync.domain.webhooks import (
    MAX_BODY_BYTES,
    UnreadableDelivery,
    read_delivery,
    signature_matches,
)
from trello_sync.webhook_inbox import Inbox

log = logging.getLogger(__name__)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
# Told each answer's result: ok, ignored (a board not watched), unsigned, unreadable,
# stopping (and too_large, for a body waitress would have let through).
Counter = Callable[[str], None]

_HEADER_ENVIRON = "HTTP_X_TRELLO_WEBHOOK"
_STATUS = {
    200: "200 OK",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    405: "405 Method Not Allowed",
    413: "413 Request Entity Too Large",
    503: "503 Service Unavailable",
}
# Threads answering deliveries: each answer takes a few milliseconds, so a few threads
# keep up with any burst Trello sends; waitress queues the rest of the connections.
THREADS = 4


class DeliveryApp:
    """The WSGI application: verify, keep, answer."""

    def __init__(
        self, secret: str, callback_url: str, inbox: Inbox, count: Counter | None = None
    ) -> None:
        self._secret = secret
        self._callback_url = callback_url
        self._inbox = inbox
        self._count = count or (lambda _result: None)
        self._warned = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method in ("HEAD", "GET"):
            return self._answer(start_response, 200)
        if method != "POST":
            return self._answer(start_response, 405, allow="HEAD, GET, POST")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return self._answer(start_response, 400)
        if length > MAX_BODY_BYTES:
            return self._refused(start_response, 413, "too_large")
        body = environ["wsgi.input"].read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            return self._refused(start_response, 413, "too_large")
        header = environ.get(_HEADER_ENVIRON)
        if not signature_matches(self._secret, body, self._callback_url, header):
            return self._refused(start_response, 401, "unsigned")
        try:
            delivery = read_delivery(json.loads(body))
        except (ValueError, UnreadableDelivery) as error:
            # Signed by Trello, so not an attack: a shape this version does not read.
            log.debug("webhook delivery not read (%s); the next poll sees the change", error)
            self._count("unreadable")
            return self._answer(start_response, 400 if _not_json(error) else 200)
        if self._inbox.closed:
            # Stopping: Trello sends it again later, maybe to the worker started next.
            self._count("stopping")
            return self._answer(start_response, 503)
        if self._inbox.put(delivery):
            self._count("ok")
        else:
            log.debug("webhook delivery for board %s ignored: not watched", delivery.board_id)
            self._count("ignored")
        return self._answer(start_response, 200)

    def _refused(self, start_response: StartResponse, status: int, result: str) -> Iterable[bytes]:
        self._count(result)
        if not self._warned.is_set():
            # Once: a stream of forged requests must not flood the log (the metric counts).
            self._warned.set()
            log.warning(
                "webhook receiver: refused a delivery (%s, HTTP %d); nothing was changed. "
                "Deliveries Trello signed with TRELLO_API_SECRET for TRELLO_SYNC_WEBHOOK_URL "
                "are the only ones taken; further refusals are counted, not logged",
                "no valid signature" if status == 401 else "body too large",
                status,
            )
        else:
            log.debug("webhook receiver: refused a delivery (HTTP %d)", status)
        return self._answer(start_response, status)

    @staticmethod
    def _answer(
        start_response: StartResponse, status: int, *, allow: str | None = None
    ) -> Iterable[bytes]:
        headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "0")]
        if allow is not None:
            headers.append(("Allow", allow))
        start_response(_STATUS[status], headers)
        return [b""]


def _not_json(error: Exception) -> bool:
    return isinstance(error, json.JSONDecodeError | UnicodeDecodeError)


class WebhookReceiver:
    """DeliveryApp served by waitress on its own thread, while the worker runs."""

    def __init__(
        self,
        listen: tuple[str, int],
        secret: str,
        callback_url: str,
        inbox: Inbox,
        count: Counter | None = None,
    ) -> None:
        host, port = listen
        app = DeliveryApp(secret, callback_url, inbox, count)
        # Raises OSError when the address cannot be listened on (in use, no such host).
        self._server = create_server(
            app,
            host=host,
            port=port,
            threads=THREADS,
            # Waitress refuses a body of this many bytes or more before reading it.
            max_request_body_size=MAX_BODY_BYTES + 1,
            channel_timeout=30,
            connection_limit=200,
            expose_tracebacks=False,
            ident="trello-sync",
            clear_untrusted_proxy_headers=True,
        )
        self._thread = threading.Thread(
            target=self._server.run, name="webhook-receiver", daemon=True
        )

    @property
    def address(self) -> str:
        """Where it listens, as `HOST:PORT` (the port chosen, when 0 was asked)."""
        host = str(getattr(self._server, "effective_host", ""))
        port = int(getattr(self._server, "effective_port", 0))
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Finish the answers in progress, close every connection, end the thread."""
        server: Any = self._server
        server.task_dispatcher.shutdown(timeout=5)
        if self._thread.is_alive():
            # Closed from the server's own loop, which the trigger wakes at once.
            server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
            self._thread.join(timeout=5)
        else:
            wasyncore.close_all(server._map)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
