"""How students flow through the pipeline, from the stage-move history, and the dashboard.

Days are UTC days (as in domain/charts.py), and whole: a stay counts the calendar days
from the day of the move into a stage to the day of the move out of it (or `today`), so
the days of a card's stages add up to the days since its first move. Moves after the end
of `today` are left out: `today` in the past replays history as it stood then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Protocol

from trello_sync.domain.charts import (
    CardKey,
    card_of,
    day_end,
    days_from,
    months_ending,
    move_order,
    stage_counts_at_day_ends,
    statement_charts,
    utc_day,
)
from trello_sync.domain.documents import Dashboard, FlowMetrics, StageDay, StudentRow
from trello_sync.domain.money import Money
from trello_sync.domain.records import CardRecord, Entry, StageMove
from trello_sync.domain.report import StudentLine, build_report
from trello_sync.domain.stages import PIPELINE_STAGES, Stage
from trello_sync.domain.summary import Tally, month_of

CUMULATIVE_FLOW_DAYS = 90
# The dashboard's own flags, beside the report's: fixed texts (no day count in them), so
# that the renderer can look them up in its language as it looks up the report's.
FLAG_LONG_PAUSE = "paused too long"
FLAG_NO_RECENT_SESSION = "no session lately"


class CardRef(Protocol):
    """A card of a board: a CardRecord, a report's StudentLine."""

    @property
    def board_id(self) -> str: ...

    @property
    def card_id(self) -> str: ...


# --- histories --------------------------------------------------------------------------


def _histories(moves: Iterable[StageMove], today: date) -> dict[CardKey, list[StageMove]]:
    """Each card's moves up to the end of `today`, in time order."""
    end = day_end(today)
    histories: dict[CardKey, list[StageMove]] = {}
    for move in moves:
        if move.at < end:
            histories.setdefault(card_of(move), []).append(move)
    for history in histories.values():
        history.sort(key=move_order)
    return histories


def _days_per_stage(history: Sequence[StageMove], today: date) -> Mapping[Stage, int]:
    days: dict[Stage, int] = {}
    for index, move in enumerate(history):
        left_on = utc_day(history[index + 1].at) if index + 1 < len(history) else today
        days[move.stage] = days.get(move.stage, 0) + (left_on - utc_day(move.at)).days
    return {stage: days[stage] for stage in Stage if stage in days}


def _first(history: Sequence[StageMove], stage: Stage) -> int | None:
    """The index of the card's first move into `stage`."""
    return next((index for index, move in enumerate(history) if move.stage is stage), None)


def days_in_stage(moves: Iterable[StageMove], card: CardRef, today: date) -> Mapping[Stage, int]:
    """Whole days `card` spent in each stage it has been in (in Stage order), up to today;
    a stage entered several times adds its stays."""
    key = (card.board_id, card.card_id)
    history = _histories((move for move in moves if card_of(move) == key), today).get(key, [])
    return _days_per_stage(history, today)


# --- flow metrics -------------------------------------------------------------------------


def flow_metrics(moves: Iterable[StageMove], *, today: date) -> FlowMetrics:
    """The dashboard's flow metrics (see documents.FlowMetrics).

    - Work in progress: cards whose current stage is active.
    - Hand-off: a card's first move to handed_off. Throughput counts hand-offs per month,
      for the 12 months ending with today's, every month present.
    - Cycle time: days from the first move to active to the hand-off, for the cards
      handed off in those 12 months; paused time counts inside. A card handed off
      without having been active before has no cycle time.
    - Active ages: days since the first move to active, for the cards active now.
    Cycle times are in hand-off order, ages in order of the first move to active
    (oldest first); ties in card order."""
    window = months_ending(month_of(today))
    handoffs = dict.fromkeys(window, 0)
    cycles: list[tuple[date, CardKey, int]] = []
    ages: list[tuple[date, CardKey, int]] = []
    work_in_progress = 0
    for key, history in sorted(_histories(moves, today).items()):
        first_active = _first(history, Stage.ACTIVE)
        handed_off = _first(history, Stage.HANDED_OFF)
        if history[-1].stage is Stage.ACTIVE and first_active is not None:
            work_in_progress += 1
            since = utc_day(history[first_active].at)
            ages.append((since, key, (today - since).days))
        if handed_off is None:
            continue
        handoff_day = utc_day(history[handed_off].at)
        if month_of(handoff_day) not in handoffs:
            continue
        handoffs[month_of(handoff_day)] += 1
        if first_active is not None and first_active < handed_off:
            cycle = (handoff_day - utc_day(history[first_active].at)).days
            cycles.append((handoff_day, key, cycle))
    return FlowMetrics(
        work_in_progress=work_in_progress,
        cycle_days=tuple(days for _, _, days in sorted(cycles)),
        active_ages=tuple(days for _, _, days in sorted(ages)),
        throughput=tuple(handoffs.items()),
    )


