"""One mentor's month as a document (documents.Statement): its lines, subtotals, totals,
what was paid and what is still owed, and its charts.

Counts and amounts are the month summary's (domain/summary.py), fed from the lines: a
statement built from the ledger and one rebuilt from an issued invoice's frozen lines
add up the same way, because they are the same computation.

An issued document keeps its lines as canonical JSON (domain/snapshot.py, whose three
functions are also importable from here).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from trello_sync.domain.charts import statement_charts
from trello_sync.domain.documents import (
    DocumentIdentity,
    InvoiceMentions,
    Payment,
    Statement,
    StatementCharts,
    StatementLine,
    Subtotal,
)
from trello_sync.domain.money import Money
from trello_sync.domain.records import CardRecord, Entry, StageMove
from trello_sync.domain.rules import EntryKind, Funding, Status
from trello_sync.domain.snapshot import lines_from_json as lines_from_json
from trello_sync.domain.snapshot import lines_to_json as lines_to_json
from trello_sync.domain.snapshot import mentions_from_json as mentions_from_json
from trello_sync.domain.summary import LevelKey, MonthSummary, level_key, month_of

# A month without entries, for a mentor who never had any: the pay rules' default.
DEFAULT_CURRENCY = "EUR"


@dataclass(frozen=True, slots=True)
class _StatusKey:
    """Group the sessions by status (beside the level's group, in one month summary)."""

    status: Status


@dataclass(frozen=True, slots=True)
class _DefenseKey:
    """Group the defenses by status."""

    status: Status


@dataclass(frozen=True, slots=True)
class _FeeKey:
    """Group the monthly fees."""


_Group = LevelKey | _StatusKey | _DefenseKey | _FeeKey


def build_statement(
    *,
    mentor: str,
    month: str,
    language: str,
    entries: Iterable[Entry],
    moves: Iterable[StageMove],
    cards: Iterable[CardRecord],
    cap: int,
    today: date,
    identity: DocumentIdentity,
    mentions: InvoiceMentions | None,
    payments: Iterable[Payment] = (),
) -> Statement:
    """`mentor`'s statement of `month`, from the ledger.

    - Lines: the mentor's entries (Entry.mentor) whose session falls in `month`, by
      session date, then recorded_at, then entry id.
    - Subtotals by level and by status: the net count of the lines (of every currency;
      a reversal counts -1) and their net amount in the month's main currency: the
      currency with the most lines (the first in alphabetical order on a tie). Lines in
      another currency add nothing to a subtotal's amount: `totals` holds every
      currency, apart (two currencies are never added).
    - Charts: the earnings chart in the main currency (for a month without entries, the
      currency of the mentor's latest entry, else EUR); the active chart counts the
      stage moves of `cards` only (the caller's choice of the mentor's students).
    """
    mentor_entries = [entry for entry in entries if entry.mentor == mentor]
    of_month = sorted(
        (entry for entry in mentor_entries if month_of(entry.session_date) == month),
        key=_statement_order,
    )
    return _statement(
        mentor=mentor,
        month=month,
        language=language,
        lines=tuple(line_of(entry) for entry in of_month),
        mentor_entries=mentor_entries,
        moves=moves,
        cards=cards,
        cap=cap,
        today=today,
        identity=identity,
        mentions=mentions,
        payments=payments,
    )


def statement_from_lines(
    *,
    mentor: str,
    month: str,
    language: str,
    lines: Iterable[StatementLine],
    entries: Iterable[Entry],
    moves: Iterable[StageMove],
    cards: Iterable[CardRecord],
    cap: int,
    today: date,
    identity: DocumentIdentity,
    mentions: InvoiceMentions | None,
    payments: Iterable[Payment] = (),
) -> Statement:
    """The statement of frozen `lines` (an issued document's, read with
    `lines_from_json`), in their given order, added up as `build_statement` adds the
    ledger's: the lines, subtotals and totals are the snapshot's alone. The charts, paid
    and outstanding are read from `entries`, `moves` and `payments` as `build_statement`
    reads them: they describe the month as it is now, around the frozen document."""
    frozen = tuple(lines)
    for line in frozen:
        if month_of(line.session_date) != month:
            of = month_of(line.session_date)
            raise ValueError(f"line {line.entry_id} is of {of}, not of {month}")
    return _statement(
        mentor=mentor,
        month=month,
        language=language,
        lines=frozen,
        mentor_entries=[entry for entry in entries if entry.mentor == mentor],
        moves=moves,
        cards=cards,
        cap=cap,
        today=today,
        identity=identity,
        mentions=mentions,
        payments=payments,
    )


def line_of(entry: Entry) -> StatementLine:
    return StatementLine(
        entry_id=entry.entry_id,
        session_date=entry.session_date,
        student=entry.student,
        project=entry.project,
        level=entry.level,
        status=Status(entry.status),
        share_percent=entry.share_percent,
        amount=entry.amount,
        reverses_entry_id=entry.reverses_entry_id,
        kind=EntryKind(entry.kind),
        funding=Funding(entry.funding),
    )


def main_currency(lines: Iterable[StatementLine]) -> str | None:
    """The currency with the most lines (alphabetical on a tie); None without lines."""
    counts = Counter(line.amount.currency for line in lines)
    if not counts:
        return None
    return min(counts, key=lambda currency: (-counts[currency], currency))


# --- adding up ------------------------------------------------------------------------------


def _statement(
    *,
    mentor: str,
    month: str,
    language: str,
    lines: tuple[StatementLine, ...],
    mentor_entries: Sequence[Entry],
    moves: Iterable[StageMove],
    cards: Iterable[CardRecord],
    cap: int,
    today: date,
    identity: DocumentIdentity,
    mentions: InvoiceMentions | None,
    payments: Iterable[Payment],
) -> Statement:
    currency = main_currency(lines) or _latest_currency(mentor_entries) or DEFAULT_CURRENCY
    students = {(card.board_id, card.card_id) for card in cards}
    charts = statement_charts(
        entries=mentor_entries,
        moves=[move for move in moves if (move.board_id, move.card_id) in students],
        month=month,
        today=today,
        cap=cap,
        currency=currency,
    )
    return _assemble(
        mentor=mentor,
        month=month,
        language=language,
        lines=lines,
        identity=identity,
        mentions=mentions,
        charts=charts,
        payments=payments,
        currency=currency,
    )


def _assemble(
    *,
    mentor: str,
    month: str,
    language: str,
    lines: tuple[StatementLine, ...],
    identity: DocumentIdentity,
    mentions: InvoiceMentions | None,
    charts: StatementCharts,
    payments: Iterable[Payment],
    currency: str,
) -> Statement:
    summary = _summary_of(lines, month)
    totals = tuple(summary.total.amount(code) for code in summary.total.currencies)
    paid = _paid(payments, mentor=mentor, month=month)
    return Statement(
        mentor=mentor,
        month=month,
        language=language,
        identity=identity,
        lines=lines,
        by_level=_by_level(summary, currency),
        by_status=_by_status(summary, currency),
        totals=totals,
        charts=charts,
        mentions=mentions,
        paid=paid,
        outstanding=_outstanding(totals, paid),
        by_defense_status=_by_defense_status(summary, currency),
        fees=_fees(summary, currency),
    )


def _summary_of(lines: Iterable[StatementLine], month: str) -> MonthSummary[_Group]:
    summary: MonthSummary[_Group] = MonthSummary(month, _subtotal_groups)
    for line in lines:
        summary.add(_as_entry(line))
    return summary


def _subtotal_groups(entry: Entry) -> tuple[_Group, _Group]:
    if entry.kind == EntryKind.DEFENSE:
        return level_key(entry), _DefenseKey(Status(entry.status))
    if entry.kind == EntryKind.FEE:
        return level_key(entry), _FeeKey()
    return level_key(entry), _StatusKey(Status(entry.status))


def _by_level(summary: MonthSummary[_Group], currency: str) -> dict[int, Subtotal]:
    levels = _levels_in(summary)
    subtotals: dict[int, Subtotal] = {}
    for level in levels:
        tally = summary.group(LevelKey(level))
        subtotals[level] = Subtotal(tally.entries, tally.amount(currency))
    return subtotals


def _levels_in(summary: MonthSummary[_Group]) -> list[int]:
    """The levels of the month's lines, ascending. (A month summary is not iterable: its
    groups are read through `items`.)"""
    return sorted(key.level for key, _ in summary.items() if isinstance(key, LevelKey))


def _by_status(summary: MonthSummary[_Group], currency: str) -> dict[Status, Subtotal]:
    subtotals: dict[Status, Subtotal] = {}
    for status in Status:
        key = _StatusKey(status)
        if key in summary:
            tally = summary.group(key)
            subtotals[status] = Subtotal(tally.count(status), tally.amount(currency))
    return subtotals


def _by_defense_status(summary: MonthSummary[_Group], currency: str) -> dict[Status, Subtotal]:
    subtotals: dict[Status, Subtotal] = {}
    for status in Status:
        key = _DefenseKey(status)
        if key in summary:
            tally = summary.group(key)
            subtotals[status] = Subtotal(tally.defense_count(status), tally.amount(currency))
    return subtotals


def _fees(summary: MonthSummary[_Group], currency: str) -> Subtotal | None:
    if _FeeKey() not in summary:
        return None
    tally = summary.group(_FeeKey())
    return Subtotal(tally.fees, tally.amount(currency))


def _paid(payments: Iterable[Payment], *, mentor: str, month: str) -> tuple[Money, ...]:
    """Payments for (mentor, month) per currency; a reversal carries the opposite amount."""
    cents: dict[str, int] = {}
    for payment in payments:
        if payment.mentor == mentor and payment.month == month:
            cents[payment.currency] = cents.get(payment.currency, 0) + payment.amount_cents
    return tuple(Money(cents[code], code) for code in sorted(cents))


def _outstanding(totals: Sequence[Money], paid: Sequence[Money]) -> tuple[Money, ...]:
    """Per currency, sorted: what the lines add up to, minus what was paid."""
    owed = {total.currency: total.cents for total in totals}
    received = {payment.currency: payment.cents for payment in paid}
    return tuple(
        Money(owed.get(code, 0) - received.get(code, 0), code)
        for code in sorted(owed.keys() | received.keys())
    )


# A line fed to the month summary as the entry it was: only the fields the summary reads
# (session date, status, reversal, level, amount and currency) carry meaning.
_NO_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)


def _as_entry(line: StatementLine) -> Entry:
    return Entry(
        entry_id=line.entry_id,
        recorded_at=_NO_INSTANT,
        board_id="",
        card_id="",
        student=line.student,
        project=line.project,
        level=line.level,
        status=line.status,
        session_date=line.session_date,
        duration_minutes=None,
        note="",
        rate_cents=0,
        share_percent=line.share_percent,
        amount_cents=line.amount.cents,
        currency=line.amount.currency,
        mentor="",
        source_action_id=line.entry_id,
        reverses_entry_id=line.reverses_entry_id,
        funding=line.funding,
        kind=line.kind,
    )


def _statement_order(entry: Entry) -> tuple[date, datetime, str]:
    return (entry.session_date, entry.recorded_at, entry.entry_id)


def _latest_currency(entries: Iterable[Entry]) -> str | None:
    latest = max(entries, key=_statement_order, default=None)
    return None if latest is None else latest.currency
