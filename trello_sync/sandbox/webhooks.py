"""The sandbox's webhooks: registered per token as on Trello, probed with a HEAD when they
are created, and fed every new action, comment edit and comment deletion of their board.

- Routes: `POST /1/webhooks` (and `POST /1/tokens/{token}/webhooks`), `GET
  /1/tokens/{token}/webhooks`, `GET`, `PUT` and `DELETE /1/webhooks/{id}`, in Trello's
  shapes (`id, description, idModel, callbackURL, active, consecutiveFailures,
  firstConsecutiveFailDate`). Creating one (or moving it to another URL) first sends a
  HEAD to the URL and refuses a URL that does not answer 200, with Trello's sentence;
  the same token, board and URL twice is Trello's "already exists".
- Deliveries: each change the state reports (sandbox/state_base.py) becomes a POST of
  `{"action": …, "model": <the board>}` to every active webhook of its board, signed as
  Trello signs (`X-Trello-Webhook` = base64(HMAC-SHA1(app secret, body + callback URL))),
  from a delivery thread: never inside the request that made the change. A delivery
  that fails (no 2xx, no answer within `timeout_s`) is tried again after each of
  `retry_delays` (Trello's: 30, 60 and 120 s; short in tests), each failure counted in
  `consecutiveFailures`; a success sets it back to 0.
- Switches for the tests: `drop_next` loses the next deliveries (never sent, never
  tried again: the network ate them), `delay_s` holds each delivery that long first.
  `attempts` records every try.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import heapq
import hmac
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from trello_sync.sandbox import shapes
from trello_sync.sandbox.shapes import BadRequest, Json, NotFound, SandboxError, Unauthorized
from trello_sync.sandbox.state import SandboxState

TRELLO_RETRY_DELAYS = (30.0, 60.0, 120.0)
ALREADY_EXISTS = "A webhook with that callback, model, and token already exists"
_URL = re.compile(r"https?://[^/\s]+\S*")
_WEBHOOKS = re.compile(r"/webhooks(?:/([^/]+))?")
_TOKEN_WEBHOOKS = re.compile(r"/tokens/([^/]+)/webhooks")
_NOT_MINE = object()
_FIELDS = (
    "id",
    "description",
    "idModel",
    "callbackURL",
    "active",
    "consecutiveFailures",
    "firstConsecutiveFailDate",
)


def sign(secret: str, body: bytes, callback_url: str) -> str:
    """Trello's signature of a delivery (written here apart from the service's own check,
    so that the tests hold the two to each other)."""
    digest = hmac.new(secret.encode(), body + callback_url.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    webhook_id: str = field(compare=False)
    action: Json = field(compare=False)
    attempt: int = field(default=0, compare=False)
    body: bytes | None = field(default=None, compare=False)


class WebhookHub:
    """Lock order: the state's lock, then the hub's (`_heard` runs inside a change); the
    hub never calls the state while it holds its own."""

    def __init__(
        self,
        state: SandboxState,
        *,
        retry_delays: Sequence[float] = TRELLO_RETRY_DELAYS,
        timeout_s: float = 30.0,
        probe_timeout_s: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._state = state
        self.retry_delays = tuple(retry_delays)
        self.timeout_s = timeout_s
        self.probe_timeout_s = probe_timeout_s
        self._monotonic = monotonic
        self._cond = threading.Condition()
        self._hooks: dict[str, Json] = {}  # id → the webhook, with its token under "_token"
        self._jobs: list[_Job] = []
        self._seq = itertools.count()
        self._ids = itertools.count(1)
        self._running = False
        self._thread: threading.Thread | None = None
        self._session = requests.Session()
        self.drop_next = 0
        self.delay_s = 0.0
        self.attempts: list[Json] = []  # {webhook, action, type, attempt, status, dropped}
        state.add_listener(self._heard)

    # --- the registry ----------------------------------------------------------------------

    def route(self, token: str, member_id: str, method: str, path: str, params: Json) -> Any:
        """Answers a webhook route (`path` without `/1`), or returns NOT_MINE."""
        path = path.rstrip("/")
        listed = _TOKEN_WEBHOOKS.fullmatch(path)
        if listed is not None:
            if listed.group(1) != token:
                raise Unauthorized("invalid token")
            if method == "GET":
                return self.listed(token)
            if method == "POST":
                return self.create(token, member_id, params)
            raise NotFound()
        one = _WEBHOOKS.fullmatch(path)
        if one is None:
            return _NOT_MINE
        webhook_id = one.group(1)
        if webhook_id is None:
            if method == "POST":
                return self.create(token, member_id, params)
            raise NotFound()
        if method == "GET":
            return self._public(self._own(token, webhook_id))
        if method == "PUT":
            return self.update(token, member_id, webhook_id, params)
        if method == "DELETE":
            self.delete(token, webhook_id)
            return {"_value": None}
        raise NotFound()

    def listed(self, token: str) -> list[Json]:
        with self._cond:
            return [self._public(h) for h in self._hooks.values() if h["_token"] == token]

    def all_webhooks(self) -> list[Json]:
        with self._cond:
            return [self._public(h) for h in self._hooks.values()]

    def create(self, token: str, member_id: str, params: Json) -> Json:
        url = self._callback(params.get("callbackURL"))
        board_id = self._model(member_id, params.get("idModel"))
        description = str(params.get("description") or "")
        if len(description) > shapes.MAX_COMMENT_LENGTH:
            raise BadRequest("invalid value for description")
        with self._cond:
            if self._duplicate(token, board_id, url):
                raise BadRequest(ALREADY_EXISTS)
        self._probe(url)  # outside the lock: an HTTP call to the receiver
        created = int(self._state.now().timestamp())
        with self._cond:
            if self._duplicate(token, board_id, url):
                raise BadRequest(ALREADY_EXISTS)
            webhook_id = f"{created:08x}{next(self._ids):016x}"
            hook = {
                "id": webhook_id,
                "description": description,
                "idModel": board_id,
                "callbackURL": url,
                "active": params.get("active") not in (False, "false"),
                "consecutiveFailures": 0,
                "firstConsecutiveFailDate": None,
                "_token": token,
            }
            self._hooks[webhook_id] = hook
            return self._public(hook)

    def update(self, token: str, member_id: str, webhook_id: str, params: Json) -> Json:
        hook = self._own(token, webhook_id)
        url = hook["callbackURL"]
        if params.get("callbackURL") is not None:
            url = self._callback(params.get("callbackURL"))
            if url != hook["callbackURL"]:
                self._probe(url)
        board_id = hook["idModel"]
        if params.get("idModel") is not None:
            board_id = self._model(member_id, params.get("idModel"))
        with self._cond:
            hook = self._own(token, webhook_id)
            hook["callbackURL"], hook["idModel"] = url, board_id
            if params.get("description") is not None:
                hook["description"] = str(params["description"])
            if params.get("active") is not None:
                hook["active"] = params["active"] not in (False, "false")
            return self._public(hook)

    def delete(self, token: str, webhook_id: str) -> None:
        with self._cond:
            self._own(token, webhook_id)
            del self._hooks[webhook_id]

    def _own(self, token: str, webhook_id: str) -> Json:
        if not shapes.is_object_id(webhook_id):
            raise BadRequest("invalid id")
        with self._cond:
            hook = self._hooks.get(webhook_id.lower())
            if hook is None or hook["_token"] != token:
                raise NotFound()
            return hook

    def _duplicate(self, token: str, board_id: str, url: str) -> bool:
        return any(
            h["_token"] == token and h["idModel"] == board_id and h["callbackURL"] == url
            for h in self._hooks.values()
        )

    @staticmethod
    def _callback(value: Any) -> str:
        if not isinstance(value, str) or not _URL.fullmatch(value):
            raise BadRequest("invalid value for callbackURL")
        return value

    def _model(self, member_id: str, value: Any) -> str:
        if not isinstance(value, str) or not shapes.is_object_id(value):
            raise BadRequest("invalid value for idModel")
        try:
            return self._state.check_board_access(member_id, value)
        except NotFound:
            raise BadRequest("invalid value for idModel") from None

    def _probe(self, url: str) -> None:
        """Trello's check before it creates a webhook: a HEAD that must answer 200."""
        try:
            answer = self._session.head(url, timeout=self.probe_timeout_s, allow_redirects=False)
            status: object = answer.status_code
        except requests.RequestException:
            status = "no answer"
        if status != 200:
            raise BadRequest(f"URL ({url}) did not return 200 status code, got {status}")

    @staticmethod
    def _public(hook: Json) -> Json:
        return {name: hook[name] for name in _FIELDS}

    # --- deliveries --------------------------------------------------------------------------

    def _heard(self, action: Json) -> None:
        """A change on some board (called with the state's lock held: only enqueues)."""
        board_id = ((action.get("data") or {}).get("board") or {}).get("id")
        with self._cond:
            watching = [h for h in self._hooks.values() if h["active"] and h["idModel"] == board_id]
            if not watching:
                return
            now, kept = self._monotonic(), copy.deepcopy(action)
            for hook in watching:
                job = _Job(now + self.delay_s, next(self._seq), hook["id"], kept)
                heapq.heappush(self._jobs, job)
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return len(self._jobs)

    def start(self) -> None:
        with self._cond:
            if self._running:
                return
            self._running = True
        self._thread = threading.Thread(target=self._deliver_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._running = False
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 5)
            self._thread = None
        self._session.close()

    def _deliver_forever(self) -> None:
        while True:
            with self._cond:
                while self._running and (not self._jobs or self._jobs[0].due > self._monotonic()):
                    wait = self._jobs[0].due - self._monotonic() if self._jobs else None
                    self._cond.wait(wait)
                if not self._running:
                    return
                job = heapq.heappop(self._jobs)
                hook = self._hooks.get(job.webhook_id)
                dropped = job.attempt == 0 and self.drop_next > 0
                if dropped:
                    self.drop_next -= 1
            if hook is None or not hook["active"]:
                continue  # deleted or switched off meanwhile
            if dropped:
                self._note(job, None, dropped=True)
                continue
            self._attempt(job, hook)

    def _attempt(self, job: _Job, hook: Json) -> None:
        if job.body is None:
            board_id = hook["idModel"]
            try:
                model = self._state.board(board_id)
            except SandboxError:
                return  # the board is gone
            job.body = json.dumps({"action": job.action, "model": model}).encode("utf-8")
        url = hook["callbackURL"]
        headers = {
            "Content-Type": "application/json",
            "X-Trello-Webhook": sign(self._state.api_secret, job.body, url),
            "User-Agent": "trello-sync-sandbox-webhooks",
        }
        try:
            answer = self._session.post(
                url, data=job.body, headers=headers, timeout=self.timeout_s, allow_redirects=False
            )
            status: int | None = answer.status_code
        except requests.RequestException:
            status = None
        ok = status is not None and 200 <= status < 300
        self._note(job, status)
        # Never the state's lock inside the hub's: a change holds the state's, then the hub's.
        failed_at = shapes.format_date(self._state.now())
        with self._cond:
            if ok:
                hook["consecutiveFailures"], hook["firstConsecutiveFailDate"] = 0, None
                return
            hook["consecutiveFailures"] += 1
            if hook["firstConsecutiveFailDate"] is None:
                hook["firstConsecutiveFailDate"] = failed_at
            if job.attempt < len(self.retry_delays):
                job.due = self._monotonic() + self.retry_delays[job.attempt]
                job.attempt += 1
                job.seq = next(self._seq)
                heapq.heappush(self._jobs, job)
                self._cond.notify_all()

    def _note(self, job: _Job, status: int | None, *, dropped: bool = False) -> None:
        with self._cond:
            self.attempts.append(
                {
                    "webhook": job.webhook_id,
                    "action": job.action.get("id"),
                    "type": job.action.get("type"),
                    "attempt": job.attempt,
                    "status": status,
                    "dropped": dropped,
                }
            )

    def describe(self) -> Json:
        with self._cond:
            return {
                "webhooks": [self._public(h) for h in self._hooks.values()],
                "pending": len(self._jobs),
                "drop_next": self.drop_next,
                "delay_s": self.delay_s,
                "attempts": list(self.attempts),
            }

    def set_switches(self, body: Any) -> None:
        """`{"drop_next": N, "delay_s": S}` (either or both), from the admin area."""
        if not isinstance(body, dict) or not set(body) <= {"drop_next", "delay_s"}:
            raise ValueError("webhook switches are drop_next and delay_s")
        with self._cond:
            if "drop_next" in body:
                self.drop_next = max(0, int(body["drop_next"]))
            if "delay_s" in body:
                delay = float(body["delay_s"])
                if not 0 <= delay <= 60:
                    raise ValueError("delay_s must be between 0 and 60")
                self.delay_s = delay


NOT_MINE = _NOT_MINE
