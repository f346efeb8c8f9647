"""Board leases: one worker per board at a time, with a fencing check in every write.

A worker claims a board for `lease_seconds` and renews the claim every cycle. A lease
that ran out can be taken by another worker, which bumps the board's `fence`. Every
write a worker makes for a board (the cycle's commit, an outbox attempt) first checks,
inside the same transaction, that the lease is still its own with the same fence and
not expired; so a paused or partitioned worker that wakes up late cannot write over
its successor.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, and_, delete, insert, select, update

from trello_sync.ledger.schema import board_leases
from trello_sync.ledger.store import Lease, LeaseLost

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def claim(
    conn: Connection,
    owner: str,
    keys: Iterable[str],
    lease_seconds: float,
    now: datetime,
    limit: int | None,
) -> list[Lease]:
    """Renew this owner's leases among `keys`, then take up to `limit` free/expired ones."""
    expires = now + timedelta(seconds=lease_seconds)
    wanted = list(dict.fromkeys(keys))
    rows = {
        row.board_key: row
        for row in conn.execute(
            _locked(conn, select(board_leases).where(board_leases.c.board_key.in_(wanted)))
        )
    }
    held: list[Lease] = []
    taken = 0
    for key in wanted:
        row = rows.get(key)
        if row is not None and row.owner == owner and row.expires_at > now:
            conn.execute(
                update(board_leases)
                .where(board_leases.c.board_key == key)
                .values(expires_at=expires)
            )
            held.append(Lease(key, owner, row.fence, expires))
            continue
        if limit is not None and taken >= limit:
            continue
        if row is None:
            # Another worker may insert the same key meanwhile: the primary key decides,
            # and the loser's transaction fails; it simply tries again next cycle.
            conn.execute(
                insert(board_leases).values(board_key=key, owner=owner, fence=1, expires_at=expires)
            )
            fence = 1
        elif row.expires_at <= now or row.owner == owner:
            fence = row.fence + 1
            result = conn.execute(
                update(board_leases)
                .where(and_(board_leases.c.board_key == key, board_leases.c.fence == row.fence))
                .values(owner=owner, fence=fence, expires_at=expires)
            )
            if result.rowcount != 1:
                continue
        else:
            continue
        held.append(Lease(key, owner, fence, expires))
        taken += 1
    return held


def check(conn: Connection, lease: Lease, now: datetime) -> None:
    """Inside a write transaction: is this lease still held? Else LeaseLost (rolls back)."""
    row = conn.execute(
        _locked(conn, select(board_leases).where(board_leases.c.board_key == lease.key))
    ).first()
    if row is None or row.owner != lease.owner or row.fence != lease.fence:
        raise LeaseLost(f"board {lease.key}: another worker took it over; nothing written")
    if row.expires_at <= now:
        raise LeaseLost(f"board {lease.key}: this worker's lease ran out; nothing written")


def renew(
    conn: Connection, held: Iterable[Lease], lease_seconds: float, now: datetime
) -> list[Lease]:
    """Extend the leases still held (same owner and fence, not expired); drop the others."""
    expires = now + timedelta(seconds=lease_seconds)
    kept: list[Lease] = []
    for lease in held:
        result = conn.execute(
            update(board_leases)
            .where(
                and_(
                    board_leases.c.board_key == lease.key,
                    board_leases.c.owner == lease.owner,
                    board_leases.c.fence == lease.fence,
                    board_leases.c.expires_at > now,
                )
            )
            .values(expires_at=expires)
        )
        if result.rowcount == 1:
            kept.append(Lease(lease.key, lease.owner, lease.fence, expires))
    return kept


def release(conn: Connection, owner: str, keys: Iterable[str] | None = None) -> None:
    """Give leases up at once. A board's row stays (expired), so its fence only ever
    grows; a worker's presence row (`worker:<owner>`) is deleted, so they do not pile up."""
    query = update(board_leases).where(board_leases.c.owner == owner)
    if keys is not None:
        query = query.where(board_leases.c.board_key.in_(list(keys)))
    else:
        conn.execute(
            delete(board_leases).where(
                and_(board_leases.c.owner == owner, board_leases.c.board_key == f"worker:{owner}")
            )
        )
    conn.execute(query.values(expires_at=_EPOCH))


def live_owners(conn: Connection, now: datetime) -> set[str]:
    rows = conn.execute(
        select(board_leases.c.owner).where(board_leases.c.expires_at > now).distinct()
    )
    return {row.owner for row in rows}


def _locked(conn: Connection, query: Select[Any]) -> Select[Any]:
    # PostgreSQL: lock the rows read, so that a claim and a commit's check serialise.
    # SQLite: the write transaction (BEGIN IMMEDIATE) already holds the only write lock.
    return query.with_for_update() if conn.dialect.name == "postgresql" else query
