"""The charts of a statement and of the dashboard, as data (documents.StatementCharts).

Amounts and counts come from the month summary (domain/summary.py): net of reversals,
one currency at a time. Stages come from the stage-move history.

Days of the stage charts are UTC days: a card's stage at the end of a day is the stage
of its latest move before the next midnight UTC (moves at the same instant in the order
of their action ids, as the report reads them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta

from trello_sync.domain.documents import DayCount, MonthBar, StatementCharts
from trello_sync.domain.records import Entry, StageMove
from trello_sync.domain.rules import Status
from trello_sync.domain.stages import Stage
from trello_sync.domain.summary import LevelKey, MonthSummary, Tally, level_key, month_of

MONTHS_SHOWN = 12
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")

CardKey = tuple[str, str]  # (board_id, card_id)


# --- months and days ------------------------------------------------------------------------


def month_bounds(month: str) -> tuple[date, date]:
    """The first day of `YYYY-MM` and the first day of the month after it."""
    match = _MONTH.match(month)
    if match is None:
        raise ValueError(f"not a month: {month!r} (expected YYYY-MM)")
    year, number = int(match.group(1)), int(match.group(2))
    first = date(year, number, 1)
    following = date(year + 1, 1, 1) if number == 12 else date(year, number + 1, 1)
    return first, following


def months_ending(month: str, count: int = MONTHS_SHOWN) -> tuple[str, ...]:
    """The `count` months ending with `month`, oldest first."""
    first, _ = month_bounds(month)
    months: list[str] = []
    for _ in range(count):
        months.append(month_of(first))
        first = (first - timedelta(days=1)).replace(day=1)
    return tuple(reversed(months))


def utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def day_end(day: date) -> datetime:
    """The next midnight UTC: a move belongs to `day` or before when it is earlier."""
    return datetime.combine(day + timedelta(days=1), time.min, UTC)


def days_from(first: date, last: date) -> tuple[date, ...]:
    """Every day from `first` to `last`, both included (none when last < first)."""
    return tuple(first + timedelta(days=n) for n in range((last - first).days + 1))


def move_order(move: StageMove) -> tuple[datetime, str]:
    return (move.at, move.source_action_id)


def card_of(move: StageMove) -> CardKey:
    return (move.board_id, move.card_id)


def stage_counts_at_day_ends(
    moves: Iterable[StageMove], days: Sequence[date]
) -> tuple[Mapping[Stage, int], ...]:
    """For each of `days` (ascending), how many cards were in each stage at its end.

    One sweep over the moves in time order, keeping every card's current stage."""
    ordered = sorted(moves, key=move_order)
    current: dict[CardKey, Stage] = {}
    counts: dict[Stage, int] = {}
    at_ends: list[Mapping[Stage, int]] = []
    next_move = 0
    for day in days:
        end = day_end(day)
        while next_move < len(ordered) and ordered[next_move].at < end:
            move = ordered[next_move]
            previous = current.get(card_of(move))
            if previous is not None:
                counts[previous] -= 1
            current[card_of(move)] = move.stage
            counts[move.stage] = counts.get(move.stage, 0) + 1
            next_move += 1
        at_ends.append(dict(counts))
    return tuple(at_ends)


# --- the charts -----------------------------------------------------------------------------


def earnings_by_month(
    entries: Iterable[Entry], *, mentor: str | None, month: str, currency: str
) -> tuple[MonthBar, ...]:
    """The 12 months ending with `month`, oldest first, each with the net cents per level
    of the entries paid in `currency` (entries in another currency are left out: two
    currencies are never added). `mentor`: only that mentor's entries (None: everyone's).

    Every month is present, and every bar names the same levels (those of any of the 12
    months, ascending, 0 where a month has none), so that stacked bars line up."""
    summaries = {shown: MonthSummary(shown, _by_level) for shown in months_ending(month)}
    for entry in entries:
        if entry.currency != currency or (mentor is not None and entry.mentor != mentor):
            continue
        summary = summaries.get(month_of(entry.session_date))
        if summary is not None:
            summary.add(entry)
    levels = sorted({key.level for summary in summaries.values() for key, _ in summary.items()})
    return tuple(
        MonthBar(
            shown,
            {level: summary.group(LevelKey(level)).amount(currency).cents for level in levels},
        )
        for shown, summary in summaries.items()
    )


def _by_level(entry: Entry) -> tuple[LevelKey]:
    return (level_key(entry),)


def sessions_by_status(entries: Iterable[Entry]) -> Mapping[Status, int]:
    """Net counts of the given entries (a month's) per status, every status present."""
    tally = Tally()
    for entry in entries:
        tally.add(entry)
    return {status: tally.count(status) for status in Status}


def active_per_day(moves: Iterable[StageMove], *, month: str, today: date) -> tuple[DayCount, ...]:
    """For each day of `month` up to `today`: how many cards were active at its end.

    A month that has not begun has no day; a month that is over has all of them."""
    first, following = month_bounds(month)
    days = days_from(first, min(following - timedelta(days=1), today))
    counts = stage_counts_at_day_ends(moves, days)
    return tuple(
        DayCount(day, at_end.get(Stage.ACTIVE, 0)) for day, at_end in zip(days, counts, strict=True)
    )


def statement_charts(
    *,
    entries: Iterable[Entry],
    moves: Iterable[StageMove],
    month: str,
    today: date,
    cap: int,
    currency: str,
    mentor: str | None = None,
) -> StatementCharts:
    """The charts of `month`: `entries` of any month (the earnings chart reads the 11
    before), `moves` of the cards to count as active. `mentor`: only that mentor's
    entries (None: everyone's, as the dashboard shows them)."""
    chosen = [entry for entry in entries if mentor is None or entry.mentor == mentor]
    of_month = [entry for entry in chosen if month_of(entry.session_date) == month]
    return StatementCharts(
        earnings=earnings_by_month(chosen, mentor=None, month=month, currency=currency),
        earnings_currency=currency,
        sessions_by_status=sessions_by_status(of_month),
        active_per_day=active_per_day(moves, month=month, today=today),
        cap=cap,
    )
