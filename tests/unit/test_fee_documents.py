"""Defenses, monthly fees and fundings in everything that adds entries up: the month
summary, the statement (and its frozen snapshot), the statement page, the exports and
the report; and a ledger of sessions with no funding adding up exactly as it always has."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console

from trello_sync.domain.daily import DailyRules, build_daily, summary_text
from trello_sync.domain.documents import DocumentIdentity, DocumentKind, Subtotal
from trello_sync.domain.money import Money
from trello_sync.domain.records import Entry
from trello_sync.domain.replies import MonthTotals
from trello_sync.domain.report import build_report
from trello_sync.domain.rules import EntryKind, Funding, Status
from trello_sync.domain.statement import build_statement, line_of, lines_from_json, lines_to_json
from trello_sync.domain.summary import MonthSummary
from trello_sync.export import LEDGER_COLUMNS, export_ledger, ledger_row
from trello_sync.render.statement_html import render_statement
from trello_sync.report_view import render_report

MONTH = "2020-06"


def entry(
    entry_id: str,
    day: int,
    cents: int,
    *,
    status: Status = Status.DONE,
    kind: EntryKind = EntryKind.SESSION,
    funding: Funding = Funding.SELF,
    card: str = "c1",
    student: str = "Lea",
) -> Entry:
    return Entry(
        entry_id=entry_id,
        recorded_at=datetime(2020, 6, day, 18, tzinfo=UTC),
        board_id="b1",
        card_id=card,
        student=student,
        project="Build a Python web app",
        level=2,
        status=status,
        session_date=date(2020, 6, day),
        duration_minutes=None,
        note="",
        rate_cents=3500 if kind != EntryKind.FEE else cents,
        share_percent=50,
        amount_cents=cents,
        currency="EUR",
        mentor="camille",
        source_action_id=f"a-{entry_id}",
        funding=funding,
        kind=kind,
    )


SESSION = entry("s1", 2, 1750)
FEE = entry("fee:c1:2020-06:2020-06-01:1", 2, 3000, kind=EntryKind.FEE)
NOSHOW = entry("s2", 3, 875, status=Status.NOSHOW)
DEFENSE = entry("d1", 9, 3500, kind=EntryKind.DEFENSE)
DEFENSE_NOSHOW = entry("d2", 10, 1750, kind=EntryKind.DEFENSE, status=Status.NOSHOW)
FUNDED = entry("s3", 4, 4000, funding=Funding.FUNDED, card="c2", student="Max")
UNDONE = DEFENSE_NOSHOW.reversed_by("a-undo", datetime(2020, 6, 10, 19, tzinfo=UTC))
MONTH_ENTRIES = (SESSION, FEE, NOSHOW, DEFENSE, DEFENSE_NOSHOW, FUNDED, UNDONE)
TOTAL = 1750 + 3000 + 875 + 3500 + 4000


def test_the_month_summary_counts_sessions_defenses_and_fees_apart_and_adds_every_amount():
    total = MonthSummary.of(MONTH, MONTH_ENTRIES).total
    assert (total.sessions, total.count(Status.NOSHOW)) == (2, 1)
    assert (total.defenses_done, total.defense_count(Status.NOSHOW), total.fees) == (1, 0, 1)
    assert total.entries == 2 + 1 + 1 + 0 + 1
    assert total.amount("EUR") == Money(TOTAL)
    totals = MonthTotals.of([SESSION, FEE, DEFENSE], date(2020, 6, 1), "EUR")
    assert totals == MonthTotals(MONTH, 1, Money(8250), defenses=1)
    assert totals.counted == "1 session(s), 1 defense(s)"


def statement(language: str = "en"):
    return build_statement(
        mentor="camille",
        month=MONTH,
        language=language,
        entries=MONTH_ENTRIES,
        moves=(),
        cards=(),
        cap=20,
        today=date(2020, 7, 2),
        identity=DocumentIdentity(kind=DocumentKind.STATEMENT),
        mentions=None,
    )


def test_the_statement_subtotals_defenses_and_fees_beside_the_sessions():
    doc = statement()
    assert doc.by_status == {
        Status.DONE: Subtotal(2, Money(1750 + 4000)),
        Status.NOSHOW: Subtotal(1, Money(875)),
    }
    assert doc.by_defense_status == {
        Status.DONE: Subtotal(1, Money(3500)),
        Status.NOSHOW: Subtotal(0, Money(0)),
    }
    assert doc.fees == Subtotal(1, Money(3000))
    assert doc.by_level == {2: Subtotal(5, Money(TOTAL))}
    assert doc.totals == (Money(TOTAL),)


def test_the_statement_page_names_defenses_fees_and_fundings():
    page = render_statement([statement("en")])
    assert "Monthly fee · self-funded" in page
    assert "Defense no-show · self-funded" in page
    assert "Session done · funded" in page
    french = render_statement([statement("fr")])
    assert "Forfait mensuel · autofinancé" in french and "Soutenance" in french


def test_a_snapshot_keeps_kind_and_funding_and_reads_lines_frozen_before_them():
    lines = tuple(line_of(e) for e in MONTH_ENTRIES)
    assert lines_from_json(lines_to_json(lines)) == lines
    # A session of no funding is written as it always was: an issued invoice's text.
    plain = line_of(replace(SESSION, funding=Funding.UNSET))
    (written,) = json.loads(lines_to_json([plain]))["lines"]
    assert "kind" not in written and "funding" not in written
    assert lines_from_json(lines_to_json([plain])) == (plain,)


def test_the_ledger_export_gains_funding_and_kind_at_the_end(tmp_path: Path):
    assert LEDGER_COLUMNS[-2:] == ("funding", "kind")
    assert LEDGER_COLUMNS[:3] == ("entry_id", "recorded_at", "board_id")
    assert ledger_row(FEE)["kind"] == "fee" and ledger_row(FEE)["funding"] == "self"
    assert ledger_row(replace(SESSION, funding=Funding.UNSET))["funding"] == "unset"
    export_ledger(MONTH_ENTRIES, tmp_path)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "ledger.csv").read_text())))
    assert [(r["kind"], r["funding"]) for r in rows][:3] == [
        ("session", "self"),
        ("fee", "self"),
        ("session", "self"),
    ]


def test_the_statement_csv_adds_a_defense_row_and_a_fee_row(tmp_path: Path):
    export_ledger(MONTH_ENTRIES, tmp_path)
    rows = list(csv.reader(io.StringIO((tmp_path / f"statement-{MONTH}.csv").read_text())))
    assert [row[2:] for row in rows[1:]] == [
        ["student", "Lea", "Build a Python web app", "2", "1", "1", "0", "0", "91.25", "EUR"],
        ["student", "Max", "Build a Python web app", "2", "1", "0", "0", "0", "40.00", "EUR"],
        ["level", "", "", "2", "2", "1", "0", "0", "131.25", "EUR"],
        ["defense", "", "", "", "1", "0", "0", "0", "35.00", "EUR"],
        ["fee", "", "", "", "1", "0", "0", "0", "30.00", "EUR"],
        ["total", "", "", "", "2", "1", "0", "0", "131.25", "EUR"],
    ]


def test_the_report_shows_funding_defenses_and_fees_only_in_a_month_that_has_them():
    report = build_report(MONTH, (), (), MONTH_ENTRIES, 20, "EUR")
    assert report.shows_funding and report.has_defenses and report.has_fees
    out = io.StringIO()
    render_report(report, Console(file=out, width=160))
    text = out.getvalue()
    assert "Funding" in text and "self-funded" in text and "Monthly fees" in text
    plain = [replace(e, funding=Funding.UNSET) for e in (SESSION, NOSHOW)]
    quiet = build_report(MONTH, (), (), plain, 20, "EUR")
    assert not (quiet.shows_funding or quiet.has_defenses or quiet.has_fees)
    out = io.StringIO()
    render_report(quiet, Console(file=out, width=160))
    assert "Funding" not in out.getvalue() and "Defenses" not in out.getvalue()


def test_the_slack_summary_names_a_defense_and_a_monthly_fee():
    rules = DailyRules(
        tz=ZoneInfo("Europe/Paris"),
        cap=3,
        pause_days=14,
        idle_days=14,
        amounts=True,
        full_names=False,
    )
    daily = build_daily(
        date(2020, 6, 2),
        (),
        (),
        [SESSION, FEE, replace(DEFENSE, session_date=date(2020, 6, 2))],
        [],
        rules,
        "EUR",
    )
    text = summary_text(daily)
    assert "Lea — Session — 17.50 EUR" in text
    assert "Lea — Monthly fee — 30.00 EUR" in text
    assert "Lea — Defense — 35.00 EUR" in text
    assert "June 2020 so far: 1 session, 82.50 EUR" in text
