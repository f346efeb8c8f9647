"""Invoices (domain/invoice.py): the [invoice] table and its identifiers, the dates, and
which numbered documents a month needs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from trello_sync.domain.documents import (
    DocumentIdentity,
    DocumentKind,
    DocumentRequest,
    IssuedDocument,
    Party,
    StatementLine,
)
from trello_sync.domain.invoice import (
    INVOICE_KEYS,
    InvoiceConfig,
    correction_key,
    decide_documents,
    due_date,
    iban_valid,
    identity_of,
    invoice_config,
    luhn_valid,
    mentions,
    month_is_over,
)
from trello_sync.domain.money import Money
from trello_sync.domain.rules import Status
from trello_sync.domain.statement import lines_from_json

VALID = {
    "seller_name": "Camille Martin",
    "seller_address": "12 rue des Lilas\n75011 Paris\n",
    "siret": "732 829 320 00074",
    "client_name": "École du Web",
    "client_address": "1 place du Marché\n69002 Lyon",
}


# --- identifiers ----------------------------------------------------------------------------


def test_luhn_on_real_identifiers():
    assert luhn_valid("73282932000074")  # a SIRET
    assert luhn_valid("732829320")  # its SIREN
    assert not luhn_valid("73282932000075")
    assert not luhn_valid("732829321")
    assert not luhn_valid("")
    assert not luhn_valid("7328293200007a")
    assert not luhn_valid("٧٣٢٨٢٩٣٢٠")  # digits, but not ASCII ones


def test_iban_mod_97():
    assert iban_valid("FR7630006000011234567890189")
    assert iban_valid("FR76 3000 6000 0112 3456 7890 189")
    assert iban_valid("fr7630006000011234567890189")
    assert not iban_valid("FR7630006000011234567890188")  # one digit off
    assert not iban_valid("FR76")
    assert not iban_valid("7630006000011234567890189FR")


# --- the [invoice] table --------------------------------------------------------------------


def test_a_valid_table_with_its_defaults():
    config = invoice_config(VALID)
    assert config == InvoiceConfig(
        seller_name="Camille Martin",
        seller_address="12 rue des Lilas\n75011 Paris",
        siret="73282932000074",
        client_name="École du Web",
        client_address="1 place du Marché\n69002 Lyon",
    )
    assert config.payment_terms_days == 30
    assert config.vat_mention == "TVA non applicable, art. 293 B du CGI"
    assert config.late_penalty == "Taux d'intérêt de la BCE majoré de 10 points"
    assert config.recovery_indemnity == Money(4000, "EUR")
    assert config.number_prefix == "F-"
    assert config.language == "fr"
    assert config.iban is None and config.bic is None and config.purchase_order is None


def test_every_key_given():
    config = invoice_config(
        {
            **VALID,
            "siret": "732829320",  # a SIREN will do
            "payment_terms_days": 45,
            "iban": "FR76 3000 6000 0112 3456 7890 189",
            "bic": "bnpafrppxxx",
            "purchase_order": "PO-2026-17",
            "vat_mention": "TVA non applicable",
            "late_penalty": "3 fois le taux d'intérêt légal",
            "recovery_indemnity": "40",
            "number_prefix": "CM-2026-",
            "language": "en",
        }
    )
    assert config.siret == "732829320"
    assert config.iban == "FR7630006000011234567890189"
    assert config.bic == "BNPAFRPPXXX"
    assert config.recovery_indemnity == Money(4000, "EUR")
    assert config.language == "en"
    assert mentions(config).seller == Party("Camille Martin", "12 rue des Lilas\n75011 Paris")
    assert mentions(config).iban == config.iban
    assert mentions(config).payment_terms_days == 45
    assert set(INVOICE_KEYS) == {
        "seller_name",
        "seller_address",
        "siret",
        "client_name",
        "client_address",
        "payment_terms_days",
        "iban",
        "bic",
        "purchase_order",
        "vat_mention",
        "late_penalty",
        "recovery_indemnity",
        "number_prefix",
        "language",
    }


def test_la_postes_sirets_follow_their_own_rule():
    assert invoice_config({**VALID, "siret": "35600000049837"}).siret == "35600000049837"
    with pytest.raises(ValueError, match=r"^invoice\.siret: 35600000049838 fails La Poste"):
        invoice_config({**VALID, "siret": "35600000049838"})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("siret", "12345678901234", "invoice.siret: 12345678901234 fails the Luhn check"),
        ("siret", "732829321", "invoice.siret: 732829321 fails the Luhn check"),
        ("siret", "12345678900007", "invoice.siret: 12345678900007: its SIREN 123456789 fails"),
        ("siret", "7328293200007", "invoice.siret: '7328293200007' is neither"),
        ("siret", 73282932000074, "invoice.siret: write it as text"),
        ("payment_terms_days", 61, "invoice.payment_terms_days: 61 days: must be 0 to 60"),
        ("payment_terms_days", -1, "invoice.payment_terms_days: -1 days"),
        ("payment_terms_days", "30", "invoice.payment_terms_days: expected a whole number"),
        ("payment_terms_days", True, "invoice.payment_terms_days: expected a whole number"),
        ("iban", "FR7630006000011234567890188", "invoice.iban: 'FR76300060000112345678901"),
        ("bic", "BNPA FR", "invoice.bic: 'BNPA FR' is not a BIC"),
        ("bic", "BNPAFRPPX", "invoice.bic: 'BNPAFRPPX' is not a BIC"),
        ("recovery_indemnity", 40.0, "invoice.recovery_indemnity: write the amount as text"),
        ("recovery_indemnity", "forty", "invoice.recovery_indemnity: not an amount"),
        ("recovery_indemnity", "-40", "invoice.recovery_indemnity: '-40' is negative"),
        ("number_prefix", "", "invoice.number_prefix: ''"),
        ("number_prefix", "F 2026", "invoice.number_prefix: 'F 2026'"),
        ("language", "de", "invoice.language: 'de': expected one of fr, en"),
        ("seller_name", "", "invoice.seller_name: is empty"),
        ("seller_name", "Camille\nMartin", "invoice.seller_name: 'Camille\\nMartin' must be one"),
        ("client_address", "  \n ", "invoice.client_address: is empty"),
        ("client_name", ["École"], "invoice.client_name: expected text"),
        ("purchase_order", "PO\x07", "invoice.purchase_order: 'PO\\x07' holds a control"),
    ],
)
def test_each_bad_value_is_one_line_naming_its_key(key, value, message):
    with pytest.raises(ValueError) as raised:
        invoice_config({**VALID, key: value})
    text = str(raised.value)
    assert text.startswith(message)
    assert "\n" not in text


def test_an_unknown_key_and_a_missing_one_are_named():
    with pytest.raises(ValueError, match=r"^invoice\.sirett: unknown key") as raised:
        invoice_config({**VALID, "sirett": "1"})
    assert "\n" not in str(raised.value)
    for key in ("seller_name", "seller_address", "siret", "client_name", "client_address"):
        incomplete = {k: v for k, v in VALID.items() if k != key}
        with pytest.raises(ValueError, match=rf"^invoice\.{key}: missing"):
            invoice_config(incomplete)


# --- dates ----------------------------------------------------------------------------------


def test_due_date_is_a_calendar_date():
    assert due_date(date(2026, 1, 31), 30) == date(2026, 3, 2)
    assert due_date(date(2026, 2, 1), 0) == date(2026, 2, 1)
    with pytest.raises(ValueError):
        due_date(date(2026, 2, 1), -1)


def test_a_month_is_over_the_day_after_its_last():
    assert not month_is_over("2026-02", date(2026, 2, 28))
    assert month_is_over("2026-02", date(2026, 3, 1))
    assert month_is_over("2025-12", date(2026, 1, 1))
    assert not month_is_over("2026-03", date(2026, 2, 10))


# --- which documents a month needs ----------------------------------------------------------

CONFIG = invoice_config(VALID)
MONTH = "2026-02"
AFTER = date(2026, 3, 2)


def line(
    entry_id: str, day: int, cents: int = 3000, *, reverses: str | None = None
) -> StatementLine:
    return StatementLine(
        entry_id=entry_id,
        session_date=date(2026, 2, day),
        student="Léa",
        project="Learn how to learn",
        level=1,
        status=Status.DONE,
        share_percent=100,
        amount=Money(cents),
        reverses_entry_id=reverses,
    )


LINES = [line("e1", 3), line("e2", 10), line("e3", 17)]


def decide(lines, issued=(), today=AFTER, currency="EUR"):
    return decide_documents(
        mentor="camille",
        month=MONTH,
        lines_now=lines,
        issued=list(issued),
        today=today,
        config=CONFIG,
        currency=currency,
    )


def issue(request: DocumentRequest, seq: int) -> IssuedDocument:
    """As the ledger would: the request's fields, a number and the instant."""
    return IssuedDocument(
        key=request.key,
        mentor=request.mentor,
        month=request.month,
        kind=request.kind,
        seq=seq,
        number=f"F-{seq:04d}",
        issued_on=request.issued_on,
        due_on=request.due_on,
        refers_to=request.refers_to,
        currency=request.currency,
        total_cents=request.total_cents,
        entry_ids=request.entry_ids,
        body=request.body,
        created_at=datetime(2026, 3, 2, 8, tzinfo=UTC),
    )


