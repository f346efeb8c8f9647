"""The files setup writes: a configuration that keeps what the user wrote and holds no
secret, and a secrets folder only its owner can read."""

from __future__ import annotations

import os
import stat
import tomllib

from trello_sync.settings import load_settings
from trello_sync.setup.files import folder_problem, planned_config, write_config, write_secrets
from trello_sync.setup.flow import authorize_url


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_configuration_is_the_three_settings_and_loads(tmp_path, monkeypatch):
    path = tmp_path / "trello-sync.toml"
    change = planned_config(path, boards=["AbCd1234"], mentors=["camille"], timezone="UTC")
    assert not change.exists
    assert "+boards = [" in change.diff()
    write_config(change)
    assert tomllib.loads(path.read_text()) == {
        "boards": ["AbCd1234"],
        "mentors": ["camille"],
        "timezone": "UTC",
    }
    monkeypatch.setenv("TRELLO_SYNC_CONFIG", str(path))
    settings = load_settings()
    assert settings.boards == ["AbCd1234"] and settings.mentors == ["camille"]


def test_an_existing_configuration_keeps_every_other_setting(tmp_path):
    path = tmp_path / "trello-sync.toml"
    path.write_text('boards = ["Old12345"]\nmax_students = 9\n[projects]\n"My project" = 3\n')
    change = planned_config(path, boards=["New12345"], mentors=["camille"], timezone="UTC")
    assert change.exists
    diff = change.diff()
    assert '-boards = ["Old12345"]' in diff
    changed = [line for line in diff.splitlines() if line[:1] in "+-"]
    assert not any("max_students" in line or "My project" in line for line in changed)
    write_config(change)
    data = tomllib.loads(path.read_text())
    assert data["boards"] == ["New12345"]
    assert data["max_students"] == 9
    assert data["projects"] == {"My project": 3}


def test_a_configuration_that_does_not_read_is_replaced_whole(tmp_path):
    path = tmp_path / "trello-sync.toml"
    path.write_text("boards = [unclosed\n")
    change = planned_config(path, boards=["AbCd1234"], mentors=[], timezone="UTC")
    assert "-boards = [unclosed" in change.diff()
    assert tomllib.loads(change.new_text)["boards"] == ["AbCd1234"]


def test_secrets_are_readable_by_their_owner_alone_whatever_the_umask(tmp_path):
    folder = tmp_path / "a" / "secrets"
    old = os.umask(0)
    try:
        written = write_secrets(folder, {"api_key": "k" * 32, "token": "t" * 64})
    finally:
        os.umask(old)
    assert [p.name for p in written] == ["TRELLO_API_KEY", "TRELLO_TOKEN"]
    assert mode(folder) == 0o700
    assert {mode(p) for p in folder.iterdir()} == {0o600}
    assert (folder / "TRELLO_TOKEN").read_text() == "t" * 64 + "\n"
    assert sorted(p.name for p in folder.iterdir()) == ["TRELLO_API_KEY", "TRELLO_TOKEN"]


def test_an_old_secrets_folder_open_to_others_is_closed(tmp_path):
    folder = tmp_path / "secrets"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    write_secrets(folder, {"token": "t" * 64})
    assert mode(folder) == 0o700


def test_a_file_where_a_folder_should_be_is_found_first(tmp_path):
    (tmp_path / "file").write_text("")
    assert folder_problem(tmp_path / "file" / "secrets", "--secrets-dir") == (
        f"--secrets-dir: {tmp_path / 'file'} is not a folder"
    )
    assert folder_problem(tmp_path / "new" / "deeper", "--config") is None


def test_the_authorise_address_asks_read_and_write_for_ever_by_default():
    assert authorize_url("abc123", "never") == (
        "https://trello.com/1/authorize?expiration=never&scope=read,write"
        "&response_type=token&name=trello-sync&key=abc123"
    )
    assert "expiration=30days" in authorize_url("abc123", "30days")
