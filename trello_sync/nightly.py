"""When the worker's jobs run: the nightly export's instants, and a `schedule` on a clock.

No clock reads here but the injected clock's: the worker passes `now`, or the clock.
An export is identified by its *night*: the local date on which the export time falls
(02:00 on 30 March covers the night of 29 to 30 March: "2026-03-30"). Whether a night
was exported is read from the ledger, so a restart, a crash or a second worker never
exports it twice and a missed night is caught up once.

Daylight-saving changes: a local time that does not exist that day (spring forward)
runs at the first instant after the gap; one that happens twice (fall back) runs at
the first occurrence only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import schedule

from trello_sync.clock import Clock

LAST_EXPORT_META = "last_export_date"


def parse_export_time(value: str) -> time:
    """`HH:MM` (the settings check the shape already) to a time of day."""
    return time.fromisoformat(value)


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive local wall-clock reading of an instant."""
    return instant.astimezone(zone).replace(tzinfo=None)


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant at which the local clock in `zone` shows `at` on `day`.

    Ambiguous (fall back): the first occurrence, fold=0. Nonexistent (spring forward):
    the first instant whose local reading is at or after `at`, i.e. the end of the gap.
    """
    wanted = datetime.combine(day, at)
    first = wanted.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _wall(first, zone) == wanted:
        return first
    # In a gap, fold=0 reads the wall time with the offset from before the change and
    # fold=1 with the one after: the change itself lies between the two instants.
    # Bisect on whole seconds for the first instant whose wall reading passes `wanted`.
    low = wanted.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low, high = min(low, first), max(low, first)
    while high - low > timedelta(seconds=1):
        middle = (low + (high - low) / 2).replace(microsecond=0)
        if _wall(middle, zone) >= wanted:
            high = middle
        else:
            low = middle
    return high


def next_export_after(now: datetime, at: time, zone: ZoneInfo) -> datetime:
    """The first scheduled export instant strictly after `now` (aware, UTC)."""
    today = now.astimezone(zone).date()
    for offset in range(-1, 3):
        instant = local_instant(today + timedelta(days=offset), at, zone)
        if instant > now:
            return instant
    raise AssertionError("an export time falls on every local day")  # pragma: no cover


def latest_export_night(now: datetime, at: time, zone: ZoneInfo) -> date:
    """The night of the most recent scheduled export at or before `now`."""
    today = now.astimezone(zone).date()
    for offset in range(1, -3, -1):
        night = today + timedelta(days=offset)
        if local_instant(night, at, zone) <= now:
            return night
    raise AssertionError("an export time falls on every local day")  # pragma: no cover


def night_due(now: datetime, at: time, zone: ZoneInfo, last_exported: str | None) -> date | None:
    """The night to export now, or None when the latest one is recorded as done.

    `last_exported` is the ledger's `last_export_date` ("YYYY-MM-DD" or None). Only the
    latest night is ever due: a worker down for a week writes one export, not seven
    (each export is the whole ledger, so the older ones would be the same files).
    """
    night = latest_export_night(now, at, zone)
    if last_exported is not None:
        try:
            if date.fromisoformat(last_exported) >= night:
                return None
        except ValueError:
            pass  # an unreadable record: export again rather than never
    return night


# --- `schedule`, timed by the injected clock --------------------------------------------
# schedule's own jobs read `datetime.now()` (naive, local) to decide and to reschedule:
# these read the clock they are given, in aware UTC, so a FakeClock drives them.


class ClockJob(schedule.Job):
    """A `schedule` job timed by the injected clock; `next_after(now)` gives its next run."""

    def __init__(
        self, scheduler: ClockScheduler, name: str, next_after: Callable[[datetime], datetime]
    ) -> None:
        super().__init__(1, scheduler)
        self.unit = "seconds"  # unused: `next_after` decides; set for schedule's __repr__
        self.name = name
        self._clock = scheduler.clock
        self._next_after = next_after

    @property
    def should_run(self) -> bool:
        assert self.next_run is not None
        return bool(self._clock.now() >= self.next_run)

    def run(self) -> Any:
        result = self.job_func() if self.job_func is not None else None
        self.last_run = self._clock.now()
        self._schedule_next_run()
        return result

    def _schedule_next_run(self) -> None:
        self.next_run = self._next_after(self._clock.now())

    def __repr__(self) -> str:
        return f"<ClockJob {self.name} next {self.next_run}>"


class ClockScheduler(schedule.Scheduler):
    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock

    def job(self, name: str, next_after: Callable[[datetime], datetime]) -> ClockJob:
        return ClockJob(self, name, next_after)

    @property
    def idle_seconds(self) -> float | None:
        next_run = self.next_run
        return None if next_run is None else (next_run - self.clock.now()).total_seconds()