def test_nothing_before_the_month_is_over_nor_for_an_empty_month():
    assert decide(LINES, today=date(2026, 2, 28)) == []
    assert decide([]) == []


def test_the_first_decision_is_the_invoice_of_every_line():
    (request,) = decide(LINES)
    assert request.kind is DocumentKind.INVOICE
    assert request.key == "invoice:camille:2026-02"
    assert request.entry_ids == ("e1", "e2", "e3")
    assert request.total_cents == 9000
    assert request.currency == "EUR"
    assert request.refers_to is None
    assert request.issued_on == AFTER
    assert request.due_on == date(2026, 4, 1)
    assert lines_from_json(request.body) == tuple(LINES)


def test_deciding_again_gives_the_same_request():
    assert decide(LINES) == decide(LINES)
    invoice = issue(decide(LINES)[0], 7)
    assert decide(LINES, [invoice]) == []  # everything is covered


def test_an_undo_after_the_invoice_is_a_credit_note_referring_to_it():
    invoice = issue(decide(LINES)[0], 7)
    undo = line("e2~rev", 10, -3000, reverses="e2")
    later = date(2026, 3, 9)
    (request,) = decide([*LINES, undo], [invoice], today=later)
    assert request.kind is DocumentKind.CREDIT_NOTE
    assert request.refers_to == "F-0007"
    assert request.entry_ids == ("e2~rev",)
    assert request.total_cents == -3000
    assert request.key == correction_key("camille", MONTH, ["e2~rev"])
    assert request.key.startswith("correction:camille:2026-02:")
    assert request.issued_on == later and request.due_on == date(2026, 4, 8)
    assert decide([*LINES, undo], [invoice], today=later) == [request]
    credit = issue(request, 8)
    assert decide([*LINES, undo], [invoice, credit]) == []


