"""Wiring: from settings to a ledger, a Trello client and a syncer (the only place that
knows which concrete parts are used)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from trello_sync.claims import BoardClaims
from trello_sync.clock import Clock
from trello_sync.ledger.open import (
    ledger_exists,
    ledger_location_problem,
    open_ledger,
    shown_ledger,
)
from trello_sync.ledger.sql import SqlLedger
from trello_sync.settings import ConfigError, Settings
from trello_sync.sync import ProgressFactory, Syncer
from trello_sync.trello.client import HttpTrello


@dataclass
class App:
    settings: Settings
    clock: Clock
    ledger: SqlLedger
    trello: HttpTrello | None
    syncer: Syncer | None
    claims: BoardClaims | None = None

    def require_syncer(self) -> Syncer:
        if self.syncer is None:
            raise ConfigError("this command needs Trello: set TRELLO_API_KEY and TRELLO_TOKEN")
        return self.syncer


def make_trello(settings: Settings, clock: Clock) -> HttpTrello:
    if settings.api_key is None or not settings.api_key.get_secret_value():
        raise ConfigError("TRELLO_API_KEY is not set (your key from trello.com/power-ups/admin)")
    if settings.token is None or not settings.token.get_secret_value():
        raise ConfigError("TRELLO_TOKEN is not set (a token authorised for your key)")
    return HttpTrello(
        settings.api_url,
        settings.api_key.get_secret_value(),
        settings.token.get_secret_value(),
        clock=clock,
    )


@contextmanager
def open_app(
    settings: Settings,
    clock: Clock,
    *,
    need_trello: bool = True,
    progress: ProgressFactory | None = None,
    owner: str | None = None,
) -> Iterator[App]:
    """With `owner`, the syncer claims boards through leases (several workers, one
    ledger) and releases them when the app closes.

    Nothing is created before the settings and the credentials are known good: a ledger
    that cannot be written is a bad setting; a ledger that does not exist yet is created
    only after one request has shown that the key and the token work, and never by a
    command that only reads it (`need_trello=False`)."""
    if need_trello and not settings.boards:
        raise ConfigError("TRELLO_SYNC_BOARDS: no board to sync (comma-separated ids or links)")
    trello = make_trello(settings, clock) if need_trello else None
    try:
        ledger = _ledger_for(settings, clock, trello)
    except BaseException:
        if trello is not None:
            trello.close()
        raise
    claims = BoardClaims(ledger, owner, settings.lease_duration) if owner else None
    try:
        syncer = Syncer(settings, trello, ledger, clock, progress, claims) if trello else None
        yield App(settings, clock, ledger, trello, syncer, claims)
    finally:
        if claims is not None:
            claims.release()
        ledger.close()
        if trello is not None:
            trello.close()


def _ledger_for(settings: Settings, clock: Clock, trello: HttpTrello | None) -> SqlLedger:
    url = settings.database_url
    problem = ledger_location_problem(url)
    if problem:
        raise ConfigError(f"TRELLO_SYNC_DATABASE_URL: {problem}")
    if not ledger_exists(url):
        if trello is None:
            raise ConfigError(
                f"TRELLO_SYNC_DATABASE_URL: no ledger at {shown_ledger(url)} "
                "(run trello-sync sync first)"
            )
        # A bad key or token fails here (TrelloAuthError, exit code 2), before the ledger
        # exists; once it exists this costs nothing (an idle poll stays one request).
        trello.me()
    return open_ledger(url, clock=clock)
