"""The one planner: new actions + a view of the ledger → entries, moves, replies, checkpoint.

Pure: plain frozen data in and out, no I/O, no clock reads (`now` is an argument).
Every decision about money is made here and nowhere else: this module applies the
actions in order, comment_plan.py one comment (its entry, pricing, undo, reply) and
fees.py the monthly fees; planner_state.py holds the inputs and the working copy.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from trello_sync.domain.actions import Action, ActionKind, action_order
from trello_sync.domain.commands import looks_like_command
from trello_sync.domain.comment_plan import apply_comment, entries_from, settle_fees
from trello_sync.domain.ids import ReplyKind, deletion_source
from trello_sync.domain.planner_state import (
    BoardFacts,
    CardFacts,
    PlannerConfig,
    WorkingBoard,
    replies_allowed,
)
from trello_sync.domain.records import (
    AppliedAction,
    BoardView,
    CardRecord,
    Checkpoint,
    Plan,
    Reply,
    StageMove,
)
from trello_sync.domain.replies import (
    cap_warning_text,
    deleted_text,
    handoff_text,
    joined,
    make_reply,
)
from trello_sync.domain.stages import Stage
from trello_sync.domain.summary import Tally

__all__ = [
    "BoardFacts",
    "CardFacts",
    "OutlinedCard",
    "PlannerConfig",
    "plan",
    "plan_deleted_comments",
]


class OutlinedCard(ValueError):
    """An action was to be applied to a card held in outline: a bug of the caller, which
    must load the cards its actions touch whole first."""


def plan(
    actions: Iterable[Action], view: BoardView, facts: BoardFacts, config: PlannerConfig
) -> Plan:
    """Apply `actions` (not yet applied at their version) in (date, id) order. Where the
    checkpoint goes is the cycle's decision (domain/cycle.py), not this one's."""
    board = WorkingBoard(view)
    for action in sorted(actions, key=action_order):
        _apply(action, board, facts, config)
    return _finish(board, None)


def plan_deleted_comments(
    current_comment_ids: frozenset[str],
    window_start: datetime,
    view: BoardView,
    facts: BoardFacts,
    config: PlannerConfig,
    now: datetime,
) -> Plan:
    """Reverse the entries of command comments that vanished from a card that still exists.

    `current_comment_ids`: every comment the board shows dated on/after `window_start`.
    A deletion has no time on Trello: the reversal is dated at the newest point of the
    board's history the ledger had seen when it noticed (never before the original), so
    that the same history always gives the same ledger, however late the re-read ran.
    """
    board = WorkingBoard(view)
    seen_until = _history_seen_until(view, now)
    for comment in sorted(view.comments.values(), key=lambda c: (c.at, c.action_id)):
        if comment.at < window_start or comment.action_id in current_comment_ids:
            continue
        if comment.card_id is None or comment.card_id not in facts.present_cards:
            continue  # the card was deleted or moved away: its sessions took place
        if comment.card_id in board.outlined:
            raise OutlinedCard(f"card {comment.card_id} is held in outline: load it whole")
        for original in entries_from(board, comment.card_id, comment.action_id):
            first_new = len(board.card_entries(comment.card_id))
            at = max(seen_until, original.recorded_at)
            reversal = original.reversed_by(comment.action_id, at)
            board.add_entry(reversal)
            fees = settle_fees(board, comment.card_id, first_new, comment.action_id, at, config)
            if replies_allowed(config, now):
                board.out.replies.append(
                    make_reply(
                        board.board_id,
                        comment.card_id,
                        deletion_source(comment.action_id),
                        ReplyKind.DELETED,
                        joined(deleted_text(reversal, original), fees),
                    )
                )
    return _finish(board, None)


def _history_seen_until(view: BoardView, now: datetime) -> datetime:
    """The newest stage move, entry or command the ledger holds for the board.

    Not the checkpoint: it can be one of the service's own replies, dated when it was
    posted, which depends on the run (a lost answer, a retry), not on the history."""
    instants = [comment.at for comment in view.comments.values()]
    for card in view.students().values():
        instants += [move.at for move in card.moves]
        if card.newest_entry is not None:
            instants.append(card.newest_entry.recorded_at)
    if instants:
        return max(instants)
    return view.checkpoint.at if view.checkpoint else now


def _finish(board: WorkingBoard, checkpoint: Checkpoint | None) -> Plan:
    out = board.out
    return Plan(
        entries=tuple(out.entries),
        moves=tuple(out.moves),
        cards=tuple(out.cards),
        replies=tuple(out.replies),
        applied=tuple(out.applied),
        posted=tuple(out.posted),
        checkpoint=checkpoint,
    )


# --- one action ---------------------------------------------------------------------


def _apply(action: Action, board: WorkingBoard, facts: BoardFacts, config: PlannerConfig) -> None:
    card_id = action.card_id
    is_comment = action.kind is ActionKind.COMMENT
    text = action.text if is_comment and action.text and looks_like_command(action.text) else None
    board.out.applied.append(
        AppliedAction(
            board_id=board.board_id,
            action_id=action.id,
            version=action.version,
            card_id=card_id,
            kind="comment" if is_comment else action.kind.value,
            at=action.date,
            text=text,
        )
    )
    if card_id is None or action.kind is ActionKind.OTHER:
        return
    if card_id in board.outlined:
        raise OutlinedCard(f"card {card_id} is held in outline: load it whole first")
    _ensure_card(card_id, action, board, facts, config)
    if is_comment:
        apply_comment(action, card_id, board, facts, config)
        return
    stage = _stage_after(action, facts, config)
    if stage is None:
        return
    before = board.stage(card_id)
    # Counting the active students walks them all: only a move into the active stage
    # that may get a reply needs it.
    may_warn = stage is Stage.ACTIVE and before is not Stage.ACTIVE
    active_before = board.active_count() if may_warn else 0
    board.add_move(
        StageMove(
            board_id=board.board_id,
            card_id=card_id,
            source_action_id=action.id,
            at=action.date,
            stage=stage,
            list_id=action.list_id,
            list_name=_list_name(action, facts),
        )
    )
    if not replies_allowed(config, action.date):
        return
    if stage is Stage.HANDED_OFF and before is not Stage.HANDED_OFF:
        board.out.replies.append(_handoff_reply(action, card_id, board, config))
    if may_warn and active_before == config.cap:
        body = cap_warning_text(active_before + 1, config.cap)
        board.out.replies.append(
            make_reply(board.board_id, card_id, action.id, ReplyKind.CAP, body)
        )


def _list_name(action: Action, facts: BoardFacts) -> str | None:
    if action.list_id and action.list_id in facts.list_names:
        return facts.list_names[action.list_id]
    return action.list_name


def _stage_after(action: Action, facts: BoardFacts, config: PlannerConfig) -> Stage | None:
    if action.kind in (ActionKind.CARD_IN_LIST, ActionKind.UNARCHIVED):
        return config.stage_map.stage_of(_list_name(action, facts))
    return {
        ActionKind.ARCHIVED: Stage.ARCHIVED,
        ActionKind.MOVED_AWAY: Stage.MOVED_AWAY,
        ActionKind.DELETED: Stage.DELETED,
    }.get(action.kind)


def _ensure_card(
    card_id: str, action: Action, board: WorkingBoard, facts: BoardFacts, config: PlannerConfig
) -> None:
    if card_id in board.cards:
        return
    known = facts.cards.get(card_id)
    name = action.card_name or (known.name if known else None) or f"card {card_id[-6:]}"
    if known is not None:
        project, level = known.project.project, known.project.level
    else:
        project, level = None, config.default_level
    record = CardRecord(board.board_id, card_id, name, project, level, action.id)
    board.cards[card_id] = record
    board.out.cards.append(record)


def _handoff_reply(
    action: Action, card_id: str, board: WorkingBoard, config: PlannerConfig
) -> Reply:
    moves = board.moves.get(card_id, [])
    first_active = next((m.at for m in moves if m.stage is Stage.ACTIVE), None)
    entries = board.entries.get(card_id, [])
    # The whole mentorship, netted as every month's summary is.
    tally = Tally()
    for entry in entries:
        tally.add(entry)
    currency = (
        entries[0].currency
        if entries
        else config.rules.in_force(action.date.astimezone(config.tz).date()).currency
    )
    body = handoff_text(
        board.cards[card_id].name,
        first_active.astimezone(config.tz).date() if first_active else None,
        action.date.astimezone(config.tz).date(),
        tally.sessions,
        tally.amount(currency),
    )
    return make_reply(board.board_id, card_id, action.id, ReplyKind.HANDOFF, body)
