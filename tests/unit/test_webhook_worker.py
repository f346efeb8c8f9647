"""A board's cycle woken by a delivery (`Syncer.sync_woken`, `Worker.woken`): the real
Syncer over the in-memory Trello and a real SQLite ledger. The same cycle as a poll; an
edited or deleted command read from its card and corrected once, the hourly re-read
after it finding nothing; boards not synced here or held by another worker left alone;
the worker's wait ending at a delivery or a stop."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from test_worker import MENTOR, World, make_world, utc

from trello_sync.claims import BoardClaims
from trello_sync.clock import SystemClock
from trello_sync.domain.webhooks import Delivery, DeliveryKind
from trello_sync.webhook_inbox import BoardWake, Inbox
from trello_sync.worker import Worker, install_signal_handlers

OTHER_BOARD = "5f0000000000000000b0a4ff"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRELLO_SYNC_CONFIG", raising=False)
    made = make_world(tmp_path, utc(2026, 3, 27, 12))
    made.syncer.inner.sync_all()  # the first sync: every board has its checkpoint
    yield made
    made.ledger.close()


def board_id(world: World) -> str:
    return world.settings.boards[0]


def lea(world: World) -> str:
    return next(c["id"] for c in world.state.board_cards(board_id(world)) if c["name"] == "Lea")


def entries(world: World) -> list[tuple[str, int]]:
    return [(e.entry_id, e.amount_cents) for e in world.ledger.entries()]


def commands(world: World) -> list[dict[str, object]]:
    """Lea's command comments (not the service's replies), oldest first."""
    found = world.state.card_actions(lea(world), filter="commentCard", limit=100)
    return sorted((a for a in found if a["data"]["text"].startswith("/")), key=lambda a: a["date"])


def replies(world: World) -> list[str]:
    return sorted(r.kind for r in world.ledger.replies())


def test_a_woken_board_runs_the_same_cycle_as_a_poll(world: World):
    syncer = world.syncer.inner
    world.clock.advance(60)
    world.state.comment(MENTOR, lea(world), "/session 1h", at=world.clock.now())
    (outcome,) = syncer.sync_woken({board_id(world): BoardWake()})
    assert (outcome.applied, outcome.entries, outcome.outbox.posted) == (1, 1, 1)
    assert syncer.sync_woken({board_id(world): BoardWake()})[0].applied == 0  # once only
    assert syncer.sync_all()[0].applied == 0  # and the poll after it finds nothing new


def test_an_edited_command_is_read_from_its_card_and_corrected_once(world: World):
    syncer = world.syncer.inner
    card = lea(world)
    oldest = commands(world)[0]
    world.clock.advance(60)  # the comment is weeks old: far behind the polls' overlap
    world.state.edit_comment(MENTOR, oldest["id"], "/noshow", at=world.clock.now())
    assert syncer.sync_woken({board_id(world): BoardWake()})[0].entries == 0  # no card named
    before = len(entries(world))
    (outcome,) = syncer.sync_woken({board_id(world): BoardWake(cards=frozenset({card}))})
    assert (outcome.entries, outcome.outbox.posted) == (2, 1)  # a reversal, the new entry
    assert len(entries(world)) == before + 2 and "corrected" in replies(world)
    # The same delivery again, then the hourly re-read: nothing more.
    assert syncer.sync_woken({board_id(world): BoardWake(cards=frozenset({card}))})[0].entries == 0
    assert syncer.sync_all(force_reread=True)[0].entries == 0
    assert len(entries(world)) == before + 2


def test_a_deleted_command_is_reversed_from_its_card_read_again(world: World):
    syncer = world.syncer.inner
    card = lea(world)
    newest = commands(world)[-1]
    world.clock.advance(60)
    world.state.delete_comment(MENTOR, newest["id"], at=world.clock.now())
    (outcome,) = syncer.sync_woken({board_id(world): BoardWake(cards=frozenset({card}))})
    assert outcome.entries == 1 and outcome.outbox.posted == 1
    assert [amount for _, amount in entries(world) if amount < 0] == [-3000]
    assert "deleted" in replies(world)
    assert syncer.sync_all(force_reread=True)[0].entries == 0  # the re-read agrees


def test_boards_not_synced_here_or_held_by_another_worker_are_left_alone(
    world: World, caplog: pytest.LogCaptureFixture
):
    syncer = world.syncer.inner
    with caplog.at_level(logging.DEBUG, logger="trello_sync.sync"):
        assert syncer.sync_woken({OTHER_BOARD: BoardWake()}) == []
    assert "ignored: not synced here" in caplog.text
    # Another worker holds the board: this one only reads its own lease, claims nothing.
    theirs = BoardClaims(world.ledger, "host/1:111:aaaaaa", 60)
    ours = BoardClaims(world.ledger, "host/1:222:bbbbbb", 60)
    assert set(theirs.claim(world.settings.boards)) == set(world.settings.boards)
    syncer._claims = ours
    before = entries(world)
    world.state.comment(MENTOR, lea(world), "/session", at=world.clock.now())
    with caplog.at_level(logging.DEBUG, logger="trello_sync.sync"):
        assert syncer.sync_woken({board_id(world): BoardWake()}) == []
    assert "another worker holds it" in caplog.text
    assert entries(world) == before
    theirs.release()
    assert set(ours.claim(world.settings.boards)) == set(world.settings.boards)
    assert syncer.sync_woken({board_id(world): BoardWake()})[0].entries == 1


def test_the_worker_counts_woken_cycles_apart_from_its_polls(world: World):
    worker = Worker(world.settings, world.syncer.inner, world.ledger, world.clock)
    world.clock.advance(60)
    world.state.comment(MENTOR, lea(world), "/session", at=world.clock.now())
    assert len(worker.woken({board_id(world): BoardWake()})) == 1
    text = worker.metrics.text().decode()
    assert "trello_sync_webhook_cycles_total 1.0" in text
    assert "trello_sync_entries_total 1.0" in text
    assert worker.cycles == 0  # not a poll cycle
    assert worker.woken({OTHER_BOARD: BoardWake()}) == []


def test_the_wait_between_jobs_ends_at_a_delivery(world: World):
    stop = threading.Event()
    inbox = Inbox()
    inbox.watch([board_id(world)])
    clock = SystemClock(stop)
    worker = Worker(world.settings, world.syncer.inner, world.ledger, clock, stop=stop, inbox=inbox)
    world.state.comment(MENTOR, lea(world), "/session 1h", at=clock.now() - timedelta(seconds=1))
    finished = threading.Event()
    thread = threading.Thread(target=lambda: (worker.run(), finished.set()))
    thread.start()
    try:
        # The poll interval is an hour: only the delivery can bring the entry in.
        def has_entry() -> bool:
            return any(
                e.amount_cents == 3000 and e.duration_minutes == 60 for e in world.ledger.entries()
            )

        inbox.put(
            Delivery(
                board_id(world), "5f00000000000000000ac001", "commentCard", DeliveryKind.ACTION
            )
        )
        deadline = threading.Event()
        for _ in range(200):
            if has_entry():
                break
            deadline.wait(0.05)
        assert has_entry(), "the delivery woke no cycle"
    finally:
        stop.set()
        inbox.close()
        assert finished.wait(10), "the worker slept through its stop"
        thread.join()


def test_a_stop_signal_also_closes_the_inbox():
    stop, inbox = threading.Event(), Inbox()
    restore = install_signal_handlers(stop, also=inbox.close)
    try:
        signal.raise_signal(signal.SIGTERM)
    finally:
        restore()
    assert stop.is_set() and inbox.closed and inbox.wait(0)
