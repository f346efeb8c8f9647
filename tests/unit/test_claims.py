"""Sharing boards between workers: fair shares, a newcomer gets its part, a dead
neighbour on this host is released at once, a stop releases everything."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from trello_sync.claims import BoardClaims, new_owner_id
from trello_sync.clock import FakeClock
from trello_sync.ledger.open import open_ledger

BOARDS = [f"board{i}" for i in range(6)]


@pytest.fixture
def ledgers(tmp_path):
    clock = FakeClock(datetime(2026, 11, 28, 12, tzinfo=UTC))
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    opened = [open_ledger(url, clock=clock) for _ in range(3)]
    yield opened, clock
    for ledger in opened:
        ledger.close()


def test_a_newcomer_gets_its_share_at_the_next_cycles(ledgers):
    (one, two, _), _clock = ledgers
    first = BoardClaims(one, "hostA:1:aa", 60)
    assert sorted(first.claim(BOARDS)) == BOARDS  # alone: everything
    second = BoardClaims(two, "hostB:2:bb", 60)
    assert second.claim(BOARDS) == {}  # nothing free yet, but it is now seen
    assert len(first.claim(BOARDS)) == 3  # gives back what is beyond its share
    assert len(second.claim(BOARDS)) == 3
    assert set(first.claim(BOARDS)).isdisjoint(second.claim(BOARDS))


def test_a_dead_worker_keeps_its_boards_until_its_lease_runs_out(ledgers):
    (one, two, _), clock = ledgers
    BoardClaims(one, "elsewhere:1:aa", 60).claim(BOARDS)  # then dies without releasing
    survivor = BoardClaims(two, "hostB:2:bb", 60)
    assert survivor.claim(BOARDS) == {}
    clock.advance(61)
    assert sorted(survivor.claim(BOARDS)) == BOARDS


def test_a_dead_process_on_this_host_is_released_at_once(ledgers):
    (one, two, _), _clock = ledgers
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_owner = new_owner_id().replace(f":{os.getpid()}:", f":{gone.stdout.strip()}:")
    BoardClaims(one, dead_owner, 600).claim(BOARDS)
    restarted = BoardClaims(two, new_owner_id(), 600)
    assert sorted(restarted.claim(BOARDS)) == BOARDS


def test_a_stop_releases_everything(ledgers):
    (one, two, _), _clock = ledgers
    first = BoardClaims(one, "hostA:1:aa", 60)
    first.claim(BOARDS)
    first.release()
    assert one.live_owners() == set()
    assert sorted(BoardClaims(two, "hostB:2:bb", 60).claim(BOARDS)) == BOARDS


def test_renewal_keeps_the_boards_past_the_first_lease(ledgers):
    (one, two, _), clock = ledgers
    first = BoardClaims(one, "hostA:1:aa", 60)
    first.claim(BOARDS)
    for _ in range(5):
        clock.advance(30)
        first.renew()
    assert BoardClaims(two, "hostB:2:bb", 60).claim(BOARDS) == {}
