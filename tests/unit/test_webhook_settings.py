"""The webhook settings: off by default, the receiver's address and the public URL
together, the application's secret from its exact name only (environment or secrets
folder, never the TOML file), redacted, and one line naming the setting when wrong."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from trello_sync.logs import RedactSecrets
from trello_sync.settings import ConfigError, load_settings

SECRET = "0f" * 32
ON = {
    "TRELLO_SYNC_WEBHOOK_LISTEN": "127.0.0.1:8787",
    "TRELLO_SYNC_WEBHOOK_URL": "https://hooks.example.org/trello",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.upper().startswith("TRELLO") or name.upper() in ("API_SECRET", "SECRET"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRELLO_SYNC_SECRETS_DIR", str(tmp_path / "no-secrets"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_webhooks_are_off_by_default():
    settings = load_settings()
    assert not settings.webhooks_on
    assert settings.webhook_listen is None and settings.webhook_url is None
    assert settings.api_secret is None


def test_on_with_the_address_the_url_and_the_secret(monkeypatch: pytest.MonkeyPatch):
    for name, value in {**ON, "TRELLO_API_SECRET": SECRET}.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.webhooks_on
    assert settings.webhook_listen == "127.0.0.1:8787"
    assert settings.webhook_url == "https://hooks.example.org/trello"
    assert settings.api_secret is not None and settings.api_secret.get_secret_value() == SECRET
    assert SECRET in settings.secret_values()  # redacted from every log line
    assert SECRET not in repr(settings)


def test_the_secret_comes_from_the_secrets_folder_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    folder = tmp_path / "secrets"
    folder.mkdir()
    (folder / "TRELLO_API_SECRET").write_text(SECRET + "\n")
    monkeypatch.setenv("TRELLO_SYNC_SECRETS_DIR", str(folder))
    for name, value in ON.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.api_secret is not None and settings.api_secret.get_secret_value() == SECRET


@pytest.mark.parametrize("name", ["API_SECRET", "TRELLO_SYNC_API_SECRET", "trello_api_secret"])
def test_a_look_alike_of_the_secrets_name_is_never_read(monkeypatch: pytest.MonkeyPatch, name):
    for key, value in ON.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv(name, SECRET)
    with pytest.raises(ConfigError, match=r"^TRELLO_API_SECRET: not set, but webhooks are on"):
        load_settings()


@pytest.mark.parametrize("key", ["api_secret", "TRELLO_API_SECRET"])
def test_the_secret_in_the_toml_file_is_refused(tmp_path: Path, key: str):
    (tmp_path / "trello-sync.toml").write_text(f'{key} = "{SECRET}"\n')
    with pytest.raises(ConfigError, match="may not be written in the configuration file") as info:
        load_settings()
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"TRELLO_SYNC_WEBHOOK_LISTEN": "127.0.0.1:8787"},
            r"^TRELLO_SYNC_WEBHOOK_URL: not set, but TRELLO_SYNC_WEBHOOK_LISTEN is",
        ),
        (
            {"TRELLO_SYNC_WEBHOOK_URL": "https://hooks.example.org/trello"},
            r"^TRELLO_SYNC_WEBHOOK_LISTEN: not set, but TRELLO_SYNC_WEBHOOK_URL is",
        ),
        (
            {**ON, "TRELLO_SYNC_WEBHOOK_LISTEN": "8787"},
            r"^TRELLO_SYNC_WEBHOOK_LISTEN: '8787' is not HOST:PORT",
        ),
        (
            {**ON, "TRELLO_SYNC_WEBHOOK_URL": "hooks.example.org"},
            r"^TRELLO_SYNC_WEBHOOK_URL: the callback URL is not an http\(s\) URL",
        ),
    ],
)
def test_a_bad_combination_is_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str], message: str
):
    monkeypatch.setenv("TRELLO_API_SECRET", SECRET)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message) as info:
        load_settings()
    assert "\n" not in str(info.value) and SECRET not in str(info.value)


def test_an_empty_variable_means_unset(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TRELLO_SYNC_WEBHOOK_LISTEN", " ")
    monkeypatch.setenv("TRELLO_SYNC_WEBHOOK_URL", "")
    monkeypatch.setenv("TRELLO_API_SECRET", "")
    assert not load_settings().webhooks_on


def test_the_secret_is_redacted_from_log_lines(monkeypatch: pytest.MonkeyPatch):
    for name, value in {**ON, "TRELLO_API_SECRET": SECRET}.items():
        monkeypatch.setenv(name, value)
    redact = RedactSecrets(load_settings().secret_values())
    record = logging.LogRecord("x", logging.INFO, "", 0, "signed with %s", (SECRET,), None)
    assert redact.filter(record) and SECRET not in record.getMessage()
