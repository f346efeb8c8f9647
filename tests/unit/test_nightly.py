"""When the nightly export runs: local time in the configured zone, across the Europe/Paris
daylight-saving changes of 2026 (29 March: 02:00 → 03:00; 25 October: 03:00 → 02:00),
and the `schedule` jobs timed by a FakeClock."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from trello_sync.clock import FakeClock
from trello_sync.nightly import (
    ClockScheduler,
    latest_export_night,
    local_instant,
    next_export_after,
    night_due,
)

PARIS = ZoneInfo("Europe/Paris")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "at", "expected"),
    [
        (date(2026, 3, 28), time(2, 30), utc(2026, 3, 28, 1, 30)),  # CET, UTC+1
        (date(2026, 3, 29), time(2, 30), utc(2026, 3, 29, 1, 0)),  # in the gap: 03:00 CEST
        (date(2026, 3, 29), time(2, 0), utc(2026, 3, 29, 1, 0)),  # the gap's first minute
        (date(2026, 3, 29), time(3, 0), utc(2026, 3, 29, 1, 0)),  # just after the gap
        (date(2026, 3, 30), time(2, 30), utc(2026, 3, 30, 0, 30)),  # CEST, UTC+2
        (date(2026, 10, 25), time(2, 30), utc(2026, 10, 25, 0, 30)),  # twice: the first
        (date(2026, 10, 25), time(1, 30), utc(2026, 10, 24, 23, 30)),  # once, still CEST
        (date(2026, 10, 26), time(2, 30), utc(2026, 10, 26, 1, 30)),  # CET again
    ],
)
def test_a_local_time_becomes_one_instant(day: date, at: time, expected: datetime) -> None:
    assert local_instant(day, at, PARIS) == expected


def test_a_gap_in_a_half_hour_zone_ends_at_its_own_change() -> None:
    # Lord Howe moves 30 minutes on 4 October 2026: 02:00 → 02:30 local.
    zone = ZoneInfo("Australia/Lord_Howe")
    instant = local_instant(date(2026, 10, 4), time(2, 10), zone)
    assert instant.astimezone(zone).strftime("%H:%M") == "02:30"
    assert (instant - timedelta(seconds=1)).astimezone(zone).strftime("%H:%M:%S") == "01:59:59"


def chain(start: datetime, at: time, count: int) -> list[datetime]:
    instants, now = [], start
    for _ in range(count):
        now = next_export_after(now, at, PARIS)
        instants.append(now)
    return instants


def test_the_next_exports_across_spring_forward() -> None:
    assert chain(utc(2026, 3, 27, 12), time(2, 30), 4) == [
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 30, 0, 30),
        utc(2026, 3, 31, 0, 30),
    ]


def test_the_next_exports_across_fall_back_run_once_on_the_long_night() -> None:
    assert chain(utc(2026, 10, 23, 12), time(2, 30), 4) == [
        utc(2026, 10, 24, 0, 30),
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST; not again at 02:30 CET an hour later
        utc(2026, 10, 26, 1, 30),
        utc(2026, 10, 27, 1, 30),
    ]


def test_next_is_strictly_after_now() -> None:
    at = utc(2026, 3, 28, 1, 30)
    assert next_export_after(at, time(2, 30), PARIS) == utc(2026, 3, 29, 1, 0)
    assert next_export_after(at - timedelta(microseconds=1), time(2, 30), PARIS) == at


def test_the_latest_night_is_yesterday_until_the_export_time() -> None:
    at = time(2, 0)
    assert latest_export_night(utc(2026, 3, 28, 0, 59), at, PARIS) == date(2026, 3, 27)
    assert latest_export_night(utc(2026, 3, 28, 1, 0), at, PARIS) == date(2026, 3, 28)
    # 23:30 local is already the next day in UTC terms for a late export time.
    assert latest_export_night(utc(2026, 3, 28, 22, 30), time(23, 30), PARIS) == date(2026, 3, 28)


def test_a_night_is_due_until_the_ledger_records_it() -> None:
    now, at = utc(2026, 3, 28, 10), time(2, 0)
    assert night_due(now, at, PARIS, None) == date(2026, 3, 28)
    assert night_due(now, at, PARIS, "2026-03-20") == date(2026, 3, 28)  # one export, not 8
    assert night_due(now, at, PARIS, "2026-03-28") is None
    assert night_due(now, at, PARIS, "2026-03-29") is None  # the clock went back: no rerun
    assert night_due(now, at, PARIS, "garbage") == date(2026, 3, 28)


def test_schedule_jobs_follow_the_injected_clock() -> None:
    clock = FakeClock(utc(2026, 3, 28, 12))
    scheduler = ClockScheduler(clock)
    runs: list[datetime] = []
    job = scheduler.job("tick", lambda now: now + timedelta(seconds=30))
    job.do(lambda: runs.append(clock.now()))
    assert job.next_run == utc(2026, 3, 28, 12, 0, 30)
    assert scheduler.idle_seconds == 30
    scheduler.run_pending()
    assert runs == []  # not due: a real datetime.now() would not be asked
    for _ in range(3):
        clock.sleep(scheduler.idle_seconds or 0)
        scheduler.run_pending()
    assert runs == [utc(2026, 3, 28, 12) + timedelta(seconds=s) for s in (30, 60, 90)]
    assert clock.sleeps == [30, 30, 30]
