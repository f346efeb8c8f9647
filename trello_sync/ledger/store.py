"""The ledger store protocol: what the sync engine, the outbox and the exports need."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from trello_sync.domain.documents import DocumentRequest, IssuedDocument, Payment
from trello_sync.domain.ids import ReplyKind
from trello_sync.domain.records import (
    BoardView,
    CardRecord,
    CardState,
    Checkpoint,
    Entry,
    Plan,
    StageMove,
)


class LedgerError(Exception):
    """The ledger cannot do what was asked (bad URL, unreachable, newer schema...)."""


class LedgerConflict(LedgerError):
    """An entry id already exists with different content: the whole commit is refused."""


class LedgerWriterStopped(LedgerError):
    """The process committing a long first sync's chunks stopped before its work was done
    (ledger/writer.py): the chunks it committed are kept, the next run goes on."""


class LeaseLost(LedgerError):
    """This worker's lease on a board ran out (or was taken over): it must not write."""


@dataclass(frozen=True)
class Lease:
    """A worker's claim on a board until `expires_at`; `fence` proves it is still its own."""

    key: str  # the board as configured (id or short link)
    owner: str
    fence: int
    expires_at: datetime


class ReplyStatus(StrEnum):
    """Where a reply is in the outbox. Stored by value."""

    PENDING = "pending"  # planned, not tried yet
    ATTEMPTED = "attempted"  # a post was tried: the board is asked before trying again
    POSTED = "posted"
    FAILED = "failed"  # given up (Trello refuses it as it is, or its card is gone)


@dataclass(frozen=True)
class OutboxReply:
    reply_id: str
    board_id: str
    card_id: str
    source_action_id: str
    kind: ReplyKind
    text: str
    status: ReplyStatus
    created_at: datetime
    attempted_at: datetime | None = None
    attempts: int = 0
    comment_id: str | None = None
    posted_at: datetime | None = None
    failure: str | None = None  # why a failed reply was given up


@dataclass(frozen=True)
class BoardRecord:
    board_id: str
    ref: str  # as configured: an id or a short link
    name: str
    checkpoint: Checkpoint | None
    flag: str | None  # why the board was last refused (mass-deletion guard...), or None


