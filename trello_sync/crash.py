"""Named crash points for the reliability tests.

`TRELLO_SYNC_CRASH_AT=<name>[:<n>]` makes the process die with `os._exit(137)` the n-th
time (default the first) it reaches the point `name`: no cleanup, no flush, like a
SIGKILL. Unarmed, a crash point is one dictionary-free comparison.
"""

from __future__ import annotations

import os

_ENV = "TRELLO_SYNC_CRASH_AT"


def _parse(value: str) -> tuple[str, int] | None:
    if not value:
        return None
    name, _, count = value.partition(":")
    return name.strip(), int(count) if count.strip().isdigit() else 1


_armed = _parse(os.environ.get(_ENV, ""))
_hits = 0


def crash_point(name: str) -> None:
    global _hits
    if _armed is None or _armed[0] != name:
        return
    _hits += 1
    if _hits >= _armed[1]:
        os._exit(137)


def rearm(value: str | None) -> None:
    """For tests in one process: arm (or disarm, with None) anew."""
    global _armed, _hits
    _armed = _parse(value or "")
    _hits = 0
