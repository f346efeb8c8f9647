"""The only place that reads the wall clock or sleeps; everything else is handed one.

Tests pass a FakeClock, which moves time forward when asked to sleep, so that retry
schedules and nightly jobs are asserted without waiting.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for durations and pacing)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait (a real clock) or move time forward (a fake one)."""
        ...


class SystemClock:
    def __init__(self, stop_event: threading.Event | None = None) -> None:
        # Sleeping on an event lets a stop request cut a long back-off short.
        self._stop = stop_event

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self._stop is not None:
            self._stop.wait(seconds)
        else:
            time.sleep(seconds)


class FakeClock:
    """A clock for tests: starts at a given instant, `sleep` advances it and is recorded."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
        self._mono = 1000.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(seconds, 0.0))

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds

    def set(self, when: datetime) -> None:
        delta = (when - self._now).total_seconds()
        self._now = when
        self._mono += max(delta, 0.0)
