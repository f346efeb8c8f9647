"""Settings as people type them (mentors with an `@`, boards as URLs), credentials from
the documented names only, and the checks that run before anything is created."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trello_sync.ledger.open import (
    ledger_exists,
    ledger_location_problem,
    shown_ledger,
    sqlite_file,
)
from trello_sync.preflight import export_dir_problem, file_problem, folder_problem
from trello_sync.settings import ConfigError, load_settings

UNWRITABLE = Path("/sys/trello-sync-test")  # sysfs takes no new file, not even from root


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No TRELLO setting and no look-alike from this machine; a folder of its own."""
    for name in list(os.environ):
        if name.upper().startswith("TRELLO") or name.upper() in ("API_KEY", "TOKEN"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_mentors_in_the_form_trello_shows_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("TRELLO_SYNC_MENTORS", " @camille_mentor ,nadia, @ lea ")
    assert load_settings().mentors == ["camille_mentor", "nadia", "lea"]
    monkeypatch.delenv("TRELLO_SYNC_MENTORS")
    (tmp_path / "trello-sync.toml").write_text('mentors = ["@camille_mentor", " nadia "]\n')
    assert load_settings().mentors == ["camille_mentor", "nadia"]


@pytest.mark.parametrize("value", ["Camille Martin", "@", "camille, @ "])
def test_a_mentor_that_is_no_username_is_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str
):
    monkeypatch.setenv("TRELLO_SYNC_MENTORS", value)
    with pytest.raises(ConfigError, match=r"^TRELLO_SYNC_MENTORS: '.*' is not a Trello username"):
        load_settings()


@pytest.mark.parametrize(
    "names",
    [
        ("API_KEY", "TOKEN"),
        ("api_key", "token"),
        ("trello_api_key", "trello_token"),
        ("TRELLO_SYNC_API_KEY", "TRELLO_SYNC_TOKEN"),
        ("trello_sync_api_key", "trello_sync_token"),
    ],
)
def test_credentials_come_only_from_the_documented_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, names: tuple[str, str]
):
    key_name, token_name = names
    monkeypatch.setenv(key_name, "k" * 32)
    monkeypatch.setenv(token_name, "t" * 64)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / key_name).write_text("k" * 32)
    (secrets / token_name).write_text("t" * 64)
    monkeypatch.setenv("TRELLO_SYNC_SECRETS_DIR", str(secrets))
    settings = load_settings()
    assert settings.api_key is None and settings.token is None


def test_the_documented_names_are_read_from_the_environment_and_the_secrets_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("TRELLO_API_KEY", "k" * 32)
    monkeypatch.setenv("TRELLO_TOKEN", "t" * 64)
    assert load_settings().secret_values() == ["k" * 32, "t" * 64]
    monkeypatch.delenv("TRELLO_API_KEY")
    monkeypatch.delenv("TRELLO_TOKEN")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "TRELLO_API_KEY").write_text("K" * 32 + "\n")
    (secrets / "TRELLO_TOKEN").write_text("T" * 64 + "\n")
    monkeypatch.setenv("TRELLO_SYNC_SECRETS_DIR", str(secrets))
    assert load_settings().secret_values() == ["K" * 32, "T" * 64]
    # Code (the demo, the tests) passes them by name.
    assert load_settings(api_key="a" * 32, token="b" * 64).secret_values() == ["a" * 32, "b" * 64]


@pytest.mark.parametrize(
    "value",
    [
        "AbCd1234",
        "5f21eea50f40e30520c6cda3",
        "https://trello.com/b/AbCd1234/mentoring-camille",
        "https://trello.com/b/AbCd1234",
        "http://trello.com/b/AbCd1234/",
        "trello.com/b/AbCd1234/mentoring",
        "https://www.trello.com/b/AbCd1234/mentoring?menu=filter",
        " https://trello.com/b/AbCd1234/mentoring ",
    ],
)
def test_a_board_as_its_id_short_link_or_url(monkeypatch: pytest.MonkeyPatch, value: str):
    monkeypatch.setenv("TRELLO_SYNC_BOARDS", f"{value},Zz9Zz9Zz")
    expected = "5f21eea50f40e30520c6cda3" if value.startswith("5f") else "AbCd1234"
    assert load_settings().boards == [expected, "Zz9Zz9Zz"]