def cumulative_flow(
    moves: Iterable[StageMove], *, today: date, days: int = CUMULATIVE_FLOW_DAYS
) -> tuple[StageDay, ...]:
    """Each of the `days` days ending with today, oldest first: how many cards were in
    each pipeline stage at its end (every pipeline stage present; cards that left the
    pipeline, archived or deleted, are not counted)."""
    shown = days_from(today - timedelta(days=days - 1), today)
    counts = stage_counts_at_day_ends(moves, shown)
    return tuple(
        StageDay(day, {stage: at_end.get(stage, 0) for stage in PIPELINE_STAGES})
        for day, at_end in zip(shown, counts, strict=True)
    )


# --- the dashboard ------------------------------------------------------------------------


def build_dashboard(
    *,
    month: str,
    today: date,
    language: str,
    cards: Iterable[CardRecord],
    moves: Iterable[StageMove],
    entries: Iterable[Entry],
    cap: int,
    currency: str,
    pause_warning_days: int,
    nudge_days: int,
) -> Dashboard:
    """The dashboard of `month`: the report's students (domain/report.py) with their days
    per stage and flags, the month's totals, charts (everyone's entries; earnings in
    `currency`, today's rules' one), flow metrics and the cumulative flow.

    Besides the report's flags, two that the reminders would post by the end of today: a
    card paused for `pause_warning_days` days or more, and an active card whose latest
    session (or move into active) is `nudge_days` days old or more."""
    cards, moves, entries = tuple(cards), tuple(moves), tuple(entries)
    report = build_report(month, cards, moves, entries, cap, currency)
    histories = _histories(moves, today)
    last_sessions = _last_sessions(entries)
    rows: list[StudentRow] = []
    for line in report.students:
        history = histories.get((line.board_id, line.card_id), [])
        flags = (
            *line.flags,
            *_time_flags(
                history,
                last_sessions.get((line.board_id, line.card_id)),
                today=today,
                pause_warning_days=pause_warning_days,
                nudge_days=nudge_days,
            ),
        )
        rows.append(_student_row(line, history, flags, today=today, currency=currency))
    return Dashboard(
        month=month,
        today=today,
        language=language,
        students=tuple(rows),
        totals=tuple(report.total.amount(code) for code in report.currencies),
        active=report.active,
        cap=cap,
        charts=statement_charts(
            entries=entries, moves=moves, month=month, today=today, cap=cap, currency=currency
        ),
        flow=flow_metrics(moves, today=today),
        cumulative_flow=cumulative_flow(moves, today=today),
        needs_a_look=tuple((row.student, row.flags) for row in rows if row.flags),
    )


def _student_row(
    line: StudentLine,
    history: Sequence[StageMove],
    flags: tuple[str, ...],
    *,
    today: date,
    currency: str,
) -> StudentRow:
    return StudentRow(
        student=line.student,
        stage=line.stage,
        project=line.project,
        level=line.level,
        sessions=line.sessions,
        amount=_student_amount(line.tally, currency),
        days_in_stage=_days_per_stage(history, today),
        flags=flags,
    )


def _student_amount(tally: Tally, currency: str) -> Money:
    """The student's net amount in the one currency they were paid in this month; with
    none or several, in `currency` (today's rules')."""
    paid_in = tally.currencies
    return tally.amount(paid_in[0] if len(paid_in) == 1 else currency)


def _last_sessions(entries: Iterable[Entry]) -> dict[CardKey, Entry]:
    """Each card's newest session that is not a reversal (when the student was last seen),
    as the reminders read it."""
    latest: dict[CardKey, Entry] = {}
    for entry in entries:
        if entry.is_reversal:
            continue
        key = (entry.board_id, entry.card_id)
        known = latest.get(key)
        if known is None or _recorded(entry) > _recorded(known):
            latest[key] = entry
    return latest


def _recorded(entry: Entry) -> tuple[datetime, str, str]:
    return (entry.recorded_at, entry.source_action_id, entry.entry_id)


def _time_flags(
    history: Sequence[StageMove],
    last_session: Entry | None,
    *,
    today: date,
    pause_warning_days: int,
    nudge_days: int,
) -> tuple[str, ...]:
    if not history:
        return ()
    last = history[-1]
    if last.stage is Stage.PAUSED:
        paused = (today - utc_day(last.at)).days
        return (FLAG_LONG_PAUSE,) if paused >= pause_warning_days else ()
    if last.stage is Stage.ACTIVE:
        seen = last.at
        if last_session is not None and last_session.recorded_at > seen:
            seen = last_session.recorded_at
        quiet = (today - utc_day(seen)).days
        return (FLAG_NO_RECENT_SESSION,) if quiet >= nudge_days else ()
    return ()
