"""The journals for plain-text accounting: the books they keep (domain/journal.py), and
the two syntaxes (render/beancount.py, render/hledger.py) checked by the tools
themselves, with the nastiest names a board can hold."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from beancount.core import data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from journal_tools import (
    beancount_balance,
    beancount_income,
    hledger_check,
    hledger_income,
    load_beancount,
)

from trello_sync.domain.documents import Payment
from trello_sync.domain.journal import (
    BalanceCheck,
    JournalAccounts,
    Transaction,
    account_component,
    account_openings,
    journal_accounts,
    journal_items,
)
from trello_sync.domain.records import Entry
from trello_sync.domain.rules import EntryKind, Funding, Status
from trello_sync.render.beancount import write_beancount
from trello_sync.render.hledger import write_hledger

ACCOUNTS = journal_accounts(
    income="Income:Mentoring:Level{level}",
    receivable="Assets:Receivable:{client}",
    bank="Assets:Bank:Checking",
    paypal="Assets:PayPal",
    client="Plateforme Éducative SAS",
)
RECEIVABLE = "Assets:Receivable:PlateformeEducativeSAS"
RATES = {1: 3000, 2: 3500, 3: 4000}
SHARES = {Status.DONE: 100, Status.NOSHOW: 50, Status.LATE: 50, Status.CANCEL: 0}


def entry(
    entry_id: str,
    day: date,
    status: Status = Status.DONE,
    *,
    level: int = 2,
    student: str = "Léa Martin",
    project: str | None = "Learn how to learn",
    currency: str = "EUR",
) -> Entry:
    rate = RATES[level]
    return Entry(
        entry_id=entry_id,
        recorded_at=datetime.combine(day, datetime.min.time(), UTC).replace(hour=18),
        board_id="b1",
        card_id="c1",
        student=student,
        project=project,
        level=level,
        status=status,
        session_date=day,
        duration_minutes=None,
        note="",
        rate_cents=rate,
        share_percent=SHARES[status],
        amount_cents=rate * SHARES[status] // 100,
        currency=currency,
        mentor="camille",
        source_action_id=f"act-{entry_id}",
    )


def reversal(of: Entry, day: date) -> Entry:
    return replace(
        of,
        entry_id=f"{of.entry_id}~rev",
        recorded_at=datetime.combine(day, datetime.min.time(), UTC),
        session_date=of.session_date,
        amount_cents=-of.amount_cents,
        source_action_id="act-undo",
        reverses_entry_id=of.entry_id,
    )


def payment(payment_id: str, on: date, cents: int, *, method: str = "transfer") -> Payment:
    return Payment(
        payment_id=payment_id,
        mentor="camille",
        month=f"{on.year}-{on.month - 1:02d}",
        received_on=on,
        amount_cents=cents,
        currency="EUR",
        method=method,
        ref="VIR SEPA",
        recorded_at=datetime.combine(on, datetime.min.time(), UTC),
    )


def by_session_date(entries: list[Entry]) -> list[Entry]:
    return sorted(entries, key=lambda e: (e.session_date, e.recorded_at, e.entry_id))


def write_both(
    folder: Path,
    entries: list[Entry],
    payments: list[Payment],
    accounts: JournalAccounts = ACCOUNTS,
) -> tuple[Path, Path]:
    ordered = by_session_date(entries)
    openings = account_openings(ordered, payments, accounts)
    beancount, journal = folder / "ledger.beancount", folder / "ledger.journal"
    with beancount.open("w", encoding="utf-8", newline="") as out:
        write_beancount(out, openings, journal_items(ordered, payments, accounts), accounts)
    with journal.open("w", encoding="utf-8", newline="") as out:
        write_hledger(out, openings, journal_items(ordered, payments, accounts))
    return beancount, journal


# --- the books ------------------------------------------------------------------------


def test_an_entry_is_owed_by_the_client_and_income_of_its_level() -> None:
    items = list(journal_items([entry("e1", date(2026, 9, 3), level=3)], [], ACCOUNTS))
    transaction = items[0]
    assert isinstance(transaction, Transaction)
    assert [(p.account, p.cents) for p in transaction.postings] == [
        (RECEIVABLE, 4000),
        ("Income:Mentoring:Level3", -4000),
    ]
    assert dict(transaction.meta)["entry_id"] == "e1"
    assert dict(transaction.meta)["trello_action"] == "act-e1"
    assert dict(transaction.meta)["share"] == 100


def test_the_receivable_is_asserted_at_the_start_of_every_month_even_an_empty_one() -> None:
    september = entry("e1", date(2026, 9, 3))
    november = entry("e2", date(2026, 11, 5), Status.NOSHOW)
    items = list(
        journal_items(
            [september, reversal(september, date(2026, 11, 9)), november],
            [payment("p1", date(2026, 10, 10), 3500, method="paypal")],
            ACCOUNTS,
        )
    )
    checks = [(i.on, i.cents) for i in items if isinstance(i, BalanceCheck)]
    # September's session is undone in November, but a reversal is booked on the date of
    # the session it reverses: nothing is owed on 1 October. The payment received in
    # October is then an overpayment until November's no-show.
    assert checks == [
        (date(2026, 10, 1), 3500 - 3500),
        (date(2026, 11, 1), -3500),
        (date(2026, 12, 1), -3500 + 1750),
    ]
    dates = [i.on for i in items]
    assert dates == sorted(dates)
    paypal = [i for i in items if isinstance(i, Transaction) and "payment_id" in dict(i.meta)]
    assert [(p.account, p.cents) for p in paypal[0].postings] == [
        ("Assets:PayPal", 3500),
        (RECEIVABLE, -3500),
    ]


def test_each_currency_has_its_own_assertion() -> None:
    items = list(
        journal_items(
            [entry("e1", date(2026, 9, 3)), entry("e2", date(2026, 9, 4), currency="USD")],
            [],
            ACCOUNTS,
        )
    )
    checks = [(i.currency, i.cents) for i in items if isinstance(i, BalanceCheck)]
    assert checks == [("EUR", 3500), ("USD", 3500)]


def test_a_reversal_names_the_entry_it_reverses() -> None:
    first = entry("e1", date(2026, 9, 3))
    items = [i for i in journal_items([first, reversal(first, date(2026, 9, 5))], [], ACCOUNTS)]
    undone = [i for i in items if isinstance(i, Transaction)][1]
    assert dict(undone.meta)["reverses"] == "e1"
    assert undone.postings[0].cents == -3500
    assert undone.narration.startswith("Reversal of a session done")


def test_a_defense_and_a_monthly_fee_say_what_they_are() -> None:
    defense = replace(entry("d1", date(2020, 6, 3)), kind=EntryKind.DEFENSE)
    fee = replace(
        entry("fee:c1:2020-06:2020-06-01:1", date(2020, 6, 3)),
        kind=EntryKind.FEE,
        funding=Funding.SELF,
        rate_cents=3000,
        amount_cents=3000,
    )
    items = [i for i in journal_items([defense, fee], [], ACCOUNTS) if isinstance(i, Transaction)]
    assert [i.narration for i in items] == [
        "Defense done: Léa Martin (level 2)",
        "Monthly fee: Léa Martin (level 2)",
    ]
    assert [(dict(i.meta)["kind"], dict(i.meta)["funding"]) for i in items] == [
        ("defense", "unset"),
        ("fee", "self"),
    ]
    undone = next(journal_items([fee.reversed_by("act-undo", fee.recorded_at)], [], ACCOUNTS))
    assert isinstance(undone, Transaction)
    assert undone.narration == "Reversal of a monthly fee: Léa Martin (level 2)"


def test_no_ledger_no_transaction_no_assertion() -> None:
    assert list(journal_items([], [], ACCOUNTS)) == []
    assert account_openings([], [], ACCOUNTS) == ()


# --- account names --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("income", "Income:Mentoring", "must hold {level}"),
        ("income", "Revenue:Level{level}", "must start with one of Assets"),
        ("receivable", "Assets:receivable", "each component starts with a capital"),
        ("bank", "Assets:My Bank", "each component starts with a capital"),
        ("paypal", "Assets", "needs at least one component"),
    ],
)
def test_an_account_name_a_tool_would_refuse_is_one_line_naming_the_setting(
    setting: str, value: str, says: str
) -> None:
    names = {
        "income": "Income:Mentoring:Level{level}",
        "receivable": "Assets:Receivable:{client}",
        "bank": "Assets:Bank:Checking",
        "paypal": "Assets:PayPal",
    }
    names[setting] = value
    with pytest.raises(ValueError, match=f"^journal_{setting}_account: .*{says}") as caught:
        journal_accounts(**names, client="X")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("client", "component"),
    [
        ("Plateforme Éducative SAS", "PlateformeEducativeSAS"),
        ("l'école du numérique", "LEcoleDuNumerique"),
        ("42 School", "42School"),
        ("🎓", "Client"),
        ("", "Client"),
    ],
)
def test_a_client_name_becomes_one_account_component(client: str, component: str) -> None:
    assert account_component(client) == component


# --- the files, read by the tools -----------------------------------------------------

NASTY_NAMES = [
    'Léa "the quote" O\'Brien',
    "back\\slash\\",
    "line one\nline two\r\nline three",
    "tab\there; semicolon | pipe, comma",
    "(parenthesised) * flagged ! name",
    "  leading and trailing  ",
    "emoji 👩‍💻🎓 and ZWJ 👨‍👩‍👧",
    "RTL \u202eoverride\u202c and \u2028 line separator",
    "NUL \ufffd and bell \x07 and escape \x1b[31m",
    '=HYPERLINK("http://evil")',
    "#hashtag ^link :tag: %percent",
    "日本語の名前",
    "2026-01-01 open Assets:Evil",
    '"""',
    "; comment start",
    "a" * 300,
]


