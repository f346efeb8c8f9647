"""The month summary (domain/summary.py) and its three readers: a card's reply, the
`report` command and the monthly statements add a month up the same way — counts per
status and integer cents per currency, a reversal netting one of its status and its
amount, an entry in the month of its session's date."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, date, datetime

from rich.console import Console

from trello_sync.domain.money import Money
from trello_sync.domain.records import CardRecord, Entry, StageMove
from trello_sync.domain.replies import MonthTotals
from trello_sync.domain.report import build_report
from trello_sync.domain.rules import Status
from trello_sync.domain.stages import Stage
from trello_sync.domain.summary import (
    CardKey,
    LevelKey,
    MonthSummary,
    Tally,
    card_key,
    level_key,
    month_of,
)
from trello_sync.export import Statements
from trello_sync.report_view import render_report

RATES = {1: 3000, 2: 3500, 3: 4000}
SHARES = {"done": 100, "noshow": 50, "late": 50, "cancel": 0}


def entry(
    entry_id: str,
    day: date,
    status: str = "done",
    *,
    card: str = "c1",
    student: str = "Lea",
    level: int = 1,
    currency: str = "EUR",
    mentor: str = "camille",
    project: str | None = "Learn how to learn",
) -> Entry:
    rate = RATES[level]
    share = SHARES[status]
    return Entry(
        entry_id=entry_id,
        recorded_at=datetime.combine(day, datetime.min.time(), UTC).replace(hour=18),
        board_id="b1",
        card_id=card,
        student=student,
        project=project,
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


def reversal(of: Entry, when: datetime | None = None) -> Entry:
    """As the planner writes one: the same status and session date, the opposite amount."""
    return replace(
        of,
        entry_id=f"{of.entry_id}~rev",
        recorded_at=when or of.recorded_at,
        amount_cents=-of.amount_cents,
        reverses_entry_id=of.entry_id,
    )


NOV_3, NOV_5, NOV_9 = date(2026, 11, 3), date(2026, 11, 5), date(2026, 11, 9)
OCT_20 = date(2026, 10, 20)


# --- the tally ---------------------------------------------------------------------------


def test_a_reversal_cancels_one_entry_of_its_status_and_its_amount():
    first, second = entry("e1", NOV_3), entry("e2", NOV_5)
    noshow = entry("e3", NOV_9, "noshow")
    tally = Tally()
    for e in (first, second, noshow, reversal(first)):
        tally.add(e)
    assert tally.sessions == tally.count(Status.DONE) == 1
    assert tally.count("noshow") == 1 and tally.count(Status.LATE) == 0
    assert tally.amount("EUR") == Money(3000 + 1500, "EUR")
    # A reversed no-show takes its own status down, not the sessions.
    tally.add(reversal(noshow))
    assert (tally.sessions, tally.count(Status.NOSHOW)) == (1, 0)
    assert tally.amount("EUR") == Money(3000, "EUR")


def test_amounts_stay_per_currency_and_are_integer_cents():
    tally = Tally()
    for e in (
        entry("e1", NOV_3, currency="EUR"),
        entry("e2", NOV_5, level=3, currency="USD"),
        entry("e3", NOV_9, "late", level=2, currency="USD"),
    ):
        tally.add(e)
    assert tally.cents == {"EUR": 3000, "USD": 4000 + 1750}
    assert all(isinstance(cents, int) for cents in tally.cents.values())
    assert tally.amount("USD") == Money(5750, "USD")
    assert tally.amount("GBP") == Money(0, "GBP")  # never paid in it: zero, in that currency
    assert tally.currencies == ("EUR", "USD")
    assert tally.sessions == 2  # a session is a session, whatever it was paid in


def test_a_currency_netting_to_zero_is_still_one_of_the_currencies():
    session = entry("e1", NOV_3, currency="USD")
    tally = Tally()
    tally.add(session)
    tally.add(reversal(session))
    assert tally.currencies == ("USD",) and tally.amount("USD") == Money(0, "USD")


# --- the month and its groups ----------------------------------------------------------


def test_an_entry_counts_in_the_month_of_its_session_date():
    late_undo = reversal(entry("e1", date(2026, 11, 30)), datetime(2026, 12, 2, 9, tzinfo=UTC))
    october = entry("e0", OCT_20)
    summary: MonthSummary[None] = MonthSummary("2026-11")
    assert summary.add(entry("e1", date(2026, 11, 30)))
    assert summary.add(late_undo)  # recorded in December, about a November session
    assert not summary.add(october)
    assert (summary.total.sessions, summary.total.amount("EUR")) == (0, Money(0, "EUR"))
    assert month_of(date(2026, 1, 31)) == "2026-01"


def test_groups_tally_each_key_an_entry_names():
    lea_1 = entry("e1", NOV_3, card="lea")
    lea_2 = entry("e2", NOV_5, "noshow", card="lea", level=2)
    ugo = entry("e3", NOV_9, card="ugo", student="Ugo", level=2)
    summary = MonthSummary.of(
        "2026-11",
        [lea_1, lea_2, ugo, reversal(lea_1), entry("e4", OCT_20, card="lea")],
        lambda e: (card_key(e), level_key(e)),
    )
    lea, level_2 = summary.group(CardKey("b1", "lea")), summary.group(LevelKey(2))
    assert (lea.sessions, lea.count(Status.NOSHOW), lea.amount("EUR").cents) == (0, 1, 1750)
    assert (level_2.sessions, level_2.count(Status.NOSHOW)) == (1, 1)
    assert level_2.amount("EUR") == Money(1750 + 3500, "EUR")
    assert summary.group(LevelKey(1)).amount("EUR") == Money(0, "EUR")  # netted
    # Groups in the order of their first entry; the total is every entry of the month.
    assert list(summary.keys()) == [
        CardKey("b1", "lea"),
        LevelKey(1),
        LevelKey(2),
        CardKey("b1", "ugo"),
    ]
    assert (summary.total.sessions, summary.total.amount("EUR").cents) == (1, 1750 + 3500)


def test_a_group_without_entries_is_empty_and_not_kept():
    summary = MonthSummary.of("2026-11", [entry("e1", NOV_3)], lambda e: [card_key(e)])
    missing = summary.group(CardKey("b1", "nobody"))
    assert missing == Tally() and missing.currencies == ()
    missing.add(entry("e9", NOV_5, card="nobody"))  # a reader's scribbles stay its own
    assert CardKey("b1", "nobody") not in summary
    assert summary.group(CardKey("b1", "nobody")) == Tally()


# --- a card's reply ----------------------------------------------------------------------


def test_month_totals_net_the_sessions_and_keep_the_entry_currency_amount():
    undone = entry("e2", NOV_5)
    entries = [
        entry("e0", OCT_20),
        entry("e1", NOV_3),
        undone,
        reversal(undone),
        entry("e3", NOV_9, level=3, currency="USD"),  # new rules mid-month, another currency
    ]
    totals = MonthTotals.of(entries, NOV_9, "EUR")
    assert totals == MonthTotals("2026-11", 2, Money(3000, "EUR"))
    assert MonthTotals.of(entries, NOV_9, "USD").total == Money(4000, "USD")
    assert MonthTotals.of([], NOV_9, "EUR") == MonthTotals("2026-11", 0, Money(0, "EUR"))


# --- the report ----------------------------------------------------------------------------


CARD = CardRecord("b1", "c1", "Lea", "Learn how to learn", 1, "act-create")
ACTIVE = StageMove("b1", "c1", "act-move", datetime(2026, 9, 1, tzinfo=UTC), Stage.ACTIVE, "l", "A")
# October was paid under rules in USD; the rules in force today (November) pay in EUR.
TWO_CURRENCIES = [
    entry("o1", OCT_20, level=3, currency="USD"),
    entry("n1", NOV_3, currency="EUR"),
    entry("n2", NOV_5, currency="EUR"),
]


def rendered(month: str, entries: list[Entry], currency: str = "EUR") -> str:
    report = build_report(month, [CARD], [ACTIVE], entries, 20, currency)
    console = Console(file=io.StringIO(), width=160, color_system=None)
    render_report(report, console)
    output = console.file.getvalue()
    assert isinstance(output, str)
    return output


def test_a_past_month_in_another_currency_shows_its_own_amount():
    october = rendered("2026-10", TWO_CURRENCIES)
    assert "Amount (USD)" in october and "40.00" in october
    assert "Amount (EUR)" not in october
    november = rendered("2026-11", TWO_CURRENCIES)
    assert "Amount (EUR)" in november and "60.00" in november
    assert "Amount (USD)" not in november


def test_the_report_nets_reversals_per_student_and_level_in_the_month_currency():
    undone = entry("o2", date(2026, 10, 22), level=3, currency="USD")
    entries = [*TWO_CURRENCIES, undone, reversal(undone)]
    report = build_report("2026-10", [CARD], [ACTIVE], entries, 20, "EUR")
    assert report.currencies == ("USD",)
    [line] = report.students
    assert (line.sessions, line.tally.amount("USD")) == (1, Money(4000, "USD"))
    assert list(report.per_level) == [3]
    assert report.per_level[3].amount("USD") == Money(4000, "USD")
    assert (report.total.sessions, report.total.amount("USD").cents) == (1, 4000)


def test_a_month_paid_in_two_currencies_shows_both_never_added():
    entries = [
        entry("n1", NOV_3, currency="EUR"),
        entry("n2", NOV_9, level=3, currency="USD"),
    ]
    report = build_report("2026-11", [CARD], [ACTIVE], entries, 20, "EUR")
    assert report.currencies == ("EUR", "USD")
    assert report.total.cents == {"EUR": 3000, "USD": 4000}
    assert report.total.sessions == 2
    text = rendered("2026-11", entries)
    assert "Amount (EUR)" in text and "Amount (USD)" in text and "70.00" not in text


def test_a_month_without_entries_shows_todays_currency():
    report = build_report("2026-12", [CARD], [ACTIVE], TWO_CURRENCIES, 20, "EUR")
    assert report.currencies == ("EUR",)
    assert report.total == Tally() and report.students[0].sessions == 0


# --- the statements --------------------------------------------------------------------


def test_statement_rows_net_reversals_per_student_level_and_total():
    undone = entry("n2", NOV_5, card="ugo", student="Ugo", level=2)
    statements = Statements()
    for e in (
        entry("n1", NOV_3),
        entry("n3", NOV_9, "late"),
        undone,
        reversal(undone),
        entry("n4", NOV_9, "cancel", card="ugo", student="Ugo", level=2),
    ):
        statements.add(e)
    M, C = "2026-11", "camille"
    assert list(statements.rows(M)) == [
        [M, C, "student", "Lea", "Learn how to learn", "1", "1", "0", "1", "0", "45.00", "EUR"],
        [M, C, "student", "Ugo", "Learn how to learn", "2", "0", "0", "0", "1", "0.00", "EUR"],
        [M, C, "level", "", "", "1", "1", "0", "1", "0", "45.00", "EUR"],
        [M, C, "level", "", "", "2", "0", "0", "0", "1", "0.00", "EUR"],
        [M, C, "total", "", "", "", "1", "0", "1", "1", "45.00", "EUR"],
    ]


def test_statements_keep_each_month_in_its_own_currency_and_each_mentor_apart():
    statements = Statements()
    for e in (
        *TWO_CURRENCIES,
        entry("n9", NOV_9, card="c2", student="=Zoe", mentor="@other"),
    ):
        statements.add(e)
    assert sorted(statements.lines) == ["2026-10", "2026-11"]
    totals = [r for r in statements.rows("2026-10") if r[2] == "total"]
    assert totals == [
        ["2026-10", "camille", "total", "", "", "", "1", "0", "0", "0", "40.00", "USD"]
    ]
    november = list(statements.rows("2026-11"))
    # Mentors sorted, each with its own rows; text cells that could be a formula quoted.
    assert [(r[1], r[2], r[3], r[10]) for r in november] == [
        ("'@other", "student", "'=Zoe", "30.00"),
        ("'@other", "level", "", "30.00"),
        ("'@other", "total", "", "30.00"),
        ("camille", "student", "Lea", "60.00"),
        ("camille", "level", "", "60.00"),
        ("camille", "total", "", "60.00"),
    ]
    assert list(statements.rows("2026-12")) == []
