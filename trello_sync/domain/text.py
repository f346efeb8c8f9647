"""Folding names so that "  En Pause " and "en pause" and "En pausé" compare equal."""

from __future__ import annotations

import unicodedata
from functools import lru_cache


def storable(text: str) -> str:
    """Text from the board as the ledger keeps it: a NUL byte becomes U+FFFD.

    PostgreSQL's text columns cannot hold NUL at all (SQLite can): without this, a
    comment or a card name holding one would fail its board's every cycle on PostgreSQL,
    and the same history would not give the same books on both backends."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


# The same few member and list names come back on every action of a long history.
@lru_cache(maxsize=4096)
def fold(name: str) -> str:
    """Lower-case, without accents, with inner white space collapsed and ends trimmed."""
    decomposed = unicodedata.normalize("NFKD", name)
    no_accents = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(no_accents.casefold().split())


def shortened(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, the last of them "…" when it is cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
