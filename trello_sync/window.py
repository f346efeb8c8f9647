"""A cycle's window: what its fetch read, and what the cycle carries while it plans it.

Split from sync.py, which drives the cycle; here are the pieces that hold its state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from trello_sync.domain.actions import Action, parse_action, parse_instant
from trello_sync.domain.planner import BoardFacts, PlannerConfig
from trello_sync.domain.records import BoardView, Checkpoint
from trello_sync.domain.views import skeleton
from trello_sync.spool import ActionSpool
from trello_sync.trello.port import ACTION_TYPES, Json


@dataclass
class Window:
    """What a cycle's whole fetch said, beyond the actions it spooled."""

    latest: Checkpoint | None = None  # its newest action, of any type
    size: int = 0  # actions of every type it held

    def read(self, pages: Iterable[list[Json]], spool: ActionSpool) -> None:
        """Each page into the spool, parsed once; the newest action of any type noted.

        A batched poll reads every type (see Syncer._prefetch): the whole window counts
        for the checkpoint, only the types the service reads are applied."""
        for page in pages:
            self.size += len(page)
            kept: list[Action] = []
            for item in page:
                if item.get("type") in ACTION_TYPES:
                    action = parse_action(item)
                    kept.append(action)
                    self._note(action.date, action.id)
                else:
                    self._note(parse_instant(str(item["date"])), str(item["id"]))
            spool.add(kept)

    def _note(self, at: datetime, action_id: str) -> None:
        if self.latest is None or (at, action_id) > (self.latest.at, self.latest.action_id):
            self.latest = Checkpoint(action_id, at)


@dataclass
class CycleState:
    """One board's cycle while its window is planned, chunk after chunk."""

    view: BoardView
    window: Window
    first: bool  # the board had no checkpoint when the cycle began
    reread_due: bool
    current_comments: frozenset[str]
    now: datetime
    window_start: datetime  # the open months start here
    facts: BoardFacts | None = None
    config: PlannerConfig | None = None
    planned: bool = False  # something was planned (and committed) from the window
    # Cards of the view cut down to a skeleton (see views.skeleton): loaded again from
    # the ledger before an action of theirs is planned.
    skeletons: set[str] = field(default_factory=set)
    problem: str | None = None

    def cut_down(self, touched: set[str]) -> None:
        """After a chunk: the cards it did not touch keep only a skeleton, so that a long
        history holds the entries of the students it is working on, not of all."""
        cards = dict(self.view.cards)
        for card_id, card in cards.items():
            if card_id not in touched and card_id not in self.skeletons:
                cards[card_id] = skeleton(card)
                self.skeletons.add(card_id)
        self.view = replace(self.view, cards=cards)
