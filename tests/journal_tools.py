"""The journals checked by the plain-text accounting tools themselves: beancount's own
loader (the `beancount` package) and Debian's `hledger` and `ledger` (ledger-cli), which
`.ci/run` installs. Each check fails the test with the tool's own words."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from beancount import loader
from beancount.core import data


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is not installed (.ci/run installs it with apt-get)"
    return found


def load_beancount(path: Path) -> list[Any]:
    """The file's directives, as beancount reads them; zero errors, or the test fails."""
    entries, errors, _options = loader.load_file(str(path))
    assert errors == [], "\n".join(f"{e.source}: {e.message}" for e in errors)
    return list(entries)


def bean_check(path: Path) -> None:
    """The `bean-check` command (installed with beancount, beside this Python) passes."""
    passes([str(Path(sys.executable).parent / "bean-check"), str(path)])


def hledger_check(path: Path) -> None:
    """`hledger check --strict` (accounts and commodities declared, every transaction
    balanced, every balance assertion true) and ledger-cli in its pedantic mode."""
    passes([tool("hledger"), "-f", str(path), "check", "--strict"])
    passes([tool("ledger"), "-f", str(path), "--pedantic", "balance"])


def passes(command: list[str]) -> str:
    """Run a tool: exit 0 and nothing on stderr, or the test fails with its words."""
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and not run.stderr.strip(), run.stdout + run.stderr
    return run.stdout


def cents(amount: Decimal) -> int:
    value = amount * 100
    assert value == value.to_integral_value(), f"{amount} is not a whole number of cents"
    return int(value)


def beancount_income(entries: list[Any], prefix: str = "Income:") -> dict[tuple[str, str], int]:
    """Income earned per (month, currency), in cents, as beancount reads the file."""
    income: dict[tuple[str, str], int] = defaultdict(int)
    for entry in entries:
        if isinstance(entry, data.Transaction):
            for posting in entry.postings:
                if posting.account.startswith(prefix):
                    key = (entry.date.strftime("%Y-%m"), posting.units.currency)
                    income[key] -= cents(posting.units.number)
    return {key: value for key, value in income.items() if value}


def beancount_balance(entries: list[Any], account: str) -> dict[str, int]:
    balance: dict[str, int] = defaultdict(int)
    for entry in entries:
        if isinstance(entry, data.Transaction):
            for posting in entry.postings:
                if posting.account == account:
                    balance[posting.units.currency] += cents(posting.units.number)
    return {currency: value for currency, value in balance.items() if value}


def hledger_income(path: Path) -> dict[tuple[str, str], int]:
    """Income per (month, currency), in cents, as hledger reads the journal."""
    register = passes([tool("hledger"), "-f", str(path), "register", "^Income:", "-O", "csv"])
    income: dict[tuple[str, str], int] = defaultdict(int)
    for row in csv.DictReader(register.splitlines()):
        if row["amount"] == "0":  # hledger shows a zero amount (a cancel) without currency
            continue
        figure, currency = row["amount"].split(" ")
        income[(row["date"][:7], currency)] -= cents(Decimal(figure))
    return {key: value for key, value in income.items() if value}


def statement_totals(folder: Path) -> dict[tuple[str, str], int]:
    """What the exported statements (statement-YYYY-MM.csv) total, per (month, currency),
    every mentor together."""
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for path in sorted(folder.glob("statement-*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row["row"] == "total":
                    totals[(row["month"], row["currency"])] += cents(Decimal(row["amount"]))
    return {key: value for key, value in totals.items() if value}


def receipts_total(folder: Path) -> dict[str, int]:
    """The payments received (receipts.csv: a reversal is a negative row), per currency."""
    received: dict[str, int] = defaultdict(int)
    path = folder / "receipts.csv"
    if path.exists():
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                received[row["currency"]] += cents(Decimal(row["amount"]))
    return dict(received)


def outstanding(folder: Path) -> dict[str, int]:
    """What the client owes after the exported statements and receipts."""
    owed: dict[str, int] = defaultdict(int)
    for (_month, currency), value in statement_totals(folder).items():
        owed[currency] += value
    for currency, value in receipts_total(folder).items():
        owed[currency] -= value
    return {currency: value for currency, value in owed.items() if value}


def check_exported_journals(folder: Path, receivable: str) -> list[Any]:
    """Both journals of an export folder pass their tools, their income per month is the
    statements' total and the receivable's balance is what is outstanding."""
    beancount_file, journal_file = folder / "ledger.beancount", folder / "ledger.journal"
    entries = load_beancount(beancount_file)
    bean_check(beancount_file)
    hledger_check(journal_file)
    totals = statement_totals(folder)
    assert beancount_income(entries) == totals
    assert hledger_income(journal_file) == totals
    assert beancount_balance(entries, receivable) == outstanding(folder)
    return entries
