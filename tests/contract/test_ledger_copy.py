"""Moving a ledger (SQLite → any backend): every row, the same export bytes."""

from __future__ import annotations

import pytest
from test_ledger_contract import BOARD, entry, reversal, row_counts, sample_plan

from trello_sync.clock import FakeClock
from trello_sync.domain.records import Plan
from trello_sync.export import export_ledger
from trello_sync.ledger.copy import copy_ledger
from trello_sync.ledger.open import open_ledger
from trello_sync.ledger.sql import SqlLedger
from trello_sync.ledger.store import LedgerError


@pytest.fixture
def source(tmp_path, clock: FakeClock):
    ledger = open_ledger(f"sqlite:///{tmp_path / 'source.db'}", clock=clock)
    ledger.commit(BOARD, sample_plan())
    first = entry("e2")
    ledger.commit(BOARD, Plan(entries=(first, reversal("e2~rev", first))))
    ledger.set_meta("last_export_date", "2026-11-01")
    ledger.claim_boards("w1", [BOARD], 60)
    yield ledger
    ledger.close()


def exported(ledger: SqlLedger, folder) -> dict[str, bytes]:
    paths = export_ledger(ledger.entries(), folder)
    return {path.name: path.read_bytes() for path in paths}


def test_every_row_moves_and_the_export_is_byte_identical(source, ledger, tmp_path):
    counts = copy_ledger(source, ledger)
    assert counts["entries"] == 3 and counts["replies"] == 1 and counts["meta"] == 1
    expected = {k: v for k, v in row_counts(source).items() if k != "board_leases"}
    assert {k: v for k, v in row_counts(ledger).items() if k != "board_leases"} == expected
    assert exported(source, tmp_path / "a") == exported(ledger, tmp_path / "b")
    assert ledger.board_view(BOARD) == source.board_view(BOARD)
    assert ledger.get_meta("last_export_date") == "2026-11-01"


def test_a_target_that_is_not_empty_is_refused(source, ledger):
    ledger.commit(BOARD, Plan(entries=(entry("other"),)))
    with pytest.raises(LedgerError, match="not empty"):
        copy_ledger(source, ledger)
    assert [e.entry_id for e in ledger.entries()] == ["other"]
