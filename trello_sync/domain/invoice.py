"""Invoices: the seller's configuration (the TOML [invoice] table), the checks of its
identifiers, and the decision of which numbered documents a month needs.

The decision is pure and repeatable: the same lines and the same issued documents give
the same requests with the same keys, and the ledger issues a key once. A month is
invoiced once it is over; what changes after (an undo, a session logged late) becomes a
correction referring to the invoice, never an edit of it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

from trello_sync.domain.charts import month_bounds
from trello_sync.domain.documents import (
    DocumentIdentity,
    DocumentKind,
    DocumentRequest,
    InvoiceMentions,
    IssuedDocument,
    Party,
    StatementLine,
)
from trello_sync.domain.money import Money, parse_amount
from trello_sync.domain.statement import lines_to_json

# French law caps most payment terms between businesses at 60 days.
MAX_PAYMENT_TERMS_DAYS = 60
PAY_CURRENCY = "EUR"
DEFAULT_VAT_MENTION = "TVA non applicable, art. 293 B du CGI"
DEFAULT_LATE_PENALTY = "Taux d'intérêt de la BCE majoré de 10 points"
DEFAULT_RECOVERY_INDEMNITY = "40.00"
_DEFAULT_INDEMNITY = Money(parse_amount(DEFAULT_RECOVERY_INDEMNITY), PAY_CURRENCY)
LANGUAGES = ("fr", "en")
# La Poste's establishments share the SIREN 356000000; their SIRETs do not follow the
# Luhn key but have a digit sum that is a multiple of 5.
LA_POSTE_SIREN = "356000000"

_REQUIRED_KEYS = ("seller_name", "seller_address", "siret", "client_name", "client_address")
_OPTIONAL_KEYS = (
    "payment_terms_days",
    "iban",
    "bic",
    "purchase_order",
    "vat_mention",
    "late_penalty",
    "recovery_indemnity",
    "number_prefix",
    "language",
)
INVOICE_KEYS = _REQUIRED_KEYS + _OPTIONAL_KEYS

_T = TypeVar("_T")

_IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
# Bank (4 letters), country (2 letters), location (2), optional branch (3).
_BIC = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?$")
# What goes before an invoice's sequence number: short, no spaces (it is part of a
# number people type in a transfer's reference).
_NUMBER_PREFIX = re.compile(r"^[A-Za-z0-9_./-]{1,20}$")


@dataclass(frozen=True)
class InvoiceConfig:
    seller_name: str
    seller_address: str  # lines separated by "\n"
    siret: str  # digits only: 14 (SIRET) or 9 (SIREN)
    client_name: str
    client_address: str
    payment_terms_days: int = 30
    iban: str | None = None  # without spaces, upper case
    bic: str | None = None
    purchase_order: str | None = None
    vat_mention: str = DEFAULT_VAT_MENTION
    late_penalty: str = DEFAULT_LATE_PENALTY
    recovery_indemnity: Money = _DEFAULT_INDEMNITY
    number_prefix: str = "F-"
    language: str = "fr"


# --- identifiers ----------------------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    """Whether `digits` (ASCII digits only, at least one) pass the Luhn key."""
    if not digits or not (digits.isascii() and digits.isdigit()):
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    """Whether `text` (spaces allowed) is an IBAN whose ISO 13616 mod-97 key checks.
    The country's own length is not checked."""
    compact = _compact(text).upper()
    if not _IBAN.match(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    # Letters count as 10..35: base 36 digits, written out in decimal.
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


def siret_problem(text: str) -> str | None:
    """Why `text` (spaces allowed) is neither a valid SIRET nor a valid SIREN, or None."""
    digits = _compact(text)
    if not (digits.isascii() and digits.isdigit()) or len(digits) not in (9, 14):
        return f"{text!r} is neither a 14-digit SIRET nor a 9-digit SIREN"
    if len(digits) == 14 and digits.startswith(LA_POSTE_SIREN):
        if sum(int(char) for char in digits) % 5:
            return f"{digits} fails La Poste's check (a digit sum that is a multiple of 5)"
        return None
    if not luhn_valid(digits):
        return f"{digits} fails the Luhn check"
    if len(digits) == 14 and not luhn_valid(digits[:9]):
        return f"{digits}: its SIREN {digits[:9]} fails the Luhn check"
    return None


def _compact(text: str) -> str:
    return "".join(text.split())


# --- the [invoice] table --------------------------------------------------------------------


def invoice_config(mapping: Mapping[str, object]) -> InvoiceConfig:
    """The [invoice] table, checked. ValueError with one line naming the first bad key."""
    unknown = sorted(str(key) for key in mapping if key not in INVOICE_KEYS)
    if unknown:
        known = ", ".join(INVOICE_KEYS)
        raise ValueError(f"invoice.{unknown[0]}: unknown key (known keys: {known})")
    for key in _REQUIRED_KEYS:
        if key not in mapping:
            raise ValueError(f"invoice.{key}: missing (required: {', '.join(_REQUIRED_KEYS)})")
    return InvoiceConfig(
        seller_name=_checked(mapping, "seller_name", _one_line),
        seller_address=_checked(mapping, "seller_address", _address),
        siret=_checked(mapping, "siret", _siret),
        client_name=_checked(mapping, "client_name", _one_line),
        client_address=_checked(mapping, "client_address", _address),
        payment_terms_days=_checked_or(mapping, "payment_terms_days", _terms, 30),
        iban=_checked_if_given(mapping, "iban", _iban),
        bic=_checked_if_given(mapping, "bic", _bic),
        purchase_order=_checked_if_given(mapping, "purchase_order", _one_line),
        vat_mention=_checked_or(mapping, "vat_mention", _one_line, DEFAULT_VAT_MENTION),
        late_penalty=_checked_or(mapping, "late_penalty", _one_line, DEFAULT_LATE_PENALTY),
        recovery_indemnity=_checked_or(
            mapping, "recovery_indemnity", _indemnity, _DEFAULT_INDEMNITY
        ),
        number_prefix=_checked_or(mapping, "number_prefix", _number_prefix, "F-"),
        language=_checked_or(mapping, "language", _language, "fr"),
    )


def _checked(mapping: Mapping[str, object], key: str, check: Callable[[object], _T]) -> _T:
    """A present key's value, checked: the check's ValueError becomes `invoice.<key>: why`."""
    try:
        return check(mapping[key])
    except ValueError as error:
        raise ValueError(f"invoice.{key}: {error}") from None


def _checked_or(
    mapping: Mapping[str, object], key: str, check: Callable[[object], _T], default: _T
) -> _T:
    return _checked(mapping, key, check) if key in mapping else default


def _checked_if_given(
    mapping: Mapping[str, object], key: str, check: Callable[[object], _T]
) -> _T | None:
    return _checked(mapping, key, check) if key in mapping else None


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text in quotes, not {value!r}")
    if any(ord(char) < 32 and char != "\n" for char in value):
        raise ValueError(f"{value!r} holds a control character")
    return value


def _one_line(value: object) -> str:
    text = _text(value).strip()
    if not text:
        raise ValueError("is empty (leave the key out instead)")
    if "\n" in text:
        raise ValueError(f"{text!r} must be one line")
    return text


def _address(value: object) -> str:
    """Lines separated by new lines (a TOML multi-line string); blank lines dropped."""
    lines = [line.strip() for line in _text(value).split("\n")]
    kept = [line for line in lines if line]
    if not kept:
        raise ValueError("is empty")
    return "\n".join(kept)


def _siret(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f'write it as text in quotes (e.g. "732 829 320 00074"), not {value!r}')
    problem = siret_problem(value)
    if problem:
        raise ValueError(problem)
    return _compact(value)


def _terms(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"expected a whole number of days, not {value!r}")
    if not 0 <= value <= MAX_PAYMENT_TERMS_DAYS:
        raise ValueError(f"{value} days: must be 0 to {MAX_PAYMENT_TERMS_DAYS}")
    return value


def _iban(value: object) -> str:
    text = _one_line(value)
    if not iban_valid(text):
        raise ValueError(f"{text!r} is not a valid IBAN (its mod-97 check fails)")
    return _compact(text).upper()


def _bic(value: object) -> str:
    text = _one_line(value).upper()
    if not _BIC.match(text):
        raise ValueError(f"{text!r} is not a BIC (8 or 11 letters and digits, e.g. BNPAFRPPXXX)")
    return text


def _indemnity(value: object) -> Money:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f'write the amount as text, e.g. "40.00", not {value!r}')
    cents = value * 100 if isinstance(value, int) else parse_amount(value)
    if cents < 0:
        raise ValueError(f"{value!r} is negative")
    return Money(cents, PAY_CURRENCY)


