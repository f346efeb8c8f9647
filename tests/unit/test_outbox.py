"""The outbox over the in-memory Trello and a real SQLite ledger: the lease and the
marker check decide every second attempt (RELIABILITY promise 2)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from trello_sync.clock import FakeClock
from trello_sync.domain.records import Plan
from trello_sync.domain.replies import make_reply
from trello_sync.ledger.open import open_ledger
from trello_sync.outbox import Outbox
from trello_sync.sandbox import SandboxState
from trello_sync.trello.fake import FakeTrello
from trello_sync.trello.port import PostOutcomeUnknown

START = datetime(2026, 11, 28, 12, tzinfo=UTC)


@pytest.fixture
def world(tmp_path):
    state = SandboxState(clock=lambda: START)
    state.add_member("camille", "Camille")
    token = state.add_token("camille")
    board = state.create_board("camille", "B")
    lst = state.create_list("camille", board["id"], "Active")
    card = state.create_card("camille", lst["id"], "Lea")
    clock = FakeClock(START)
    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.db'}", clock=clock)
    reply = make_reply(board["id"], card["id"], "a1", "recorded", "Session recorded")
    ledger.remember_board(board["id"], board["id"], "B")
    ledger.commit(board["id"], Plan(replies=(reply,)))
    yield state, FakeTrello(state, token), ledger, clock, reply
    ledger.close()


def marked(state, card_id, reply_id):
    return [
        a
        for a in state.card_actions(card_id, filter="commentCard", limit=1000)
        if reply_id in a["data"]["text"]
    ]


class LosesTheAnswer(FakeTrello):
    """Posts, then loses the answer: the POST was applied but the caller cannot know."""

    def post_comment(self, card_id, text):
        super().post_comment(card_id, text)
        raise PostOutcomeUnknown("read timeout")


def test_a_reply_is_posted_once_and_recorded(world):
    state, trello, ledger, clock, reply = world
    outbox = Outbox(trello, ledger, clock, lease_seconds=60)
    assert outbox.post_pending().posted == 1
    assert outbox.post_pending().posted == 0
    (posted,) = ledger.replies()
    assert posted.status == "posted"
    assert [a["id"] for a in marked(state, reply.card_id, reply.reply_id)] == [posted.comment_id]
    # The posted comment counts as applied: the next poll will not look at it again.
    assert (posted.comment_id, "") in ledger.applied_versions(reply.board_id, {posted.comment_id})


def test_a_lost_answer_waits_for_the_lease_then_finds_the_marker(world):
    state, trello, ledger, clock, reply = world
    lossy = LosesTheAnswer(state, trello._token)
    result = Outbox(lossy, ledger, clock, lease_seconds=60).post_pending()
    assert result.unknown == 1 and ledger.replies()[0].status == "attempted"

    outbox = Outbox(trello, ledger, clock, lease_seconds=60)
    clock.advance(30)
    assert outbox.post_pending().waiting == 1  # within the lease: left alone
    clock.advance(31)
    result = outbox.post_pending()
    assert (result.found_already_posted, result.posted) == (1, 0)
    assert len(marked(state, reply.card_id, reply.reply_id)) == 1
    assert ledger.replies()[0].status == "posted"


def test_an_attempt_that_never_reached_trello_is_posted_again_after_the_lease(world):
    state, trello, ledger, clock, reply = world
    ledger.mark_attempted(reply.reply_id, clock.now())  # as if the process died right here
    outbox = Outbox(trello, ledger, clock, lease_seconds=60)
    assert outbox.post_pending().waiting == 1
    clock.advance(61)
    assert outbox.post_pending().posted == 1
    assert len(marked(state, reply.card_id, reply.reply_id)) == 1
