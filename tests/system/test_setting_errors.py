"""Bad settings, bad credentials and missing ledgers: one line naming the setting, exit
code 2, the same problem from `check`, and nothing created. The real CLI in a subprocess,
the sandbox over HTTP, a ledger on each backend (SQLite file, PostgreSQL when given)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_board import MENTOR, BoardEnv, _board
from test_sync_cli import handbook_board

# Not writable by anyone, root included (sysfs refuses new files): a folder the
# permission bits alone could not make read-only for a test run as root.
UNWRITABLE = Path("/sys/trello-sync-test")


@pytest.fixture
def sqlite_board(tmp_path: Path) -> Iterator[BoardEnv]:
    """The board with a SQLite ledger only: for what is about a ledger file."""
    yield from _board(tmp_path, f"sqlite:///{tmp_path / 'ledger.db'}")


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The lines that say something went wrong (a first sync's progress bar aside)."""
    return [
        line
        for line in result.stderr.splitlines()
        if line.startswith(("trello-sync: error:", "problem:"))
    ]


def one_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    return lines[0]


def cli_without(
    board: BoardEnv, *args: str, drop: tuple[str, ...], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """The CLI with some of the board's settings taken out of the environment."""
    full = {k: v for k, v in board.env.items() if k not in drop}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "trello_sync", *args],
        env=full,
        cwd=board.folder,
        capture_output=True,
        text=True,
        timeout=120,
    )


def short_link(board: BoardEnv) -> str:
    return str(board.state.board(board.board_id)["shortLink"])


# --- mentors -------------------------------------------------------------------------------


def test_mentors_in_the_at_form_log_sessions(board: BoardEnv):
    handbook_board(board)
    board.extra_env["TRELLO_SYNC_MENTORS"] = f" @{MENTOR} "
    checked = board.cli("check")
    assert checked.returncode == 0, checked.stderr
    result = board.cli("sync")
    assert result.returncode == 0, result.stderr
    assert "8 entries" in result.stdout
    assert not board.comments_with("only the mentor can log sessions")


def test_check_names_each_mentor_who_is_not_a_member_of_a_board(board: BoardEnv):
    board.extra_env["TRELLO_SYNC_MENTORS"] = f"@{MENTOR},camille_x,@lea_student"
    result = board.cli("check")
    assert result.returncode == 2
    assert error_lines(result) == [
        "problem: board 'Mentoring': mentor 'camille_x' is not a member of this board"
    ]


def test_check_names_the_default_mentor(board: BoardEnv):
    (board.folder / "trello-sync.toml").write_text("")
    result = board.cli("check")
    assert result.returncode == 0, result.stderr
    assert f"mentors: the token's owner @{MENTOR} (TRELLO_SYNC_MENTORS is empty)" in result.stdout


# --- credentials ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "names",
    [("API_KEY", "TOKEN"), ("api_key", "token"), ("TRELLO_SYNC_API_KEY", "TRELLO_SYNC_TOKEN")],
)
def test_credentials_come_only_from_the_documented_names(board: BoardEnv, names: tuple[str, str]):
    # The real key and token, under names trello-sync must not read: were they read, the
    # sandbox would answer and its log would show it.
    key_name, token_name = names
    others = {key_name: board.state.api_key, token_name: board.mentor_token}
    for args in (["sync"], ["check"]):
        result = cli_without(board, *args, drop=("TRELLO_API_KEY", "TRELLO_TOKEN"), env=others)
        assert result.returncode == 2, result.stderr
        assert "TRELLO_API_KEY is not set" in one_error(result)
        assert board.server.log.entries() == []
    assert not board.ledger_created()


