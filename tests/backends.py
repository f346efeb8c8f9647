"""Ledger backends for the tests: SQLite always, PostgreSQL when one is given.

Set TRELLO_SYNC_TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:5432/test) to
add the PostgreSQL backend; each test then gets a fresh schema, dropped afterwards.
`.ci/run` sets it, so in CI every parametrized test runs on both.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from trello_sync.ledger.open import create_ledger_engine, schema_url

PG_ENV = "TRELLO_SYNC_TEST_DATABASE_URL"
BACKENDS = ["sqlite-file"] + (["postgresql"] if os.environ.get(PG_ENV) else [])


def make_ledger_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """Yield a URL to an empty ledger on `backend`; clean up after the test."""
    if backend == "sqlite-file":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    base = os.environ[PG_ENV]
    schema = f"test_{secrets.token_hex(6)}"
    admin = create_ledger_engine(base)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        yield schema_url(base, schema)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()
