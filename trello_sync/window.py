"""A cycle's window: its fetch read into the spool, parsed once, and what the whole
fetch says beyond the actions it holds (its newest action of any type, its size)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from trello_sync.domain.actions import Action, action_order, parse_action, parse_instant
from trello_sync.domain.records import Checkpoint
from trello_sync.spool import ActionSpool
from trello_sync.trello.port import ACTION_TYPES, Json


@dataclass
class Window:
    """What a cycle's whole fetch said, beyond the actions it spooled."""

    latest: Checkpoint | None = None  # its newest action, of any type
    size: int = 0  # actions of every type it held

    def read(self, pages: Iterable[list[Json]], spool: ActionSpool) -> None:
        """Each page into the spool, parsed once; the newest action of any type noted."""
        for page in pages:
            spool.add(self.take(page))

    def take(self, page: list[Json]) -> list[Action]:
        """A page's actions of the types the service reads, parsed once; the newest action
        of any type noted. A batched poll reads every type (see Syncer._prefetch): the
        whole window counts for the checkpoint, only the types the service reads are
        applied."""
        self.size += len(page)
        kept: list[Action] = []
        for item in page:
            if item.get("type") in ACTION_TYPES:
                kept.append(parse_action(item))
            else:
                self._note(parse_instant(str(item["date"])), str(item["id"]))
        if kept:
            newest = max(kept, key=action_order)
            self._note(newest.date, newest.id)
        return kept

    def _note(self, at: datetime, action_id: str) -> None:
        if self.latest is None or (at, action_id) > (self.latest.at, self.latest.action_id):
            self.latest = Checkpoint(action_id, at)
