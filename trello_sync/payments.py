"""`trello-sync paid`: record a payment received for a month of work, or reverse one.

Append-only like the entries: a payment is never changed nor deleted; a mistake is put
right by its reversal (`--reverse ID`, the opposite amount), and both stay in the
ledger, in the statements' "paid" and in receipts.csv.
"""

from __future__ import annotations

import argparse
import re
import uuid
from datetime import date

from trello_sync.app import App
from trello_sync.domain.documents import Payment
from trello_sync.domain.money import format_cents, parse_amount
from trello_sync.exits import EXIT_OK
from trello_sync.settings import ConfigError
from trello_sync.statements import choose_mentor

_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def record_paid(app: App, args: argparse.Namespace) -> int:
    now = app.clock.now()
    if args.reverse:
        return _reverse(app, args.reverse)
    month = _required(args.month, "--month", "YYYY-MM")
    if not _MONTH.fullmatch(month):
        raise ConfigError(f"--month must be YYYY-MM, not {month!r}")
    received_on = _date(_required(args.received_on, "--on", "YYYY-MM-DD"))
    if received_on > now.astimezone(app.settings.zone).date():
        raise ConfigError(f"--on: {received_on} is in the future")
    cents = _amount(_required(args.amount, "--amount", "such as 245.00"))
    currency = app.settings.pay().in_force(received_on).currency
    payment = Payment(
        payment_id=_new_payment_id(),
        mentor=choose_mentor(app, month, args.mentor),
        month=month,
        received_on=received_on,
        amount_cents=cents,
        currency=currency,
        method=args.method,
        ref=args.ref.strip(),
        recorded_at=now,
    )
    app.ledger.record_payment(payment)
    print(
        f"recorded payment {payment.payment_id}: {format_cents(cents)} {currency} for "
        f"{month} ({payment.mentor}), received {received_on} by {payment.method}"
    )
    return EXIT_OK


def _reverse(app: App, payment_id: str) -> int:
    found = next((p for p in app.ledger.payments() if p.payment_id == payment_id), None)
    if found is None:
        raise ConfigError(f"--reverse: no payment {payment_id!r} in the ledger")
    reversal = Payment(
        payment_id=_new_payment_id(),
        mentor=found.mentor,
        month=found.month,
        received_on=app.clock.now().astimezone(app.settings.zone).date(),
        amount_cents=-found.amount_cents,
        currency=found.currency,
        method=found.method,
        ref=found.ref,
        recorded_at=app.clock.now(),
        reverses_payment_id=found.payment_id,
    )
    app.ledger.record_payment(reversal)
    print(f"recorded {reversal.payment_id}, the reversal of {payment_id}")
    return EXIT_OK


def _new_payment_id() -> str:
    # Random, not a counter: two workers recording at once never pick the same id.
    return "pay-" + uuid.uuid4().hex[:12]


def _required(value: str | None, flag: str, shape: str) -> str:
    if value is None or not value.strip():
        raise ConfigError(f"{flag} is needed ({shape})")
    return value.strip()


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--on must be YYYY-MM-DD, not {text!r}") from None


def _amount(text: str) -> int:
    try:
        cents = parse_amount(text)
    except ValueError:
        raise ConfigError(f"--amount: {text!r} is not an amount such as 245.00") from None
    if cents <= 0:
        raise ConfigError("--amount must be more than zero (a mistake is put right by --reverse)")
    return cents
