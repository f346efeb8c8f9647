"""The ledger as double-entry bookkeeping, for plain-text accounting (beancount, hledger).

Pure: given the entries in session-date order, the payments in order of receipt and the
account names, it yields the journal's items in date order; trello_sync/render/ writes
them in each tool's syntax. The books it keeps:

- an entry (a session, a defense, a monthly fee) is earned on its session's date: the
  client owes it (the receivable) and it is income of the entry's level; a reversal is
  its own transaction, the opposite amount, naming the entry it reverses;
- a payment received moves money from the receivable to where it landed (the bank for
  a transfer, PayPal); a payment's reversal is the opposite move;
- at the start of every month from the one after the first transaction to the one after
  the last, the receivable's balance is asserted, per currency, as it follows from the
  transactions before it: what the client owes at that date (the statements' totals
  less the payments received by then).

Nothing here is rounded or converted: amounts are the ledger's integer cents, each in
its own currency.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from heapq import merge

from trello_sync.domain.documents import Payment
from trello_sync.domain.records import Entry
from trello_sync.domain.rules import EntryKind
from trello_sync.domain.text import shortened

# Beancount's rule for an account name, the strictest of the tools: capitalised
# components of letters, digits and dashes, under one of its five root accounts.
# (hledger and ledger-cli accept any name without two spaces in a row.)
_ROOTS = ("Assets", "Liabilities", "Equity", "Income", "Expenses")
_COMPONENT = re.compile(r"[A-Z0-9][A-Za-z0-9-]*")
LEVEL_FIELD = "{level}"
CLIENT_FIELD = "{client}"
# The client's name when no [invoice] table names one.
UNNAMED_CLIENT = "Client"
# A student's name in a narration is cut to this many characters: a card's name may be
# 16,384 characters long, and the narration is a line for people (the metadata keep the
# name whole).
NARRATION_NAME_CHARS = 80


@dataclass(frozen=True)
class JournalAccounts:
    """Where the journal books each side. `income` holds `{level}` (one account per
    level); `receivable` is the client's (its `{client}` already filled in)."""

    income: str
    receivable: str
    bank: str  # a payment received by transfer
    paypal: str  # a payment received by PayPal
    # Open the bank and PayPal accounts in the journal; off when the books that include
    # it open them already (beancount refuses an account opened twice).
    open_payment_accounts: bool = True

    def income_for(self, level: int) -> str:
        return self.income.replace(LEVEL_FIELD, str(level))

    def landing(self, method: str) -> str:
        return self.paypal if method == "paypal" else self.bank


def journal_accounts(
    *,
    income: str,
    receivable: str,
    bank: str,
    paypal: str,
    client: str | None,
    open_payment_accounts: bool = True,
) -> JournalAccounts:
    """The accounts from the settings, checked: ValueError naming the setting at fault."""
    if LEVEL_FIELD not in income:
        raise ValueError(f"journal_income_account: {income!r} must hold {LEVEL_FIELD}")
    filled = receivable.replace(CLIENT_FIELD, account_component(client or UNNAMED_CLIENT))
    for name, account in (
        ("journal_income_account", income.replace(LEVEL_FIELD, "1")),
        ("journal_receivable_account", filled),
        ("journal_bank_account", bank),
        ("journal_paypal_account", paypal),
    ):
        problem = account_problem(account)
        if problem:
            raise ValueError(f"{name}: {problem}")
    return JournalAccounts(income, filled, bank, paypal, open_payment_accounts)


def account_problem(account: str) -> str | None:
    """Why `account` is not a name every tool accepts, or None."""
    parts = account.split(":")
    if parts[0] not in _ROOTS:
        return f"{account!r} must start with one of {', '.join(_ROOTS)}"
    if len(parts) < 2:
        return f"{account!r} needs at least one component after {parts[0]}"
    for part in parts[1:]:
        if not _COMPONENT.fullmatch(part):
            return (
                f"{account!r}: each component starts with a capital letter or a digit and "
                "holds only letters, digits and dashes"
            )
    return None


def account_component(name: str) -> str:
    """A client's name as one component of an account name: `Open Classrooms SAS` →
    `OpenClassroomsSAS`, `l'école` → `LEcole`; accents folded, anything else dropped."""
    ascii_only = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = re.findall(r"[A-Za-z0-9]+", ascii_only)
    component = "".join(word[0].upper() + word[1:] for word in words)
    return component if component else UNNAMED_CLIENT


@dataclass(frozen=True)
class Posting:
    account: str
    cents: int
    currency: str


@dataclass(frozen=True)
class Transaction:
    on: date
    narration: str  # one line, for people; the exact texts are in `meta`
    meta: tuple[tuple[str, str | int], ...]  # in a fixed order: same ledger, same bytes
    postings: tuple[Posting, Posting]  # debit first; they sum to zero


@dataclass(frozen=True)
class BalanceCheck:
    """`account` holds `cents` of `currency` at the start of `on` (before its
    transactions)."""

    on: date
    account: str
    cents: int
    currency: str


@dataclass(frozen=True)
class AccountOpening:
    account: str
    on: date  # the date of its first posting
    currencies: tuple[str, ...]


JournalItem = Transaction | BalanceCheck

# Every metadata key a transaction may carry (ledger-cli's strict mode wants each one
# declared before use).
META_KEYS = (
    "entry_id",
    "trello_action",
    "board",
    "card",
    "student",
    "project",
    "level",
    "status",
    "share",
    "kind",
    "funding",
    "mentor",
    "reverses",
    "payment_id",
    "month",
    "method",
    "ref",
)


