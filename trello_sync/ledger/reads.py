"""Reading the planner's view of a board: whole, cut down to an outline, or some cards."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, Table, select, union

from trello_sync.domain.records import BoardView, CardRecord, CardState, Entry, StageMove
from trello_sync.ledger.rows import (
    board_of,
    entry_of,
    latest_comments,
    move_of,
    stand_in_card,
)
from trello_sync.ledger.schema import applied_actions, boards, cards, entries, stage_moves

IN_LIST_MAX = 500  # ids per IN (...) list: under every backend's bound-parameter limit


def board_view(
    conn: Connection, board_id: str, outline: bool, comments_since: datetime | None
) -> BoardView:
    comments = select(applied_actions).where(
        applied_actions.c.board_id == board_id, applied_actions.c.kind == "comment"
    )
    if comments_since is not None:
        # Every version of a comment carries the comment's own date: none is split.
        comments = comments.where(applied_actions.c.at >= comments_since)
    states = _card_states(conn, board_id, None, outline=outline)
    comment_rows = conn.execute(comments).all()
    board_row = conn.execute(select(boards).where(boards.c.board_id == board_id)).first()
    return BoardView(
        board_id=board_id,
        cards=states,
        comments=latest_comments(comment_rows),
        checkpoint=board_of(board_row).checkpoint if board_row else None,
    )


def card_states(conn: Connection, board_id: str, card_ids: Iterable[str]) -> dict[str, CardState]:
    wanted = sorted(set(card_ids))
    states: dict[str, CardState] = {}
    for start in range(0, len(wanted), IN_LIST_MAX):
        states.update(_card_states(conn, board_id, wanted[start : start + IN_LIST_MAX]))
    return states


def _card_states(
    conn: Connection,
    board_id: str,
    card_ids: Sequence[str] | None,
    *,
    outline: bool = False,
) -> dict[str, CardState]:
    """Cards as board_view gives them: all of the board's, or only these; cut down to
    their skeletons (views.skeleton) with `outline`, chosen by the database."""

    def of_board(query: Select[Any], table: Table) -> Select[Any]:
        query = query.where(table.c.board_id == board_id)
        return query if card_ids is None else query.where(table.c.card_id.in_(card_ids))

    card_rows = conn.execute(of_board(select(cards), cards)).all()
    move_rows = conn.execute(
        of_board(select(stage_moves), stage_moves).order_by(
            stage_moves.c.at, stage_moves.c.source_action_id
        )
    ).all()
    if outline:
        entry_rows = conn.execute(skeleton_entries(board_id)).all()
    else:
        entry_rows = conn.execute(
            of_board(select(entries), entries).order_by(entries.c.recorded_at, entries.c.entry_id)
        ).all()
    records = {row.card_id: CardRecord(**row._asdict()) for row in card_rows}
    moves: dict[str, list[StageMove]] = {}
    for move in map(move_of, move_rows):
        moves.setdefault(move.card_id, []).append(move)
    card_entries: dict[str, list[Entry]] = {}
    for entry in map(entry_of, entry_rows):
        card_entries.setdefault(entry.card_id, []).append(entry)
    states = {}
    for card_id in sorted(records.keys() | moves.keys() | card_entries.keys()):
        card_moves, its_entries = moves.get(card_id, []), card_entries.get(card_id, [])
        record = records.get(card_id) or stand_in_card(board_id, card_id, card_moves, its_entries)
        states[card_id] = CardState(record, tuple(card_moves), tuple(its_entries))
    return states


def skeleton_entries(board_id: str) -> Select[Any]:
    """Per card, its newest entry and its latest session (not a reversal), as
    views.skeleton keeps them, in board_view's order: each the first step of a backward
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
