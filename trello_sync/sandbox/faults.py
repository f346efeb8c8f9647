"""Fault switches for the sandbox: answers Trello (or the network) might give instead.

The server consults `Faults.take(method, path)` for every authenticated API request,
after the rate limits. `kind="status"` answers 429, 500, 502, 503 or 504 the next n
times; `kind="timeout"` holds the request `delay_s` seconds, then closes the connection
without answering and without applying it. Dropped connections, delayed comments, pages
out of order and an empty board are further kinds to add here, keyed the same way.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

from trello_sync.sandbox.shapes import Json

FAULT_STATUSES = (429, 500, 502, 503, 504)
LIMIT_ERRORS = ("API_TOKEN_LIMIT_EXCEEDED", "API_KEY_LIMIT_EXCEEDED")
FAULT_KINDS = ("status", "timeout")


@dataclass
class Fault:
    status: int
    times: int = 1
    path_contains: str = ""
    method: str | None = None  # None: any method
    error: str = "API_TOKEN_LIMIT_EXCEEDED"  # the `error` of a 429's JSON body
    kind: str = "status"
    delay_s: float = 1.0  # kind="timeout": how long the request is held before the close

    @classmethod
    def from_json(cls, body: Any) -> Fault:
        """From `{"status": 429, "times": 2, "path_contains": "/actions", ...}`."""
        if not isinstance(body, dict):
            raise ValueError("a fault is a JSON object")
        known = {"status", "times", "path_contains", "method", "error", "kind", "delay_s"}
        unknown = set(body) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        fault = cls(
            status=int(body.get("status", 0)),
            times=int(body.get("times", 1)),
            path_contains=str(body.get("path_contains", "")),
            method=str(body["method"]).upper() if body.get("method") else None,
            error=str(body.get("error", LIMIT_ERRORS[0])),
            kind=str(body.get("kind", "status")),
            delay_s=float(body.get("delay_s", 1.0)),
        )
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind: {fault.kind}")
        if fault.kind == "status" and fault.status not in FAULT_STATUSES:
            raise ValueError(f"status must be one of {FAULT_STATUSES}")
        if not 0 < fault.delay_s <= 60:
            raise ValueError("delay_s must be more than 0 and at most 60")
        if fault.times < 1:
            raise ValueError("times must be at least 1")
        if fault.error not in LIMIT_ERRORS:
            raise ValueError(f"error must be one of {LIMIT_ERRORS}")
        return fault

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and self.path_contains in path


class Faults:
    """Armed faults, consumed first-armed first; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._armed.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def describe(self) -> list[Json]:
        with self._lock:
            return [asdict(f) for f in self._armed]

    def take(self, method: str, path: str) -> Fault | None:
        """The fault to apply to this request, if any (its remaining count goes down)."""
        with self._lock:
            for fault in self._armed:
                if fault.matches(method, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._armed.remove(fault)
                    return fault
        return None
