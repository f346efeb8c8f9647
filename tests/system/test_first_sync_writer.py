"""A long first sync commits its later chunks in a writer process (ledger/writer.py).

The real Syncer and HTTP client against the sandbox over HTTP, on each ledger backend,
with tiny chunks and the writer taking over after 8 actions, so that a short history
crosses the switch: the ledger is the one an in-process sync writes, byte for byte in
the export, and a writer that dies mid-commit keeps the chunks committed before it and
is the board's problem, which the next run finishes."""

from __future__ import annotations

from typing import Any

import pytest
from sandbox_board import BoardEnv
from test_long_history import build_history, exported, replies_of, second_ledger, syncer

from trello_sync.ledger.open import open_ledger
from trello_sync.ledger.writer import LedgerWriter

ASIDE_AFTER = 8  # actions committed in this process before the writer takes over


def writer_commits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The entries of each plan handed to a writer, as they are."""
    sent: list[int] = []
    original = LedgerWriter.submit

    def submit(self: LedgerWriter, board_id: str, plan: Any, lease: Any, now: Any) -> None:
        sent.append(len(plan.entries))
        original(self, board_id, plan, lease, now)

    monkeypatch.setattr(LedgerWriter, "submit", submit)
    return sent


def test_the_writer_writes_the_ledger_an_in_process_first_sync_writes(
    board: BoardEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_history(board)
    sent = writer_commits(monkeypatch)
    with syncer(board, board.ledger_url, chunk=4, spool=5) as aside:
        aside.commit_aside_after = ASIDE_AFTER
        [outcome] = aside.sync_all(post=False)
    assert outcome.problem is None and outcome.first_sync
    assert len(sent) >= 5 and sum(sent) > 0  # most chunks went through the writer
    handed = len(sent)
    with syncer(board, second_ledger(board), chunk=4, spool=5) as here:
        here.commit_aside_after = 10**9  # never
        [same] = here.sync_all(post=False)
    assert same.problem is None and len(sent) == handed
    assert (same.fetched, same.entries, same.replies_planned) == (
        outcome.fetched,
        outcome.entries,
        outcome.replies_planned,
    )
    assert exported(board.ledger_url, board.folder / "a") == exported(
        second_ledger(board), board.folder / "b"
    )
    assert replies_of(board.ledger_url) == replies_of(second_ledger(board))
    with open_ledger(board.ledger_url) as ours, open_ledger(second_ledger(board)) as theirs:
        assert ours.board_view(board.board_id).checkpoint == (
            theirs.board_view(board.board_id).checkpoint
        )


def test_a_writer_that_dies_mid_commit_keeps_what_it_committed_and_the_next_run_finishes(
    board: BoardEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_history(board)
    sent = writer_commits(monkeypatch)
    # The writer inherits the environment: it dies (os._exit(137)) inside its second
    # commit, after the entries are written and before the checkpoint is.
    monkeypatch.setenv("TRELLO_SYNC_CRASH_AT", "mid_commit:2")
    with syncer(board, board.ledger_url, chunk=4, spool=5) as first:
        first.commit_aside_after = ASIDE_AFTER
        [outcome] = first.sync_all(post=False)
    assert outcome.problem is not None
    assert "ledger writer process stopped (exit code 137)" in outcome.problem
    assert len(sent) >= 2
    monkeypatch.delenv("TRELLO_SYNC_CRASH_AT")
    with open_ledger(board.ledger_url) as ledger:
        view = ledger.board_view(board.board_id)
    # Two chunks of 4 committed here, one by the writer: 12 actions, with their
    # checkpoint; of its second chunk, nothing.
    assert board.sql("SELECT count(*) FROM applied_actions") == [(12,)]
    assert view.checkpoint is not None
    assert sum(len(card.entries) for card in view.cards.values()) > 0

    with syncer(board, board.ledger_url, chunk=4, spool=5) as again:
        [done] = again.sync_all(post=False)
    assert done.problem is None and not done.first_sync
    with syncer(board, second_ledger(board), chunk=50_000, spool=20_000) as whole:
        [clean] = whole.sync_all(post=False)
    assert clean.problem is None
    assert exported(board.ledger_url, board.folder / "a") == exported(
        second_ledger(board), board.folder / "b"
    )
    assert replies_of(board.ledger_url) == replies_of(second_ledger(board))
