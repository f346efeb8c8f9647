"""Immutable records that name their source: what the planner decides, what the ledger keeps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from trello_sync.domain.money import Money
from trello_sync.domain.stages import Stage


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the append-only ledger. A reversal carries the opposite amount."""

    entry_id: str
    recorded_at: datetime
    board_id: str
    card_id: str
    student: str
    project: str | None
    level: int
    status: str  # done, noshow, late, cancel
    session_date: date
    duration_minutes: int | None
    note: str
    rate_cents: int
    share_percent: int
    amount_cents: int
    currency: str
    mentor: str  # username of the member who logged it
    source_action_id: str
    reverses_entry_id: str | None = None

    @property
    def amount(self) -> Money:
        return Money(self.amount_cents, self.currency)

    @property
    def is_reversal(self) -> bool:
        return self.reverses_entry_id is not None


@dataclass(frozen=True, slots=True)
class StageMove:
    """A card arriving in a stage (or leaving the pipeline), at the time Trello says."""

    board_id: str
    card_id: str
    source_action_id: str
    at: datetime
    stage: Stage
    list_id: str | None
    list_name: str | None


@dataclass(frozen=True, slots=True)
class CardRecord:
    """A student as the ledger first saw them: kept when Trello forgets a deleted card."""

    board_id: str
    card_id: str
    name: str
    project: str | None
    level: int
    first_seen_action_id: str


@dataclass(frozen=True, slots=True)
class Reply:
    """A comment to post on a card; reply_id is derived, so planning it twice is harmless."""

    reply_id: str
    board_id: str
    card_id: str
    source_action_id: str
    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class AppliedAction:
    """An action (a version of it, for an edited comment) that the ledger has applied."""

    board_id: str
    action_id: str
    version: str
    card_id: str | None
    kind: str
    at: datetime
    text: str | None = None  # kept for command comments, to notice edits and deletions


@dataclass(frozen=True, slots=True)
class PostedReply:
    """One of our own comments seen on the board: its reply is posted, whatever the outbox says."""

    reply_id: str
    comment_id: str


@dataclass(frozen=True, slots=True)
class Checkpoint:
    action_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CardState:
    """What the ledger knows of one card: first-seen facts, stage history, entries."""

    card: CardRecord
    moves: tuple[StageMove, ...] = ()
    entries: tuple[Entry, ...] = ()

    @property
    def stage(self) -> Stage | None:
        return self.moves[-1].stage if self.moves else None


@dataclass(frozen=True, slots=True)
class BoardView:
    """The part of the ledger the planner reads for one board."""

    board_id: str
    cards: Mapping[str, CardState] = field(default_factory=dict)
    # Command comments applied on this board (latest version of each), by action id.
    comments: Mapping[str, AppliedAction] = field(default_factory=dict)
    checkpoint: Checkpoint | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything one board's cycle writes, in one transaction."""

    entries: tuple[Entry, ...] = ()
    moves: tuple[StageMove, ...] = ()
    cards: tuple[CardRecord, ...] = ()
    replies: tuple[Reply, ...] = ()
    applied: tuple[AppliedAction, ...] = ()
    posted: tuple[PostedReply, ...] = ()
    checkpoint: Checkpoint | None = None

    @property
    def is_empty(self) -> bool:
        return not (
            self.entries or self.moves or self.cards or self.replies or self.applied or self.posted
        )
