"""Golden files: the exports (and the replies) of fixed boards, byte for byte.

Each world is built from a fixed seed at a fixed instant, synced through the real HTTP
client against the sandbox over real HTTP (the simulator's seeds through the in-memory
Trello), into a real SQLite ledger, and exported. Its files must be exactly those under
`tests/golden/<world>/`: a restructuring of the code changes no byte of what mentors and
their accountants receive. When a change of behaviour is the point, regenerate them with

    TRELLO_SYNC_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/golden

and say so in the commit; the diff of the golden files shows what changed.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hostile_world import HOSTILE_MENTOR, MENTOR
from hostile_world import build as build_hostile_world
from journal_tools import check_exported_journals
from rich.console import Console
from sandbox_board import _board
from sim.history import make_scenario
from sim.runner import Run, reply_rows
from system.test_long_history import build_history

from trello_sync import commands
from trello_sync.app import open_app
from trello_sync.clock import FakeClock
from trello_sync.demo import run_demo
from trello_sync.ledger.open import open_ledger
from trello_sync.sandbox import SandboxServer
from trello_sync.settings import Settings, load_settings

HERE = Path(__file__).parent
UPDATE = os.environ.get("TRELLO_SYNC_UPDATE_GOLDEN") == "1"
PARIS = ZoneInfo("Europe/Paris")
# Every world's "now": a Friday afternoon, late enough in the month that the history
# spans two months (and the open-months window of edits and deletions).
NOW = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
# Seeds whose boards reach edits, deletions, hand-offs, the cap and undos.
SIM_SEEDS = (7, 18, 30, 46, 50)
# The journals' receivable when no [invoice] table names the client.
UNNAMED_RECEIVABLE = "Assets:Receivable:Client"


def replies_file(ledger_url: str) -> bytes:
    """Every reply of the outbox: what it says, on which card, and how it ended."""
    with open_ledger(ledger_url) as ledger:
        rows = [
            {
                "reply_id": r.reply_id,
                "card_id": r.card_id,
                "source_action_id": r.source_action_id,
                "kind": r.kind,
                "status": r.status,
                "text": r.text,
            }
            for r in ledger.replies()
        ]
    rows.sort(key=lambda row: row["reply_id"])
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows).encode()


def files_in(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def assert_golden(world: str, got: dict[str, bytes]) -> None:
    folder = HERE / world
    if UPDATE:
        folder.mkdir(exist_ok=True)
        for stale in folder.iterdir():
            stale.unlink()
        for name, data in got.items():
            (folder / name).write_bytes(data)
    want = files_in(folder)
    assert sorted(got) == sorted(want), f"{world}: other files than the golden ones"
    for name in want:
        assert got[name] == want[name], f"{world}/{name} differs from its golden file"


def sync_and_export(settings: Settings, clock: FakeClock, folder: Path) -> None:
    """As the CLI does it: `sync`, `sync` again (idle), then `export` (which re-reads)."""
    with open_app(settings, clock) as app:
        syncer = app.require_syncer()
        for _ in range(2):
            outcomes = syncer.sync_all()
            assert not [o.problem for o in outcomes if o.problem]
            clock.advance(60)
        assert commands.export(app, folder / "exports") == 0


@pytest.fixture
def logging_as_it_was() -> Iterator[None]:
    """The demo sets up the process's logging, as the CLI does: put it back afterwards,
    so that the tests after this one log as they expect."""
    root, ours = logging.getLogger(), logging.getLogger("trello_sync")
    handlers, levels = list(root.handlers), (root.level, ours.level)
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(levels[0])
    ours.setLevel(levels[1])


@pytest.mark.usefixtures("logging_as_it_was")
def test_the_demo(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    quiet = Console(file=io.StringIO(), width=120)
    assert run_demo(tmp_path, clock=clock, seed=7, tz=PARIS, console=quiet) == 0
    got = files_in(tmp_path / "exports")
    got["replies.jsonl"] = replies_file(f"sqlite:///{tmp_path / 'ledger.db'}")
    assert_golden("demo", got)
    check_exported_journals(tmp_path / "exports", "Assets:Receivable:PlateformeEducativeSAS")


def test_a_normal_board_beside_a_hostile_one(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    world = build_hostile_world(True, NOW.astimezone(PARIS).replace(hour=10), clock=clock.now)
    assert world.hostile is not None
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with SandboxServer(world.state, monotonic=clock.monotonic) as server:
        settings = load_settings(
            api_url=server.url,
            api_key=world.state.api_key,
            token=world.token,
            boards=[world.hostile, world.normal],
            database_url=url,
            export_dir=tmp_path / "exports",
            timezone="Europe/Paris",
            mentors=[MENTOR, HOSTILE_MENTOR],
        )
        sync_and_export(settings, clock, tmp_path)
    got = files_in(tmp_path / "exports")
    got["replies.jsonl"] = replies_file(url)
    assert_golden("hostile", got)
    check_exported_journals(tmp_path / "exports", UNNAMED_RECEIVABLE)


def test_a_long_history(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    for board in _board(
        tmp_path, url, seed=5, base=NOW, clock=clock.now, monotonic=clock.monotonic
    ):
        build_history(board)
        settings = load_settings(
            api_url=board.server.url,
            api_key=board.state.api_key,
            token=board.mentor_token,
            boards=[board.board_id],
            database_url=url,
            export_dir=tmp_path / "exports",
            timezone="Europe/Paris",
            mentors=[MENTOR],
            reply_history_days=3,
        )
        sync_and_export(settings, clock, tmp_path)
    got = files_in(tmp_path / "exports")
    got["replies.jsonl"] = replies_file(url)
    assert_golden("long-history", got)
    check_exported_journals(tmp_path / "exports", UNNAMED_RECEIVABLE)


@pytest.mark.parametrize("seed", SIM_SEEDS)
def test_a_simulated_board(seed: int, tmp_path: Path) -> None:
    replay = Run(make_scenario(seed), tmp_path, faulty=False)
    try:
        replay.execute()
        assert replay.ledger is not None
        got = replay.export()
        got["replies.json"] = json.dumps(reply_rows(replay.ledger), ensure_ascii=False).encode()
        check_exported_journals(replay.folder / "exports", UNNAMED_RECEIVABLE)
    finally:
        replay.close()
    assert_golden(f"sim-{seed}", got)
