"""How a student is funded, read from the card as the project is.

In order: a custom field named "Funding" (or "Financement"), then a label
"Funding: funded" / "Funding: self" (or "Financement: financé" / "Financement :
autofinancé"), then a line `Funding: …` in the card's description. The values are
`funded` (`financé`) and `self` (`self-funded`, `autofinancé`), in any case and with or
without accents. Anything else, or nothing, is `unset`: the card is priced as a card
with no funding, and every reply says which funding it was priced with.

Each entry keeps the funding it was priced with: a card whose funding changes later
never rewrites the entries already made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trello_sync.domain.projects import custom_field_texts
from trello_sync.domain.rules import Funding
from trello_sync.domain.text import fold

_KEYS = ("funding", "financement")
_VALUES: Mapping[str, Funding] = {
    "funded": Funding.FUNDED,
    "finance": Funding.FUNDED,  # financé, folded
    "self": Funding.SELF,
    "self-funded": Funding.SELF,
    "self funded": Funding.SELF,
    "autofinance": Funding.SELF,  # autofinancé
    "auto-finance": Funding.SELF,
    "auto finance": Funding.SELF,
}
# A value longer than any known one is no funding: it is not folded at all, so a long
# label or description line costs nothing.
_LONGEST = max(map(len, _VALUES)) + 4


def funding_of(text: str) -> Funding:
    """A value as written on the card → its funding (UNSET when it is none we know)."""
    if len(text) > _LONGEST * 2:
        return Funding.UNSET
    return _VALUES.get(fold(text), Funding.UNSET)


def resolve_funding(card: Mapping[str, Any], custom_fields: Sequence[Mapping[str, Any]]) -> Funding:
    """The funding of a card, from its Trello JSON (field items, labels, description)."""
    fields = custom_field_texts(card, custom_fields)
    for key in _KEYS:
        if key in fields:
            return funding_of(fields[key])
    for label in card.get("labels") or []:
        value = _keyed_value(str(label.get("name") or ""))
        if value is not None:
            return funding_of(value)
    for line in str(card.get("desc") or "").split("\n"):
        value = _keyed_value(line)
        if value is not None:
            return funding_of(value)
    return Funding.UNSET


def label_funding(name: str) -> Funding | None:
    """The funding a label names (`Funding: self` → SELF), or None for another label."""
    value = _keyed_value(name)
    return None if value is None else funding_of(value)


def _keyed_value(line: str) -> str | None:
    """The text after `Funding:` (or `Financement :`) on this line, or None."""
    head = line.lstrip()
    for key in _KEYS:
        if head[: len(key)].casefold() == key:
            rest = head[len(key) :].lstrip()
            if rest.startswith(":"):
                return rest[1:].strip()
    return None
