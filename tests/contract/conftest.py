"""The ledger contract suite runs on every backend (see tests/backends.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from backends import BACKENDS, make_ledger_url

from trello_sync.clock import FakeClock
from trello_sync.ledger.open import open_ledger
from trello_sync.ledger.sql import SqlLedger


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
