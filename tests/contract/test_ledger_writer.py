"""The ledger writer process (ledger/writer.py) on every backend: the same commits as
the ledger's own, in order, its errors raised here as the same errors, and its end."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from test_ledger_contract import BOARD, at, entry, sample_plan

from trello_sync.clock import FakeClock
from trello_sync.domain.records import Checkpoint, Plan
from trello_sync.ledger.open import open_ledger
from trello_sync.ledger.sql import SqlLedger
from trello_sync.ledger.store import LedgerConflict, LedgerWriterStopped
from trello_sync.ledger.writer import ChunkCommits, LedgerWriter, pack_plan, unpack_plan

STAMP = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_a_plan_travels_as_tuples_and_arrives_the_same() -> None:
    plan = replace(sample_plan(), first_synced=STAMP, clear_flag=True)
    assert unpack_plan(pack_plan(plan)) == plan
    assert unpack_plan(pack_plan(Plan())) == Plan()


def test_the_writer_commits_what_the_ledger_itself_commits(
    ledger: SqlLedger, ledger_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    url = ledger.url_for_another_process()
    assert url == ledger_url
    writer = LedgerWriter(url)
    try:
        writer.submit(BOARD, sample_plan(), None, STAMP)
        writer.drain()
    finally:
        writer.close()
    assert writer_exit(writer) == 0  # it stopped at the end of its pipe
    by_writer = ledger.board_view(BOARD)
    # The same plan committed by the ledger itself, elsewhere, at the same instant.
    folder = tmp_path_factory.mktemp("in-process")
    with open_ledger(f"sqlite:///{folder / 'ledger.db'}", clock=FakeClock(STAMP)) as same:
        same.commit(BOARD, sample_plan())
        assert same.board_view(BOARD) == by_writer
        assert [r.created_at for r in same.replies()] == [r.created_at for r in ledger.replies()]
    assert {r.created_at for r in ledger.replies()} == {STAMP}  # stamped with our instant


def test_a_conflict_in_the_writer_is_a_conflict_here_and_nothing_more_is_sent(
    ledger: SqlLedger,
) -> None:
    url = ledger.url_for_another_process()
    assert url is not None
    first = Plan(entries=(entry("e1"),), checkpoint=Checkpoint("a1", at(1)))
    clash = Plan(entries=(entry("e1", amount_cents=1),), checkpoint=Checkpoint("a2", at(2)))
    writer = LedgerWriter(url)
    try:
        writer.submit(BOARD, first, None, STAMP)
        writer.submit(BOARD, clash, None, STAMP)  # returns: the first one is in
        with pytest.raises(LedgerConflict, match=r"entry e1 .*amount_cents"):
            writer.drain()
        with pytest.raises(LedgerWriterStopped, match="failed before"):
            writer.submit(BOARD, Plan(checkpoint=Checkpoint("a3", at(3))), None, STAMP)
    finally:
        writer.close()
    view = ledger.board_view(BOARD)
    assert view.checkpoint == Checkpoint("a1", at(1))  # the conflicting plan left nothing
    assert [e.amount_cents for card in view.cards.values() for e in card.entries] == [4000]


def test_a_writer_that_is_killed_is_one_error_with_its_exit_code(ledger: SqlLedger) -> None:
    url = ledger.url_for_another_process()
    assert url is not None
    writer = LedgerWriter(url)
    try:
        writer.submit(BOARD, sample_plan(), None, STAMP)
        writer.drain()
        writer._proc.kill()
        writer._proc.wait()
        with pytest.raises(LedgerWriterStopped, match=r"exit code -9\b.*committed before"):
            writer.submit(BOARD, Plan(checkpoint=Checkpoint("a9", at(9))), None, STAMP)
            writer.drain()
    finally:
        writer.close()
    assert ledger.board_view(BOARD).checkpoint == sample_plan().checkpoint


def test_an_in_memory_ledger_commits_in_this_process() -> None:
    with open_ledger("sqlite://", clock=FakeClock(STAMP)) as ledger:
        assert ledger.url_for_another_process() is None
        commits = ChunkCommits(ledger, None, ledger.now, aside_after=0)
        commits.commit(BOARD, sample_plan(), actions_so_far=10)
        assert commits._writer is None
        commits.close()
        assert ledger.board_view(BOARD).checkpoint == sample_plan().checkpoint


def writer_exit(writer: LedgerWriter) -> int | None:
    return writer._proc.returncode
