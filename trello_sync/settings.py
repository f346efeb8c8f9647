"""Settings: environment, a TOML file, and the shipped defaults — every default named once.

Precedence, highest first: environment (`TRELLO_SYNC_<NAME>`; `TRELLO_API_KEY` and
`TRELLO_TOKEN` for the secrets), the TOML file named by `TRELLO_SYNC_CONFIG` (default
`./trello-sync.toml`), then `trello_sync/defaults.toml` shipped with the package.

Where a default lives: a default that is a value (a number, a text, a table) is written in
`trello_sync/defaults.toml` only, and its field here has no default, so that the file a
user reads is the whole truth. A field here has a default only when there is no value to
write: nothing set (None or an empty list, which the code reads as "the token's owner",
"three poll intervals", "no board") or a value found at run time (the machine's time
zone). tests/unit/test_defaults.py holds every field to this rule. Secrets come
only from the environment variables `TRELLO_API_KEY`, `TRELLO_TOKEN`, `TRELLO_API_SECRET`
(which signs webhook deliveries) and `TRELLO_SYNC_SLACK_WEBHOOK_URL`, spelt exactly so,
or a secrets folder
(`TRELLO_SYNC_SECRETS_DIR`, one file per secret of the same name, as Docker and systemd
credentials do): an `API_KEY`, a `token` or a `TRELLO_SYNC_TOKEN` left in the environment
for another program is never sent to Trello. A Slack webhook URL is a credential too
(whoever has it can post to the channel): never in the TOML file, never in a log line.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import date, datetime, time
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from trello_sync.domain.daily import DailyRules, webhook_problem, webhook_secrets
from trello_sync.domain.invoice import InvoiceConfig, invoice_config
from trello_sync.domain.journal import JournalAccounts, journal_accounts
from trello_sync.domain.pay_toml import rules_from_mapping
from trello_sync.domain.planner import PlannerConfig
from trello_sync.domain.projects import ProjectTable
from trello_sync.domain.rules import PayRules, PayRulesError
from trello_sync.domain.stages import StageMap
from trello_sync.domain.text import fold, shortened
from trello_sync.domain.webhooks import callback_url_problem, parse_listen

ENV_PREFIX = "TRELLO_SYNC_"
SECRET_ENV = {
    "api_key": "TRELLO_API_KEY",
    "token": "TRELLO_TOKEN",
    "api_secret": "TRELLO_API_SECRET",
    "slack_webhook_url": "TRELLO_SYNC_SLACK_WEBHOOK_URL",
}
DEFAULT_CONFIG_FILE = "trello-sync.toml"
DEFAULTS_FILE = "defaults.toml"  # package data of trello_sync (see pyproject.toml)


class ConfigError(Exception):
    """A bad setting: one line naming it."""


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


# What the browser's address bar shows for a board: https://trello.com/b/<short link>/name.
_BOARD_URL = re.compile(
    r"(?:https?://)?(?:www\.)?trello\.com/b/(?P<link>[A-Za-z0-9]+)(?:[/?#].*)?", re.IGNORECASE
)
_BOARD_REF = re.compile(r"[A-Za-z0-9]+")
_MAX_SHOWN = 40


def board_ref(value: str) -> str:
    """A board id or short link as Trello takes it; a board's URL gives its short link."""
    text = value.strip()
    if _BOARD_REF.fullmatch(text):
        return text
    url = _BOARD_URL.fullmatch(text)
    if url:
        return url.group("link")
    raise ValueError(
        f"{shortened(text, _MAX_SHOWN)!r} is not a board id, short link or board URL "
        "(such as https://trello.com/b/AbCd1234/name)"
    )


def mentor_name(value: str) -> str:
    """A Trello username, with the `@` Trello shows before it taken off."""
    name = value.strip().removeprefix("@").strip()
    if not name or any(c.isspace() for c in name):
        raise ValueError(
            f"{shortened(value.strip(), _MAX_SHOWN)!r} is not a Trello username "
            "(such as camille_mentor)"
        )
    return name


