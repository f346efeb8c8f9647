"""Numbered documents and payments on every backend: one continuous sequence per mentor
(no gap, no number reused, even with several workers issuing at once), an issue that is
idempotent by key, append-only tables, and the reversal rules of payments."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from test_ledger_contract import row_counts

from trello_sync.clock import FakeClock
from trello_sync.domain.documents import DocumentKind, DocumentRequest, IssuedDocument, Payment
from trello_sync.ledger import schema
from trello_sync.ledger.copy import copy_ledger
from trello_sync.ledger.open import open_ledger
from trello_sync.ledger.sql import SqlLedger
from trello_sync.ledger.store import LedgerError

AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
PREFIX = "F-"


def request(key: str, **changes: object) -> DocumentRequest:
    base = DocumentRequest(
        key=key,
        mentor="mentor1",
        month="2026-11",
        kind=DocumentKind.INVOICE,
        issued_on=date(2026, 12, 1),
        due_on=date(2026, 12, 31),
        refers_to=None,
        currency="EUR",
        total_cents=12_000,
        entry_ids=("e1", "e2"),
        body='{"lines":[]}',
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def payment(payment_id: str, **changes: object) -> Payment:
    base = Payment(
        payment_id=payment_id,
        mentor="mentor1",
        month="2026-11",
        received_on=date(2026, 12, 10),
        amount_cents=12_000,
        currency="EUR",
        method="transfer",
        ref="VIR 2026-11",
        recorded_at=AT,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def reversal_of(original: Payment, payment_id: str, **changes: object) -> Payment:
    opposite = {"amount_cents": -original.amount_cents, "reverses_payment_id": original.payment_id}
    fields = {**opposite, "payment_id": payment_id, **changes}
    return replace(original, **fields)  # type: ignore[arg-type]


def issue(ledger: SqlLedger, key: str, prefix: str = PREFIX, **changes: object) -> IssuedDocument:
    return ledger.issue_document(request(key, **changes), prefix=prefix, at=AT)


# --- numbers ----------------------------------------------------------------------------------


def test_the_first_number_is_the_prefix_and_0001(ledger: SqlLedger) -> None:
    document = issue(ledger, "invoice:mentor1:2026-11")
    assert (document.seq, document.number, document.created_at) == (1, "F-0001", AT)
    assert ledger.documents() == [document]


def test_issuing_the_same_key_again_returns_the_document_unchanged(ledger: SqlLedger) -> None:
    first = issue(ledger, "invoice:mentor1:2026-11")
    again = ledger.issue_document(
        request("invoice:mentor1:2026-11", body="{}", total_cents=1, issued_on=date(2027, 1, 1)),
        prefix="OTHER-",
        at=AT + timedelta(days=3),
    )
    assert again == first
    assert ledger.documents() == [first]
    assert issue(ledger, "invoice:mentor1:2026-12", month="2026-12").number == "F-0002"


def test_each_mentor_has_one_continuous_sequence_for_every_kind(ledger: SqlLedger) -> None:
    invoice = issue(ledger, "invoice:mentor1:2026-11")
    issue(ledger, "invoice:mentor2:2026-11", prefix="M2-", mentor="mentor2")
    credit = issue(
        ledger,
        "credit:mentor1:2026-11:e9",
        kind=DocumentKind.CREDIT_NOTE,
        refers_to=invoice.number,
        total_cents=-4000,
    )
    extra = issue(
        ledger,
        "supplementary:mentor1:2026-11:e10",
        kind=DocumentKind.SUPPLEMENTARY_INVOICE,
        refers_to=invoice.number,
    )
    issue(ledger, "invoice:mentor2:2026-12", prefix="M2-", mentor="mentor2", month="2026-12")
    numbers = [(d.mentor, d.seq, d.number) for d in ledger.documents()]
    assert numbers == [
        ("mentor1", 1, "F-0001"),
        ("mentor1", 2, "F-0002"),
        ("mentor1", 3, "F-0003"),
        ("mentor2", 1, "M2-0001"),
        ("mentor2", 2, "M2-0002"),
    ]
    assert ledger.documents(mentor="mentor1") == [invoice, credit, extra]
    assert [d.number for d in ledger.documents(month="2026-12")] == ["M2-0002"]
    assert ledger.documents(mentor="mentor2", month="2026-10") == []


def test_each_mentor_is_a_seller_with_a_sequence_of_their_own(ledger: SqlLedger) -> None:
    first = issue(ledger, "invoice:mentor1:2026-11")
    second = issue(ledger, "invoice:mentor2:2026-11", mentor="mentor2")
    assert (first.mentor, first.number) == ("mentor1", "F-0001")
    assert (second.mentor, second.number) == ("mentor2", "F-0001")


def test_a_document_without_a_number_or_a_naive_instant_is_refused(ledger: SqlLedger) -> None:
    with pytest.raises(LedgerError, match="has no number"):
        issue(ledger, "draft:mentor1:2026-11", kind=DocumentKind.DRAFT)
    with pytest.raises(LedgerError, match="naive"):
        ledger.issue_document(request("k"), prefix=PREFIX, at=datetime(2026, 12, 1))
    issue(ledger, "invoice:mentor1:2026-11")
    with pytest.raises(LedgerError, match="was issued to mentor1"):
        issue(ledger, "invoice:mentor1:2026-11", prefix="M2-", mentor="mentor2")
    assert [d.key for d in ledger.documents()] == ["invoice:mentor1:2026-11"]


# --- append-only and round trips --------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE documents SET number = 'F-0009'",
        "UPDATE documents SET body = ''",
        "DELETE FROM documents",
        "UPDATE payments SET amount_cents = 0",
        "DELETE FROM payments",
    ],
)
def test_documents_and_payments_cannot_be_rewritten(ledger: SqlLedger, statement: str) -> None:
    document = issue(ledger, "invoice:mentor1:2026-11")
    ledger.record_payment(payment("p1"))
    before = row_counts(ledger)
    with pytest.raises(DBAPIError, match="append-only"), ledger.engine.begin() as conn:
        conn.exec_driver_sql(statement)
    assert row_counts(ledger) == before
    assert ledger.documents() == [document]
    assert ledger.payments() == [payment("p1")]


def test_every_field_round_trips(ledger: SqlLedger) -> None:
    local = datetime(2026, 12, 1, 23, 30, 15, 123456, tzinfo=timezone(timedelta(hours=-5)))
    issued = ledger.issue_document(
        request(
            "credit:mentor1:2026-11:é",
            kind=DocumentKind.CREDIT_NOTE,
            refers_to="F-0000",
            total_cents=-(2**53 + 1),
            entry_ids=("e-β", 'quote"d', "E-0"),
            body='{"note":"Élodie \\u2014 =1+1","n":[1,2]}\n',
            issued_on=date(2026, 12, 2),
            due_on=date(2027, 1, 1),
            currency="USD",
        ),
        prefix="AV/",
        at=local,
    )
    empty = issue(ledger, "invoice:mentor1:2026-10", month="2026-10", entry_ids=())
    stored, stored_empty = ledger.documents()
    assert (stored, stored_empty) == (issued, empty)
    assert stored.entry_ids == ("e-β", 'quote"d', "E-0") and stored_empty.entry_ids == ()
    assert stored.kind is DocumentKind.CREDIT_NOTE and type(stored.total_cents) is int
    assert stored.created_at == local and stored.created_at.utcoffset() == timedelta(0)
    assert (stored.issued_on, stored.due_on) == (date(2026, 12, 2), date(2027, 1, 1))

    paid = payment("p-1", recorded_at=local, ref="", method="paypal", amount_cents=2**40)
    ledger.record_payment(paid)
    (read,) = ledger.payments()
    assert read == paid and read.recorded_at.utcoffset() == timedelta(0)
    assert read.received_on == date(2026, 12, 10) and read.reverses_payment_id is None


# --- payments ------------------------------------------------------------------------------------


def test_payments_come_in_order_of_receipt(ledger: SqlLedger) -> None:
    later = payment("p-a", received_on=date(2026, 12, 12))
    same_day = [
        payment("p-c", recorded_at=AT + timedelta(minutes=1)),
        payment("p-b", recorded_at=AT + timedelta(minutes=1)),
        payment("p-z", recorded_at=AT),
    ]
    other = payment("p-0", mentor="mentor2", month="2026-10", received_on=date(2026, 11, 5))
    for each in (later, *same_day, other):
        ledger.record_payment(each)
    assert [p.payment_id for p in ledger.payments()] == ["p-0", "p-z", "p-b", "p-c", "p-a"]
    assert [p.payment_id for p in ledger.payments(mentor="mentor2")] == ["p-0"]
    assert [p.payment_id for p in ledger.payments(month="2026-11")] == ["p-z", "p-b", "p-c", "p-a"]
    assert ledger.payments(mentor="mentor2", month="2026-11") == []


def test_the_reversal_rules(ledger: SqlLedger) -> None:
    original = payment("p1")
    ledger.record_payment(original)
    undo = reversal_of(original, "p1~rev", recorded_at=AT + timedelta(hours=1))
    ledger.record_payment(undo)
    assert sum(p.amount_cents for p in ledger.payments()) == 0
    refused = [
        (payment("p1", ref="again"), "payment p1 is already recorded"),
        (reversal_of(original, "p1~again"), "already reversed by p1~rev"),
        (reversal_of(undo, "p1~rev~rev"), "itself a reversal .*cannot be reversed"),
        (reversal_of(payment("ghost"), "ghost~rev"), "ledger does not know"),
    ]
    ledger.record_payment(payment("p2"))
    refused.append((reversal_of(payment("p2"), "p2~half", amount_cents=-1), "not its opposite"))
    refused.append((reversal_of(payment("p2"), "p2~m2", mentor="mentor2"), "not its opposite"))
    before = row_counts(ledger)
    for wrong, message in refused:
        with pytest.raises(LedgerError, match=message) as caught:
            ledger.record_payment(wrong)
        assert "\n" not in str(caught.value)
    assert row_counts(ledger) == before
    with pytest.raises(LedgerError):  # naive instants are refused here too
        ledger.record_payment(payment("p3", recorded_at=datetime(2026, 12, 1)))


# --- moving and migrating ------------------------------------------------------------------------


def test_migrate_ledger_copies_documents_and_payments(
    ledger: SqlLedger, tmp_path, clock: FakeClock
) -> None:
    source = open_ledger(f"sqlite:///{tmp_path / 'source.db'}", clock=clock)
    try:
        issue(source, "invoice:mentor1:2026-11")
        issue(source, "credit:mentor1:2026-11:e3", kind=DocumentKind.CREDIT_NOTE, refers_to="F-1")
        original = payment("p1")
        # The reversal's id sorts before its original's: the copy must still put it after.
        for each in (original, reversal_of(original, "a-rev"), payment("p2")):
            source.record_payment(each)
        counts = copy_ledger(source, ledger)
        assert (counts["documents"], counts["payments"]) == (2, 3)
        assert ledger.documents() == source.documents()
        assert ledger.payments() == source.payments()
        assert row_counts(ledger)["documents"] == row_counts(source)["documents"]
        # The sequence goes on in the new ledger from where it was.
        assert issue(ledger, "invoice:mentor1:2026-12", month="2026-12").number == "F-0003"
    finally:
        source.close()


def test_a_target_holding_documents_or_payments_is_not_empty(
    ledger: SqlLedger, tmp_path, clock: FakeClock
) -> None:
    source = open_ledger(f"sqlite:///{tmp_path / 'source.db'}", clock=clock)
    try:
        ledger.record_payment(payment("p1"))
        with pytest.raises(LedgerError, match=r"not empty .*payments"):
            copy_ledger(source, ledger)
    finally:
        source.close()


def test_a_ledger_at_schema_4_gains_the_two_tables(ledger_url: str, clock: FakeClock) -> None:
    engine = open_ledger(ledger_url, clock=clock).engine
    with engine.begin() as conn:  # back to schema 4, as the previous trello-sync left it
        conn.execute(text("DROP TABLE payments"))
        conn.execute(text("DROP TABLE documents"))
        for column in ("funding", "kind"):  # step 6's: not there at schema 4
            conn.execute(text(f"ALTER TABLE entries DROP COLUMN {column}"))
        conn.execute(schema.schema_version.delete().where(schema.schema_version.c.version >= 5))
    engine.dispose()
    migrated = open_ledger(ledger_url, clock=clock)
    try:
        assert migrated.schema_version() == schema.LATEST_VERSION
        assert issue(migrated, "invoice:mentor1:2026-11").number == "F-0001"
        with pytest.raises(DBAPIError, match="append-only"), migrated.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM documents")
    finally:
        migrated.close()


# --- several workers at once ---------------------------------------------------------------------


def in_threads(
    ledger_url: str, clock: FakeClock, work: Callable[[SqlLedger, int], Any]
) -> list[Any]:
    """Run `work(ledger, i)` in 4 threads at once, each with its own ledger (engine): what
    each returned, or the exception it raised."""
    ledgers = [open_ledger(ledger_url, clock=clock) for _ in range(4)]
    start = threading.Barrier(len(ledgers))
    results: list[Any] = [RuntimeError("not run")] * len(ledgers)

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = work(ledgers[index], index)
        except BaseException as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(ledgers))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        for each in ledgers:
            each.close()
    return results


def test_workers_issuing_at_once_get_consecutive_numbers(
    ledger: SqlLedger, ledger_url: str, clock: FakeClock
) -> None:
    def ten(worker: SqlLedger, index: int) -> list[IssuedDocument]:
        return [issue(worker, f"doc:{index}:{n}", month=f"2026-{n + 1:02d}") for n in range(10)]

    results = in_threads(ledger_url, clock, ten)
    failed = [r for r in results if isinstance(r, BaseException)]
    assert not failed, failed
    issued = [document for batch in results for document in batch]
    assert sorted(d.seq for d in issued) == list(range(1, 41))
    assert sorted(d.number for d in issued) == [f"F-{n:04d}" for n in range(1, 41)]
    assert ledger.documents() == sorted(issued, key=lambda d: d.seq)
    for batch in results:  # each worker's own documents come in the order it issued them
        assert [d.seq for d in batch] == sorted(d.seq for d in batch)


def test_workers_issuing_the_same_key_at_once_issue_one_document(
    ledger: SqlLedger, ledger_url: str, clock: FakeClock
) -> None:
    results = in_threads(
        ledger_url, clock, lambda worker, _: issue(worker, "invoice:mentor1:2026-11")
    )
    assert all(isinstance(r, IssuedDocument) for r in results), results
    assert len(set(results)) == 1
    assert ledger.documents() == [results[0]]
    assert results[0].number == "F-0001"


def test_workers_reversing_one_payment_at_once_reverse_it_once(
    ledger: SqlLedger, ledger_url: str, clock: FakeClock
) -> None:
    original = payment("p1")
    ledger.record_payment(original)

    def reverse(worker: SqlLedger, index: int) -> str:
        worker.record_payment(reversal_of(original, f"p1~rev{index}"))
        return f"p1~rev{index}"

    results = in_threads(ledger_url, clock, reverse)
    done = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, LedgerError)]
    assert len(done) == 1 and len(refused) == 3, results
    assert all("already reversed by" in str(r) or "conflicts" in str(r) for r in refused)
    assert [p.payment_id for p in ledger.payments()] == ["p1", *done]
