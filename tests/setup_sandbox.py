"""The demo's sandbox, and a folder with no configuration, for `trello-sync setup`:
a person who ran the demo and now sets up a board of their own."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from trello_sync.sandbox import DemoBoard, SandboxServer, serve_demo

PROGRAM = [sys.executable, "-m", "trello_sync"]


@dataclass
class SetupWorld:
    server: SandboxServer
    demo: DemoBoard
    folder: Path  # where setup is run: the configuration and the ledger land here
    home: Path  # XDG_CONFIG_HOME: the default secrets folder is under it

    @property
    def secrets_dir(self) -> Path:
        return self.home / "trello-sync" / "secrets"

    @property
    def config(self) -> Path:
        return self.folder / "trello-sync.toml"

    @property
    def env(self) -> dict[str, str]:
        # A fresh shell: no Trello settings of the test runner's, a wide screen, no colour.
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLO")}
        env.update(
            {
                "TRELLO_SYNC_API_URL": self.server.url,
                "XDG_CONFIG_HOME": str(self.home),
                "COLUMNS": "200",
                "NO_COLOR": "1",
                "TZ": "Europe/Paris",
                "LANG": "en_GB.UTF-8",
            }
        )
        env.pop("LC_ALL", None)
        return env

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*PROGRAM, *args],
            cwd=self.folder,
            env={**self.env, **(env or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def board_names(self) -> list[str]:
        state = self.server.state
        mentor = state.member(self.demo.mentor_username)
        return sorted(state.board(b)["name"] for b in mentor["idBoards"])

    def written(self) -> list[Path]:
        """Every file setup could have written: none after a refusal."""
        places = [self.folder, self.home]
        return sorted(p for place in places for p in place.rglob("*") if p.is_file())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[SetupWorld]:
    server, demo = serve_demo()
    folder, home = tmp_path / "mentor", tmp_path / "config-home"
    folder.mkdir()
    home.mkdir()
    try:
        yield SetupWorld(server, demo, folder, home)
    finally:
        server.stop()