# --- the ledger ----------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["a file as its folder", "a folder no one may write"])
def test_a_ledger_that_cannot_be_written_is_one_line_exit_2(sqlite_board: BoardEnv, where: str):
    board = sqlite_board
    if where == "a file as its folder":
        (board.folder / "notes.txt").write_text("not a folder\n")
        path = board.folder / "notes.txt" / "ledger.db"
    else:
        path = UNWRITABLE / "ledger.db"
    env = {"TRELLO_SYNC_DATABASE_URL": f"sqlite:///{path}"}
    for args in (["sync"], ["run", "--once"], ["export"], ["report"], ["check"]):
        result = board.cli(*args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        line = one_error(result)
        assert "TRELLO_SYNC_DATABASE_URL: cannot write the ledger" in line, line
        assert str(path) in line
        if args != ["check"]:  # check goes on to the credentials and the boards
            assert board.server.log.entries() == []
    assert not (board.folder / "ledger.db").exists()


def test_check_creates_no_ledger(board: BoardEnv):
    without_key = board.cli("check", env={"TRELLO_API_KEY": ""})
    assert without_key.returncode == 2
    assert "TRELLO_API_KEY is not set" in one_error(without_key)
    assert not board.ledger_created()

    result = board.cli("check")
    assert result.returncode == 0, result.stderr
    assert "does not exist yet; the first sync creates it" in result.stdout
    assert not board.ledger_created()
    assert not (board.folder / "exports").exists()

    assert board.cli("sync").returncode == 0
    before = board.dump()
    result = board.cli("check")
    assert result.returncode == 0, result.stderr
    assert "ledger: OK" in result.stdout
    assert board.dump() == before


def test_check_and_a_failed_command_leave_no_default_ledger_behind(sqlite_board: BoardEnv):
    board = sqlite_board
    default = board.folder / "trello-sync.db"
    drop = ("TRELLO_SYNC_DATABASE_URL",)
    assert cli_without(board, "check", drop=drop, env={"TRELLO_API_KEY": ""}).returncode == 2
    assert cli_without(board, "check", drop=drop, env={}).returncode == 0
    for args in (["sync"], ["run", "--once"], ["export"]):
        failed = cli_without(board, *args, drop=drop, env={"TRELLO_TOKEN": "f" * 64})
        assert failed.returncode == 2, failed.stderr
    assert cli_without(board, "report", drop=drop, env={}).returncode == 2
    assert sorted(p.name for p in board.folder.iterdir()) == ["trello-sync.toml"]
    assert not default.exists()


def test_a_bad_token_creates_no_ledger_and_costs_one_request(board: BoardEnv):
    handbook_board(board)
    bad = "f" * 64
    for args in (["sync"], ["run", "--once"], ["export"]):
        board.server.log.clear()
        result = board.cli(*args, env={"TRELLO_TOKEN": bad})
        assert result.returncode == 2, (args, result.stderr)
        assert "TRELLO_TOKEN" in one_error(result) and bad not in result.stderr
        assert [(r["method"], r["path"]) for r in board.api_requests()] == [
            ("GET", "/1/members/me")
        ]
        assert not board.ledger_created()
    assert not (board.folder / "exports").exists()


def test_report_and_an_offline_export_need_a_ledger(board: BoardEnv):
    for args in (["report"], ["export", "--offline"]):
        result = board.cli(*args)
        assert result.returncode == 2, result.stderr
        line = one_error(result)
        assert line.startswith("trello-sync: error: TRELLO_SYNC_DATABASE_URL: no ledger at ")
        assert line.endswith("(run trello-sync sync first)")
        assert result.stdout == ""
    assert not board.ledger_created()
    assert not (board.folder / "exports").exists()
    assert board.server.log.entries() == []


# --- the export folder ---------------------------------------------------------------------


@pytest.mark.parametrize("where", ["a file as its folder", "a folder no one may write"])
def test_an_export_folder_that_cannot_be_written_is_one_line_exit_2(board: BoardEnv, where: str):
    handbook_board(board)
    if where == "a file as its folder":
        (board.folder / "notes.txt").write_text("not a folder\n")
        folder = board.folder / "notes.txt" / "exports"
    else:
        folder = UNWRITABLE / "exports"
    env = {"TRELLO_SYNC_EXPORT_DIR": str(folder)}
    for args in (["export"], ["export", "--offline"]):
        result = board.cli(*args, env=env)
        assert result.returncode == 2, result.stderr
        line = one_error(result)
        assert f"TRELLO_SYNC_EXPORT_DIR: cannot write to {folder} (" in line, line
    result = board.cli("export", "--out", str(folder / "here"))
    assert result.returncode == 2
    assert f"--out: cannot write to {folder / 'here'} (" in one_error(result)
    # Found before anything was read or created.
    assert board.server.log.entries() == [] and not board.ledger_created()
    checked = board.cli("check", env=env)
    assert checked.returncode == 2
    assert f"problem: TRELLO_SYNC_EXPORT_DIR: cannot write to {folder}" in one_error(checked)


def test_check_tries_the_export_folder_without_leaving_anything(board: BoardEnv):
    before = sorted(os.listdir(board.folder))
    result = board.cli("check")
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(board.folder)) == before


# --- boards --------------------------------------------------------------------------------


def test_a_board_pasted_from_the_browser_is_synced(board: BoardEnv):
    handbook_board(board)
    link = short_link(board)
    url = f"https://trello.com/b/{link}/mentoring"
    checked = board.cli("check", env={"TRELLO_SYNC_BOARDS": f"trello.com/b/{link}/"})
    assert checked.returncode == 0, checked.stderr
    assert "board 'Mentoring': OK" in checked.stdout
    result = board.cli("sync", env={"TRELLO_SYNC_BOARDS": url})
    assert result.returncode == 0, result.stderr
    assert "Mentoring: " in result.stdout and "8 entries" in result.stdout
    board.server.log.clear()
    again = board.cli("sync", env={"TRELLO_SYNC_BOARDS": f"http://trello.com/b/{link}"})
    assert again.returncode == 0 and "no change" in again.stdout


@pytest.mark.parametrize(
    "value",
    ["my mentoring board", "https://trello.com/c/Xy12AbCd/42-lea-a-card-not-a-board-at-all"],
)
def test_a_board_that_is_no_id_nor_link_is_one_line_naming_the_setting(board: BoardEnv, value: str):
    for args in (["sync"], ["check"]):
        result = board.cli(*args, env={"TRELLO_SYNC_BOARDS": f"{board.board_id},{value}"})
        assert result.returncode == 2
        line = one_error(result)
        assert line.startswith("trello-sync: error: TRELLO_SYNC_BOARDS: ")
        assert "is not a board id, short link or board URL" in line
        assert value[:30] in line and len(line) < 200
    assert board.server.log.entries() == [] and not board.ledger_created()


def test_check_names_an_unknown_board_as_sync_does(board: BoardEnv):
    result = board.cli("check", env={"TRELLO_SYNC_BOARDS": f"nosuchboard,{board.board_id}"})
    assert result.returncode == 2
    assert one_error(result) == (
        "problem: TRELLO_SYNC_BOARDS: board 'nosuchboard' was not found, "
        "or this token cannot see it"
    )
    assert "board 'Mentoring': OK" in result.stdout
