"""`ledger.beancount` and `ledger.journal` end to end: a board on the sandbox over real
HTTP, the CLI in a subprocess, the ledger on each backend; the exported journals pass
beancount's loader and `bean-check`, `hledger check --strict` and ledger-cli, their
income per month is the statements' and the receivable is what is outstanding."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from journal_tools import beancount_balance, check_exported_journals, outstanding
from sandbox_board import TZ, BoardEnv, board
from system.test_statements_cli import INVOICE

__all__ = ["board"]

RECEIVABLE = "Assets:Receivable:PlateformeEducativeSAS"
NAMES = (
    'Zoë "Z" O\'Hara; the 2nd',
    "(Bob) | \\ #tag, ^link",
    "Ана 👩‍💻 名前",
)


def books(board: BoardEnv) -> str:
    """Sessions last month and this one, an undo, and three students whose names would
    break a journal that did not escape them."""
    today = datetime.now(UTC).astimezone(TZ)
    last = today.day + 3  # days ago: in last month
    for name in NAMES:
        board.student(name, project="Build a Python web app", active_days_ago=last + 2)
    board.comment(NAMES[0], "/session 45m first one", days_ago=last)
    board.comment(NAMES[1], "/noshow", days_ago=last)
    board.comment(NAMES[2], "/session", days_ago=last - 1)
    board.comment(NAMES[2], "/late", days_ago=0.5)
    board.comment(NAMES[1], "/session", days_ago=0.4)
    board.comment(NAMES[1], "/undo", days_ago=0.3)
    (board.folder / "trello-sync.toml").write_text(INVOICE)
    synced = board.cli("sync")
    assert synced.returncode == 0, synced.stderr
    return f"{today.year - (today.month == 1)}-{(today.month - 2) % 12 + 1:02d}"


def test_the_exported_journals_pass_the_tools_and_agree_with_the_statements(board):
    month = books(board)
    today = datetime.now(UTC).astimezone(TZ).date().isoformat()
    for args in (
        ("--amount", "35.00", "--ref", "VIR 1"),
        ("--amount", "17.50", "--method", "paypal", "--ref", 'PP "ref", 2'),
    ):
        paid = board.cli("paid", "--month", month, "--on", today, *args)
        assert paid.returncode == 0, paid.stderr
    payment_id = re.search(r"payment (pay-[0-9a-f]+)", paid.stdout).group(1)
    assert board.cli("paid", "--reverse", payment_id).returncode == 0

    exported = board.cli("export")
    assert exported.returncode == 0, exported.stderr
    folder = board.folder / "exports"
    entries = check_exported_journals(folder, RECEIVABLE)
    # Two sessions and a no-show last month, a late session this month (the undone
    # session nets to nothing); 35.00 received by transfer, PayPal's 17.50 reversed.
    assert beancount_balance(entries, "Assets:Bank:Checking") == {"EUR": 3500}
    assert beancount_balance(entries, "Assets:PayPal") == {}
    assert outstanding(folder) == {"EUR": 3500 + 1750 + 3500 + 1750 - 3500}
    students = {e.meta.get("student") for e in entries if hasattr(e, "meta")}
    assert set(NAMES) <= students


def test_the_export_is_byte_for_byte_the_same_twice(board):
    books(board)
    first_run = board.cli("export", "--out", "one")
    second_run = board.cli("export", "--out", "two")
    assert first_run.returncode == 0 and second_run.returncode == 0, first_run.stderr
    for name in ("ledger.beancount", "ledger.journal"):
        assert (board.folder / "one" / name).read_bytes() == (
            board.folder / "two" / name
        ).read_bytes()


def test_account_names_come_from_the_settings_and_a_bad_one_is_one_line(board):
    books(board)
    (board.folder / "trello-sync.toml").write_text(
        INVOICE.replace("[invoice]", 'journal_bank_account = "Assets:Banque:Courant"\n[invoice]')
    )
    paid = board.cli("paid", "--month", "2026-01", "--on", "2026-02-01", "--amount", "10")
    assert paid.returncode == 0, paid.stderr
    assert board.cli("export").returncode == 0
    entries = check_exported_journals(board.folder / "exports", RECEIVABLE)
    assert beancount_balance(entries, "Assets:Banque:Courant") == {"EUR": 1000}

    before = board.dump()
    (board.folder / "trello-sync.toml").write_text(
        INVOICE.replace("[invoice]", 'journal_income_account = "Income:Mentorat"\n[invoice]')
    )
    refused = board.cli("export")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "trello-sync: error: journal_income_account: 'Income:Mentorat' must hold {level}"
    ]
    assert board.dump() == before