@pytest.mark.parametrize(
    "value",
    [
        "my board",
        "https://trello.com/c/AbCd1234/12-a-card",
        "https://example.org/b/AbCd1234/x",
        "AbCd1234/x",
        "https://trello.com/x/AbCd1234/" + "very-long-board-name-" * 10,
    ],
)
def test_anything_else_is_one_line_naming_the_setting(monkeypatch: pytest.MonkeyPatch, value: str):
    monkeypatch.setenv("TRELLO_SYNC_BOARDS", f"AbCd1234,{value}")
    with pytest.raises(ConfigError) as error:
        load_settings()
    message = str(error.value)
    assert message.startswith("TRELLO_SYNC_BOARDS: ")
    assert "is not a board id, short link or board URL" in message
    assert value[:20] in message and len(message) < 160  # shortened, still recognisable


def test_a_board_in_the_toml_file_as_a_url(tmp_path: Path):
    (tmp_path / "trello-sync.toml").write_text('boards = ["https://trello.com/b/AbCd1234/x"]\n')
    assert load_settings().boards == ["AbCd1234"]


# --- before anything is created ------------------------------------------------------------


def test_a_folder_that_can_be_made_is_fine_and_nothing_is_left(tmp_path: Path):
    before = sorted(os.listdir(tmp_path))
    assert folder_problem(tmp_path / "exports" / "2026") is None
    assert export_dir_problem(tmp_path / "exports") is None
    assert file_problem(tmp_path / "ledgers" / "ledger.db") is None
    assert sorted(os.listdir(tmp_path)) == before


