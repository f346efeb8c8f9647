"""Reading a board as its cycle needs it: every card in outline, then the cards its
actions touch whole (and, for tests and copies, the whole board at once)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, Table, select, union

from trello_sync.domain.actions import parse_instant
from trello_sync.domain.ids import REMINDER_KINDS
from trello_sync.domain.records import (
    BoardView,
    CardOutline,
    CardRecord,
    CardState,
    Entry,
    StageMove,
)
from trello_sync.ledger.rows import (
    board_of,
    entries_of,
    latest_comments,
    move_of,
    stand_in_card,
)
from trello_sync.ledger.schema import (
    applied_actions,
    boards,
    cards,
    entries,
    meta,
    replies,
    stage_moves,
)

IN_LIST_MAX = 500  # ids per IN (...) list: under every backend's bound-parameter limit


# The ledger's notes on a board, in its meta table: when it was first synced (a time-driven
# reply that came due before is never posted) and when its open months' comments were
# last re-read.
FIRST_SYNC_META = "first_synced:"
REREAD_META = "last_comment_reread:"


def board_view(
    conn: Connection, board_id: str, outline: bool, comments_since: datetime | None
) -> BoardView:
    """The board as a cycle reads it: every card in outline (or, with `outline` False,
    whole), the command comments dated from `comments_since` on (all with None), the
    checkpoint, the reminders already planned and the board's notes."""
    comments = select(applied_actions).where(
        applied_actions.c.board_id == board_id, applied_actions.c.kind == "comment"
    )
    if comments_since is not None:
        # Every version of a comment carries the comment's own date: none is split.
        comments = comments.where(applied_actions.c.at >= comments_since)
    comment_rows = conn.execute(comments).all()
    board_row = conn.execute(select(boards).where(boards.c.board_id == board_id)).first()
    reminders = conn.execute(
        select(replies.c.reply_id).where(
            replies.c.board_id == board_id, replies.c.kind.in_(sorted(REMINDER_KINDS))
        )
    ).scalars()
    notes = dict(
        conn.execute(
            select(meta.c.key, meta.c.value).where(
                meta.c.key.in_([FIRST_SYNC_META + board_id, REREAD_META + board_id])
            )
        ).all()
    )
    return BoardView(
        board_id=board_id,
        cards={} if outline else _card_states(conn, board_id, None),
        outlines=_outlines(conn, board_id) if outline else {},
        comments=latest_comments(comment_rows),
        checkpoint=board_of(board_row).checkpoint if board_row else None,
        reminders_sent=frozenset(reminders),
        first_synced=_instant(notes.get(FIRST_SYNC_META + board_id)),
        last_reread=_instant(notes.get(REREAD_META + board_id)),
    )


def _instant(value: str | None) -> datetime | None:
    return parse_instant(value) if value is not None else None


def card_states(conn: Connection, board_id: str, card_ids: Iterable[str]) -> dict[str, CardState]:
    wanted = sorted(set(card_ids))
    states: dict[str, CardState] = {}
    for start in range(0, len(wanted), IN_LIST_MAX):
        states.update(_card_states(conn, board_id, wanted[start : start + IN_LIST_MAX]))
    return states


def _card_states(
    conn: Connection, board_id: str, card_ids: Sequence[str] | None
) -> dict[str, CardState]:
    """Cards whole: all of the board's, or only these."""
    records, moves = _records_and_moves(conn, board_id, card_ids)
    entry_rows = conn.execute(
        _of_board(select(entries), entries, board_id, card_ids).order_by(
            entries.c.recorded_at, entries.c.entry_id
        )
    ).all()
    card_entries: dict[str, list[Entry]] = {}
    for entry in entries_of(entry_rows):
        card_entries.setdefault(entry.card_id, []).append(entry)
    states = {}
    for card_id in sorted(records.keys() | moves.keys() | card_entries.keys()):
        card_moves, its_entries = moves.get(card_id, []), card_entries.get(card_id, [])
        record = records.get(card_id) or stand_in_card(board_id, card_id, card_moves, its_entries)
        states[card_id] = CardState(record, tuple(card_moves), tuple(its_entries))
    return states


def _outlines(conn: Connection, board_id: str) -> dict[str, CardOutline]:
    """Every card of the board in outline: the same as `CardState.outline()` of the whole
    card, chosen by the database (a few rows per card, however long its history)."""
    records, moves = _records_and_moves(conn, board_id, None)
    picked: dict[str, list[Entry]] = {}
    for entry in entries_of(conn.execute(skeleton_entries(board_id)).all()):
        picked.setdefault(entry.card_id, []).append(entry)
    outlines = {}
    for card_id in sorted(records.keys() | moves.keys() | picked.keys()):
        card_moves, two = moves.get(card_id, []), picked.get(card_id, [])
        record = records.get(card_id) or stand_in_card(board_id, card_id, card_moves, two)
        # The two picked entries (or one, when the newest is a session) say it all.
        outlines[card_id] = CardState(record, tuple(card_moves), tuple(two)).outline()
    return outlines


def _of_board(
    query: Select[Any], table: Table, board_id: str, card_ids: Sequence[str] | None
) -> Select[Any]:
    query = query.where(table.c.board_id == board_id)
    return query if card_ids is None else query.where(table.c.card_id.in_(card_ids))


def _records_and_moves(
    conn: Connection, board_id: str, card_ids: Sequence[str] | None
) -> tuple[dict[str, CardRecord], dict[str, list[StageMove]]]:
    card_rows = conn.execute(_of_board(select(cards), cards, board_id, card_ids)).all()
    move_rows = conn.execute(
        _of_board(select(stage_moves), stage_moves, board_id, card_ids).order_by(
            stage_moves.c.at, stage_moves.c.source_action_id
        )
    ).all()
    records = {row.card_id: CardRecord(**row._asdict()) for row in card_rows}
    moves: dict[str, list[StageMove]] = {}
    for move in map(move_of, move_rows):
        moves.setdefault(move.card_id, []).append(move)
    return records, moves


def skeleton_entries(board_id: str) -> Select[Any]:
    """Per card, its newest entry and its latest session (not a reversal), as
    `CardState.outline()` picks them, in board_view's order: each the first step of a backward
    walk of the entries_by_card index, so an outline of a board of a million entries
    reads a few rows per card."""
    e = entries.alias("e")
    board_cards = (
        select(entries.c.card_id).where(entries.c.board_id == board_id).distinct().subquery()
    )
    latest_first = (e.c.recorded_at.desc(), e.c.source_action_id.desc(), e.c.entry_id.desc())
    of_card = (e.c.board_id == board_id, e.c.card_id == board_cards.c.card_id)
    newest = select(e.c.entry_id).where(*of_card).order_by(*latest_first).limit(1)
    session = (
        select(e.c.entry_id)
        .where(*of_card, e.c.reverses_entry_id.is_(None))
        .order_by(*latest_first)
        .limit(1)
    )
    picked = union(
        select(newest.scalar_subquery()).select_from(board_cards),
        select(session.scalar_subquery()).select_from(board_cards),
    )
    return (
        select(entries)
        .where(entries.c.board_id == board_id, entries.c.entry_id.in_(picked))
        .order_by(entries.c.recorded_at, entries.c.entry_id)
    )
