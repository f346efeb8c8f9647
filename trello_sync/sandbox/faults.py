"""Fault switches for the sandbox: answers Trello (or the network) might give instead.

The server consults `Faults.take(method, path, params)` for every authenticated API
request, after the rate limits. Each fault applies `times` times to the requests it
matches (`method`, `path_contains`; for `/batch` the routes in `urls` count as the path).

Kinds that stop the request before it is applied:
- `status`: answer 429 (with `error` as the JSON body's error), 500, 502, 503 or 504.
- `timeout`: hold the request `delay_s` seconds, then close the connection unanswered.

Kinds that apply the request, then lose or delay its answer:
- `drop`: apply it, wait `delay_s` (default 0), then close the connection unanswered.
- `late`: apply it, then answer only after `delay_s` (longer than the client waits).

Kinds that change what a read returns:
- `shuffle`: an actions page (board or card feed) in another order (`seed` decides it).
- `empty`: a board's lists and cards (alone or inside a `/batch`) come back empty.

And one that changes what later reads show:
- `hide`: a comment created by the matching POST is left out of every board and card
  feed for `delay_s` seconds of the sandbox's clock (Trello showing it late).

A request takes at most one fault of each group: one that stops it (then nothing else),
or one delivery fault (`drop`/`late`), one read fault (`shuffle`/`empty`) and one `hide`.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import asdict, dataclass
from typing import Any

from trello_sync.sandbox.shapes import Json

FAULT_STATUSES = (429, 500, 502, 503, 504)
LIMIT_ERRORS = ("API_TOKEN_LIMIT_EXCEEDED", "API_KEY_LIMIT_EXCEEDED")
FAULT_KINDS = ("status", "timeout", "drop", "late", "shuffle", "empty", "hide")
# Kinds of one group exclude each other on a request; "stop" excludes every other group.
GROUPS = {
    "status": "stop",
    "timeout": "stop",
    "drop": "delivery",
    "late": "delivery",
    "shuffle": "read",
    "empty": "read",
    "hide": "hide",
}
DEFAULT_DELAY = {"timeout": 1.0, "drop": 0.0, "late": 1.0, "hide": 5.0}
MAX_DELAY = {"timeout": 60.0, "drop": 60.0, "late": 60.0, "hide": 86400.0}

LISTS_OR_CARDS = re.compile(r"^(?:/1)?/boards/[^/?]+/(?:lists|cards)(?:/[^/?]*)?(?:\?.*)?$")
ACTIONS_FEED = re.compile(r"^/1/(?:boards|cards)/[^/]+/actions$")
COMMENT_POST = re.compile(r"^/1/cards/[^/]+/actions/comments$")


@dataclass
class Fault:
    status: int = 0
    times: int = 1
    path_contains: str = ""
    method: str | None = None  # None: any method
    error: str = "API_TOKEN_LIMIT_EXCEEDED"  # the `error` of a 429's JSON body
    kind: str = "status"
    delay_s: float | None = None  # seconds; None: the kind's default (DEFAULT_DELAY)
    seed: int = 0  # kind="shuffle": which other order

    def __post_init__(self) -> None:
        if self.delay_s is None:
            self.delay_s = DEFAULT_DELAY.get(self.kind, 0.0)

    @property
    def delay(self) -> float:
        return float(self.delay_s or 0.0)

    @classmethod
    def from_json(cls, body: Any) -> Fault:
        """From `{"status": 429, "times": 2, "path_contains": "/actions", ...}` or
        `{"kind": "hide", "delay_s": 30, "method": "POST"}`."""
        if not isinstance(body, dict):
            raise ValueError("a fault is a JSON object")
        known = {
            "status",
            "times",
            "path_contains",
            "method",
            "error",
            "kind",
            "delay_s",
            "seed",
        }
        unknown = set(body) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        kind = str(body.get("kind", "status"))
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind: {kind} (one of {', '.join(FAULT_KINDS)})")
        fault = cls(
            status=int(body.get("status", 0)),
            times=int(body.get("times", 1)),
            path_contains=str(body.get("path_contains", "")),
            method=str(body["method"]).upper() if body.get("method") else None,
            error=str(body.get("error", LIMIT_ERRORS[0])),
            kind=kind,
            delay_s=float(body["delay_s"]) if body.get("delay_s") is not None else None,
            seed=int(body.get("seed", 0)),
        )
        fault.validate()
        return fault

    def validate(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind: {self.kind}")
        if self.kind == "status" and self.status not in FAULT_STATUSES:
            raise ValueError(f"status must be one of {FAULT_STATUSES}")
        if self.kind in MAX_DELAY:
            low_ok = self.delay >= 0 if self.kind == "drop" else self.delay > 0
            if not (low_ok and self.delay <= MAX_DELAY[self.kind]):
                raise ValueError(
                    f"delay_s for {self.kind} must be "
                    f"{'at least' if self.kind == 'drop' else 'more than'} 0 "
                    f"and at most {MAX_DELAY[self.kind]:g}"
                )
        if self.times < 1:
            raise ValueError("times must be at least 1")
        if self.error not in LIMIT_ERRORS:
            raise ValueError(f"error must be one of {LIMIT_ERRORS}")

    @property
    def group(self) -> str:
        return GROUPS[self.kind]

    def matches(self, method: str, path: str, params: Json | None = None) -> bool:
        if self.method is not None and self.method != method:
            return False
        routes = _batch_routes(path, params)
        where = path if routes is None else path + "?" + ",".join(routes)
        if self.path_contains not in where:
            return False
        # Kinds that change a particular answer only take the requests they can change.
        if self.kind == "shuffle":
            return method == "GET" and bool(ACTIONS_FEED.match(path))
        if self.kind == "empty":
            if method != "GET":
                return False
            if routes is not None:
                return any(LISTS_OR_CARDS.match(r) for r in routes)
            return bool(LISTS_OR_CARDS.match(path))
        if self.kind == "hide":
            return method == "POST" and bool(COMMENT_POST.match(path))
        return True


def _batch_routes(path: str, params: Json | None) -> list[str] | None:
    if path.rstrip("/") != "/1/batch":
        return None
    raw = (params or {}).get("urls")
    return [u.strip() for u in str(raw or "").split(",") if u.strip()]


class Faults:
    """Armed faults, consumed first-armed first; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[Fault] = []

    def add(self, fault: Fault) -> None:
        fault.validate()
        with self._lock:
            self._armed.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def describe(self) -> list[Json]:
        with self._lock:
            return [asdict(f) for f in self._armed]

    def take(self, method: str, path: str, params: Json | None = None) -> list[Fault]:
        """The faults to apply to this request (each one's remaining count goes down):
        one that stops it, alone; or at most one of each other group."""
        with self._lock:
            matching = [f for f in self._armed if f.matches(method, path, params)]
            stop = next((f for f in matching if f.group == "stop"), None)
            chosen: list[Fault] = []
            if stop is not None:
                chosen = [stop]
            else:
                groups: set[str] = set()
                for fault in matching:
                    if fault.group not in groups:
                        groups.add(fault.group)
                        chosen.append(fault)
            for fault in chosen:
                fault.times -= 1
                if fault.times <= 0:
                    self._armed.remove(fault)
            return chosen


def empty_lists_and_cards(path: str, params: Json, result: Any) -> Any:
    """The answer with a board's lists and cards emptied (a batch: those items only)."""
    routes = _batch_routes(path, params)
    if routes is None:
        return [] if isinstance(result, list) else result
    if not isinstance(result, list):
        return result
    return [
        {"200": []} if LISTS_OR_CARDS.match(route) and isinstance(item, dict) else item
        for route, item in zip(routes, result, strict=False)
    ]


def shuffled(result: Any, seed: int) -> Any:
    """An actions page in another order than Trello's (never the same order, if it can)."""
    if not isinstance(result, list) or len(result) < 2:
        return result
    page = list(result)
    random.Random(seed).shuffle(page)
    if [a.get("id") for a in page] == [a.get("id") for a in result]:
        page = page[1:] + page[:1]
    return page
