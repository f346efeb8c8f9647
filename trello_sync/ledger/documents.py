"""Numbered documents and payments in the ledger: the queries behind SqlLedger's
`issue_document`, `documents`, `record_payment` and `payments`.

A document's number is the mentor's next sequence number, decided inside the write
transaction that inserts it. Two writers must never decide the same number (a gap or a
duplicate in an invoice sequence is not allowed), so the decision is serialised per
mentor: SQLite's write transactions start with BEGIN IMMEDIATE (one writer at a time on
the whole file); on PostgreSQL the transaction first takes a transaction-level advisory
lock named after the schema and the mentor, and runs at READ COMMITTED, so that every
statement after the lock sees what the previous holder committed. A lock rather than
"insert and retry on a unique violation": with several workers issuing at once a retry
loop has no useful bound, while the lock makes each issue wait its turn and succeed.
UNIQUE (mentor, seq) and UNIQUE (number) stay as the backstop: a writer that bypassed
the lock (or another mentor using the same prefix) fails instead of issuing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Connection, Select, select, text
from sqlalchemy.exc import IntegrityError

from trello_sync.domain.documents import (
    NUMBERED_KINDS,
    DocumentRequest,
    IssuedDocument,
    Payment,
)
from trello_sync.domain.money import format_cents
from trello_sync.ledger.rows import document_of, document_row, payment_of, row_of
from trello_sync.ledger.schema import documents, payments
from trello_sync.ledger.store import LedgerError

# Attempts of one issue when a unique constraint still refuses it (a writer that took no
# lock, a key or a number another mentor holds): the next attempt sees that row and
# either returns the document or says why it cannot be issued: two are enough.
ISSUE_ATTEMPTS = 3
# PostgreSQL reads each statement's snapshot at READ COMMITTED: what the lock waited for.
ISSUE_ISOLATION = "READ COMMITTED"

# A write transaction at an isolation level (None: the default), its database errors
# turned into LedgerError with the original as the cause: SqlLedger._write.
Writer = Callable[[str | None], AbstractContextManager[Connection]]

_SEQUENCE_LOCK = text(
    "SELECT pg_advisory_xact_lock(hashtext('trello-sync documents ' || current_schema() "
    "|| ' ' || :mentor))"
)


# --- documents ----------------------------------------------------------------------------


def issue_document(
    write: Writer, request: DocumentRequest, prefix: str, at: datetime
) -> IssuedDocument:
    """The document of `request.key`, issued now if it was not already (see above)."""
    check_request(request, prefix, at)
    for attempt in range(1, ISSUE_ATTEMPTS + 1):
        try:
            with write(ISSUE_ISOLATION) as conn:
                return issue(conn, request, prefix, at)
        except LedgerError as error:
            # A unique constraint refused the insert: the next attempt sees the row that
            # won (the same key: returned; another mentor's number: said why).
            cause = error.__cause__
            if not isinstance(cause, IntegrityError):
                raise
            if attempt == ISSUE_ATTEMPTS:
                raise not_issued(request, cause) from cause
    raise AssertionError("unreachable: the last attempt returns or raises")


def check_request(request: DocumentRequest, prefix: str, at: datetime) -> None:
    if at.tzinfo is None:
        # A naive instant is ambiguous: refused, as the ledger refuses it everywhere.
        raise LedgerError(f"document {request.key}: naive datetime {at!r}, expected aware")
    if request.kind not in NUMBERED_KINDS:
        raise LedgerError(
            f"document {request.key}: a {request.kind.value} has no number; "
            "only invoices and corrections are issued"
        )
    if not prefix:
        raise LedgerError(f"document {request.key}: the number prefix is empty")


def issue(conn: Connection, request: DocumentRequest, prefix: str, at: datetime) -> IssuedDocument:
    """Inside a write transaction: the document already issued under the request's key,
    or a new one with the mentor's next number."""
    _lock_sequence(conn, request.mentor)
    known = _by_key(conn, request.key)
    if known is not None:
        if known.mentor != request.mentor:
            raise LedgerError(
                f"document {request.key} was issued to {known.mentor} "
                f"(number {known.number}), not to {request.mentor}"
            )
        return known
    seq = _last_seq(conn, request.mentor) + 1
    document = IssuedDocument(
        key=request.key,
        mentor=request.mentor,
        month=request.month,
        kind=request.kind,
        seq=seq,
        number=f"{prefix}{seq:04d}",
        issued_on=request.issued_on,
        due_on=request.due_on,
        refers_to=request.refers_to,
        currency=request.currency,
        total_cents=request.total_cents,
        entry_ids=tuple(request.entry_ids),
        body=request.body,
        created_at=at.astimezone(UTC),  # as it reads back: the same document either way
    )
    conn.execute(documents.insert().values(document_row(document)))
    return document


