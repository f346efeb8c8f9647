"""The only code that posts comments: each reply exactly once, across crashes and restarts.

Trello's comment POST has no idempotency key, so exactly-once is built here:
1. the reply row (derived id, text with its marker) was committed with the entries;
2. before the POST the row is marked `attempted` (committed), then the POST is sent;
3. its answer marks the row `posted`, with Trello's comment id, and records that comment
   as an applied action, so that the next poll does not even look at it again;
4. a row left `attempted` (crash, lost answer) is left alone for the reply lease, then
   the card's comments are read for its marker: found → posted; absent → posted again.
Any of our own comments seen while polling also marks its reply posted (the planner).

A reply is never tried for ever: one that Trello refuses as it is (a 4xx other than
401/404/429), or whose card is gone, is given up (`failed`, with the reason), logged and
counted; a text too long for Trello is shortened first, its marker kept. An unexpected
error on one reply is logged and the others are still posted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from trello_sync.clock import Clock
from trello_sync.crash import crash_point
from trello_sync.domain.actions import parse_instant
from trello_sync.domain.records import AppliedAction, Plan, PostedReply
from trello_sync.domain.replies import find_marker, fit_comment
from trello_sync.ledger.store import Lease, LeaseLost, LedgerStore, OutboxReply, ReplyStatus
from trello_sync.trello.port import (
    PostOutcomeUnknown,
    TrelloError,
    TrelloNotFound,
    TrelloPort,
    TrelloRefused,
)

log = logging.getLogger(__name__)


@dataclass
class OutboxResult:
    posted: int = 0
    found_already_posted: int = 0
    waiting: int = 0  # attempted, lease not over yet
    unknown: int = 0  # POST answer lost this time
    card_gone: int = 0  # given up: the card is gone
    refused: int = 0  # given up: Trello refused the comment as it is
    errors: int = 0  # an unexpected error this time; tried again later

    @property
    def given_up(self) -> int:
        return self.card_gone + self.refused


class Outbox:
    def __init__(
        self,
        trello: TrelloPort,
        ledger: LedgerStore,
        clock: Clock,
        lease_seconds: int,
        *,
        author: Callable[[], str] | None = None,
    ) -> None:
        # Who the service posts as: a comment carrying a reply's marker proves the reply
        # posted only when that member wrote it (anyone can copy a marker). Asked only
        # when a marker check is needed; None trusts any author (a board of one member).
        self._author = author
        self._trello = trello
        self._ledger = ledger
        self._clock = clock
        self._lease = timedelta(seconds=lease_seconds)

    def post_pending(self, board_id: str | None = None, lease: Lease | None = None) -> OutboxResult:
        """Post what is due; with a lease, every write is fenced by it (LeaseLost stops)."""
        result = OutboxResult()
        for reply in self._ledger.replies(board_id):
            if reply.status not in (ReplyStatus.PENDING, ReplyStatus.ATTEMPTED):
                continue
            try:
                self._post_one(reply, result, lease)
            except (TrelloError, LeaseLost):
                raise  # Trello or the lease is the problem: the next replies would fail too
            except Exception as error:  # one reply's bug must not hold back the others
                log.error(
                    "reply %s: unexpected error, tried again later: %s: %s",
                    reply.reply_id,
                    type(error).__name__,
                    error,
                    exc_info=log.isEnabledFor(logging.DEBUG),
                )
                result.errors += 1
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
                self._give_up(reply, "the card is gone", lease)
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
            # Rows written before replies were bounded may be too long for Trello.
            comment = self._trello.post_comment(reply.card_id, fit_comment(reply.text))
        except PostOutcomeUnknown:
            # Maybe posted: the lease and the marker check decide, never a blind re-post.
            log.warning("reply %s: the answer to its POST was lost; checked later", reply.reply_id)
            result.unknown += 1
            return
        except TrelloNotFound:
            self._give_up(reply, f"card {reply.card_id} is gone", lease)
            result.card_gone += 1
            return
        except TrelloRefused as error:
            self._give_up(reply, f"Trello refused it: {error}", lease)
            result.refused += 1
            return
        crash_point("after_post_before_record")
        self._record(reply, comment, lease)
        result.posted += 1

    def _give_up(self, reply: OutboxReply, reason: str, lease: Lease | None) -> None:
        log.warning("reply %s on card %s given up: %s", reply.reply_id, reply.card_id, reason)
        self._ledger.mark_failed(reply.reply_id, reason, lease)

    def _find_on_card(self, reply: OutboxReply) -> dict[str, object] | None:
        author = self._author() if self._author is not None else None
        for comment in self._trello.card_comments(reply.card_id):
            text = (comment.get("data") or {}).get("text") or ""
            if find_marker(text) != reply.reply_id:
                continue
            if author is None or comment.get("idMemberCreator") == author:
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
