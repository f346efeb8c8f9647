"""What the planner is given (its settings, the board's facts) and its working copy of
the board, which the actions update in order (domain/planner.py, domain/comment_plan.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from trello_sync.domain.projects import ProjectLevel
from trello_sync.domain.records import (
    AppliedAction,
    BoardView,
    CardRecord,
    Entry,
    PostedReply,
    Reply,
    StageMove,
)
from trello_sync.domain.rules import Funding, PayRules
from trello_sync.domain.stages import Stage, StageMap


@dataclass(frozen=True)
class PlannerConfig:
    stage_map: StageMap
    rules: PayRules
    default_level: int
    mentors: frozenset[str]  # folded usernames allowed to log sessions
    tz: ZoneInfo
    cap: int  # the max_students setting; its default is in trello_sync/defaults.toml
    # Actions older than this get no reply (a first sync replays months of history).
    reply_since: datetime | None = None
    # The member the service posts as (the token's owner). A comment carrying a reply's
    # marker proves that reply posted only when this member wrote it: anyone can copy a
    # marker into a comment. None: no comment counts as the service's own.
    service_member_id: str | None = None


@dataclass(frozen=True)
class CardFacts:
    """What the board shows of a card now (from the snapshot)."""

    name: str
    project: ProjectLevel
    funding: Funding = Funding.UNSET


@dataclass(frozen=True)
class BoardFacts:
    cards: Mapping[str, CardFacts] = field(default_factory=dict)
    list_names: Mapping[str, str] = field(default_factory=dict)  # current name by list id
    # Cards the board still has (open or archived): a missing comment there was deleted.
    present_cards: frozenset[str] = frozenset()


def replies_allowed(config: PlannerConfig, when: datetime) -> bool:
    return config.reply_since is None or when >= config.reply_since


@dataclass
class PlanOut:
    """What the planning of a board has decided so far (becomes the Plan)."""

    entries: list[Entry] = field(default_factory=list)
    moves: list[StageMove] = field(default_factory=list)
    cards: list[CardRecord] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    applied: list[AppliedAction] = field(default_factory=list)
    posted: list[PostedReply] = field(default_factory=list)


class WorkingBoard:
    """The planner's working copy of the board, updated as actions are applied in order."""

    def __init__(self, view: BoardView) -> None:
        self.board_id = view.board_id
        self.cards: dict[str, CardRecord] = {k: c.card for k, c in view.cards.items()}
        # Cards held in outline count for the board (their stage), but no action may be
        # applied to them: they are not in `cards`, and the planner refuses them.
        self.outlined = frozenset(view.outlines)
        self.moves: dict[str, list[StageMove]] = {
            k: list(c.moves) for k, c in view.students().items()
        }
        self.entries: dict[str, list[Entry]] = {k: list(c.entries) for k, c in view.cards.items()}
        self.comments: dict[str, AppliedAction] = dict(view.comments)
        self.reversed: set[str] = {
            e.reverses_entry_id
            for entries in self.entries.values()
            for e in entries
            if e.reverses_entry_id
        }
        self.out = PlanOut()

    def stage(self, card_id: str) -> Stage | None:
        moves = self.moves.get(card_id)
        return moves[-1].stage if moves else None

    def active_count(self) -> int:
        return sum(1 for card_id in self.moves if self.stage(card_id) is Stage.ACTIVE)

    def card_entries(self, card_id: str) -> list[Entry]:
        return self.entries.get(card_id, [])

    def live_entries(self, card_id: str) -> list[Entry]:
        """The card's entries that are no reversal and not reversed (monthly fees too)."""
        return [
            e
            for e in self.entries.get(card_id, [])
            if not e.is_reversal and e.entry_id not in self.reversed
        ]

    def add_entry(self, entry: Entry) -> None:
        self.entries.setdefault(entry.card_id, []).append(entry)
        if entry.reverses_entry_id:
            self.reversed.add(entry.reverses_entry_id)
        self.out.entries.append(entry)

    def add_move(self, move: StageMove) -> None:
        self.moves.setdefault(move.card_id, []).append(move)
        self.out.moves.append(move)
