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

from collections.abc import Iterable
from typing import IO

from trello_sync.domain.journal import (
    META_KEYS,
    AccountOpening,
    BalanceCheck,
    JournalItem,
    Transaction,
)
from trello_sync.domain.text import shortened
from trello_sync.render.journal_text import (
    MAX_TEXT_CHARS,
    amount,
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
    return shortened(one_line(text), MAX_TEXT_CHARS).replace(",", ";")


def write_hledger(
    out: IO[str], openings: Iterable[AccountOpening], items: Iterable[JournalItem]
) -> None:
    writer = HledgerWriter(out, openings)
    for item in items:
        writer.write(item)
    writer.close()


class HledgerWriter:
    """Writes the journal item by item (journals.py feeds it and the beancount writer
    from one pass over the ledger): the declarations first; the assertions of one date
    are held until the next item, to become one transaction. `close` writes what is
    held."""

    def __init__(self, out: IO[str], openings: Iterable[AccountOpening]) -> None:
        opened = list(openings)
        self._out = out
        self._width = max((len(o.account) for o in opened), default=0)
        self._held: list[BalanceCheck] = []
        out.write(HEADER)
        out.write("\n")
        for opening in opened:
            out.write(f"account {opening.account}\n")
        for currency in sorted({c for o in opened for c in o.currencies}):
            out.write(f"commodity {currency}\n")
        for key in META_KEYS:
            out.write(f"tag {key}\n")

    def write(self, item: JournalItem) -> None:
        if isinstance(item, BalanceCheck):
            if self._held and self._held[0].on != item.on:
                self._release()
            self._held.append(item)
            return
        self._release()
        self._out.write("\n")
        self._out.write(_transaction(item, self._width))

    def close(self) -> None:
        self._release()

    def _release(self) -> None:
        if self._held:
            self._out.write("\n")
            self._out.write(_assertions(self._held[0].on.isoformat(), self._held, self._width))
            self._held = []


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