def test_the_nastiest_names_load_in_every_tool_and_stay_exact_in_beancount(
    tmp_path: Path,
) -> None:
    sessions = [
        entry(f"e{i}", date(2026, 9, 1 + i % 28), student=name, project=name)
        for i, name in enumerate(NASTY_NAMES)
    ]
    sessions.append(reversal(sessions[0], date(2026, 10, 2)))
    beancount, journal = write_both(tmp_path, sessions, [payment("p1", date(2026, 10, 5), 7000)])
    entries = load_beancount(beancount)
    transactions = [e for e in entries if isinstance(e, data.Transaction)]
    students = {t.meta["entry_id"]: t.meta["student"] for t in transactions if "entry_id" in t.meta}
    for session in sessions:
        assert students[session.entry_id] == session.student  # exactly as the board wrote it
    assert all("\n" not in t.narration for t in transactions)
    hledger_check(journal)
    assert hledger_income(journal) == beancount_income(entries)
    assert beancount_balance(entries, RECEIVABLE) == {"EUR": len(NASTY_NAMES) * 3500 - 3500 - 7000}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(names=st.lists(st.text(min_size=0, max_size=40), min_size=1, max_size=5))
def test_any_name_at_all_keeps_both_files_valid(tmp_path: Path, names: list[str]) -> None:
    names = [name.replace("\x00", "\ufffd") for name in names]  # as the ledger stores them
    sessions = [
        entry(f"e{i}", date(2026, 9, 1 + i), student=n, project=n) for i, n in enumerate(names)
    ]
    beancount, journal = write_both(tmp_path, sessions, [])
    entries = load_beancount(beancount)
    got = sorted(e.meta["student"] for e in entries if isinstance(e, data.Transaction))
    assert got == sorted(names)
    hledger_check(journal)


