"""From a board snapshot (Trello JSON) to the facts the planner reads; the emptiness guard."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol

from trello_sync.domain.actions import ActionKind
from trello_sync.domain.funding import resolve_funding
from trello_sync.domain.planner import BoardFacts, CardFacts
from trello_sync.domain.projects import ProjectTable, resolve_project
from trello_sync.domain.records import BoardView
from trello_sync.domain.stages import Stage
from trello_sync.domain.text import storable


def facts_from_snapshot(
    lists: Sequence[Mapping[str, Any]],
    cards: Sequence[Mapping[str, Any]],
    custom_fields: Sequence[Mapping[str, Any]],
    table: ProjectTable,
) -> BoardFacts:
    card_facts = {
        str(card["id"]): CardFacts(
            name=storable(str(card.get("name") or "")),
            project=resolve_project(card, custom_fields, table),
            funding=resolve_funding(card, custom_fields),
        )
        for card in cards
        if card.get("id")
    }
    return BoardFacts(
        cards=card_facts,
        list_names={
            str(item["id"]): str(item.get("name") or "") for item in lists if item.get("id")
        },
        present_cards=frozenset(card_facts),
    )


class CardEvent(Protocol):
    """What the emptiness guard reads of an action (an Action, or a spooled summary)."""

    @property
    def card_id(self) -> str | None: ...

    @property
    def kind(self) -> ActionKind: ...


def empty_board_problem(
    list_count: int, card_count: int, view: BoardView, actions: Collection[CardEvent] = ()
) -> str | None:
    """A board that suddenly shows nothing while students are active, or while the new
    `actions` name cards that should still be on it: lost access, a wiped board or an
    answer missing its cards, not a hand-off. Recording it would end every mentorship at
    once, or pay sessions at the wrong level (no card, no project).

    Cards that the new actions move to another board left on purpose: an empty board
    after the last one leaves is not suspicious (counting them would flag the board for
    good, since the move that explains it would never be applied)."""
    if list_count and card_count:
        return None
    shows = "no lists" if list_count == 0 else "no cards"
    moved = {a.card_id for a in actions if a.kind is ActionKind.MOVED_AWAY}
    gone = moved | {a.card_id for a in actions if a.kind is ActionKind.DELETED}
    active = sum(
        1
        for card_id, card in view.students().items()
        if card.stage is Stage.ACTIVE and card_id not in moved
    )
    if active:
        return (
            f"the board suddenly shows {shows} while the ledger has {active} active "
            "student(s); nothing recorded (check the token's access to the board)"
        )
    named = {a.card_id for a in actions if a.card_id} - gone
    if named:
        return (
            f"the board suddenly shows {shows} while its new actions name {len(named)} "
            "card(s) still on it; nothing recorded (check the token's access to the board)"
        )
    return None
