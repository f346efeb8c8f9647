"""The outbox over the in-memory Trello and a real SQLite ledger: the lease and the
marker check decide every second attempt, so that every reply is posted once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from trello_sync.clock import FakeClock
from trello_sync.domain.records import Plan
from trello_sync.domain.replies import (
    MAX_COMMENT_LENGTH,
    find_marker,
    make_reply,
    marker,
    reply_id_for,
)
from trello_sync.ledger.open import open_ledger
from trello_sync.outbox import Outbox
from trello_sync.sandbox import SandboxState
from trello_sync.trello.fake import FakeTrello
from trello_sync.trello.port import PostOutcomeUnknown, TrelloRefused

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


class Refuses(FakeTrello):
    """Trello answers the POST with a 4xx: the comment as it is will never be accepted."""

    posts = 0

    def post_comment(self, card_id, text):
        Refuses.posts += 1
        raise TrelloRefused("HTTP 400: invalid value for text")


def test_a_reply_trello_refuses_is_given_up_once_and_never_sent_again(world, caplog):
    state, trello, ledger, clock, _ = world
    refusing = Refuses(state, trello._token)
    Refuses.posts = 0
    outbox = Outbox(refusing, ledger, clock, lease_seconds=60)
    result = outbox.post_pending()
    assert (result.refused, result.given_up, result.posted) == (1, 1, 0)
    (row,) = ledger.replies()
    assert row.status == "failed" and "HTTP 400" in (row.failure or "")
    assert "given up" in caplog.text and "\n" not in caplog.messages[-1]
    clock.advance(3600)
    assert outbox.post_pending() == type(result)()  # nothing left to do
    assert Refuses.posts == 1


def test_a_reply_whose_card_is_gone_is_given_up(world):
    state, trello, ledger, clock, reply = world
    state.delete_card("camille", reply.card_id)
    outbox = Outbox(trello, ledger, clock, lease_seconds=60)
    assert outbox.post_pending().card_gone == 1
    assert ledger.replies()[0].status == "failed"
    clock.advance(61)
    assert outbox.post_pending().card_gone == 0  # not asked of Trello again


def test_an_attempted_reply_whose_card_is_gone_is_given_up_after_the_lease(world):
    state, trello, ledger, clock, reply = world
    ledger.mark_attempted(reply.reply_id, clock.now())
    state.delete_card("camille", reply.card_id)
    clock.advance(61)
    outbox = Outbox(trello, ledger, clock, lease_seconds=60)
    assert outbox.post_pending().card_gone == 1
    assert ledger.replies()[0].status == "failed"


def test_a_reply_too_long_for_trello_is_shortened_and_keeps_its_marker(world):
    state, trello, ledger, clock, reply = world
    board_id, card_id = reply.board_id, reply.card_id
    # A row as an older version could write it: far longer than Trello takes.
    long_reply = replace(
        make_reply(board_id, card_id, "a2", "recorded", "x"),
        text="🤖 " + "y" * 20_000 + "\n\n" + marker(reply_id_for(board_id, "a2", "recorded")),
    )
    ledger.commit(board_id, Plan(replies=(long_reply,)))
    assert Outbox(trello, ledger, clock, lease_seconds=60).post_pending().posted == 2
    (posted,) = marked(state, card_id, long_reply.reply_id)
    assert len(posted["data"]["text"]) <= MAX_COMMENT_LENGTH
    assert find_marker(posted["data"]["text"]) == long_reply.reply_id
    assert {r.reply_id: r.status for r in ledger.replies()}[long_reply.reply_id] == "posted"


class BreaksOnce(FakeTrello):
    """A bug met on one reply (not a Trello error): the others must still be posted."""

    def post_comment(self, card_id, text):
        if "first" in text:
            raise KeyError("a bug")
        return super().post_comment(card_id, text)


def test_an_unexpected_error_on_one_reply_does_not_hold_back_the_others(world):
    state, trello, ledger, clock, reply = world
    board_id, card_id = reply.board_id, reply.card_id
    first = make_reply(board_id, card_id, "b1", "recorded", "first")
    second = make_reply(board_id, card_id, "b2", "recorded", "second")
    ledger.commit(board_id, Plan(replies=(first, second)))
    result = Outbox(BreaksOnce(state, trello._token), ledger, clock, 60).post_pending()
    assert (result.errors, result.posted) == (1, 2)
    statuses = {r.reply_id: r.status for r in ledger.replies()}
    assert statuses[first.reply_id] == "attempted"  # tried again after the lease
    assert statuses[second.reply_id] == statuses[reply.reply_id] == "posted"


def test_a_marker_copied_by_someone_else_does_not_count_as_posted(world):
    state, trello, ledger, clock, reply = world
    state.add_member("lea_student", "Léa")
    ledger.mark_attempted(reply.reply_id, clock.now())  # its POST may or may not have gone
    state.comment("lea_student", reply.card_id, f"copied {marker(reply.reply_id)}")
    camille = trello.me()["id"]
    clock.advance(61)
    outbox = Outbox(trello, ledger, clock, lease_seconds=60, author=lambda: camille)
    result = outbox.post_pending()
    assert (result.found_already_posted, result.posted) == (0, 1)
    ours = [
        a for a in marked(state, reply.card_id, reply.reply_id) if a["idMemberCreator"] == camille
    ]
    assert len(ours) == 1 and ledger.replies()[0].comment_id == ours[0]["id"]