class LedgerStore(Protocol):
    def migrate(self) -> None:
        """Create or upgrade the schema (idempotent; each step and its record in one txn)."""
        ...

    def close(self) -> None: ...

    # --- boards ---------------------------------------------------------------------
    def board_for_ref(self, ref: str) -> BoardRecord | None: ...

    def remember_board(self, ref: str, board_id: str, name: str) -> None: ...

    def boards(self) -> list[BoardRecord]: ...

    def flag_board(self, board_id: str, reason: str | None) -> None:
        """Set (or clear, with None) the board's flag. Its own small transaction."""
        ...

    # --- the planner's view and the one commit ---------------------------------------
    def board_view(self, board_id: str) -> BoardView:
        """The whole board at once, every card whole (tests and copies read it so)."""
        ...

    def board_outline(self, board_id: str, comments_since: datetime | None) -> BoardView:
        """What a cycle reads before it knows which cards its actions touch: every card
        in outline (`CardOutline`), the command comments dated from `comments_since` on
        (all with None), the checkpoint, the reminders planned and the board's notes. The
        cycle then loads whole, with card_states, the cards it applies actions to.
        """
        ...

    def card_states(self, board_id: str, card_ids: Iterable[str]) -> dict[str, CardState]:
        """These cards as `board_view` gives them (the ones the ledger knows)."""
        ...

    def applied_versions(self, board_id: str, action_ids: Iterable[str]) -> set[tuple[str, str]]:
        """Which (action_id, version) pairs among these ids are already applied."""
        ...

    def url_for_another_process(self) -> str | None:
        """The URL another process opens this same ledger with (a long first sync commits
        in a writer process: ledger/writer.py); None when no other process can (an
        in-memory database). It holds the password: never log it."""
        ...

    def now(self) -> datetime:
        """The instant a commit made now stamps its rows with (the ledger's clock)."""
        ...

    def commit(self, board_id: str, plan: Plan, lease: Lease | None = None) -> None:
        """Write the whole plan in ONE transaction: entries (an existing entry id with the
        same content is skipped, with different content raises LedgerConflict and nothing
        is written), moves, cards (first seen wins), replies (an existing reply id is kept
        as is), applied actions, posted markers, and the checkpoint (never moved back).
        With a lease, the transaction first checks it is still held (else LeaseLost)."""
        ...

    # --- several workers ----------------------------------------------------------------
    def claim_boards(
        self, owner: str, keys: Iterable[str], lease_seconds: float, limit: int | None = None
    ) -> list[Lease]:
        """Claim (or renew) boards that are free, expired or already this owner's; at most
        `limit` new ones. Returns every lease the owner now holds among `keys`."""
        ...

    def renew_leases(self, held: Iterable[Lease], lease_seconds: float) -> list[Lease]:
        """Extend the leases still held (same owner, same fence, not expired)."""
        ...

    def release_leases(self, owner: str, keys: Iterable[str] | None = None) -> None:
        """Give up this owner's leases (all, or those keys) at once."""
        ...

    def live_owners(self) -> set[str]:
        """Owners holding at least one unexpired lease."""
        ...

    # --- the outbox ------------------------------------------------------------------
    def replies(
        self, board_id: str | None = None, status: str | None = None
    ) -> list[OutboxReply]: ...

    def mark_attempted(
        self,
        reply_id: str,
        at: datetime,
        lease: Lease | None = None,
        seen: OutboxReply | None = None,
    ) -> bool:
        """Record an attempt; with `seen`, only if the row is unchanged since it was read
        (compare-and-set on status and attempts). Returns whether it was recorded."""
        ...

    def mark_posted(self, reply_id: str, comment_id: str, at: datetime) -> None: ...

    def mark_failed(self, reply_id: str, reason: str, lease: Lease | None = None) -> None:
        """Give a reply up (Trello refuses it as it is, or its card is gone); a reply
        already posted stays posted."""
        ...

    # --- numbered documents and payments (append-only) ---------------------------------
    def issue_document(
        self, request: DocumentRequest, *, prefix: str, at: datetime
    ) -> IssuedDocument:
        """In ONE write transaction: the document already issued under `request.key`,
        unchanged (deciding twice issues once), or a new one numbered `prefix` + the
        mentor's next sequence number (`F-0001`, …): one continuous sequence per mentor,
        invoices and corrections alike, with no gap and no number reused, even with
        several workers issuing at once. LedgerError if it cannot be issued (a kind
        without a number, a number another mentor holds)."""
        ...

    def documents(
        self, mentor: str | None = None, month: str | None = None
    ) -> list[IssuedDocument]:
        """The documents issued (of that mentor, of that month), ordered by (mentor, seq)."""
        ...

    def record_payment(self, payment: Payment) -> None:
        """Record a payment received, or the reversal of one. LedgerError (nothing written)
        for a payment id already recorded, or a reversal of a payment unknown, already
        reversed, itself a reversal, or of which it is not the opposite."""
        ...

    def payments(self, mentor: str | None = None, month: str | None = None) -> list[Payment]:
        """The payments (of that mentor, for that month), ordered by (received_on,
        recorded_at, payment_id)."""
        ...

    # --- reading for exports, reports, checks -----------------------------------------
    def entries(self, board_id: str | None = None) -> Iterator[Entry]:
        """Every entry, ordered by (recorded_at, entry_id): deterministic."""
        ...

    def entries_by_session_date(self) -> Iterator[Entry]:
        """Every entry, ordered by (session_date, recorded_at, entry_id): the journals'
        order, streamed like `entries`."""
        ...

    def moves(self, board_id: str | None = None) -> list[StageMove]: ...

    def cards(self, board_id: str | None = None) -> list[CardRecord]: ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def swap_meta(self, key: str, expected: str | None, value: str) -> bool:
        """Compare-and-set, in one transaction: write `value` only if the key holds
        `expected` now (None: the key is absent). Whether it was written; of processes
        swapping from the same value at once, exactly one wins."""
        ...
