"""Each entry's funding and kind in the ledger (schema step 6), on every backend: a ledger
written before them migrates with its entries read as the sessions of no funding they
were, and new entries keep both."""

from __future__ import annotations

from pathlib import Path

import pytest
from contract.test_ledger_contract import BOARD, entry, reversal
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError

from trello_sync.clock import FakeClock
from trello_sync.domain.records import Plan
from trello_sync.domain.rules import EntryKind, Funding
from trello_sync.export import export_ledger
from trello_sync.ledger import schema
from trello_sync.ledger.open import open_ledger
from trello_sync.ledger.rows import row_of
from trello_sync.ledger.sql import SqlLedger


def test_new_entries_keep_their_funding_and_kind(ledger: SqlLedger) -> None:
    session = entry("e1", funding=Funding.SELF)
    fee = entry("fee:cardA:2026-11:2020-06-01:1", funding=Funding.SELF, kind=EntryKind.FEE)
    defense = entry("e2", funding=Funding.FUNDED, kind=EntryKind.DEFENSE)
    ledger.commit(BOARD, Plan(entries=(session, fee, defense, reversal("fee~rev", fee))))
    stored = {e.entry_id: e for e in ledger.entries()}
    assert stored["e1"] == session and stored["e2"] == defense
    assert stored[fee.entry_id] == fee
    assert (stored["fee~rev"].kind, stored["fee~rev"].funding) == (EntryKind.FEE, Funding.SELF)
    assert isinstance(stored["e2"].kind, EntryKind) and isinstance(stored["e2"].funding, Funding)


def test_a_ledger_from_before_step_6_reads_its_entries_as_sessions_of_no_funding(
    ledger_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    old = [entry("e1"), entry("e2", status="noshow", amount_cents=2000, share_percent=50)]
    old.append(reversal("e1~rev", old[0]))
    engine = open_ledger(ledger_url, clock=clock).engine
    try:
        with engine.begin() as conn:  # back to schema 5, as an older trello-sync left it
            for column in ("funding", "kind"):
                conn.execute(text(f"ALTER TABLE entries DROP COLUMN {column}"))
            conn.execute(schema.schema_version.delete().where(schema.schema_version.c.version >= 6))
            for made in old:  # only the columns schema 5 has
                row = {k: v for k, v in row_of(made).items() if k not in ("funding", "kind")}
                conn.execute(insert(schema.entries).values(**row))
    finally:
        engine.dispose()
    migrated = open_ledger(ledger_url, clock=clock)
    try:
        assert migrated.schema_version() == schema.LATEST_VERSION
        entries = list(migrated.entries())
        assert entries == sorted(old, key=lambda e: (e.recorded_at, e.entry_id))
        assert {(e.funding, e.kind) for e in entries} == {(Funding.UNSET, EntryKind.SESSION)}
        export_ledger(entries, tmp_path)
        rows = (tmp_path / "ledger.csv").read_text().splitlines()
        assert rows[0].endswith(",reverses_entry_id,funding,kind")
        assert all(row.endswith(",unset,session") for row in rows[1:])
        # Still append-only after the columns were added.
        with pytest.raises(DBAPIError), migrated.engine.begin() as conn:
            conn.execute(text("UPDATE entries SET funding = 'self' WHERE entry_id = 'e1'"))
        migrated.commit(BOARD, Plan(entries=(entry("e3", funding=Funding.SELF),)))
        assert [e.funding for e in migrated.entries()][-1] == Funding.SELF
    finally:
        migrated.close()
