"""Money as integer cents with a currency code. No floats anywhere."""

from __future__ import annotations

import re
from dataclasses import dataclass

_AMOUNT = re.compile(r"^(-)?(\d+)(?:\.(\d{1,2}))?$")


@dataclass(frozen=True, order=True)
class Money:
    cents: int
    currency: str = "EUR"

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.cents + other.cents, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.cents, self.currency)

    def share(self, percent: int) -> Money:
        """This amount times percent/100, rounded half away from zero to the cent."""
        sign = -1 if self.cents < 0 else 1
        cents = (abs(self.cents) * percent * 2 + 100) // 200
        return Money(sign * cents, self.currency)

    def decimal(self) -> str:
        """`40.00`, `-17.50`: the form used in exports."""
        return format_cents(self.cents)

    def __str__(self) -> str:
        return f"{self.decimal()} {self.currency}"


def format_cents(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"


def parse_amount(text: str) -> int:
    """`"40"`, `"40.5"`, `"40.00"` → cents. Refuses anything else (no float parsing)."""
    match = _AMOUNT.match(text.strip())
    if not match:
        raise ValueError(f"not an amount: {text!r} (expected e.g. 40 or 40.00)")
    negative, whole, frac = match.groups()
    cents = int(whole) * 100 + int((frac or "0").ljust(2, "0"))
    return -cents if negative else cents