def not_issued(request: DocumentRequest, error: IntegrityError) -> LedgerError:
    return LedgerError(
        f"document {request.key}: not issued, the ledger refused it ({_first_line(error)})"
    )


def select_documents(
    conn: Connection, mentor: str | None, month: str | None
) -> list[IssuedDocument]:
    query = select(documents).order_by(documents.c.mentor, documents.c.seq)
    query = _filtered(query, documents.c.mentor, mentor)
    query = _filtered(query, documents.c.month, month)
    return [document_of(row) for row in conn.execute(query)]


def _lock_sequence(conn: Connection, mentor: str) -> None:
    # SQLite: BEGIN IMMEDIATE already holds the only write lock. PostgreSQL: released by
    # the commit or the rollback, so a crash mid-issue never leaves it held.
    if conn.dialect.name == "postgresql":
        conn.execute(_SEQUENCE_LOCK, {"mentor": mentor})


def _by_key(conn: Connection, key: str) -> IssuedDocument | None:
    row = conn.execute(select(documents).where(documents.c.key == key)).first()
    return None if row is None else document_of(row)


def _last_seq(conn: Connection, mentor: str) -> int:
    query = select(documents.c.seq).where(documents.c.mentor == mentor)
    last = conn.execute(query.order_by(documents.c.seq.desc()).limit(1)).scalar()
    return int(last or 0)


# --- payments -----------------------------------------------------------------------------


def record_payment(write: Writer, payment: Payment) -> None:
    try:
        with write(None) as conn:
            record(conn, payment)
    except LedgerError as error:
        # Only a concurrent writer of the same payment id gets past record's checks.
        cause = error.__cause__
        if isinstance(cause, IntegrityError):
            raise LedgerError(
                f"payment {payment.payment_id} conflicts with the ledger "
                f"({_first_line(cause)}); nothing was written"
            ) from cause
        raise


def record(conn: Connection, payment: Payment) -> None:
    """Inside a write transaction: check the payment against the ledger, then insert it."""
    if _payment(conn, payment.payment_id, lock=False) is not None:
        raise LedgerError(f"payment {payment.payment_id} is already recorded")
    if payment.reverses_payment_id is not None:
        _check_reversal(conn, payment, payment.reverses_payment_id)
    conn.execute(payments.insert().values(row_of(payment)))


def select_payments(conn: Connection, mentor: str | None, month: str | None) -> list[Payment]:
    query = select(payments).order_by(
        payments.c.received_on, payments.c.recorded_at, payments.c.payment_id
    )
    query = _filtered(query, payments.c.mentor, mentor)
    query = _filtered(query, payments.c.month, month)
    return [payment_of(row) for row in conn.execute(query)]


def _check_reversal(conn: Connection, payment: Payment, target_id: str) -> None:
    # The target's row is locked first (PostgreSQL), so two reversals of one payment
    # recorded at once wait for each other and the second sees the first.
    target = _payment(conn, target_id, lock=True)
    name = f"payment {payment.payment_id} reverses payment {target_id}"
    if target is None:
        raise LedgerError(f"{name}, which the ledger does not know")
    if target.reverses_payment_id is not None:
        raise LedgerError(
            f"{name}, itself a reversal (of {target.reverses_payment_id}): "
            "a reversal cannot be reversed"
        )
    earlier = conn.execute(
        select(payments.c.payment_id).where(payments.c.reverses_payment_id == target_id)
    ).scalar()
    if earlier is not None:
        raise LedgerError(f"{name}, already reversed by {earlier}")
    same = (target.mentor, target.month, target.currency, -target.amount_cents)
    if (payment.mentor, payment.month, payment.currency, payment.amount_cents) != same:
        raise LedgerError(
            f"{name} but is not its opposite: expected {format_cents(-target.amount_cents)} "
            f"{target.currency} for {target.mentor}, {target.month}"
        )


def _payment(conn: Connection, payment_id: str, *, lock: bool) -> Payment | None:
    query = select(payments).where(payments.c.payment_id == payment_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else payment_of(row)


def _filtered(query: Select[Any], column: Column[Any], value: str | None) -> Select[Any]:
    return query if value is None else query.where(column == value)


def _first_line(error: IntegrityError) -> str:
    lines = str(error.orig).strip().splitlines()
    return lines[0] if lines else "a unique constraint"
