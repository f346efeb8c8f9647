"""The only code that posts comments: each reply exactly once, across crashes and restarts.

Trello's comment POST has no idempotency key, so exactly-once is built here:
1. the reply row (derived id, text with its marker) was committed with the entries;
2. before the POST the row is marked `attempted` (committed), then the POST is sent;
3. its answer marks the row `posted`, with Trello's comment id, and records that comment
   as an applied action, so that the next poll does not even look at it again;
4. a row left `attempted` (crash, lost answer) is left alone for the reply lease, then
   the card's comments are read for its marker: found → posted; absent → posted again.
Any of our own comments seen while polling also marks its reply posted (the planner).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from trello_sync.clock import Clock
from trello_sync.crash import crash_point
from trello_sync.domain.actions import parse_instant
from trello_sync.domain.records import AppliedAction, Plan, PostedReply
from trello_sync.domain.replies import find_marker
from trello_sync.ledger.store import Lease, LedgerStore, OutboxReply
from trello_sync.trello.port import PostOutcomeUnknown, TrelloNotFound, TrelloPort

log = logging.getLogger(__name__)


@dataclass
class OutboxResult:
    posted: int = 0
    found_already_posted: int = 0
    waiting: int = 0  # attempted, lease not over yet
    unknown: int = 0  # POST answer lost this time
    card_gone: int = 0


class Outbox:
    def __init__(
        self, trello: TrelloPort, ledger: LedgerStore, clock: Clock, lease_seconds: int
    ) -> None:
        self._trello = trello
        self._ledger = ledger
        self._clock = clock
        self._lease = timedelta(seconds=lease_seconds)

    def post_pending(self, board_id: str | None = None, lease: Lease | None = None) -> OutboxResult:
        """Post what is due; with a lease, every write is fenced by it (LeaseLost stops)."""
        result = OutboxResult()
        for reply in self._ledger.replies(board_id):
            if reply.status in ("pending", "attempted"):
                self._post_one(reply, result, lease)
        return result

    def _post_one(self, reply: OutboxReply, result: OutboxResult, lease: Lease | None) -> None:
        now = self._clock.now()
        if reply.status == "attempted":
            if reply.attempted_at is not None and now - reply.attempted_at < self._lease:
                result.waiting += 1
                return
            try:
                existing = self._find_on_card(reply)
            except TrelloNotFound:
                result.card_gone += 1
                return
            if existing is not None:
                self._record(reply, existing, lease)
                result.found_already_posted += 1
                return
        if not self._ledger.mark_attempted(reply.reply_id, now, lease, seen=reply):
            # Another process claimed this reply since we read it: it posts, not us.
            result.waiting += 1
            return
        crash_point("before_post")
        try:
            comment = self._trello.post_comment(reply.card_id, reply.text)
        except PostOutcomeUnknown:
            # Maybe posted: the lease and the marker check decide, never a blind re-post.
            log.warning("reply %s: the answer to its POST was lost; checked later", reply.reply_id)
            result.unknown += 1
            return
        except TrelloNotFound:
            log.warning("reply %s: card %s is gone; not posted", reply.reply_id, reply.card_id)
            result.card_gone += 1
            return
        crash_point("after_post_before_record")
        self._record(reply, comment, lease)
        result.posted += 1

    def _find_on_card(self, reply: OutboxReply) -> dict[str, object] | None:
        for comment in self._trello.card_comments(reply.card_id):
            text = (comment.get("data") or {}).get("text") or ""
            if find_marker(text) == reply.reply_id:
                return comment
        return None

    def _record(self, reply: OutboxReply, comment: dict[str, object], lease: Lease | None) -> None:
        comment_id = str(comment.get("id"))
        at = parse_instant(str(comment.get("date"))) if comment.get("date") else self._clock.now()
        applied = AppliedAction(
            board_id=reply.board_id,
            action_id=comment_id,
            version="",
            card_id=reply.card_id,
            kind="comment",
            at=at,
        )
        self._ledger.commit(
            reply.board_id,
            Plan(applied=(applied,), posted=(PostedReply(reply.reply_id, comment_id),)),
            lease=lease,
        )