def entry_transaction(entry: Entry, accounts: JournalAccounts) -> Transaction:
    # A fixed word first: ledger-cli would read a name that starts with "(" as a code.
    what = _KIND_WORDS[entry.kind]
    if entry.kind != EntryKind.FEE:
        what = f"{what} {entry.status.value}"
    if entry.is_reversal:
        what = f"Reversal of a {what[0].lower()}{what[1:]}"
    narration = f"{what}: {shortened(entry.student, NARRATION_NAME_CHARS)} (level {entry.level})"
    meta: list[tuple[str, str | int]] = [
        ("entry_id", entry.entry_id),
        ("trello_action", entry.source_action_id),
        ("board", entry.board_id),
        ("card", entry.card_id),
        ("student", entry.student),
        ("project", entry.project or ""),
        ("level", entry.level),
        ("status", entry.status.value),
        ("share", entry.share_percent),
        ("kind", entry.kind.value),
        ("funding", entry.funding.value),
        ("mentor", entry.mentor),
    ]
    if entry.reverses_entry_id is not None:
        meta.append(("reverses", entry.reverses_entry_id))
    return Transaction(
        on=entry.session_date,
        narration=narration,
        meta=tuple(meta),
        postings=(
            Posting(accounts.receivable, entry.amount_cents, entry.currency),
            Posting(accounts.income_for(entry.level), -entry.amount_cents, entry.currency),
        ),
    )


_KIND_WORDS = {
    EntryKind.SESSION: "Session",
    EntryKind.DEFENSE: "Defense",
    EntryKind.FEE: "Monthly fee",
}


def payment_transaction(payment: Payment, accounts: JournalAccounts) -> Transaction:
    what = "Reversal of a payment" if payment.reverses_payment_id else "Payment received"
    narration = f"{what} for {payment.month} ({payment.mentor})"
    meta: list[tuple[str, str | int]] = [
        ("payment_id", payment.payment_id),
        ("month", payment.month),
        ("mentor", payment.mentor),
        ("method", payment.method),
        ("ref", payment.ref),
    ]
    if payment.reverses_payment_id is not None:
        meta.append(("reverses", payment.reverses_payment_id))
    return Transaction(
        on=payment.received_on,
        narration=narration,
        meta=tuple(meta),
        postings=(
            Posting(accounts.landing(payment.method), payment.amount_cents, payment.currency),
            Posting(accounts.receivable, -payment.amount_cents, payment.currency),
        ),
    )


def journal_items(
    entries: Iterable[Entry], payments: Iterable[Payment], accounts: JournalAccounts
) -> Iterator[JournalItem]:
    """Every transaction in date order (on one date: the entries in the order given, then
    the payments), with the receivable's balance asserted at each month's start.

    `entries` must come ordered by session date and `payments` by date received; both
    are read once, as a stream."""
    dated_entries: Iterator[tuple[date, int, Entry | Payment]] = (
        (entry.session_date, 0, entry) for entry in entries
    )
    dated_payments: Iterator[tuple[date, int, Entry | Payment]] = (
        (payment.received_on, 1, payment) for payment in payments
    )
    tagged = merge(dated_entries, dated_payments, key=lambda item: (item[0], item[1]))
    balances: dict[str, int] = {}  # currency -> cents the client owes
    checked_up_to: date | None = None  # the last month start asserted
    for on, _, source in tagged:
        start = on.replace(day=1)
        if checked_up_to is None:
            checked_up_to = start
        while checked_up_to < start:
            checked_up_to = next_month(checked_up_to)
            yield from _checks(checked_up_to, accounts.receivable, balances)
        if isinstance(source, Entry):
            transaction = entry_transaction(source, accounts)
        else:
            transaction = payment_transaction(source, accounts)
        for posting in transaction.postings:
            if posting.account == accounts.receivable:
                balances[posting.currency] = balances.get(posting.currency, 0) + posting.cents
        yield transaction
    if checked_up_to is not None:
        yield from _checks(next_month(checked_up_to), accounts.receivable, balances)


def _checks(on: date, account: str, balances: Mapping[str, int]) -> Iterator[BalanceCheck]:
    for currency in sorted(balances):
        yield BalanceCheck(on, account, balances[currency], currency)


def next_month(start: date) -> date:
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


def account_openings(
    entries: Iterable[Entry], payments: Iterable[Payment], accounts: JournalAccounts
) -> tuple[AccountOpening, ...]:
    """Each account the journal posts to, with the date of its first posting (every tool
    needs an account opened before it is used) and its currencies, sorted by name."""
    first: dict[str, date] = {}
    currencies: dict[str, set[str]] = {}

    def use(account: str, on: date, currency: str) -> None:
        if account not in first or on < first[account]:
            first[account] = on
        currencies.setdefault(account, set()).add(currency)

    for entry in entries:
        use(accounts.receivable, entry.session_date, entry.currency)
        use(accounts.income_for(entry.level), entry.session_date, entry.currency)
    for payment in payments:
        use(accounts.receivable, payment.received_on, payment.currency)
        use(accounts.landing(payment.method), payment.received_on, payment.currency)
    return tuple(
        AccountOpening(account, first[account], tuple(sorted(currencies[account])))
        for account in sorted(first)
    )


def opened_here(opening: AccountOpening, accounts: JournalAccounts) -> bool:
    """Whether the journal itself opens the account (beancount refuses one opened twice:
    with `open_payment_accounts` off, the books that include the journal open the bank
    and PayPal accounts)."""
    return accounts.open_payment_accounts or opening.account not in (accounts.bank, accounts.paypal)
