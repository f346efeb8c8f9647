"""Board leases on every backend: one owner at a time, renewals, take-over after expiry,
and the fencing check that stops a late worker from writing over its successor."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from trello_sync.clock import FakeClock
from trello_sync.domain.records import Checkpoint, Plan
from trello_sync.domain.replies import make_reply
from trello_sync.ledger.open import open_ledger
from trello_sync.ledger.sql import SqlLedger
from trello_sync.ledger.store import LeaseLost

KEYS = ["b1", "b2", "b3", "b4"]


@pytest.fixture
def other(ledger_url: str, clock: FakeClock):
    """A second worker's handle on the same ledger, sharing the clock."""
    second = open_ledger(ledger_url, clock=clock)
    yield second
    second.close()


def test_each_board_has_one_owner_and_a_limit_spreads_them(ledger: SqlLedger, other):
    first = ledger.claim_boards("w1", KEYS, 60, limit=2)
    second = other.claim_boards("w2", KEYS, 60)
    assert sorted(lease.key for lease in first) == ["b1", "b2"]
    assert sorted(lease.key for lease in second) == ["b3", "b4"]
    assert ledger.live_owners() == {"w1", "w2"}
    # Renewing keeps the same fence; nothing new is taken beyond the limit.
    again = ledger.claim_boards("w1", KEYS, 60, limit=0)
    assert [(lease.key, lease.fence) for lease in again] == [(x.key, x.fence) for x in first]


def test_an_expired_lease_is_taken_over_and_the_late_worker_cannot_write(
    ledger: SqlLedger, other, clock: FakeClock
):
    (mine,) = ledger.claim_boards("w1", ["b1"], 60)
    assert other.claim_boards("w2", ["b1"], 60) == []
    clock.advance(61)
    (theirs,) = other.claim_boards("w2", ["b1"], 60)
    assert theirs.fence == mine.fence + 1

    at = datetime(2026, 11, 1, tzinfo=UTC)
    reply = make_reply("b1", "c1", "a1", "recorded", "hello")
    plan = Plan(replies=(reply,), checkpoint=Checkpoint("a1", at))
    with pytest.raises(LeaseLost):
        ledger.commit("b1", plan, lease=mine)
    assert ledger.replies() == [] and ledger.boards() == []
    other.commit("b1", plan, lease=theirs)
    with pytest.raises(LeaseLost):
        ledger.mark_attempted(reply.reply_id, clock.now(), lease=mine)
    assert ledger.replies()[0].status == "pending"


def test_a_lease_that_ran_out_without_a_successor_cannot_write_either(
    ledger: SqlLedger, clock: FakeClock
):
    (mine,) = ledger.claim_boards("w1", ["b1"], 30)
    clock.advance(31)
    with pytest.raises(LeaseLost, match="ran out"):
        ledger.commit("b1", Plan(checkpoint=Checkpoint("a1", clock.now())), lease=mine)
    (renewed,) = ledger.claim_boards("w1", ["b1"], 30)
    ledger.commit("b1", Plan(checkpoint=Checkpoint("a1", clock.now())), lease=renewed)


def test_a_clean_stop_releases_the_leases(ledger: SqlLedger, other):
    ledger.claim_boards("w1", KEYS, 60)
    ledger.release_leases("w1")
    assert len(other.claim_boards("w2", KEYS, 60)) == 4
    assert ledger.live_owners() == {"w2"}


def test_renewal_extends_only_leases_still_held(ledger: SqlLedger, other, clock: FakeClock):
    held = ledger.claim_boards("w1", ["b1", "b2"], 60)
    clock.advance(40)
    renewed = ledger.renew_leases(held, 60)
    assert [lease.key for lease in renewed] == ["b1", "b2"]
    clock.advance(40)  # 80 s after the claim, 40 s after the renewal: still held
    assert other.claim_boards("w2", ["b1", "b2"], 60) == []
    clock.advance(21)  # now expired: taken over, and the old lease cannot be renewed
    other.claim_boards("w2", ["b1"], 60)
    assert [lease.key for lease in ledger.renew_leases(renewed, 60)] == []


def test_a_released_board_keeps_its_fence_growing(ledger: SqlLedger, other):
    (first,) = ledger.claim_boards("w1", ["b1"], 60)
    ledger.release_leases("w1", ["b1"])
    (second,) = other.claim_boards("w2", ["b1"], 60)
    other.release_leases("w2")
    (third,) = ledger.claim_boards("w1", ["b1"], 60)
    assert first.fence < second.fence < third.fence
