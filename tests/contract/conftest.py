"""Backends for the ledger contract suite: SQLite always, PostgreSQL when one is given.

Set TRELLO_SYNC_TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:5432/test) to
add the PostgreSQL backend; each of its tests gets a fresh schema, dropped afterwards.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from trello_sync.clock import FakeClock
from trello_sync.ledger.open import create_ledger_engine, open_ledger, schema_url
from trello_sync.ledger.sql import SqlLedger

PG_ENV = "TRELLO_SYNC_TEST_DATABASE_URL"
BACKENDS = ["sqlite-file"] + (["postgresql"] if os.environ.get(PG_ENV) else [])


def make_ledger_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """Yield a URL to an empty ledger on `backend`; clean up after the test."""
    if backend == "sqlite-file":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    base = os.environ[PG_ENV]
    schema = f"contract_{secrets.token_hex(6)}"
    admin = create_ledger_engine(base)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        yield schema_url(base, schema)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from make_ledger_url(request.param, tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 28, 12, 0, tzinfo=UTC))


@pytest.fixture
def ledger(ledger_url: str, clock: FakeClock) -> Iterator[SqlLedger]:
    store = open_ledger(ledger_url, clock=clock)
    try:
        yield store
    finally:
        store.close()
