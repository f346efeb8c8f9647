"""Named crash points for the reliability tests.

`TRELLO_SYNC_CRASH_AT=<name>[:<n>]` makes the process die with `os._exit(137)` the n-th
time (default the first) it reaches the point `name`: no cleanup, no flush, like a
SIGKILL. Unarmed, a crash point is one dictionary-free comparison.

Tests that model a crash inside one process (the simulator) pass `rearm(..., action=)`
a function that raises a BaseException instead; `os._exit(137)` stays the default.
"""

from __future__ import annotations

import os
from collections.abc import Callable

_ENV = "TRELLO_SYNC_CRASH_AT"


def _parse(value: str) -> tuple[str, int] | None:
    if not value:
        return None
    name, _, count = value.partition(":")
    return name.strip(), int(count) if count.strip().isdigit() else 1


def _die() -> None:
    os._exit(137)


_armed = _parse(os.environ.get(_ENV, ""))
_hits = 0
_action: Callable[[], None] = _die


def crash_point(name: str) -> None:
    global _hits, _armed
    if _armed is None or _armed[0] != name:
        return
    _hits += 1
    if _hits >= _armed[1]:
        _armed = None  # fires once (only matters when the action returns or raises)
        _action()


def rearm(value: str | None, action: Callable[[], None] | None = None) -> None:
    """For tests in one process: arm (or disarm, with None) anew. `action` (tests only)
    runs instead of `os._exit(137)`, e.g. raising a BaseException to model a crash."""
    global _armed, _hits, _action
    _armed = _parse(value or "")
    _hits = 0
    _action = action or _die
