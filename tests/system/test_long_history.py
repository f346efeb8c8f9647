"""A first sync of a long history: spooled to disk, planned and committed in chunks.

The real Syncer and HTTP client against the sandbox over HTTP, on each ledger backend.
The chunk sizes are tiny here so that a short history crosses many chunk boundaries;
the result must be the ledger a one-piece sync writes, byte for byte in the export, and
a sync that dies between two chunks must keep the chunks it committed and finish the
rest on the next run, with nothing twice.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from contract.trello_fixtures import http_client
from sandbox_board import BoardEnv

from trello_sync.clock import SystemClock
from trello_sync.domain.records import Plan
from trello_sync.export import export_ledger
from trello_sync.ledger.open import open_ledger
from trello_sync.ledger.sql import SqlLedger
from trello_sync.settings import load_settings
from trello_sync.sync import Syncer


class Died(BaseException):
    """The process dies (not an error the cycle would catch and report)."""


def build_history(board: BoardEnv) -> None:
    # Dan's first weeks, then many chunks without him: his card is cut down to a
    # skeleton, and his late undo and hand-off must still see all of his entries.
    board.student("Dan", active_days_ago=60)
    for day in (58, 57, 56, 55):
        board.comment("Dan", "/session", days_ago=day)
    board.comment("Dan", "/undo", days_ago=54)  # undoes the 55th-day session
    for k, name in enumerate(("Alice", "Bob", "Chloé")):
        board.student(name, active_days_ago=40 - k)
        for day in range(38 - k, 2, -3):
            board.comment(name, "/session" if day % 2 else "/noshow", days_ago=day)
    board.comment("Bob", "/undo", days_ago=2)
    board.comment("Dan", "/undo", days_ago=2.5)  # the 56th-day session, not nothing
    board.comment("Alice", "Notes: good progress", days_ago=2)
    board.move("Chloé", "Handed off", days_ago=1)
    board.move("Dan", "Handed off", days_ago=1.2)  # a reply with all of Dan's sessions


@contextmanager
def syncer(board: BoardEnv, url: str, chunk: int, spool: int) -> Iterator[Syncer]:
    settings = load_settings(
        boards=[board.board_id],
        mentors=["camille"],
        database_url=url,
        timezone="Europe/Paris",
        reply_history_days=3,
        token=board.mentor_token,
        api_url=board.server.url,
        api_key=board.state.api_key,
    )
    ledger = open_ledger(url)
    with http_client(board.server, board.mentor_token) as trello:
        sync = Syncer(settings, trello, ledger, SystemClock())
        sync.chunk_size, sync.spool_memory = chunk, spool
        try:
            yield sync
        finally:
            ledger.close()


def exported(ledger_url: str, folder: Path) -> dict[str, bytes]:
    with open_ledger(ledger_url) as ledger:
        paths = export_ledger(ledger.entries(), folder)
    return {path.name: path.read_bytes() for path in paths}


def replies_of(ledger_url: str) -> list[tuple[str, str]]:
    with open_ledger(ledger_url) as ledger:
        return sorted((reply.reply_id, reply.text) for reply in ledger.replies())


def second_ledger(board: BoardEnv) -> str:
    """A SQLite ledger beside the board's own (SQLite or PostgreSQL): the one-piece sync."""
    return f"sqlite:///{board.folder / 'one-piece.db'}"


def test_a_chunked_first_sync_writes_the_ledger_a_one_piece_sync_writes(board: BoardEnv) -> None:
    build_history(board)
    with syncer(board, board.ledger_url, chunk=4, spool=5) as chunked:
        commits: list[Plan] = []
        ledger = chunked._ledger
        assert isinstance(ledger, SqlLedger)
        original = ledger.commit
        ledger.commit = lambda board_id, plan, lease=None: (  # type: ignore[method-assign]
            commits.append(plan),
            original(board_id, plan, lease),
        )[1]
        [outcome] = chunked.sync_all(post=False)
    assert outcome.problem is None and outcome.first_sync
    checkpoints = [plan.checkpoint for plan in commits if plan.checkpoint]
    assert len(checkpoints) >= outcome.fetched // 4  # one commit per chunk of 4
    assert checkpoints == sorted(checkpoints, key=lambda c: (c.at, c.action_id))
    assert max(len(plan.applied) for plan in commits) <= 4

    with syncer(board, second_ledger(board), chunk=50_000, spool=20_000) as whole:
        [one_piece] = whole.sync_all(post=False)
    assert (one_piece.fetched, one_piece.entries, one_piece.replies_planned) == (
        outcome.fetched,
        outcome.entries,
        outcome.replies_planned,
    )
    assert outcome.entries > 20 and outcome.replies_planned >= 4
    assert exported(board.ledger_url, board.folder / "a") == exported(
        second_ledger(board), board.folder / "b"
    )
    replies = replies_of(board.ledger_url)
    assert replies == replies_of(second_ledger(board))
    # Dan's hand-off counts his four sessions less the two undone, years of chunks later.
    assert any("Mentorship summary for Dan" in t and "2 session(s)" in t for _, t in replies)


def test_a_first_sync_that_dies_between_chunks_keeps_them_and_finishes_next_time(
    board: BoardEnv,
) -> None:
    build_history(board)
    with syncer(board, board.ledger_url, chunk=5, spool=0) as first:
        ledger = first._ledger
        assert isinstance(ledger, SqlLedger)
        original, done = ledger.commit, []

        def commit_then_die(board_id: str, plan: Plan, lease: object = None) -> None:
            if len(done) == 3:
                raise Died()
            original(board_id, plan, lease)  # type: ignore[arg-type]
            done.append(plan)

        ledger.commit = commit_then_die  # type: ignore[method-assign]
        with pytest.raises(Died):
            first.sync_all(post=False)
    with open_ledger(board.ledger_url) as ledger:
        view = ledger.board_view(board.board_id)
        kept = sum(len(card.entries) for card in view.cards.values())
        assert view.checkpoint == done[-1].checkpoint  # the third chunk's end
        assert kept == sum(len(plan.entries) for plan in done) > 0

    with syncer(board, board.ledger_url, chunk=5, spool=0) as again:
        [outcome] = again.sync_all()
    assert outcome.problem is None and not outcome.first_sync
    assert outcome.outbox.posted >= 2  # the replies of the recent sessions, once each

    with syncer(board, second_ledger(board), chunk=50_000, spool=20_000) as whole:
        [clean] = whole.sync_all(post=False)
    assert clean.problem is None
    assert exported(board.ledger_url, board.folder / "a") == exported(
        second_ledger(board), board.folder / "b"
    )
    markers = [c for c in board.comments_with("[trello-sync ref:")]
    assert len({c["data"]["text"] for c in markers}) == len(markers)


def test_no_room_for_the_spool_is_the_boards_problem_and_changes_nothing(
    board: BoardEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A first sync decides its history slice by slice and spools nothing; a long absence
    # after it (more actions since the checkpoint than the spool holds in memory) does.
    board.student("Eve", active_days_ago=30)
    with syncer(board, board.ledger_url, chunk=4, spool=5) as sync:
        [first] = sync.sync_all()
    assert first.problem is None
    before = board.dump()
    build_history(board)
    monkeypatch.setattr(tempfile, "tempdir", str(board.folder / "no-such-folder"))
    with syncer(board, board.ledger_url, chunk=4, spool=5) as sync:
        [outcome] = sync.sync_all()
    assert outcome.problem is not None
    assert "could not create the temporary file of a long history" in outcome.problem
    assert "TMPDIR" in outcome.problem
    assert board.dump() == before
