"""`trello-sync statement` and `trello-sync paid` end to end: the CLI in a subprocess,
the sandbox over real HTTP, the ledger on each backend (SQLite, and PostgreSQL where the
suite has it). Invoice numbers hold across restarts (every command is a new process) and
across processes issuing at once on one ledger."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from datetime import UTC, datetime

from sandbox_board import TZ, BoardEnv, board

__all__ = ["board"]

INVOICE = """
mentors = ["camille"]

[invoice]
seller_name = "Camille Martin"
seller_address = "12 rue des Lilas\\n69003 Lyon"
siret = "73282932000074"
client_name = "Plateforme Éducative SAS"
client_address = "7 cité Paradis\\n75010 Paris"
payment_terms_days = 30
number_prefix = "F-"
"""


def last_month() -> tuple[str, int]:
    """The previous month (`YYYY-MM`), and a number of days ago that falls in it."""
    today = datetime.now(UTC).astimezone(TZ)
    days_ago = today.day + 2
    return f"{today.year - (today.month == 1)}-{(today.month - 2) % 12 + 1:02d}", days_ago


def invoiced_board(board: BoardEnv) -> str:
    month, days_ago = last_month()
    board.student("Lea", project="Learn how to learn", active_days_ago=days_ago + 3)
    board.student("Max", project="Build a Python web app", active_days_ago=days_ago + 3)
    board.comment("Lea", "/session 45m", days_ago=days_ago)
    board.comment("Max", "/session", days_ago=days_ago)
    board.comment("Max", "/noshow", days_ago=days_ago - 1)
    (board.folder / "trello-sync.toml").write_text(INVOICE)
    synced = board.cli("sync")
    assert synced.returncode == 0, synced.stderr
    return month


def numbers_in(html: str) -> list[str]:
    return sorted(set(re.findall(r"F-\d{4}", html)))


def test_a_month_that_is_over_is_invoiced_once_and_corrected_by_a_credit_note(board):
    month = invoiced_board(board)
    out = board.folder / "invoice.html"
    first = board.cli("statement", "--month", month, "--out", str(out))
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == str(out)
    html = out.read_text()
    assert "Facture" in html and numbers_in(html) == ["F-0001"]
    assert "Camille Martin EI" in html and "TVA non applicable, art. 293 B du CGI" in html

    again = board.cli("statement", "--month", month, "--out", str(out))  # a new process
    assert again.returncode == 0 and out.read_text() == html  # same ledger, same bytes

    board.comment("Max", "/undo", days_ago=0)  # the no-show, undone after the invoice
    assert board.cli("sync").returncode == 0
    corrected = board.cli("statement", "--month", month, "--out", str(out))
    assert corrected.returncode == 0, corrected.stderr
    html = out.read_text()
    assert numbers_in(html) == ["F-0001", "F-0002"]
    assert "Avoir" in html
    rows = board.sql("SELECT number, kind, refers_to FROM documents ORDER BY seq")
    assert rows == [("F-0001", "invoice", None), ("F-0002", "credit_note", "F-0001")]


def test_this_month_is_a_draft_and_no_seller_is_a_plain_statement(board):
    invoiced_board(board)
    this_month = datetime.now(UTC).astimezone(TZ).strftime("%Y-%m")
    draft = board.cli("statement", "--month", this_month, "--out", "draft.html")
    assert draft.returncode == 0, draft.stderr
    assert "Projet de facture" in (board.folder / "draft.html").read_text()
    (board.folder / "trello-sync.toml").write_text('mentors = ["camille"]\n')
    month, _ = last_month()
    plain = board.cli("statement", "--month", month, "--out", "plain.html")
    assert plain.returncode == 0, plain.stderr
    text = (board.folder / "plain.html").read_text()
    assert "Statement" in text and "F-0" not in text
    assert board.sql("SELECT COUNT(*) FROM documents") == [(0,)]
    as_csv = board.cli("statement", "--month", month, "--format", "csv", "--out", "s.csv")
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader((board.folder / "s.csv").open()))
    assert {r["mentor"] for r in rows} == {"camille"} and rows[-1]["amount"] == "82.50"


def test_processes_issuing_at_once_issue_each_document_once_without_a_gap(board):
    month = invoiced_board(board)

    def at_once(count: int) -> list[str]:
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "trello_sync", "statement", "--month", month,
                 "--out", f"{n}.html"],
                env=board.env, cwd=board.folder, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True,
            )
            for n in range(count)
        ]  # fmt: skip
        for run in runs:
            _, err = run.communicate(timeout=120)
            assert run.returncode == 0, err
        return [(board.folder / f"{n}.html").read_text() for n in range(count)]

    first = at_once(3)
    assert len(set(first)) == 1  # the same invoice, whoever issued it
    board.comment("Lea", "/undo", days_ago=0)
    assert board.cli("sync").returncode == 0
    second = at_once(3)
    assert len(set(second)) == 1
    rows = board.sql("SELECT seq, number, kind FROM documents ORDER BY seq")
    assert rows == [(1, "F-0001", "invoice"), (2, "F-0002", "credit_note")]


def test_payments_received_show_on_the_statement_and_in_receipts(board):
    month = invoiced_board(board)
    today = datetime.now(UTC).astimezone(TZ).date().isoformat()
    paid = board.cli("paid", "--month", month, "--on", today, "--amount", "35.00", "--ref", "VIR 1")
    assert paid.returncode == 0, paid.stderr
    payment_id = re.search(r"payment (pay-[0-9a-f]+)", paid.stdout).group(1)
    statement = board.cli("statement", "--month", month, "--out", "s.html")
    assert statement.returncode == 0, statement.stderr
    html = (board.folder / "s.html").read_text()
    assert "Déjà réglé" in html and "Reste à payer" in html

    reverse = board.cli("paid", "--reverse", payment_id)
    assert reverse.returncode == 0, reverse.stderr
    exported = board.cli("export", "--offline")
    assert exported.returncode == 0, exported.stderr
    receipts = list(csv.DictReader((board.folder / "exports" / "receipts.csv").open()))
    assert [(r["amount"], r["invoice_number"], r["method"]) for r in receipts] == [
        ("35.00", "F-0001", "transfer"),
        ("-35.00", "F-0001", "transfer"),
    ]
    assert receipts[0]["client"] == "Plateforme Éducative SAS"
    assert (board.folder / "exports" / "index.html").read_text().startswith("<!DOCTYPE html>")


def test_a_bad_payment_is_one_line_and_changes_nothing(board):
    month = invoiced_board(board)
    before = board.dump()
    for args in (
        ["--month", "2026-13", "--on", "2026-11-02", "--amount", "35.00"],
        ["--month", month, "--on", "yesterday", "--amount", "35.00"],
        ["--month", month, "--on", "2026-11-02", "--amount", "35,00 €"],
        ["--month", month, "--on", "2026-11-02", "--amount", "0"],
        ["--month", month, "--amount", "35.00"],
        ["--month", month, "--on", "2999-01-01", "--amount", "35.00"],
        ["--reverse", "pay-nothing"],
    ):
        done = board.cli("paid", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Traceback" not in done.stderr
    assert board.dump() == before


def test_a_bad_invoice_setting_is_one_line_naming_it(board):
    invoiced_board(board)
    (board.folder / "trello-sync.toml").write_text(
        INVOICE.replace("73282932000074", "73282932000075")
    )
    done = board.cli("statement", "--month", "2026-10")
    assert done.returncode == 2
    assert "invoice.siret" in done.stderr and len(done.stderr.strip().splitlines()) == 1
