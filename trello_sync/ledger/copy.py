"""Moving a ledger to another database (SQLite → PostgreSQL, typically), row for row.

The target is created (migrated) first and must be empty; every table is copied in one
transaction on the target, so a failure leaves it empty; then the row counts of both
sides are compared. Append-only triggers only refuse UPDATE and DELETE, so the inserts
go through them untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Table, func, insert, select

from trello_sync.ledger.schema import (
    applied_actions,
    boards,
    cards,
    documents,
    entries,
    meta,
    payments,
    replies,
    stage_moves,
    write_transaction,
)
from trello_sync.ledger.sql import SqlLedger
from trello_sync.ledger.store import LedgerError

BATCH = 1000
# Parents before children; leases are not copied (they belong to running workers).
TABLES: tuple[Table, ...] = (
    boards,
    cards,
    stage_moves,
    applied_actions,
    entries,
    replies,
    documents,
    payments,
    meta,
)
# A reversal points at what it reverses (a foreign key): originals first, then each
# table's own order.
_REVERSES = {
    entries.name: entries.c.reverses_entry_id,
    payments.name: payments.c.reverses_payment_id,
}


def _rows(conn: Connection, table: Table) -> Iterator[list[dict[str, Any]]]:
    query = select(table).order_by(*table.primary_key.columns)
    reverses = _REVERSES.get(table.name)
    if reverses is not None:
        query = select(table).order_by(
            reverses.is_not(None), table.c.recorded_at, *table.primary_key.columns
        )
    result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(query)
    for partition in result.partitions(BATCH):
        yield [dict(row._mapping) for row in partition]


def _count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def copy_ledger(source: SqlLedger, target: SqlLedger) -> dict[str, int]:
    """Copy every row of `source` into the empty `target`; return the counts per table."""
    with target.engine.connect() as conn:
        busy = [t.name for t in (boards, entries, documents, payments) if _count(conn, t)]
    if busy:
        raise LedgerError(
            f"the target ledger is not empty (it has {', '.join(busy)}); "
            "migrate-ledger only fills a new, empty ledger"
        )
    counts: dict[str, int] = {}
    with source.engine.connect() as read, write_transaction(target.engine) as write:
        for table in TABLES:
            copied = 0
            for batch in _rows(read, table):
                write.execute(insert(table), batch)
                copied += len(batch)
            counts[table.name] = copied
    with source.engine.connect() as read, target.engine.connect() as check:
        for table in TABLES:
            if _count(read, table) != _count(check, table):
                raise LedgerError(f"copy check failed for {table.name}: counts differ")
    return counts
