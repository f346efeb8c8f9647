"""Charts (domain/charts.py) and flow (domain/flow.py) on small handmade histories."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from trello_sync.domain.charts import (
    active_per_day,
    earnings_by_month,
    month_bounds,
    months_ending,
    sessions_by_status,
)
from trello_sync.domain.documents import DayCount
from trello_sync.domain.flow import build_dashboard, cumulative_flow, days_in_stage, flow_metrics
from trello_sync.domain.money import Money
from trello_sync.domain.records import CardRecord, Entry, StageMove
from trello_sync.domain.rules import Status
from trello_sync.domain.stages import PIPELINE_STAGES, Stage

RATES = {1: 3000, 2: 3500}
SHARES = {Status.DONE: 100, Status.NOSHOW: 50, Status.LATE: 50, Status.CANCEL: 0}


def at(day: date, hour: int = 9, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


def move(card: str, when: datetime, stage: Stage, action: str | None = None) -> StageMove:
    action = action or f"{card}-{stage}-{when.isoformat()}"
    return StageMove("b1", card, action, when, stage, None, str(stage))


def entry(
    entry_id: str,
    day: date,
    status: Status = Status.DONE,
    *,
    level: int = 1,
    card: str = "c1",
    currency: str = "EUR",
    mentor: str = "camille",
) -> Entry:
    rate, share = RATES[level], SHARES[status]
    return Entry(
        entry_id=entry_id,
        recorded_at=at(day, 18),
        board_id="b1",
        card_id=card,
        student=card,
        project="Project",
        level=level,
        status=status,
        session_date=day,
        duration_minutes=None,
        note="",
        rate_cents=rate,
        share_percent=share,
        amount_cents=rate * share // 100,
        currency=currency,
        mentor=mentor,
        source_action_id=f"act-{entry_id}",
    )


def reversal(of: Entry) -> Entry:
    return replace(
        of,
        entry_id=f"{of.entry_id}~rev",
        amount_cents=-of.amount_cents,
        reverses_entry_id=of.entry_id,
    )


# --- months ---------------------------------------------------------------------------------


def test_months_ending_cross_the_year():
    assert months_ending("2026-02", 4) == ("2025-11", "2025-12", "2026-01", "2026-02")
    assert len(months_ending("2026-02")) == 12
    assert month_bounds("2025-12") == (date(2025, 12, 1), date(2026, 1, 1))
    with pytest.raises(ValueError, match="YYYY-MM"):
        month_bounds("2026-13")


# --- earnings -------------------------------------------------------------------------------


def test_earnings_twelve_months_with_gaps_per_level_one_currency():
    done_may = entry("a", date(2025, 5, 3))
    entries = [
        entry("old", date(2025, 3, 31)),  # 13 months before: not shown
        done_may,
        entry("b", date(2025, 5, 20), Status.NOSHOW, level=2),
        entry("c", date(2025, 9, 1), level=2),
        reversal(entry("c", date(2025, 9, 1), level=2)),
        entry("d", date(2026, 4, 30)),
        entry("e", date(2026, 4, 2), level=2),
        entry("chf", date(2026, 4, 2), currency="CHF"),  # another currency: left out
        entry("sam", date(2026, 4, 2), mentor="sam"),  # another mentor: left out
    ]
    bars = earnings_by_month(entries, mentor="camille", month="2026-04", currency="EUR")
    assert [bar.month for bar in bars] == list(months_ending("2026-04"))
    assert bars[0].month == "2025-05"
    by_month = {bar.month: dict(bar.cents_by_level) for bar in bars}
    assert by_month["2025-05"] == {1: 3000, 2: 1750}
    assert by_month["2025-09"] == {1: 0, 2: 0}  # a session and its undo: net nothing
    assert by_month["2025-06"] == {1: 0, 2: 0}  # an empty month, the same levels
    assert by_month["2026-04"] == {1: 3000, 2: 3500}
    assert bars[-1].total_cents == 6500
    everyone = earnings_by_month(entries, mentor=None, month="2026-04", currency="EUR")
    assert everyone[-1].cents_by_level == {1: 6000, 2: 3500}


def test_earnings_of_a_mentor_without_entries_are_twelve_empty_bars():
    bars = earnings_by_month([], mentor="camille", month="2026-01", currency="EUR")
    assert len(bars) == 12 and all(bar.cents_by_level == {} for bar in bars)


def test_sessions_by_status_every_status_net():
    done = entry("a", date(2026, 3, 2))
    counts = sessions_by_status([done, reversal(done), entry("b", date(2026, 3, 3), Status.LATE)])
    assert counts == {Status.DONE: 0, Status.NOSHOW: 0, Status.LATE: 1, Status.CANCEL: 0}


# --- active per day -------------------------------------------------------------------------

MARCH = [
    # A: active from before the month, paused on the 10th, back on the 20th.
    move("A", at(date(2026, 2, 20)), Stage.ACTIVE),
    move("A", at(date(2026, 3, 10), 8), Stage.PAUSED),
    move("A", at(date(2026, 3, 20), 15), Stage.ACTIVE),
    # B: waiting, active on the 5th late in the UTC day, handed off on the 12th.
    move("B", at(date(2026, 3, 1), 10), Stage.WAITING),
    move("B", at(date(2026, 3, 5), 23, 59, 59), Stage.ACTIVE),
    move("B", at(date(2026, 3, 12), 0, 0, 0), Stage.HANDED_OFF),
    # C: in and out of active within one day: not active at its end.
    move("C", at(date(2026, 3, 7), 9), Stage.ACTIVE),
    move("C", at(date(2026, 3, 7), 17), Stage.ARCHIVED),
]


def test_active_per_day_across_moves_in_and_out():
    days = active_per_day(MARCH, month="2026-03", today=date(2026, 4, 15))
    assert len(days) == 31
    count = {d.day.day: d.count for d in days}
    assert count[1] == 1 and count[4] == 1
    assert count[5] == 2  # B at 23:59:59 UTC counts that day
    assert count[7] == 2  # C came and went
    assert count[9] == 2
    assert count[10] == 1  # A paused
    assert count[11] == 1  # B handed off at midnight of the 12th: active on the 11th only
    assert count[12] == 0
    assert count[19] == 0
    assert count[20] == 1 and count[31] == 1


def test_today_cuts_the_current_month_and_a_future_month_has_no_day():
    days = active_per_day(MARCH, month="2026-03", today=date(2026, 3, 10))
    assert days[-1] == DayCount(date(2026, 3, 10), 1)
    assert len(days) == 10
    assert active_per_day(MARCH, month="2026-04", today=date(2026, 3, 10)) == ()


def test_moves_at_the_same_instant_in_action_id_order():
    same = at(date(2026, 3, 3))
    moves = [move("D", same, Stage.PAUSED, "a2"), move("D", same, Stage.ACTIVE, "a1")]
    days = active_per_day(moves, month="2026-03", today=date(2026, 3, 3))
    assert days[-1].count == 0  # a2 is the later one: paused


# --- flow -----------------------------------------------------------------------------------

TODAY = date(2025, 3, 31)
HISTORY = [
    # P: active Jan 10, paused Feb 1 → Feb 15, handed off Mar 12 (61 days, pause inside).
    move("P", at(date(2025, 1, 10)), Stage.ACTIVE),
    move("P", at(date(2025, 2, 1)), Stage.PAUSED),
    move("P", at(date(2025, 2, 15)), Stage.ACTIVE),
    move("P", at(date(2025, 3, 12)), Stage.HANDED_OFF),
    # Q: waiting Jan 5, active Mar 1, still active.
    move("Q", at(date(2025, 1, 5)), Stage.WAITING),
    move("Q", at(date(2025, 3, 1)), Stage.ACTIVE),
    # R: handed off more than 12 months ago.
    move("R", at(date(2023, 5, 1)), Stage.ACTIVE),
    move("R", at(date(2023, 8, 1)), Stage.HANDED_OFF),
    # S: straight from waiting to handed off: a hand-off without a cycle time.
    move("S", at(date(2024, 11, 2)), Stage.WAITING),
    move("S", at(date(2024, 11, 20)), Stage.HANDED_OFF),
    # T: active since last summer, archived since.
    move("T", at(date(2024, 7, 1)), Stage.ACTIVE),
    move("T", at(date(2025, 3, 20)), Stage.ARCHIVED),
    # U: a move after today is not seen yet.
    move("U", at(date(2025, 1, 1)), Stage.ACTIVE),
    move("U", at(date(2025, 4, 2)), Stage.HANDED_OFF),
]
P_CARD = CardRecord("b1", "P", "Paula", "Project", 1, "a")


def test_days_in_stage_add_up_to_the_days_since_the_first_move():
    days = days_in_stage(HISTORY, P_CARD, TODAY)
    assert days == {Stage.ACTIVE: 22 + 25, Stage.PAUSED: 14, Stage.HANDED_OFF: 19}
    assert list(days) == [Stage.ACTIVE, Stage.PAUSED, Stage.HANDED_OFF]
    assert sum(days.values()) == (TODAY - date(2025, 1, 10)).days
    assert days_in_stage(HISTORY, P_CARD, date(2025, 1, 20)) == {Stage.ACTIVE: 10}
    assert days_in_stage(HISTORY, replace(P_CARD, card_id="none"), TODAY) == {}


def test_flow_metrics_paused_time_counts_inside_the_cycle():
    metrics = flow_metrics(HISTORY, today=TODAY)
    assert metrics.work_in_progress == 2  # Q, and U (its hand-off is after today)
    assert metrics.cycle_days == (61,)  # P: Jan 10 → Mar 12, its two paused weeks inside
    assert metrics.active_ages == (89, 30)  # U since Jan 1, Q since Mar 1: oldest first
    assert [month for month, _ in metrics.throughput] == list(months_ending("2025-03"))
    throughput = dict(metrics.throughput)
    assert throughput["2025-03"] == 1  # P
    assert throughput["2024-11"] == 1  # S, without a cycle time
    assert sum(throughput.values()) == 2  # R is older than 12 months


def test_flow_metrics_the_day_after_sees_the_new_hand_off():
    metrics = flow_metrics(HISTORY, today=date(2025, 4, 2))
    assert metrics.work_in_progress == 1
    assert metrics.cycle_days == (61, 91)  # P, then U: Jan 1 → Apr 2
    assert dict(metrics.throughput)["2025-04"] == 1
    assert metrics.throughput[0] == ("2024-05", 0)


def test_cumulative_flow_ninety_days_per_pipeline_stage():
    days = cumulative_flow(HISTORY, today=TODAY)
    assert len(days) == 90
    assert days[0].day == date(2025, 1, 1) and days[-1].day == TODAY
    assert all(list(day.counts) == list(PIPELINE_STAGES) for day in days)
    by_day = {day.day: dict(day.counts) for day in days}
    # Jan 1: T active since July, U active that morning; R and S handed off.
    assert by_day[date(2025, 1, 1)] == {
        Stage.WAITING: 0,
        Stage.ACTIVE: 2,
        Stage.PAUSED: 0,
        Stage.HANDED_OFF: 2,
    }
    assert by_day[date(2025, 2, 10)] == {
        Stage.WAITING: 1,
        Stage.ACTIVE: 2,
        Stage.PAUSED: 1,
        Stage.HANDED_OFF: 2,
    }
    # Mar 31: Q and U active, T archived (out of the pipeline), P, R, S handed off.
    assert by_day[TODAY] == {
        Stage.WAITING: 0,
        Stage.ACTIVE: 2,
        Stage.PAUSED: 0,
        Stage.HANDED_OFF: 3,
    }
    assert len(cumulative_flow(HISTORY, today=TODAY, days=7)) == 7


# --- the dashboard --------------------------------------------------------------------------

DASH_TODAY = date(2026, 3, 20)
DASH_CARDS = [
    CardRecord("b1", "quiet", "Quentin", "Project", 1, "a1"),
    CardRecord("b1", "busy", "Bea", "Project", 2, "a2"),
    CardRecord("b1", "rest", "Rosa", "Project", 1, "a3"),
    CardRecord("b1", "gone", "Gaston", "Project", 1, "a4"),
    CardRecord("b1", "new", "Nina", None, 1, "a5"),
]
DASH_MOVES = [
    move("quiet", at(date(2026, 1, 5)), Stage.ACTIVE),
    move("busy", at(date(2026, 1, 5)), Stage.ACTIVE),
    move("rest", at(date(2026, 1, 5)), Stage.ACTIVE),
    move("rest", at(date(2026, 2, 20)), Stage.PAUSED),
    move("gone", at(date(2026, 1, 5)), Stage.ACTIVE),
    move("gone", at(date(2026, 3, 2)), Stage.DELETED),
    move("new", at(date(2026, 3, 18)), Stage.WAITING),
]
DASH_ENTRIES = [
    entry("q1", date(2026, 2, 10), card="quiet"),  # seen Feb 10 at 18:00
    entry("b1", date(2026, 3, 3), card="busy", level=2),
    entry("b2", date(2026, 3, 17), card="busy", level=2),
    reversal(entry("b2", date(2026, 3, 17), card="busy", level=2)),
    entry("g1", date(2026, 3, 1), card="gone"),
]


def dashboard(**overrides):
    arguments = {
        "month": "2026-03",
        "today": DASH_TODAY,
        "language": "en",
        "cards": DASH_CARDS,
        "moves": DASH_MOVES,
        "entries": DASH_ENTRIES,
        "cap": 20,
        "currency": "EUR",
        "pause_warning_days": 21,
        "nudge_days": 14,
    }
    return build_dashboard(**{**arguments, **overrides})


def test_dashboard_rows_and_flags():
    result = dashboard()
    rows = {row.student: row for row in result.students}
    assert [row.student for row in result.students] == [
        "Nina",
        "Bea",
        "Quentin",
        "Rosa",
        "Gaston",
    ]  # the report's order: by stage, then name
    assert rows["Bea"].sessions == 1 and rows["Bea"].amount == Money(3500)
    assert rows["Bea"].flags == ()
    assert rows["Quentin"].flags == ("no session lately",)  # Feb 10 → Mar 20: 38 days
    assert rows["Rosa"].flags == ("paused too long",)  # Feb 20 → Mar 20: 28 days
    assert rows["Gaston"].flags == ("card deleted",)
    assert rows["Nina"].flags == ("no project",)
    assert rows["Rosa"].days_in_stage == {Stage.ACTIVE: 46, Stage.PAUSED: 28}
    assert result.needs_a_look == (
        ("Nina", ("no project",)),
        ("Quentin", ("no session lately",)),
        ("Rosa", ("paused too long",)),
        ("Gaston", ("card deleted",)),
    )
    assert result.totals == (Money(6500),)
    assert result.active == 2
    assert result.flow.work_in_progress == 2
    assert len(result.cumulative_flow) == 90
    assert result.charts.earnings[-1].cents_by_level == {1: 3000, 2: 3500}
    assert result.charts.active_per_day[-1] == DayCount(DASH_TODAY, 2)


def test_dashboard_flags_wait_for_their_thresholds():
    result = dashboard(pause_warning_days=29, nudge_days=39)
    assert result.needs_a_look == (("Nina", ("no project",)), ("Gaston", ("card deleted",)))
    exactly = dashboard(pause_warning_days=28, nudge_days=38)
    assert len(exactly.needs_a_look) == 4  # due by the end of today, as the reminders are


def test_a_dashboard_month_without_entries_shows_todays_currency():
    result = dashboard(entries=[], currency="CHF")
    assert result.totals == (Money(0, "CHF"),)
    assert result.charts.earnings_currency == "CHF"
