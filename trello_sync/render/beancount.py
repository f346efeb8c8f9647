"""The journal in beancount's syntax (v3), for `ledger.beancount`.

Strings are quoted with beancount's escapes (backslash, double quote, and \\n, \\r, \\t
for the breaks), so the metadata keep every name exactly as the board wrote it, and no
name can end a string or a line; the narration is the same text on one line.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO

from trello_sync.domain.journal import (
    AccountOpening,
    BalanceCheck,
    JournalAccounts,
    JournalItem,
    opened_here,
)
from trello_sync.render.journal_text import (
    amount,
    one_line,
    posting_line,
)

HEADER = """\
; trello-sync's ledger for beancount (v3 syntax). Every export writes it anew: do not
; edit it. Include it in your own books with  include "ledger.beancount"  and check
; it with  bean-check ledger.beancount
"""

_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def quoted(text: str) -> str:
    return '"' + text.translate(_ESCAPES) + '"'


def write_beancount(
    out: IO[str],
    openings: Iterable[AccountOpening],
    items: Iterable[JournalItem],
    accounts: JournalAccounts,
) -> None:
    writer = BeancountWriter(out, openings, accounts)
    for item in items:
        writer.write(item)


class BeancountWriter:
    """Writes the file item by item (journals.py feeds it and the hledger writer from
    one pass over the ledger): the header and the accounts' openings first."""

    def __init__(
        self, out: IO[str], openings: Iterable[AccountOpening], accounts: JournalAccounts
    ) -> None:
        opened = list(openings)
        self._out = out
        self._width = max((len(o.account) for o in opened), default=0)
        self._after_check = False
        out.write(HEADER)
        out.write("\n")
        for opening in opened:
            if opened_here(opening, accounts):
                out.write(f"{opening.on.isoformat()} open {opening.account}\n")

    def write(self, item: JournalItem) -> None:
        out, width = self._out, self._width
        if isinstance(item, BalanceCheck):
            if not self._after_check:
                out.write("\n")  # one blank line before a run of assertions
            self._after_check = True
            figure = amount(item.cents, item.currency)
            out.write(f"{item.on.isoformat()} balance {item.account.ljust(width)}  {figure}\n")
            return
        self._after_check = False
        out.write(f"\n{item.on.isoformat()} * {quoted(one_line(item.narration))}\n")
        for key, value in item.meta:
            shown = str(value) if isinstance(value, int) else quoted(value)
            out.write(f"  {key}: {shown}\n")
        for posting in item.postings:
            out.write(
                posting_line("  ", posting.account, width, posting.cents, posting.currency) + "\n"
            )
