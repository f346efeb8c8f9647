"""The receipts book: one row per payment in order of receipt, a reversal as its own
negative row, the month's invoice number, text cells that cannot start a formula, and
the same bytes for the same books."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from trello_sync.domain.documents import DocumentKind, IssuedDocument, Payment
from trello_sync.receipts import RECEIPT_COLUMNS, receipt_rows, write_receipts_csv

AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def document(
    seq: int, month: str, kind: DocumentKind = DocumentKind.INVOICE, **changes: object
) -> IssuedDocument:
    base = IssuedDocument(
        key=f"{kind.value}:mentor1:{month}:{seq}",
        mentor="mentor1",
        month=month,
        kind=kind,
        seq=seq,
        number=f"F-{seq:04d}",
        issued_on=date(2026, 12, 1),
        due_on=date(2026, 12, 31),
        refers_to=None,
        currency="EUR",
        total_cents=12_000,
        entry_ids=("e1",),
        body="{}",
        created_at=AT,
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
        ref="VIR NOV",
        recorded_at=AT,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


DOCUMENTS = [
    document(2, "2026-11", DocumentKind.CREDIT_NOTE, refers_to="F-0001", number="F-0002"),
    document(1, "2026-11"),
    document(3, "2026-12"),
    document(1, "2026-11", mentor="mentor2", number="M2-0001"),
]


def rows(payments: list[Payment], **kwargs: str) -> list[dict[str, str]]:
    names = {"client": "OpenClassrooms", "service": "Mentoring sessions", **kwargs}
    return receipt_rows(payments, DOCUMENTS, **names)


def test_one_row_per_payment_in_order_of_receipt() -> None:
    late = payment("p-late", received_on=date(2027, 1, 5), month="2026-12", amount_cents=9000)
    second = payment("p-b", recorded_at=AT + timedelta(minutes=5), method="paypal", ref="PP-1")
    first = payment("p-z", amount_cents=3000)
    table = rows([late, second, first])
    assert [r["payment_id"] for r in table] == ["p-z", "p-b", "p-late"]
    assert table[0] == {
        "received_on": "2026-12-10",
        "client": "OpenClassrooms",
        "invoice_number": "F-0001",
        "service": "Mentoring sessions",
        "amount": "30.00",
        "currency": "EUR",
        "method": "transfer",
        "ref": "VIR NOV",
        "payment_id": "p-z",
    }
    assert [r["invoice_number"] for r in table] == ["F-0001", "F-0001", "F-0003"]
    assert all(tuple(r) == RECEIPT_COLUMNS for r in table)


def test_a_reversal_is_its_own_negative_row() -> None:
    original = payment("p1")
    undo = replace(
        original,
        payment_id="p1~rev",
        amount_cents=-12_000,
        reverses_payment_id="p1",
        received_on=date(2026, 12, 11),
    )
    table = rows([undo, original])
    assert [(r["payment_id"], r["amount"]) for r in table] == [
        ("p1", "120.00"),
        ("p1~rev", "-120.00"),
    ]
    assert table[1]["invoice_number"] == "F-0001"


def test_the_invoice_number_is_the_invoice_of_that_mentor_and_month() -> None:
    table = rows(
        [
            payment("p-m2", mentor="mentor2"),
            payment("p-none", month="2026-09"),
            payment("p-m3", mentor="mentor3"),
        ]
    )
    by_id = {r["payment_id"]: r["invoice_number"] for r in table}
    # A credit note of the month is not what a payment pays; no invoice: an empty cell.
    assert by_id == {"p-m2": "M2-0001", "p-none": "", "p-m3": ""}
    assert rows([payment("p")], client="C")[0]["invoice_number"] == "F-0001"
    assert receipt_rows([payment("p")], [], client="C", service="S")[0]["invoice_number"] == ""


def test_text_cells_cannot_start_a_formula() -> None:
    hostile = payment("=cmd|'/c calc'!A1", ref="+SUM(A1)", method="@paypal", amount_cents=-500)
    (row,) = rows([hostile], client='=HYPERLINK("http://x")', service="-service")
    assert row["client"] == '\'=HYPERLINK("http://x")'
    assert row["service"] == "'-service"
    assert row["ref"] == "'+SUM(A1)"
    assert row["method"] == "'@paypal"
    assert row["payment_id"] == "'=cmd|'/c calc'!A1"
    assert row["amount"] == "-5.00"  # a number, not text: left as it is


def test_the_file_is_written_atomically_with_the_same_bytes(tmp_path: Path) -> None:
    payments = [
        payment("p1", ref='quote "and", comma'),
        payment("p2", received_on=date(2026, 12, 12), ref="Élodie"),
    ]
    first = write_receipts_csv(tmp_path / "a" / "receipts.csv", rows(payments))
    second = write_receipts_csv(tmp_path / "b" / "receipts.csv", rows(list(reversed(payments))))
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes().decode("utf-8").splitlines() == [
        ",".join(RECEIPT_COLUMNS),
        "2026-12-10,OpenClassrooms,F-0001,Mentoring sessions,120.00,EUR,transfer,"
        '"quote ""and"", comma",p1',
        "2026-12-12,OpenClassrooms,F-0001,Mentoring sessions,120.00,EUR,transfer,Élodie,p2",
    ]
    assert b"\r" not in first.read_bytes()
    # Written again over itself: the same bytes, and no temporary file left beside it.
    write_receipts_csv(first, rows(payments))
    assert first.read_bytes() == second.read_bytes()
    assert sorted(p.name for p in first.parent.iterdir()) == ["receipts.csv"]


def test_no_payments_is_a_header_only_file(tmp_path: Path) -> None:
    path = write_receipts_csv(tmp_path / "receipts.csv", rows([]))
    assert path.read_text(encoding="utf-8") == ",".join(RECEIPT_COLUMNS) + "\n"
