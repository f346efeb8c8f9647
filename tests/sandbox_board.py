"""A mentor's board on the sandbox for the system tests: the real CLI in a subprocess,
the sandbox over real HTTP, and a ledger on each backend in turn."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from backends import BACKENDS, make_ledger_url
from sqlalchemy import inspect, select, text

from trello_sync.ledger import schema
from trello_sync.ledger.open import create_ledger_engine, open_ledger
from trello_sync.ledger.sql import SqlLedger
from trello_sync.sandbox import SandboxServer, SandboxState

TZ = ZoneInfo("Europe/Paris")
MENTOR = "camille"
STUDENT = "lea_student"
STAGE_LISTS = ("Waiting", "Active", "Paused", "Handed off")


@dataclass
class BoardEnv:
    state: SandboxState
    server: SandboxServer
    folder: Path
    board_id: str
    mentor_token: str
    student_token: str
    lists: dict[str, str]
    ledger_url: str
    cards: dict[str, str] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    base: datetime | None = None  # "now" for the history; the real clock if None

    # --- building the board's history -------------------------------------------------
    def days_ago(self, days: float, hour: int = 10) -> datetime:
        now = (self.base or datetime.now(UTC)).astimezone(TZ)
        local = now.replace(hour=hour, minute=0, second=0, microsecond=0)
        return (local - timedelta(days=days)).astimezone(UTC)

    def student(self, name: str, *, project: str | None = None, active_days_ago: float = 9) -> str:
        card = self.state.create_card(
            MENTOR,
            self.lists["Waiting"],
            name,
            desc=f"Project: {project}" if project else "",
            at=self.days_ago(active_days_ago + 1),
        )
        self.cards[name] = card["id"]
        self.state.move_card(
            MENTOR, card["id"], self.lists["Active"], at=self.days_ago(active_days_ago)
        )
        return str(card["id"])

    def comment(self, name: str, text: str, *, days_ago: float = 1, by: str = MENTOR) -> str:
        action = self.state.comment(by, self.cards[name], text, at=self.days_ago(days_ago, 18))
        return str(action["id"])

    def move(self, name: str, list_name: str, *, days_ago: float = 0.5) -> None:
        self.state.move_card(
            MENTOR, self.cards[name], self.lists[list_name], at=self.days_ago(days_ago)
        )

    # --- running the product ----------------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("TRELLO")}
        base.update(
            {
                "TRELLO_SYNC_API_URL": self.server.url,
                "TRELLO_API_KEY": self.state.api_key,
                "TRELLO_TOKEN": self.mentor_token,
                "TRELLO_SYNC_BOARDS": self.board_id,
                "TRELLO_SYNC_DATABASE_URL": self.ledger_url,
                "TRELLO_SYNC_EXPORT_DIR": str(self.folder / "exports"),
                "TRELLO_SYNC_TIMEZONE": "Europe/Paris",
                "TRELLO_SYNC_CONFIG": str(self.folder / "trello-sync.toml"),
                "COLUMNS": "200",
            }
        )
        base.update(self.extra_env)
        return base

    def cli(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "trello_sync", *args],
            env={**self.env, **(env or {})},
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def ledger(self) -> SqlLedger:
        return open_ledger(self.ledger_url)

    def ledger_created(self) -> bool:
        """Whether any command has created the ledger yet (file or tables)."""
        if self.ledger_url.startswith("sqlite"):
            return (self.folder / "ledger.db").exists()
        engine = create_ledger_engine(self.ledger_url)
        try:
            return inspect(engine).has_table("schema_version")
        finally:
            engine.dispose()

    def sql(self, statement: str, **params: Any) -> list[tuple[Any, ...]]:
        """Raw SQL on the ledger (committed), on whichever backend the test runs."""
        engine = create_ledger_engine(self.ledger_url)
        try:
            with engine.begin() as conn:
                result = conn.execute(text(statement), params)
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            engine.dispose()

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of the books, in a fixed order: to prove that nothing was written.

        Leaves out `board_leases`: which process holds which board is coordination
        between workers (every command claims and releases its boards), not bookkeeping.
        """
        engine = create_ledger_engine(self.ledger_url)
        try:
            with engine.connect() as conn:
                return {
                    table.name: [
                        tuple(row) for row in conn.execute(select(table).order_by(*table.c))
                    ]
                    for table in schema.metadata.sorted_tables
                    if table.name != "board_leases"
                }
        finally:
            engine.dispose()

    def api_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.server.log.entries() if str(r.get("path", "")).startswith("/1/")]

    def comments_with(self, needle: str) -> list[dict[str, Any]]:
        found = []
        for card_id in self.cards.values():
            for action in self.state.card_actions(card_id, filter="commentCard", limit=1000):
                if needle in action["data"]["text"]:
                    found.append(action)
        return found


@pytest.fixture(params=BACKENDS)
def board(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BoardEnv]:
    """A mentor's board on the sandbox, and a ledger on each backend in turn."""
    for ledger_url in make_ledger_url(request.param, tmp_path):
        yield from _board(tmp_path, ledger_url)


def _board(
    tmp_path: Path,
    ledger_url: str,
    *,
    seed: int | None = None,
    base: datetime | None = None,
    clock: Callable[[], datetime] | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> Iterator[BoardEnv]:
    """A fresh random board on the real clock; with a `seed`, a `base` instant and the
    sandbox's `clock`, the same ids and history every time (the golden tests)."""
    state = SandboxState(seed=seed, clock=clock)
    state.add_member(MENTOR, "Camille Martin")
    state.add_member(STUDENT, "Léa Student")
    mentor_token = state.add_token(MENTOR)
    student_token = state.add_token(STUDENT)
    created = (base or datetime.now(UTC)) - timedelta(days=40)
    board = state.create_board(MENTOR, "Mentoring", at=created)
    state.add_board_member(MENTOR, board["id"], STUDENT, at=created)
    lists = {
        name: str(state.create_list(MENTOR, board["id"], name, at=created)["id"])
        for name in (*STAGE_LISTS, "Notes")
    }
    (tmp_path / "trello-sync.toml").write_text('mentors = ["camille"]\n')
    with SandboxServer(state, monotonic=monotonic) as server:
        yield BoardEnv(
            state,
            server,
            tmp_path,
            str(board["id"]),
            mentor_token,
            student_token,
            lists,
            ledger_url,
            base=base,
        )
