"""Rows and records: how the ledger's rows become the domain's frozen records, and back."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import fields
from typing import Any

from sqlalchemy import Row

from trello_sync.domain.documents import DocumentKind, IssuedDocument, Payment
from trello_sync.domain.records import (
    AppliedAction,
    CardRecord,
    Checkpoint,
    Entry,
    StageMove,
)
from trello_sync.domain.rules import EntryKind, Funding, Status
from trello_sync.domain.stages import Stage
from trello_sync.ledger.store import BoardRecord

# By value: the enum's own lookup costs more, and every entry read goes through here.
_FUNDINGS = {funding.value: funding for funding in Funding}
_KINDS = {kind.value: kind for kind in EntryKind}
_STATUSES = {status.value: status for status in Status}  # an unknown one: Status() says so


def entry_of(row: Row[Any]) -> Entry:
    return _entry(row._asdict())


def _entry(values: dict[str, Any]) -> Entry:
    """An entry of its row's values (the enums stored by value made enums again)."""
    status = values["status"]
    values["status"] = _STATUSES.get(status) or Status(status)
    values["funding"] = _FUNDINGS[values["funding"]]
    values["kind"] = _KINDS[values["kind"]]
    return Entry(**values)


# The fields whose values repeat from entry to entry of a card or a board.
_REPEATED = ("board_id", "card_id", "student", "project", "currency", "mentor", "session_date")


def entries_of(rows: Iterable[Row[Any]]) -> Iterator[Entry]:
    """The entries of many rows, each repeated value (a board's id, a student's name, a
    day) one object shared by all of them, not one copy per row: a long history holds
    thousands of a student's entries at once."""
    shared: dict[Any, Any] = {}
    for row in rows:
        values = row._asdict()
        for name in _REPEATED:
            value = values[name]
            values[name] = shared.setdefault(value, value)
        yield _entry(values)


def move_of(row: Row[Any]) -> StageMove:
    return StageMove(**{**row._asdict(), "stage": Stage(row.stage)})


def row_of(record: Any) -> dict[str, Any]:
    """A record's fields as a row, shallow: `dataclasses.asdict` deep-copies every date and
    datetime, which was a third of a large first sync's time (benchmarks/)."""
    names = _FIELD_NAMES.get(type(record))
    if names is None:
        names = _FIELD_NAMES[type(record)] = tuple(field.name for field in fields(record))
    return {name: getattr(record, name) for name in names}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def move_row(move: StageMove) -> dict[str, Any]:
    return {**row_of(move), "stage": move.stage.value}


def board_of(row: Row[Any]) -> BoardRecord:
    checkpoint = None
    if row.checkpoint_action_id is not None and row.checkpoint_at is not None:
        checkpoint = Checkpoint(row.checkpoint_action_id, row.checkpoint_at)
    return BoardRecord(row.board_id, row.ref, row.name, checkpoint, row.flag)


def latest_comments(rows: Iterable[Row[Any]]) -> dict[str, AppliedAction]:
    """The latest version of each comment action ("" first), if that version has text.

    A later version without text (a deletion, or an edit into a plain comment) hides the
    older ones: the planner must not see a command that no longer reads as one.
    """
    latest: dict[str, AppliedAction] = {}
    for row in rows:
        action = AppliedAction(**row._asdict())
        known = latest.get(action.action_id)
        if known is None or action.version > known.version:
            latest[action.action_id] = action
    return {key: action for key, action in sorted(latest.items()) if action.text is not None}


def stand_in_card(
    board_id: str, card_id: str, moves: Sequence[StageMove], card_entries: Sequence[Entry]
) -> CardRecord:
    """A card with history but no card row (the planner always writes one first)."""
    last = card_entries[-1] if card_entries else None
    sources = [m.source_action_id for m in moves] + [e.source_action_id for e in card_entries]
    return CardRecord(
        board_id=board_id,
        card_id=card_id,
        name=last.student if last else "",
        project=last.project if last else None,
        level=last.level if last else 0,  # 0: unknown
        first_seen_action_id=sources[0] if sources else "",
    )


def document_row(document: IssuedDocument) -> dict[str, Any]:
    # Compact JSON, the ids in the document's own order: the same list gives the same text.
    ids = json.dumps(list(document.entry_ids), separators=(",", ":"), ensure_ascii=False)
    return {**row_of(document), "kind": document.kind.value, "entry_ids": ids}


def document_of(row: Row[Any]) -> IssuedDocument:
    values = row._asdict()
    ids = json.loads(values["entry_ids"])
    return IssuedDocument(
        **{**values, "kind": DocumentKind(values["kind"]), "entry_ids": tuple(ids)}
    )


def payment_of(row: Row[Any]) -> Payment:
    return Payment(**row._asdict())