def _number_prefix(value: object) -> str:
    text = _text(value)
    if not _NUMBER_PREFIX.match(text):
        raise ValueError(
            f"{text!r}: 1 to 20 letters, digits or the signs - _ . / (no spaces), e.g. F-"
        )
    return text


def _language(value: object) -> str:
    if value not in LANGUAGES:
        raise ValueError(f"{value!r}: expected one of {', '.join(LANGUAGES)}")
    return str(value)


def mentions(config: InvoiceConfig) -> InvoiceMentions:
    """What an invoice or a credit note prints about the seller, the client and the terms."""
    return InvoiceMentions(
        seller=Party(config.seller_name, config.seller_address),
        siret=config.siret,
        client=Party(config.client_name, config.client_address),
        vat_mention=config.vat_mention,
        late_penalty=config.late_penalty,
        recovery_indemnity=config.recovery_indemnity,
        payment_terms_days=config.payment_terms_days,
        iban=config.iban,
        bic=config.bic,
        purchase_order=config.purchase_order,
    )


# --- dates ----------------------------------------------------------------------------------


def due_date(issued_on: date, terms_days: int) -> date:
    """The calendar date `terms_days` days after the issue."""
    if terms_days < 0:
        raise ValueError(f"payment terms cannot be negative ({terms_days} days)")
    return issued_on + timedelta(days=terms_days)


