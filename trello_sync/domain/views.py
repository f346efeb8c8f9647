"""Pure helpers over plans: what a view looks like after a plan, and two plans as one."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from trello_sync.domain.records import BoardView, CardState, Entry, Plan


def apply_plan(view: BoardView, plan: Plan) -> BoardView:
    """The view the ledger would give after committing `plan` (used to chain planning
    steps inside one cycle, so that the cycle still commits once)."""
    cards = dict(view.cards)
    for record in plan.cards:
        cards.setdefault(record.card_id, CardState(record))
    for move in plan.moves:
        state = cards[move.card_id]
        cards[move.card_id] = replace(state, moves=(*state.moves, move))
    for entry in plan.entries:
        state = cards[entry.card_id]
        cards[entry.card_id] = replace(state, entries=(*state.entries, entry))
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
    return BoardView(view.board_id, cards, comments, checkpoint)


def merge_plans(first: Plan, second: Plan) -> Plan:
    return Plan(
        entries=first.entries + second.entries,
        moves=first.moves + second.moves,
        cards=first.cards + second.cards,
        replies=first.replies + second.replies,
        applied=first.applied + second.applied,
        posted=first.posted + second.posted,
        checkpoint=second.checkpoint or first.checkpoint,
    )


def skeleton(card: CardState) -> CardState:
    """A card with only the entries read of a card that no action of the cycle touches:
    its latest session (what a nudge reads) and its newest entry (the newest instant of
    its history). The rest stays in the ledger: a long first sync holds only the cards
    it is working on. A skeleton must be loaded whole again before the planner applies
    an action to its card."""
    entries = card.entries
    if len(entries) <= 2:
        return card
    keep = {max(range(len(entries)), key=lambda i: _latest_first(entries[i]))}
    sessions = [i for i, entry in enumerate(entries) if not entry.is_reversal]
    if sessions:
        keep.add(max(sessions, key=lambda i: _latest_first(entries[i])))
    return replace(card, entries=tuple(entries[i] for i in sorted(keep)))


def _latest_first(entry: Entry) -> tuple[datetime, str, str]:
    # The order of the ledger's entries_by_card index, which picks the same two.
    return (entry.recorded_at, entry.source_action_id, entry.entry_id)
