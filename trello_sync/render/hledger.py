"""The journal in hledger's syntax, which ledger-cli reads too, for `ledger.journal`.

That syntax has no quoting: a description runs to the end of its line and a `;` starts
a comment; a tag's value runs to the end of its line, or (hledger) to a comma. So every
text a person wrote is put on one line, a `;` in a description becomes `,` and a `,` in
a tag's value becomes `;`, and a long value is cut short (ledger-cli refuses a line
over 4,096 bytes): the exact names are in `ledger.beancount` and the ledger's CSV.

Each month's balance assertion is a transaction of its own, with a zero posting per
currency asserting the receivable's balance (`= amount`), placed before that date's
other transactions (both tools check in date order, then file order).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import groupby
from typing import IO

from trello_sync.domain.journal import (
    META_KEYS,
    AccountOpening,
    BalanceCheck,
    JournalItem,
    Transaction,
)
from trello_sync.render.journal_text import (
    MAX_TEXT_CHARS,
    amount,
    cut,
    one_line,
    posting_line,
)

HEADER = """\
; trello-sync's ledger for hledger (and ledger-cli). Every export writes it anew: do
; not edit it. Include it in your own journal with  include ledger.journal  and check
; it with  hledger -f ledger.journal check --strict
"""
_INDENT = "    "


def description(text: str) -> str:
    return one_line(text).replace(";", ",")


def tag_value(text: str) -> str:
    return cut(one_line(text), MAX_TEXT_CHARS).replace(",", ";")


def write_hledger(
    out: IO[str], openings: Iterable[AccountOpening], items: Iterable[JournalItem]
) -> None:
    opened = list(openings)
    width = max((len(o.account) for o in opened), default=0)
    out.write(HEADER)
    out.write("\n")
    for opening in opened:
        out.write(f"account {opening.account}\n")
    for currency in sorted({c for o in opened for c in o.currencies}):
        out.write(f"commodity {currency}\n")
    for key in META_KEYS:
        out.write(f"tag {key}\n")
    for block in _blocks(items, width):
        out.write("\n")
        out.write(block)


def _blocks(items: Iterable[JournalItem], width: int) -> Iterator[str]:
    def is_check(item: JournalItem) -> bool:
        return isinstance(item, BalanceCheck)

    for checks, group in groupby(items, key=is_check):
        if checks:
            for on, same_day in groupby(group, key=lambda item: item.on):
                checks_of_day = [c for c in same_day if isinstance(c, BalanceCheck)]
                yield _assertions(on.isoformat(), checks_of_day, width)
        else:
            for item in group:
                assert isinstance(item, Transaction)
                yield _transaction(item, width)


def _transaction(item: Transaction, width: int) -> str:
    lines = [f"{item.on.isoformat()} * {description(item.narration)}"]
    for key, value in item.meta:
        shown = str(value) if isinstance(value, int) else tag_value(value)
        lines.append(f"{_INDENT}; {key}: {shown}".rstrip())
    for posting in item.postings:
        lines.append(posting_line(_INDENT, posting.account, width, posting.cents, posting.currency))
    return "\n".join(lines) + "\n"


def _assertions(on: str, checks: list[BalanceCheck], width: int) -> str:
    lines = [f"{on} * Balance at the start of the month"]
    for check in checks:
        zero = posting_line(_INDENT, check.account, width, 0, check.currency)
        lines.append(f"{zero} = {amount(check.cents, check.currency)}")
    return "\n".join(lines) + "\n"
