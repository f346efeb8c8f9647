"""An issued document's lines (and its invoice mentions) as canonical JSON: sorted keys,
no spaces, ISO dates, money as cents and currency, ASCII only (so any storage keeps the
bytes). Reading it back and writing it again gives the same text; a line that is a
session of no funding is written exactly as before lines had a kind and a funding, so
the documents issued then read and render as they always did.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date

from trello_sync.domain.documents import InvoiceMentions, Party, StatementLine
from trello_sync.domain.money import Money
from trello_sync.domain.rules import EntryKind, Funding, Status

SNAPSHOT_FORMAT = 1
_LINE_KEYS = frozenset(
    {
        "entry_id",
        "session_date",
        "student",
        "project",
        "level",
        "status",
        "share_percent",
        "amount",
        "reverses_entry_id",
    }
)
# Written only when they are not a session's and no funding's (so that an issued
# document whose lines have neither keeps the text it always had).
_OPTIONAL_LINE_KEYS = frozenset({"kind", "funding"})


def lines_to_json(lines: Iterable[StatementLine], mentions: InvoiceMentions | None = None) -> str:
    """The lines (and the invoice's mentions, as they were when it was issued) as
    canonical JSON: the same lines always give the same text."""
    payload: dict[str, object] = {
        "format": SNAPSHOT_FORMAT,
        "lines": [_line_json(line) for line in lines],
    }
    if mentions is not None:
        # Frozen with the lines: a seller who moves later does not change an old invoice.
        payload["mentions"] = _mentions_json(mentions)
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def mentions_from_json(text: str) -> InvoiceMentions | None:
    """The mentions `lines_to_json` froze with the lines, or None if it froze none."""
    payload = json.loads(text)
    raw = payload.get("mentions") if isinstance(payload, dict) else None
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValueError("statement snapshot: mentions is not an object")
    try:
        indemnity = raw["recovery_indemnity"]
        return InvoiceMentions(
            seller=Party(_text(raw["seller"]["name"]), _text(raw["seller"]["address"])),
            siret=_text(raw["siret"]),
            client=Party(_text(raw["client"]["name"]), _text(raw["client"]["address"])),
            vat_mention=_text(raw["vat_mention"]),
            late_penalty=_text(raw["late_penalty"]),
            recovery_indemnity=Money(_whole(indemnity["cents"]), _text(indemnity["currency"])),
            payment_terms_days=_whole(raw["payment_terms_days"]),
            iban=_optional_text(raw["iban"]),
            bic=_optional_text(raw["bic"]),
            purchase_order=_optional_text(raw["purchase_order"]),
        )
    except (KeyError, TypeError) as error:
        raise ValueError(f"statement snapshot, mentions: {error}") from None


def _mentions_json(m: InvoiceMentions) -> dict[str, object]:
    return {
        "seller": {"name": m.seller.name, "address": m.seller.address},
        "siret": m.siret,
        "client": {"name": m.client.name, "address": m.client.address},
        "vat_mention": m.vat_mention,
        "late_penalty": m.late_penalty,
        "recovery_indemnity": {
            "cents": m.recovery_indemnity.cents,
            "currency": m.recovery_indemnity.currency,
        },
        "payment_terms_days": m.payment_terms_days,
        "iban": m.iban,
        "bic": m.bic,
        "purchase_order": m.purchase_order,
    }


def lines_from_json(text: str) -> tuple[StatementLine, ...]:
    """The lines `lines_to_json` wrote; ValueError on anything else."""
    payload = json.loads(text)
    if not isinstance(payload, dict) or set(payload) - {"mentions"} != {"format", "lines"}:
        raise ValueError("statement snapshot: expected an object with format and lines")
    if payload["format"] != SNAPSHOT_FORMAT:
        raise ValueError(f"statement snapshot: unknown format {payload['format']!r}")
    raw_lines = payload["lines"]
    if not isinstance(raw_lines, list):
        raise ValueError("statement snapshot: lines is not a list")
    return tuple(_line_from_json(raw, index) for index, raw in enumerate(raw_lines))


def _line_json(line: StatementLine) -> dict[str, object]:
    found: dict[str, object] = {
        "entry_id": line.entry_id,
        "session_date": line.session_date.isoformat(),
        "student": line.student,
        "project": line.project,
        "level": line.level,
        "status": str(line.status),
        "share_percent": line.share_percent,
        "amount": {"cents": line.amount.cents, "currency": line.amount.currency},
        "reverses_entry_id": line.reverses_entry_id,
    }
    if line.kind != EntryKind.SESSION:
        found["kind"] = str(line.kind)
    if line.funding != Funding.UNSET:
        found["funding"] = str(line.funding)
    return found


def _line_from_json(raw: object, index: int) -> StatementLine:
    where = f"statement snapshot, line {index}"
    if not isinstance(raw, dict) or not _LINE_KEYS <= set(raw) <= _LINE_KEYS | _OPTIONAL_LINE_KEYS:
        raise ValueError(f"{where}: expected the fields {', '.join(sorted(_LINE_KEYS))}")
    amount = raw["amount"]
    if not isinstance(amount, dict) or set(amount) != {"cents", "currency"}:
        raise ValueError(f"{where}: amount needs cents and currency")
    try:
        return StatementLine(
            entry_id=_text(raw["entry_id"]),
            session_date=date.fromisoformat(_text(raw["session_date"])),
            student=_text(raw["student"]),
            project=_optional_text(raw["project"]),
            level=_whole(raw["level"]),
            status=Status(_text(raw["status"])),
            share_percent=_whole(raw["share_percent"]),
            amount=Money(_whole(amount["cents"]), _text(amount["currency"])),
            reverses_entry_id=_optional_text(raw["reverses_entry_id"]),
            kind=EntryKind(_text(raw.get("kind", EntryKind.SESSION.value))),
            funding=Funding(_text(raw.get("funding", Funding.UNSET.value))),
        )
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error}") from None


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, not {value!r}")
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _whole(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected a whole number, not {value!r}")
    return value
