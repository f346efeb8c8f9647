"""What a document calls an entry: a session by its status (render/labels.py), a defense,
a monthly fee, and the student's funding when the entry was priced with one, in French
and in English (the same keys in both)."""

from __future__ import annotations

from trello_sync.domain.rules import EntryKind, Funding, Status
from trello_sync.render.labels import NBSP, Labels

TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "defense.done": "Soutenance",
        "defense.noshow": "Soutenance" + NBSP + ": absence",
        "defense.late": "Soutenance annulée tardivement",
        "defense.cancel": "Soutenance annulée",
        "fee": "Forfait mensuel",
        "funding.funded": "financé",
        "funding.self": "autofinancé",
    },
    "en": {
        "defense.done": "Defense",
        "defense.noshow": "Defense no-show",
        "defense.late": "Defense cancelled late",
        "defense.cancel": "Defense cancelled",
        "fee": "Monthly fee",
        "funding.funded": "funded",
        "funding.self": "self-funded",
    },
}


def entry_label(t: Labels, kind: EntryKind, status: Status, funding: Funding) -> str:
    """`Séance réalisée`, `Soutenance · autofinancé`, `Monthly fee · self-funded`: a
    session with no funding reads exactly as its status always has."""
    texts = TEXTS[t.language]
    if kind == EntryKind.DEFENSE:
        said = texts[f"defense.{status.value}"]
    elif kind == EntryKind.FEE:
        said = texts["fee"]
    else:
        said = t.status(status)
    shown = texts.get(f"funding.{funding.value}")
    return f"{said} · {shown}" if shown else said


def defense_label(t: Labels, status: Status) -> str:
    return TEXTS[t.language][f"defense.{status.value}"]


def fee_label(t: Labels) -> str:
    return TEXTS[t.language]["fee"]
