"""From a board snapshot (Trello JSON) to the facts the planner reads; the emptiness guard."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trello_sync.domain.planner import BoardFacts, CardFacts
from trello_sync.domain.projects import ProjectTable, resolve_project
from trello_sync.domain.records import BoardView
from trello_sync.domain.stages import Stage


def facts_from_snapshot(
    lists: Sequence[Mapping[str, Any]],
    cards: Sequence[Mapping[str, Any]],
    custom_fields: Sequence[Mapping[str, Any]],
    table: ProjectTable,
) -> BoardFacts:
    card_facts = {
        str(card["id"]): CardFacts(
            name=str(card.get("name") or ""),
            project=resolve_project(card, custom_fields, table),
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


def empty_board_problem(list_count: int, card_count: int, view: BoardView) -> str | None:
    """A board that suddenly shows nothing while students are active: lost access or a
    wiped board, not a hand-off. Recording it would end every mentorship at once."""
    active = sum(1 for card in view.cards.values() if card.stage is Stage.ACTIVE)
    if active and (list_count == 0 or card_count == 0):
        shows = "no lists" if list_count == 0 else "no cards"
        return (
            f"the board suddenly shows {shows} while the ledger has {active} active "
            "student(s); nothing recorded (check the token's access to the board)"
        )
    return None