def test_a_file_where_a_folder_should_be(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("x")
    problem = export_dir_problem(tmp_path / "notes.txt" / "exports")
    assert problem == (
        f"TRELLO_SYNC_EXPORT_DIR: cannot write to {tmp_path}/notes.txt/exports "
        f"({tmp_path}/notes.txt is not a folder)"
    )
    assert export_dir_problem(tmp_path / "notes.txt", "--out") == (
        f"--out: cannot write to {tmp_path}/notes.txt ({tmp_path}/notes.txt is not a folder)"
    )
    (tmp_path / "ledger.db").mkdir()
    assert file_problem(tmp_path / "ledger.db") == f"{tmp_path}/ledger.db is a folder, not a file"


def test_a_folder_no_one_may_write():
    assert folder_problem(UNWRITABLE / "exports") == "/sys: Permission denied"
    assert ledger_location_problem(f"sqlite:///{UNWRITABLE}/ledger.db") == (
        f"cannot write the ledger {UNWRITABLE}/ledger.db (/sys: Permission denied)"
    )


def test_a_read_only_ledger_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    ledger = tmp_path / "ledger.db"
    ledger.write_bytes(b"")
    real_open = os.open

    def read_only(path: object, flags: int, *args: object) -> int:
        # What the kernel says to a user who may not write the file (as root, chmod
        # cannot make one: root writes through the permission bits).
        if Path(str(path)) == ledger and flags & (os.O_WRONLY | os.O_RDWR):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", read_only)
    assert ledger_location_problem(f"sqlite:///{ledger}") == (
        f"cannot write the ledger {ledger} ({ledger}: Permission denied)"
    )


def test_whether_a_ledger_exists_is_asked_without_creating_it(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'books' / 'ledger.db'}"
    assert sqlite_file(url) == tmp_path / "books" / "ledger.db"
    assert not ledger_exists(url)
    assert not (tmp_path / "books").exists()
    relative = "sqlite:///trello-sync.db"
    assert shown_ledger(relative) == str(tmp_path / "trello-sync.db")
    assert not ledger_exists(relative) and not (tmp_path / "trello-sync.db").exists()
    assert ledger_exists("sqlite://")  # in memory: nothing on disk to create or refuse
    assert ledger_location_problem("sqlite://") is None


def test_a_postgresql_ledger_is_shown_without_its_password():
    url = "postgresql://trello:s3cr3t-pw@db.example.org:5432/books?options=-csearch_path%3Dx"
    shown = shown_ledger(url)
    assert "s3cr3t-pw" not in shown and "db.example.org" in shown and "options" not in shown
    assert sqlite_file(url) is None and ledger_location_problem(url) is None


def test_a_bad_setting_says_no_value_error_prefix(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TRELLO_SYNC_TIMEZONE", "Mars/Olympus")
    with pytest.raises(
        ConfigError, match=r"^TRELLO_SYNC_TIMEZONE: unknown time zone 'Mars/Olympus'"
    ):
        load_settings()


# --- the Slack webhook: a secret like the key and the token ---------------------------------

HOOK = "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/cccccccccccccccccccccccc"


def test_the_webhook_is_read_from_its_exact_name_in_the_environment_or_the_secrets_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    assert load_settings().slack_webhook_url is None
    monkeypatch.setenv("TRELLO_SYNC_SLACK_WEBHOOK_URL", HOOK)
    settings = load_settings()
    assert settings.slack_webhook_url is not None
    assert settings.slack_webhook_url.get_secret_value() == HOOK
    assert HOOK not in repr(settings) and HOOK not in str(settings.model_dump())
    # Redacted whole, and by its path and token, which urllib3's debug lines show apart.
    assert settings.secret_values() == [
        HOOK,
        "/services/T0AAAAAAA/B0BBBBBBB/cccccccccccccccccccccccc",
        "cccccccccccccccccccccccc",
    ]
    monkeypatch.delenv("TRELLO_SYNC_SLACK_WEBHOOK_URL")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "TRELLO_SYNC_SLACK_WEBHOOK_URL").write_text(HOOK + "\n")
    monkeypatch.setenv("TRELLO_SYNC_SECRETS_DIR", str(secrets))
    read = load_settings().slack_webhook_url
    assert read is not None and read.get_secret_value() == HOOK


@pytest.mark.parametrize("name", ["SLACK_WEBHOOK_URL", "trello_sync_slack_webhook_url"])
def test_a_look_alike_of_the_webhook_name_is_never_read(monkeypatch: pytest.MonkeyPatch, name: str):
    monkeypatch.setenv(name, HOOK)
    assert load_settings().slack_webhook_url is None


def test_an_empty_webhook_variable_means_no_slack(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TRELLO_SYNC_SLACK_WEBHOOK_URL", "  ")
    assert load_settings().slack_webhook_url is None


@pytest.mark.parametrize("key", ["slack_webhook_url", "TRELLO_SYNC_SLACK_WEBHOOK_URL"])
def test_the_webhook_in_the_toml_file_is_refused(tmp_path: Path, key: str):
    (tmp_path / "trello-sync.toml").write_text(f'{key} = "{HOOK}"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "the Slack webhook URL is a credential" in message and HOOK not in message
    assert "TRELLO_SYNC_SLACK_WEBHOOK_URL" in message


def test_a_webhook_that_is_no_url_is_one_line_without_it(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TRELLO_SYNC_SLACK_WEBHOOK_URL", "hooks.slack.com/services/secret12345")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == (
        "TRELLO_SYNC_SLACK_WEBHOOK_URL: the webhook URL must start with https:// (or http://)"
    )


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("TRELLO_SYNC_SUMMARY_TIME", "8am", "TRELLO_SYNC_SUMMARY_TIME: use HH:MM"),
        ("TRELLO_SYNC_SUMMARY_TIME", "25:00", "TRELLO_SYNC_SUMMARY_TIME:"),
        ("TRELLO_SYNC_SUMMARY_NAMES", "last", "TRELLO_SYNC_SUMMARY_NAMES:"),
        ("TRELLO_SYNC_SUMMARY_AMOUNTS", "maybe", "TRELLO_SYNC_SUMMARY_AMOUNTS:"),
    ],
)
def test_a_bad_summary_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=f"^{says}"):
        load_settings()


def test_the_summary_settings(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TRELLO_SYNC_SUMMARY_AMOUNTS", "false")
    monkeypatch.setenv("TRELLO_SYNC_SUMMARY_NAMES", "full")
    rules = load_settings().daily_rules()
    assert (rules.amounts, rules.full_names, rules.cap) == (False, True, 20)
