"""A board full of hostile and odd input beside a normal board: the normal board's books,
replies and exports come out exactly as they do without it, and the hostile board itself
gets refusals and bounded, inert replies, once each, and a checkpoint past all of it.

Both runs build the same sandbox from the same seed and history (so the normal board has
the same ids in both), drive the real CLI in a subprocess over real HTTP, and write a
real ledger on each backend.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from backends import BACKENDS, make_ledger_url
from hostile_world import HOSTILE_MENTOR, MENTOR, World, build, today_at_ten

from trello_sync.domain.replies import MARKER_PATTERN
from trello_sync.sandbox import SandboxServer

TRELLO_MAX_COMMENT = 16_384
# Computed once: both runs must build the very same history.
BASE = today_at_ten()


# --- running the product ---------------------------------------------------------------


def cli(world: World, folder: Path, ledger_url: str, url: str, *args: str):
    boards = [b for b in (world.hostile, world.normal) if b]  # the hostile one first
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLO")}
    env.update(
        {
            "TRELLO_SYNC_API_URL": url,
            "TRELLO_API_KEY": world.state.api_key,
            "TRELLO_TOKEN": world.token,
            "TRELLO_SYNC_BOARDS": ",".join(boards),
            "TRELLO_SYNC_DATABASE_URL": ledger_url,
            "TRELLO_SYNC_EXPORT_DIR": str(folder / "exports"),
            "TRELLO_SYNC_TIMEZONE": "Europe/Paris",
            "TRELLO_SYNC_MENTORS": f"{MENTOR},{HOSTILE_MENTOR}",
            "TRELLO_SYNC_CONFIG": str(folder / "none.toml"),
        }
    )
    (folder / "none.toml").write_text("")
    return subprocess.run(
        [sys.executable, "-m", "trello_sync", *args],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )


@dataclass
class Run:
    world: World
    sync: subprocess.CompletedProcess[str]
    again: subprocess.CompletedProcess[str]
    export: subprocess.CompletedProcess[str]
    folder: Path
    requests_again: int

    def replies_on(self, card_ids: list[str]) -> list[str]:
        texts = []
        for card_id in card_ids:
            for action in self.world.state.card_actions(card_id, filter="commentCard", limit=1000):
                text = action["data"]["text"]
                if action["memberCreator"]["username"] == MENTOR and MARKER_PATTERN.search(text):
                    texts.append(text)
        return sorted(texts)

    def csv_rows(self, name: str) -> list[dict[str, str]]:
        with open(self.folder / "exports" / name, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))

    def statement_names(self) -> list[str]:
        return sorted(p.name for p in (self.folder / "exports").glob("statement-*.csv"))

    def jsonl_lines(self) -> list[str]:
        return (self.folder / "exports" / "ledger.jsonl").read_text("utf-8").splitlines()


def run(backend: str, folder: Path, with_hostile: bool) -> Iterator[Run]:
    folder.mkdir()
    world = build(with_hostile, BASE)
    for ledger_url in make_ledger_url(backend, folder):
        with SandboxServer(world.state) as server:
            sync = cli(world, folder, ledger_url, server.url, "sync")
            before = len(server.log.entries())
            again = cli(world, folder, ledger_url, server.url, "sync")
            requests_again = len(server.log.entries()) - before
            export = cli(world, folder, ledger_url, server.url, "export")
            yield Run(world, sync, again, export, folder, requests_again)


# Once per backend for the whole module: the tests below only read what the runs did.
@pytest.fixture(scope="module", params=BACKENDS)
def runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Run, Run]]:
    tmp_path = tmp_path_factory.mktemp("hostile")
    for plain in run(request.param, tmp_path / "plain", with_hostile=False):
        for hostile in run(request.param, tmp_path / "hostile", with_hostile=True):
            yield plain, hostile


def test_a_hostile_board_leaves_the_normal_boards_books_exactly_as_they_are(
    runs: tuple[Run, Run],
) -> None:
    plain, hostile = runs
    for result in (plain.sync, plain.again, plain.export, hostile.sync, hostile.again):
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    assert hostile.export.returncode == 0, hostile.export.stderr
    assert "NOT SYNCED" not in hostile.sync.stdout

    normal = plain.world.normal
    assert hostile.world.normal == normal  # the same ids: the same history
    # The normal board's rows of the ledger export, byte for byte and in order.
    assert [r for r in hostile.csv_rows("ledger.csv") if r["board_id"] == normal] == (
        plain.csv_rows("ledger.csv")
    )
    assert [line for line in hostile.jsonl_lines() if f'"board_id":"{normal}"' in line] == (
        plain.jsonl_lines()
    )
    assert len(plain.csv_rows("ledger.csv")) == 8  # 7 entries and an undo's reversal
    # Its mentor's statements are the same files' rows (the hostile board has its own mentor).
    for statement in sorted((plain.folder / "exports").glob("statement-*.csv")):
        mine = [r for r in hostile.csv_rows(statement.name) if r["mentor"] == MENTOR]
        assert mine == plain.csv_rows(statement.name)
    # And the replies posted on its cards are the same texts.
    assert hostile.replies_on(hostile.world.normal_cards) == plain.replies_on(
        plain.world.normal_cards
    )
    assert len(plain.replies_on(plain.world.normal_cards)) >= 9


def test_every_hostile_command_gets_one_bounded_inert_reply_and_the_checkpoint_passes_it(
    runs: tuple[Run, Run],
) -> None:
    _, hostile = runs
    world = hostile.world
    replies = hostile.replies_on(world.hostile_cards)
    for text in replies:
        assert len(text) <= TRELLO_MAX_COMMENT
        assert len(MARKER_PATTERN.findall(text)) == 1, text[:300]
        body = text[: MARKER_PATTERN.search(text).start()]  # type: ignore[union-attr]
        assert not re.search(r"@\w", body), body[:300]  # no one is mentioned
        for link in ("](", "://", "www.", "<b>", "**"):
            assert link not in body, (link, body[:300])
    # Every command comment got exactly one reply: recorded or refused (the comment
    # edited into plain text before the first sync is plain text, so it gets none).
    refused = [r for r in replies if "Nothing recorded" in r]
    recorded = [r for r in replies if r.startswith("🤖 Session recorded: ")]
    assert (len(refused), len(recorded), len(replies)) == (8, 8, 16), replies
    # The second sync found nothing to do: no change on either board, and no request
    # beyond the idle polls (batched: one request for both boards).
    lines = hostile.again.stdout.splitlines()
    assert [line.split(":", 1)[1] for line in lines] == [" no change", " no change"], lines
    assert hostile.requests_again <= 2, hostile.again.stdout


def test_hostile_text_reaches_the_books_bounded_and_is_exported_as_written(
    runs: tuple[Run, Run],
) -> None:
    _, hostile = runs
    rows = [r for r in hostile.csv_rows("ledger.csv") if r["board_id"] == hostile.world.hostile]
    by_student: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_student.setdefault(row["student"][:20], []).append(row)
    # The mention card's session is in the books under the name as the board shows it.
    assert any(r["student"].startswith("Farid @board") for r in rows)
    # "2h 45m" is one duration of 165 minutes.
    assert any(r["duration_minutes"] == "165" for r in rows)
    # The label "Level 999…" is no level: the card is paid at its project's level.
    levels = {r["level"] for r in rows}
    assert levels <= {"1", "2", "3"}
    # Omar's two understood sessions are recorded (the one with control characters in
    # its note, and "2h 45m"); the refused ones and the one edited away are not.
    omar = [r for r in rows if r["student"] == "Omar"]
    assert sorted((r["duration_minutes"], r["amount"]) for r in omar) == [
        ("", "35.00"),
        ("165", "35.00"),
    ]
    # A name or note that a spreadsheet would run as a formula is text in the CSV files,
    # and exactly as written in JSON Lines.
    (formula,) = [r for r in rows if "HYPERLINK" in r["student"]]
    assert formula["student"] == '\'=HYPERLINK("http://evil.invalid","pay")'
    assert formula["note"] == "'-2+3 @SUM(A1)"
    assert any('"student":"=HYPERLINK(' in line for line in hostile.jsonl_lines())
    statement_cells = [
        cell
        for name in hostile.statement_names()
        for row in hostile.csv_rows(name)
        for cell in row.values()
    ]
    assert '\'=HYPERLINK("http://evil.invalid","pay")' in statement_cells
    assert not any(cell.startswith(("=", "+", "@")) for cell in statement_cells)