def test_same_books_same_bytes(tmp_path: Path) -> None:
    sessions = [entry("e1", date(2026, 9, 3)), entry("e2", date(2026, 9, 3), level=1)]
    first = write_both(tmp_path, sessions, [payment("p1", date(2026, 10, 5), 6500)])
    bytes_first = [p.read_bytes() for p in first]
    again = tmp_path / "again"
    again.mkdir()
    second = write_both(again, sessions, [payment("p1", date(2026, 10, 5), 6500)])
    assert [p.read_bytes() for p in second] == bytes_first


def test_payment_accounts_left_to_the_books_that_include_the_journal(tmp_path: Path) -> None:
    accounts = replace(ACCOUNTS, open_payment_accounts=False)
    beancount, _ = write_both(
        tmp_path,
        [entry("e1", date(2026, 9, 3))],
        [payment("p1", date(2026, 10, 5), 3500)],
        accounts,
    )
    text = beancount.read_text()
    assert "open Assets:Bank:Checking" not in text and f"open {RECEIVABLE}" in text
    books = tmp_path / "books.beancount"
    books.write_text('2000-01-01 open Assets:Bank:Checking\ninclude "ledger.beancount"\n')
    entries = load_beancount(books)  # the mentor's own books, including the journal
    assert beancount_balance(entries, "Assets:Bank:Checking") == {"EUR": 3500}


def test_the_assertions_hold_the_books_to_account(tmp_path: Path) -> None:
    """A journal changed by hand (one amount) no longer passes: the assertions bite."""
    beancount, journal = write_both(tmp_path, [entry("e1", date(2026, 9, 3))], [])
    for path in (beancount, journal):
        text = path.read_text()
        assert text.count("-35.00 EUR") == 1
        path.write_text(text.replace("35.00 EUR", "36.00 EUR", 1).replace("-35.00", "-36.00"))
    with pytest.raises(AssertionError, match=r"[Bb]alance"):
        load_beancount(beancount)
    with pytest.raises(AssertionError, match=r"[Bb]alance assertion"):
        hledger_check(journal)
