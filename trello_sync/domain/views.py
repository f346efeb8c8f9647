"""Pure helpers over views and plans: a view after a plan, two plans as one, and which
cards a view holds whole or in outline."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace

from trello_sync.domain.records import BoardView, CardState, Entry, Plan, StageMove


def apply_plan(view: BoardView, plan: Plan) -> BoardView:
    """The view the ledger would give after committing `plan` (used to chain planning
    steps inside one cycle, so that the cycle still commits once)."""
    cards = dict(view.cards)
    if any(card_id in view.outlines for card_id in _cards_of(plan)):
        raise ValueError("a plan writes to a card held in outline: load it whole first")
    for record in plan.cards:
        cards.setdefault(record.card_id, CardState(record))
    # Grouped per card first: one new state per card, not one per move or entry (a
    # long history adds thousands of entries to a card that holds thousands).
    moves: dict[str, list[StageMove]] = {}
    for move in plan.moves:
        moves.setdefault(move.card_id, []).append(move)
    entries: dict[str, list[Entry]] = {}
    for entry in plan.entries:
        entries.setdefault(entry.card_id, []).append(entry)
    for card_id in moves.keys() | entries.keys():
        state = cards[card_id]
        cards[card_id] = replace(
            state,
            moves=(*state.moves, *moves.get(card_id, ())),
            entries=(*state.entries, *entries.get(card_id, ())),
        )
    comments = dict(view.comments)
    for applied in plan.applied:
        if applied.kind == "comment" and applied.text is not None:
            comments[applied.action_id] = applied
    checkpoint = view.checkpoint
    if plan.checkpoint and (
        checkpoint is None
        or (plan.checkpoint.at, plan.checkpoint.action_id) > (checkpoint.at, checkpoint.action_id)
    ):
        checkpoint = plan.checkpoint
    return replace(view, cards=cards, comments=comments, checkpoint=checkpoint)


def _cards_of(plan: Plan) -> set[str]:
    return {m.card_id for m in plan.moves} | {e.card_id for e in plan.entries}


def merge_plans(first: Plan, second: Plan) -> Plan:
    return Plan(
        entries=first.entries + second.entries,
        moves=first.moves + second.moves,
        cards=first.cards + second.cards,
        replies=first.replies + second.replies,
        applied=first.applied + second.applied,
        posted=first.posted + second.posted,
        checkpoint=second.checkpoint or first.checkpoint,
        first_synced=second.first_synced or first.first_synced,
        reread_at=second.reread_at or first.reread_at,
        clear_flag=first.clear_flag or second.clear_flag,
    )


def held_whole(view: BoardView, whole: Mapping[str, CardState]) -> BoardView:
    """The view with these cards (read whole from the ledger) no longer in outline."""
    if not whole:
        return view
    outlines = {k: v for k, v in view.outlines.items() if k not in whole}
    return replace(view, cards={**view.cards, **whole}, outlines=outlines)


def outlined_except(view: BoardView, keep: Collection[str]) -> BoardView:
    """The view with every whole card but those in `keep` held in outline: a long
    history keeps whole only the students it is working on."""
    cut = {k: card.outline() for k, card in view.cards.items() if k not in keep}
    if not cut:
        return view
    cards = {k: card for k, card in view.cards.items() if k in keep}
    return replace(view, cards=cards, outlines={**view.outlines, **cut})
