"""The month's documents as data: a statement (or invoice) and the dashboard.

Pure values, built by domain/statement.py, domain/charts.py and domain/flow.py from
the ledger's entries and stage moves, and rendered by trello_sync/render/ (HTML with
inline SVG, PDF, CSV). Nothing here knows how it is shown: every text a person reads
is chosen by the renderer, in the document's language.

Money is integer cents with a currency (Money); a month is `YYYY-MM`; days are dates
in the configured time zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from trello_sync.domain.money import Money
from trello_sync.domain.rules import EntryKind, Funding, Status
from trello_sync.domain.stages import Stage


class DocumentKind(StrEnum):
    STATEMENT = "statement"  # no seller configured: "Relevé" / "Statement", no number
    DRAFT = "draft"  # a seller, but the month is not over: no number yet
    INVOICE = "invoice"  # "Facture": numbered once per mentor and month
    # Corrections after issue, each with its own number, referring to the invoice: the
    # entries added since (a late edit, an undo). Net negative or zero: a credit note
    # ("Avoir"); net positive (a session logged late): a supplementary invoice.
    CREDIT_NOTE = "credit_note"
    SUPPLEMENTARY_INVOICE = "supplementary_invoice"


NUMBERED_KINDS = frozenset(
    (DocumentKind.INVOICE, DocumentKind.CREDIT_NOTE, DocumentKind.SUPPLEMENTARY_INVOICE)
)


@dataclass(frozen=True)
class StatementLine:
    """One ledger entry of the month, as the statement lists it."""

    entry_id: str
    session_date: date
    student: str
    project: str | None
    level: int
    status: Status
    share_percent: int
    amount: Money  # negative for a reversal
    reverses_entry_id: str | None = None  # set: this line cancels that entry
    kind: EntryKind = EntryKind.SESSION  # a session, a defense or a monthly fee
    funding: Funding = Funding.UNSET  # the student's funding the entry was priced with

    @property
    def is_reversal(self) -> bool:
        return self.reverses_entry_id is not None


@dataclass(frozen=True)
class Subtotal:
    """Net count and net amount of the lines of one level, or of one status."""

    count: int
    amount: Money


@dataclass(frozen=True)
class Party:
    name: str
    address: str  # lines separated by "\n"


@dataclass(frozen=True)
class InvoiceMentions:
    """What French law asks an invoice of a micro-entrepreneur to carry (and the
    seller's identity); only on an invoice or a credit note."""

    seller: Party  # name printed with "EI"
    siret: str  # 14 digits, or a 9-digit SIREN
    client: Party
    vat_mention: str  # "TVA non applicable, art. 293 B du CGI"
    late_penalty: str  # the rate, as text
    recovery_indemnity: Money  # 40.00 EUR by default, always printed as an amount
    payment_terms_days: int
    iban: str | None = None
    bic: str | None = None
    purchase_order: str | None = None


@dataclass(frozen=True)
class DocumentIdentity:
    """Which document this is: its kind, number and dates."""

    kind: DocumentKind
    number: str | None = None  # INVOICE and CREDIT_NOTE only
    issued_on: date | None = None
    due_on: date | None = None  # a calendar date: issued_on + payment terms
    refers_to: str | None = None  # a credit note: the number of the invoice it corrects


@dataclass(frozen=True)
class MonthBar:
    """One month of the earnings chart: net cents per level, in the chart's currency."""

    month: str
    cents_by_level: Mapping[int, int]

    @property
    def total_cents(self) -> int:
        return sum(self.cents_by_level.values())


@dataclass(frozen=True)
class DayCount:
    day: date
    count: int


@dataclass(frozen=True)
class StatementCharts:
    earnings: tuple[MonthBar, ...]  # the 12 months ending with the statement's, oldest first
    earnings_currency: str
    sessions_by_status: Mapping[Status, int]  # net counts this month, every status present
    active_per_day: tuple[DayCount, ...]  # each day of the month (up to today if current)
    cap: int  # the recommended maximum of active students: the chart's line


@dataclass(frozen=True)
class Statement:
    mentor: str  # the mentor's Trello username
    month: str
    language: str  # "fr" or "en"
    identity: DocumentIdentity
    lines: tuple[StatementLine, ...]  # by session date, then recorded order
    by_level: Mapping[int, Subtotal]  # levels present, ascending
    by_status: Mapping[Status, Subtotal]  # statuses present, in Status order
    totals: tuple[Money, ...]  # one per currency of the month, sorted by currency
    charts: StatementCharts
    mentions: InvoiceMentions | None = None  # set for an invoice or a credit note
    paid: tuple[Money, ...] = ()  # payments received for this month, per currency
    outstanding: tuple[Money, ...] = ()  # totals minus paid, per currency
    # Defenses per status and the monthly fees, beside the sessions' `by_status` (absent
    # when the month has none).
    by_defense_status: Mapping[Status, Subtotal] = field(default_factory=dict)
    fees: Subtotal | None = None


@dataclass(frozen=True)
class StudentRow:
    """A student on the dashboard."""

    student: str
    stage: Stage | None
    project: str | None
    level: int
    sessions: int  # done sessions this month, net
    amount: Money
    days_in_stage: Mapping[Stage, int] = field(default_factory=dict)  # whole days, ever
    flags: tuple[str, ...] = ()  # why it needs a look (see domain/report.py)


@dataclass(frozen=True)
class StageDay:
    """One day of the cumulative-flow chart: how many cards were in each pipeline stage
    at the end of that day."""

    day: date
    counts: Mapping[Stage, int]


@dataclass(frozen=True)
class FlowMetrics:
    """Flow metrics, as the dashboard defines them on the page.

    Paused time counts inside a mentorship's age and cycle time: the clock runs from the
    first move to active until the hand-off (or today)."""

    work_in_progress: int  # students in active now
    cycle_days: tuple[int, ...]  # handed-off students (last 12 months): first active → handed off
    active_ages: tuple[int, ...]  # active students now: days since first active
    throughput: tuple[tuple[str, int], ...]  # (month, students handed off), last 12 months


@dataclass(frozen=True)
class Dashboard:
    month: str
    today: date
    language: str
    students: tuple[StudentRow, ...]
    totals: tuple[Money, ...]
    active: int
    cap: int
    charts: StatementCharts
    flow: FlowMetrics
    cumulative_flow: tuple[StageDay, ...]  # the last 90 days, oldest first
    # (student, reasons): one row a student, however many reasons they have
    needs_a_look: tuple[tuple[str, tuple[str, ...]], ...]


# --- what the ledger keeps: documents issued, payments received --------------------------


@dataclass(frozen=True)
class DocumentRequest:
    """A numbered document to issue (decided by domain/invoice.py); the ledger gives it
    the next number of the mentor's sequence in the same transaction, or returns the one
    already issued under the same `key` (so deciding twice issues once)."""

    key: str  # "invoice:<mentor>:<month>", or a correction's key naming the entries it covers
    mentor: str
    month: str
    kind: DocumentKind  # one of NUMBERED_KINDS
    issued_on: date
    due_on: date
    refers_to: str | None  # a correction: the invoice's number
    currency: str
    total_cents: int
    entry_ids: tuple[str, ...]  # the ledger entries it covers, frozen at issue
    body: str  # canonical JSON of what it shows: rendering it again gives the same bytes


@dataclass(frozen=True)
class IssuedDocument:
    """A numbered document as the ledger keeps it: never updated, never deleted."""

    key: str
    mentor: str
    month: str
    kind: DocumentKind
    seq: int  # the mentor's continuous sequence: 1, 2, 3… with no gap, never reused
    number: str  # the prefix and the sequence number, e.g. "F-0007"
    issued_on: date
    due_on: date
    refers_to: str | None
    currency: str
    total_cents: int
    entry_ids: tuple[str, ...]
    body: str
    created_at: datetime


@dataclass(frozen=True)
class Payment:
    """A payment received (or, with `reverses_payment_id`, the reversal of one: the
    opposite amount). Append-only, like the entries."""

    payment_id: str
    mentor: str
    month: str  # the month of work it pays
    received_on: date
    amount_cents: int
    currency: str
    method: str  # "transfer" or "paypal"
    ref: str
    recorded_at: datetime
    reverses_payment_id: str | None = None