def local_zone_name() -> str:
    """The machine's IANA zone, or UTC when it cannot be told."""
    tz_env = os.environ.get("TZ", "").lstrip(":")
    if tz_env:
        return tz_env
    try:
        target = os.path.realpath("/etc/localtime")
        match = re.search(r"zoneinfo/(.+)$", target)
        if match:
            return match.group(1)
        timezone_file = Path("/etc/timezone")
        if timezone_file.exists():
            return timezone_file.read_text().strip() or "UTC"
    except OSError:
        pass
    return "UTC"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        case_sensitive=False,
        populate_by_name=True,
    )

    # --- secrets: environment or secrets folder only ----------------------------------
    # No alias: the environment is read for them by _SecretEnvSource alone, and code
    # passes them by name (Settings(api_key=..., token=...)).
    api_key: SecretStr | None = Field(
        None, description="Trello API key (environment TRELLO_API_KEY only)."
    )
    token: SecretStr | None = Field(
        None, description="Trello token (environment TRELLO_TOKEN only)."
    )
    api_secret: SecretStr | None = Field(
        None,
        description="The application's secret, which signs Trello's webhook deliveries "
        "(environment TRELLO_API_SECRET only).",
    )
    slack_webhook_url: SecretStr | None = Field(
        None,
        description="A Slack (or Slack-compatible) incoming webhook's URL: the daily summary "
        "and the alerts (environment TRELLO_SYNC_SLACK_WEBHOOK_URL only).",
    )

    # --- where things are ---------------------------------------------------------------
    api_url: str = Field(description="Trello's base URL (the sandbox's in tests).")
    boards: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Board ids or short links to sync, comma-separated."
    )
    database_url: str = Field(
        description="The ledger: sqlite:///file.db, or postgresql://… for a shared ledger."
    )
    export_dir: Path = Field(description="Where exports are written.")
    timezone: str = Field(
        default_factory=local_zone_name,
        description="IANA time zone for dates and the nightly export (default: the machine's).",
    )

    # --- the worker ---------------------------------------------------------------------
    poll_interval: int = Field(ge=5, description="Seconds between two polls of a board.")
    export_time: str = Field(description="Nightly export time, HH:MM local.")
    reply_lease: int = Field(
        ge=1,
        description="Seconds a reply whose POST was not confirmed is left alone before the "
        "card is read for its marker and it is posted again.",
    )
    lease_seconds: int | None = Field(
        None,
        ge=5,
        description="How long a worker's claim on a board lasts without renewal (several "
        "workers on one ledger); default three poll intervals.",
    )
    reread_interval: int = Field(
        ge=0,
        description="Seconds between two re-reads of the open months' comments "
        "(edits and deletions); always done before an export.",
    )
    overlap_seconds: int = Field(
        ge=0,
        description="Each poll asks for actions this far before the checkpoint, in case "
        "Trello shows an action late; already-applied ones are skipped.",
    )
    reply_history_days: int = Field(
        ge=0,
        description="A command or move older than this many days gets no reply "
        "(the first sync replays months of history; it still lands in the ledger).",
    )

    # --- webhooks: the worker hears of a change at once ----------------------------------
    webhook_listen: str | None = Field(
        None,
        description="HOST:PORT the worker's webhook receiver listens on (default: no "
        "receiver, polling alone).",
    )
    webhook_url: str | None = Field(
        None,
        description="The public URL Trello calls for the receiver (a reverse proxy or a "
        "tunnel in front of webhook_listen).",
    )

    # --- who, and the mentor handbook ----------------------------------------------------
    mentors: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Trello usernames allowed to log sessions (default: the token's owner).",
    )
    max_students: int = Field(ge=1, description="Recommended maximum of active students.")
    pause_warning_days: int = Field(ge=1, description="Days in paused before a reminder.")
    nudge_days: int = Field(
        ge=1, description="Days an active student may go without a session before a nudge."
    )
    default_level: int = Field(description="Level of a project not in the project table.")
    stages: dict[str, list[str]] = Field(description="List-name aliases per stage.")
    projects: dict[str, int] = Field(description="Project → level.")
    pay_rules: list[dict[str, Any]] = Field(
        description="Effective-dated rates, shares and currency."
    )

    # --- Slack ---------------------------------------------------------------------------
    summary_time: str = Field(description="The daily summary's time, HH:MM local.")
    summary_when_quiet: bool = Field(
        description="Post the daily summary on a day with nothing to say too."
    )
    summary_amounts: bool = Field(description="Show amounts in the daily summary.")
    summary_names: Literal["first", "full"] = Field(
        description="Students in the daily summary by first name or by full name."
    )

    # --- documents ------------------------------------------------------------------------
    invoice: dict[str, Any] | None = Field(
        None,
        description="The seller and client of invoices (a TOML [invoice] table); without "
        "it a statement is a plain statement, with no number.",
    )
    chromium: str | None = Field(
        None,
        description="Chromium's path for PDF statements (default: chromium, "
        "chromium-browser or google-chrome on PATH).",
    )

    # --- plain-text accounting (ledger.beancount, ledger.journal) ------------------------
    journal_income_account: str = Field(
        description="The journals' income account per level; {level} is the level."
    )
    journal_receivable_account: str = Field(
        description="The journals' receivable; {client} is the [invoice] client's name."
    )
    journal_bank_account: str = Field(description="Where a payment by transfer lands.")
    journal_paypal_account: str = Field(description="Where a payment by PayPal lands.")
    journal_open_payment_accounts: bool = Field(
        description="Open the bank and PayPal accounts in ledger.beancount (off when your "
        "own books open them)."
    )

    _split_boards = field_validator("boards", "mentors", mode="before")(_split_commas)

    @field_validator("boards")
    @classmethod
    def _board_refs(cls, value: list[str]) -> list[str]:
        return [board_ref(ref) for ref in value]

    @field_validator("mentors")
    @classmethod
    def _mentor_names(cls, value: list[str]) -> list[str]:
        return [mentor_name(name) for name in value]

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from error
        return value

    @field_validator("export_time", "summary_time")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        if not re.fullmatch(r"\d{2}:\d{2}", value):
            raise ValueError("use HH:MM, e.g. 02:00")
        time.fromisoformat(value)
        return value

    @field_validator("webhook_listen", "webhook_url", "api_secret", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("webhook_listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        if value is not None:
            parse_listen(value)
        return value.strip() if value is not None else None

    @field_validator("webhook_url")
    @classmethod
    def _callback(cls, value: str | None) -> str | None:
        if value is not None:
            problem = callback_url_problem(value.strip())
            if problem:
                raise ValueError(f"the callback URL {problem}")
        return value.strip() if value is not None else None

    @field_validator("slack_webhook_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # An empty variable (`TRELLO_SYNC_SLACK_WEBHOOK_URL=`) says "no Slack".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("slack_webhook_url")
    @classmethod
    def _webhook(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            problem = webhook_problem(value.get_secret_value())
            if problem:
                raise ValueError(f"the webhook URL {problem}")
        return value

    @field_validator("database_url")
    @classmethod
    def _db(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("use sqlite:///file.db or postgresql://…")
        return value

    @field_validator("api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("use an http(s) URL such as https://api.trello.com/1")
        return value.rstrip("/")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            _SecretEnvSource(settings_cls),
            _EnvSource(settings_cls),
            _SecretsDirSource(settings_cls),
            _TomlSource(settings_cls, user_config_path(), user=True),
            _TomlSource(settings_cls, None, user=False),
        )

    # --- derived domain objects ----------------------------------------------------------
    @property
    def lease_duration(self) -> int:
        return self.lease_seconds or max(3 * self.poll_interval, 30)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def pay(self) -> PayRules:
        return rules_from_mapping(self.pay_rules)

    def stage_map(self) -> StageMap:
        return StageMap.from_config(self.stages)

    def project_table(self) -> ProjectTable:
        return ProjectTable.from_config(
            self.projects, self.default_level, sorted(self.pay().levels)
        )

    def planner_config(
        self, mentors: frozenset[str], reply_since: datetime | None
    ) -> PlannerConfig:
        return PlannerConfig(
            stage_map=self.stage_map(),
            rules=self.pay(),
            default_level=self.default_level,
            mentors=frozenset(fold(m) for m in mentors),
            tz=self.zone,
            cap=self.max_students,
            reply_since=reply_since,
        )

    def invoice_config(self) -> InvoiceConfig | None:
        """The [invoice] table, checked; None when no seller is configured."""
        if self.invoice is None:
            return None
        return invoice_config(self.invoice)

    def journal_accounts(self) -> JournalAccounts:
        """The journals' account names, checked (ConfigError naming the setting)."""
        config = self.invoice_config()
        try:
            return journal_accounts(
                income=self.journal_income_account,
                receivable=self.journal_receivable_account,
                bank=self.journal_bank_account,
                paypal=self.journal_paypal_account,
                client=config.client_name if config is not None else None,
                open_payment_accounts=self.journal_open_payment_accounts,
            )
        except ValueError as error:
            raise ConfigError(str(error)) from None

    def daily_rules(self) -> DailyRules:
        return DailyRules(
            tz=self.zone,
            cap=self.max_students,
            pause_days=self.pause_warning_days,
            idle_days=self.nudge_days,
            amounts=self.summary_amounts,
            full_names=self.summary_names == "full",
        )

    @property
    def webhooks_on(self) -> bool:
        return self.webhook_listen is not None

    def webhooks_problem(self) -> str | None:
        """Why the webhook settings do not go together, or None (both unset: no receiver)."""
        listen, url = env_name("webhook_listen"), env_name("webhook_url")
        if self.webhook_listen is None and self.webhook_url is None:
            return None
        if self.webhook_url is None:
            return f"{url}: not set, but {listen} is: Trello needs the public URL to call"
        if self.webhook_listen is None:
            return f"{listen}: not set, but {url} is: the address the receiver listens on"
        if self.api_secret is None:
            return (
                f"{env_name('api_secret')}: not set, but webhooks are on ({listen}): the "
                "secret on the Power-Up admin page signs each delivery"
            )
        return None

    def secret_values(self) -> list[str]:
        """The secrets' values, for the log filter that redacts them: the webhook URL
        with its path and token, which urllib3's debug lines show apart."""
        found = [
            s.get_secret_value()
            for s in (self.api_key, self.token, self.api_secret)
            if s is not None
        ]
        if self.slack_webhook_url is not None:
            found += webhook_secrets(self.slack_webhook_url.get_secret_value())
        return found


def user_config_path() -> Path:
    return Path(os.environ.get(f"{ENV_PREFIX}CONFIG", DEFAULT_CONFIG_FILE))


class _TomlSource(PydanticBaseSettingsSource):
    """A TOML file: the user's (must not hold secrets) or the shipped defaults."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None, user: bool) -> None:
        super().__init__(settings_cls)
        self._data = _read_toml(path, user)

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def shipped_defaults() -> dict[str, Any]:
    """The shipped defaults file, as read (a fresh copy each call)."""
    text = resources.files("trello_sync").joinpath(DEFAULTS_FILE).read_text("utf-8")
    return tomllib.loads(text)


def _read_toml(path: Path | None, user: bool) -> dict[str, Any]:
    if path is None:
        return shipped_defaults()
    explicit = f"{ENV_PREFIX}CONFIG" in os.environ
    if not path.exists():
        if explicit:
            raise ConfigError(f"TRELLO_SYNC_CONFIG: no such file {str(path)!r}")
        return {}
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from error
    keys = {k.lower() for k in data}
    for secret in ("api_key", "token", "trello_api_key", "trello_token"):
        if secret in keys:
            raise ConfigError(
                f"{path}: secrets may not be written in the configuration file; "
                "set TRELLO_API_KEY and TRELLO_TOKEN in the environment instead"
            )
    if keys & {"api_secret", "trello_api_secret"}:
        raise ConfigError(
            f"{path}: the application's secret may not be written in the configuration "
            "file; set TRELLO_API_SECRET in the environment or the secrets folder instead"
        )
    if keys & {"slack_webhook_url", "trello_sync_slack_webhook_url"}:
        raise ConfigError(
            f"{path}: the Slack webhook URL is a credential and may not be written in the "
            "configuration file; set TRELLO_SYNC_SLACK_WEBHOOK_URL in the environment or "
            "the secrets folder instead"
        )
    # TOML dates arrive as date objects; pay rules want them as text like the env would.
    for rule in data.get("pay_rules", []) or []:
        if isinstance(rule, dict) and isinstance(rule.get("effective"), date):
            rule["effective"] = rule["effective"].isoformat()
    return data


class _EnvSource(EnvSettingsSource):
    """`TRELLO_SYNC_<NAME>` for every setting but the secrets: `TRELLO_SYNC_TOKEN` is not
    a name the secrets are read from."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        if field_name in SECRET_ENV:
            return None, field_name, False
        return super().get_field_value(field, field_name)


class _SecretEnvSource(PydanticBaseSettingsSource):
    """`TRELLO_API_KEY` and `TRELLO_TOKEN`, exactly: case included, no prefix, no alias."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return {
            field_name: os.environ[env_name]
            for field_name, env_name in SECRET_ENV.items()
            if env_name in os.environ
        }


def default_secrets_dir() -> Path:
    """Where `trello-sync setup` puts the secrets, and where they are looked for when
    TRELLO_SYNC_SECRETS_DIR is not set: `$XDG_CONFIG_HOME/trello-sync/secrets`, that is
    `~/.config/trello-sync/secrets` on most machines."""
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "trello-sync" / "secrets"


class _SecretsDirSource(PydanticBaseSettingsSource):
    """`TRELLO_SYNC_SECRETS_DIR/TRELLO_API_KEY` and `.../TRELLO_TOKEN` files; without
    that variable, the same files in default_secrets_dir() if that folder exists."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        folder = os.environ.get(f"{ENV_PREFIX}SECRETS_DIR") or default_secrets_dir()
        if not Path(folder).is_dir():
            return {}
        found: dict[str, Any] = {}
        for field_name, env_name in SECRET_ENV.items():
            file = Path(folder) / env_name
            if file.is_file():
                found[field_name] = file.read_text("utf-8").strip()
        return found


def env_name(field_name: str) -> str:
    return SECRET_ENV.get(field_name, f"{ENV_PREFIX}{field_name.upper()}")


def load_settings(*, pay_rules_checked: bool = True, **overrides: Any) -> Settings:
    """Read every source; a bad setting becomes one ConfigError line naming it.

    `pay_rules_checked=False` (for `check`, which lists every problem of the pay rules
    itself, one line each) lets through pay rules that cannot price every session."""
    try:
        settings = Settings(**overrides)
        # Build the domain objects once now, so that a bad table is reported at start.
        try:
            settings.project_table()  # the pay rules first: the table needs their levels
        except PayRulesError:
            if pay_rules_checked:
                raise
        settings.stage_map()
        settings.invoice_config()
        settings.journal_accounts()
        webhooks = settings.webhooks_problem()
        if webhooks:
            raise ConfigError(webhooks)
    except ValidationError as error:
        first = error.errors()[0]
        location = ".".join(str(part) for part in first["loc"]) or "settings"
        head = str(first["loc"][0]) if first["loc"] else ""
        name = env_name(head) if head in Settings.model_fields else location
        if first["type"] == "extra_forbidden":
            raise ConfigError(f"unknown setting {location!r}") from None
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{name}: {message}") from None
    except ValueError as error:
        raise ConfigError(f"configuration: {error}") from None
    return settings