def month_is_over(month: str, today: date) -> bool:
    """Whether `today` is after the last day of `month`."""
    _, following = month_bounds(month)
    return today >= following


# --- which documents a month needs ----------------------------------------------------------


def decide_documents(
    *,
    mentor: str,
    month: str,
    lines_now: Sequence[StatementLine],
    issued: Sequence[IssuedDocument],
    today: date,
    config: InvoiceConfig,
    currency: str,
) -> list[DocumentRequest]:
    """The numbered documents (mentor, month) needs today.

    - Nothing while the month is not over (the caller shows a draft), nor for a month
      without lines.
    - No invoice yet: one invoice of every line now (key "invoice:<mentor>:<month>").
    - An invoice issued: the lines that no document of the month covers make one
      correction referring to it: a credit note when they net to zero or less, a
      supplementary invoice when they net to more. Its key names the entries it covers,
      so deciding twice gives the same key. A session and its reversal that are both
      uncovered cancel each other and were never billed: they are left out of it (a
      correction of nothing but such pairs is not issued).

    Every line must be in `currency`: an invoice is in one currency (ValueError if not).
    """
    if not lines_now or not month_is_over(month, today):
        return []
    _check_currency(lines_now, currency, mentor=mentor, month=month)
    of_month = [doc for doc in issued if doc.mentor == mentor and doc.month == month]
    invoices = sorted(
        (doc for doc in of_month if doc.kind is DocumentKind.INVOICE), key=lambda doc: doc.seq
    )

    def request(
        key: str, kind: DocumentKind, lines: Sequence[StatementLine], refers_to: str | None
    ) -> DocumentRequest:
        return DocumentRequest(
            key=key,
            mentor=mentor,
            month=month,
            kind=kind,
            issued_on=today,
            due_on=due_date(today, config.payment_terms_days),
            refers_to=refers_to,
            currency=currency,
            total_cents=_net_cents(lines),
            entry_ids=tuple(line.entry_id for line in lines),
            body=lines_to_json(lines, mentions(config)),
        )

    if not invoices:
        return [request(invoice_key(mentor, month), DocumentKind.INVOICE, lines_now, None)]
    covered = {entry_id for doc in of_month for entry_id in doc.entry_ids}
    uncovered = [line for line in lines_now if line.entry_id not in covered]
    correction = _without_cancelling_pairs(uncovered)
    if not correction:
        return []
    kind = (
        DocumentKind.SUPPLEMENTARY_INVOICE
        if _net_cents(correction) > 0
        else DocumentKind.CREDIT_NOTE
    )
    key = correction_key(mentor, month, [line.entry_id for line in correction])
    return [request(key, kind, correction, invoices[0].number)]


def invoice_key(mentor: str, month: str) -> str:
    return f"invoice:{mentor}:{month}"


def correction_key(mentor: str, month: str, entry_ids: Sequence[str]) -> str:
    """Names the entries a correction covers, whatever their order: a short stable hash
    (12 hex digits of SHA-256) of the sorted ids."""
    digest = hashlib.sha256(json.dumps(sorted(entry_ids)).encode("utf-8")).hexdigest()
    return f"correction:{mentor}:{month}:{digest[:12]}"


def _net_cents(lines: Sequence[StatementLine]) -> int:
    return sum(line.amount.cents for line in lines)


def _check_currency(
    lines: Sequence[StatementLine], currency: str, *, mentor: str, month: str
) -> None:
    others = sorted({line.amount.currency for line in lines} - {currency})
    if others:
        raise ValueError(
            f"{mentor}'s {month} has lines in {', '.join(others)}: "
            f"an invoice is in one currency ({currency})"
        )


def _without_cancelling_pairs(lines: Sequence[StatementLine]) -> list[StatementLine]:
    """`lines` without each reversal that cancels another of `lines` (and that one).

    A line is paired once at most, and only with an exact opposite amount, so that what
    is left nets to what the lines net to."""
    by_id = {line.entry_id: line for line in lines}
    paired: set[str] = set()
    for line in lines:
        target = by_id.get(line.reverses_entry_id or "")
        if (
            target is not None
            and target.entry_id not in paired
            and line.entry_id not in paired
            and target.amount.cents + line.amount.cents == 0
        ):
            paired.update((line.entry_id, target.entry_id))
    return [line for line in lines if line.entry_id not in paired]


def identity_of(doc: IssuedDocument) -> DocumentIdentity:
    return DocumentIdentity(
        kind=doc.kind,
        number=doc.number,
        issued_on=doc.issued_on,
        due_on=doc.due_on,
        refers_to=doc.refers_to,
    )