def test_a_late_session_is_a_supplementary_invoice():
    invoice = issue(decide(LINES)[0], 7)
    late = line("e4", 24)
    (request,) = decide([*LINES, late], [invoice])
    assert request.kind is DocumentKind.SUPPLEMENTARY_INVOICE
    assert request.refers_to == "F-0007"
    assert request.entry_ids == ("e4",)
    assert request.total_cents == 3000


def test_a_correction_netting_zero_is_a_credit_note():
    invoice = issue(decide(LINES)[0], 7)
    undo = line("e2~rev", 10, -3000, reverses="e2")
    late = line("e4", 24)
    (request,) = decide([*LINES, undo, late], [invoice])
    assert request.kind is DocumentKind.CREDIT_NOTE
    assert request.total_cents == 0
    assert request.key == correction_key("camille", MONTH, ["e4", "e2~rev"])


def test_a_late_session_undone_before_any_correction_issues_nothing():
    invoice = issue(decide(LINES)[0], 7)
    late = line("e4", 24)
    undone = line("e4~rev", 24, -3000, reverses="e4")
    assert decide([*LINES, late, undone], [invoice]) == []
    other = line("e5", 25)
    (request,) = decide([*LINES, late, undone, other], [invoice])
    assert request.entry_ids == ("e5",)


def test_documents_of_other_months_and_mentors_do_not_count():
    invoice = issue(decide(LINES)[0], 7)
    elsewhere = [replace(invoice, month="2026-01"), replace(invoice, mentor="sam")]
    (request,) = decide(LINES, elsewhere)
    assert request.kind is DocumentKind.INVOICE


def test_lines_in_another_currency_are_refused():
    with pytest.raises(ValueError, match="one currency"):
        decide([*LINES, replace(line("c1", 4), amount=Money(3000, "CHF"))])


def test_identity_of_an_issued_document():
    invoice = issue(decide(LINES)[0], 7)
    assert identity_of(invoice) == DocumentIdentity(
        kind=DocumentKind.INVOICE,
        number="F-0007",
        issued_on=AFTER,
        due_on=date(2026, 4, 1),
        refers_to=None,
    )
