"""The receipts book ("livre des recettes") of a micro-entrepreneur: every payment
received, in the order received, with the invoice it pays.

One row per payment as the ledger keeps it; a reversal (a payment sent back, one
recorded by mistake) is a row of its own with the opposite amount, so the book is
append-only like the ledger and its total is what was really received. Deterministic:
the same payments and documents give the same bytes.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from pathlib import Path

from trello_sync.domain.documents import DocumentKind, IssuedDocument, Payment
from trello_sync.domain.money import format_cents
from trello_sync.export import atomic_file, csv_text

RECEIPT_COLUMNS = (
    "received_on",
    "client",
    "invoice_number",
    "service",
    "amount",
    "currency",
    "method",
    "ref",
    "payment_id",
)


def receipt_rows(
    payments: Iterable[Payment],
    documents: Iterable[IssuedDocument],
    *,
    client: str,
    service: str,
) -> list[dict[str, str]]:
    """One row per payment, by (received_on, recorded_at, payment_id)."""
    invoices = _invoice_numbers(documents)
    ordered = sorted(payments, key=lambda p: (p.received_on, p.recorded_at, p.payment_id))
    return [_row(payment, invoices, client, service) for payment in ordered]


def write_receipts_csv(path: Path, rows: Iterable[Mapping[str, str]]) -> Path:
    """Write the rows as CSV at `path`, atomically (never a partial file); return it."""
    with atomic_file(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(RECEIPT_COLUMNS)
        writer.writerows([row[column] for column in RECEIPT_COLUMNS] for row in rows)
    return path


def _invoice_numbers(documents: Iterable[IssuedDocument]) -> dict[tuple[str, str], str]:
    """(mentor, month) → the number of its invoice. Corrections are left out: a payment
    pays the month, whose invoice is the one a client quotes. One invoice per mentor and
    month is the rule; were there two, the first issued (lowest seq) names the month."""
    numbers: dict[tuple[str, str], str] = {}
    invoices = (d for d in documents if d.kind == DocumentKind.INVOICE)
    for document in sorted(invoices, key=lambda d: (d.mentor, d.seq)):
        numbers.setdefault((document.mentor, document.month), document.number)
    return numbers


def _row(
    payment: Payment, invoices: Mapping[tuple[str, str], str], client: str, service: str
) -> dict[str, str]:
    # Every cell a person typed or configured goes through csv_text: a client named
    # "=HYPERLINK(…)" must not run in the accountant's spreadsheet. The amount does not:
    # "-40.00" is a number, and a reversal's amount starts with "-".
    return {
        "received_on": payment.received_on.isoformat(),
        "client": csv_text(client),
        "invoice_number": csv_text(invoices.get((payment.mentor, payment.month), "")),
        "service": csv_text(service),
        "amount": format_cents(payment.amount_cents),
        "currency": payment.currency,
        "method": csv_text(payment.method),
        "ref": csv_text(payment.ref),
        "payment_id": csv_text(payment.payment_id),
    }
