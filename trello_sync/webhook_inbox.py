"""Deliveries waiting for the worker's loop: bounded, coalesced per board, never lost.

The receiver's threads put each verified delivery here and answer Trello at once; the
worker's loop, woken by `ready`, takes everything pending and runs those boards' cycles.

Bounded whatever arrives, a flood included: one pending wake-up per watched board (a
thousand deliveries for one board make one cycle, never a thousand), and per board at
most `max_cards` cards whose comments changed. Past that, the board's open months are
re-read whole instead, which finds the same edits and deletions: a wake-up is merged,
never dropped. A delivery for a board that is not watched is not kept, and neither is
one that comes once the worker is stopping (the next start's poll reads the change).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from trello_sync.domain.webhooks import Delivery

# Cards with changed comments remembered per board before the whole open months are
# re-read instead (one request per card, against one paged read of the board's comments).
MAX_CARDS = 20


@dataclass(frozen=True)
class BoardWake:
    """What a board's cycle is asked to do on top of its poll."""

    cards: frozenset[str] = frozenset()  # cards whose comments were edited or deleted
    reread: bool = False  # too many such cards: the open months' comments are re-read


@dataclass
class _Pending:
    cards: set[str] = field(default_factory=set)
    reread: bool = False


class Inbox:
    def __init__(self, max_cards: int = MAX_CARDS) -> None:
        self._max_cards = max_cards
        self._lock = threading.Lock()
        self._watched: frozenset[str] = frozenset()
        self._pending: dict[str, _Pending] = {}
        # Set by each delivery kept (and by a stop signal): the worker's wait ends at once.
        self.ready = threading.Event()
        self.kept = 0  # deliveries kept since the start (for the logs and the tests)
        self._closed = False
        self._service_member: str | None = None

    def watch(self, board_ids: Iterable[str]) -> None:
        """The boards whose deliveries are kept from now on."""
        with self._lock:
            self._watched = frozenset(board.lower() for board in board_ids)

    def ignore_replies_by(self, member_id: str) -> None:
        """The member the service posts as: the delivery of a reply it just posted wakes
        no cycle (that cycle would only cost a request to find it recorded already)."""
        with self._lock:
            self._service_member = member_id.lower()

    @property
    def watched(self) -> frozenset[str]:
        with self._lock:
            return self._watched

    def put(self, delivery: Delivery) -> bool:
        """Keep what the delivery asks; False (nothing kept) for a board not watched."""
        with self._lock:
            if self._closed or delivery.board_id not in self._watched:
                return False
            if delivery.is_reply_of(self._service_member):
                return True  # taken, and nothing to do
            pending = self._pending.setdefault(delivery.board_id, _Pending())
            card = delivery.card_id
            if card is not None and not pending.reread and card not in pending.cards:
                if len(pending.cards) >= self._max_cards:
                    pending.reread, pending.cards = True, set()
                else:
                    pending.cards.add(card)
            self.kept += 1
        self.ready.set()
        return True

    def take(self) -> dict[str, BoardWake]:
        """Everything pending, board by board; the inbox is empty after it."""
        with self._lock:
            self.ready.clear()
            pending, self._pending = self._pending, {}
        return {
            board: BoardWake(frozenset(p.cards), p.reread) for board, p in sorted(pending.items())
        }

    def pending_boards(self) -> int:
        with self._lock:
            return len(self._pending)

    def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for a delivery (or `interrupt`); whether one came."""
        if seconds <= 0:
            return self.ready.is_set()
        return self.ready.wait(seconds)

    def close(self) -> None:
        """The worker is stopping: nothing more is kept (the receiver answers 503, so
        Trello tries the delivery again later) and the worker's wait ends now."""
        with self._lock:
            self._closed = True
        self.ready.set()

    @property
    def closed(self) -> bool:
        with self._lock:
            return self._closed
