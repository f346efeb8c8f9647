"""What the two journal syntaxes share: one-line text for people, aligned amounts."""

from __future__ import annotations

import unicodedata

from trello_sync.domain.money import format_cents

# Unicode's control characters and line or paragraph separators: none may reach a line
# of a journal unescaped (a line break would end the transaction's header).
_BREAKING = frozenset({"Cc", "Zl", "Zp"})


def one_line(text: str) -> str:
    """`text` with every control character and line break as a space, each run of
    white space as one space, the ends trimmed."""
    # Most texts (ids, ordinary names) are already so: one C-speed test each instead of a
    # look at every character (isprintable is false for every control character and
    # line or paragraph separator, and for any space but U+0020).
    if text.isprintable() and "  " not in text and text.strip(" ") == text:
        return text
    spaced = "".join(" " if unicodedata.category(c) in _BREAKING else c for c in text)
    return " ".join(spaced.split())


# ledger-cli refuses a line over 4,096 bytes, and a card's name may be 16,384 characters:
# a text on a journal line is cut to this many characters (at most 4 bytes each in
# UTF-8), with an ellipsis. The beancount file's metadata keep every text whole.
MAX_TEXT_CHARS = 500


def amount(cents: int, currency: str) -> str:
    return f"{format_cents(cents)} {currency}"


def posting_line(indent: str, account: str, width: int, cents: int, currency: str) -> str:
    """`    Account   -35.00 EUR`: amounts right-aligned after the widest account name,
    with at least two spaces (hledger and ledger-cli end an account name at two)."""
    figure = format_cents(cents)
    return f"{indent}{account.ljust(width)}  {figure.rjust(12)} {currency}"
