"""Immutable records that name their source: what the planner decides, what the ledger keeps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from trello_sync.domain.ids import ReplyKind, reversal_id
from trello_sync.domain.money import Money
from trello_sync.domain.rules import EntryKind, Funding, Status
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
    status: Status
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
    # The student's funding it was priced with (a later change of the card's funding
    # never rewrites it), and what it pays for. Entries older than these two fields are
    # `unset` sessions.
    funding: Funding = Funding.UNSET
    kind: EntryKind = EntryKind.SESSION

    @property
    def amount(self) -> Money:
        return Money(self.amount_cents, self.currency)

    @property
    def is_reversal(self) -> bool:
        return self.reverses_entry_id is not None

    @property
    def is_fee(self) -> bool:
        return self.kind == EntryKind.FEE

    def reversed_by(self, source_action_id: str, at: datetime) -> Entry:
        """The entry that cancels this one: the opposite amount, caused by that action."""
        return replace(
            self,
            entry_id=reversal_id(self.entry_id),
            recorded_at=at,
            amount_cents=-self.amount_cents,
            source_action_id=source_action_id,
            reverses_entry_id=self.entry_id,
        )


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
    kind: ReplyKind
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


def _latest_first(entry: Entry) -> tuple[datetime, str, str]:
    # The order of the ledger's entries_by_card index (its outline read walks it).
    return (entry.recorded_at, entry.source_action_id, entry.entry_id)


@dataclass(frozen=True, slots=True)
class CardState:
    """A card held whole: first-seen facts, stage history, every entry. The planner
    applies actions only to whole cards."""

    card: CardRecord
    moves: tuple[StageMove, ...] = ()
    entries: tuple[Entry, ...] = ()

    @property
    def stage(self) -> Stage | None:
        return self.moves[-1].stage if self.moves else None

    @property
    def latest_session(self) -> Entry | None:
        """The newest entry that is not a reversal (when the student was last seen)."""
        sessions = [entry for entry in self.entries if not entry.is_reversal]
        return max(sessions, key=_latest_first) if sessions else None

    @property
    def newest_entry(self) -> Entry | None:
        return max(self.entries, key=_latest_first) if self.entries else None

    def outline(self) -> CardOutline:
        return CardOutline(self.card, self.moves, self.latest_session, self.newest_entry)


@dataclass(frozen=True, slots=True)
class CardOutline:
    """A card held in outline: its stage history and the two entries that time-driven
    replies and the board's newest instant read, not its whole history. A long history
    holds the cards it is working on whole and the others in outline. It has no
    `entries`: nothing can apply an action to it (load it whole first)."""

    card: CardRecord
    moves: tuple[StageMove, ...] = ()
    latest_session: Entry | None = None
    newest_entry: Entry | None = None

    @property
    def stage(self) -> Stage | None:
        return self.moves[-1].stage if self.moves else None


@dataclass(frozen=True, slots=True)
class BoardView:
    """The part of the ledger a board's cycle reads: cards whole or in outline (a card
    is in one of the two, never both), the recent command comments, the checkpoint."""

    board_id: str
    cards: Mapping[str, CardState] = field(default_factory=dict)
    outlines: Mapping[str, CardOutline] = field(default_factory=dict)
    # Command comments applied on this board (latest version of each), by action id.
    comments: Mapping[str, AppliedAction] = field(default_factory=dict)
    checkpoint: Checkpoint | None = None
    # Ids of the time-driven replies (reminders) already in the outbox.
    reminders_sent: frozenset[str] = frozenset()
    # When the ledger first synced the board (None: never, or by an older version),
    # and when it last re-read the open months' comments.
    first_synced: datetime | None = None
    last_reread: datetime | None = None

    def students(self) -> Mapping[str, CardState | CardOutline]:
        """Every card, whole or in outline, by id."""
        return {**self.outlines, **self.cards}


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
    # Written in the same transaction: when the board was first synced (set once),
    # when the open months' comments were last re-read, and whether the board's flag
    # (a board that looked wiped) is cleared.
    first_synced: datetime | None = None
    reread_at: datetime | None = None
    clear_flag: bool = False

    @property
    def is_empty(self) -> bool:
        return not (
            self.entries or self.moves or self.cards or self.replies or self.applied or self.posted
        )

    @property
    def writes_nothing(self) -> bool:
        return self.is_empty and not (
            self.checkpoint or self.first_synced or self.reread_at or self.clear_flag
        )
