"""Pay rules with effective dates: the rate per level, the share per status, the currency.

An entry keeps the rule set that was in force on the session's date, so a later change
of the rules never rewrites history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from trello_sync.domain.money import Money


class Status(StrEnum):
    DONE = "done"
    NOSHOW = "noshow"
    LATE = "late"
    CANCEL = "cancel"


@dataclass(frozen=True)
class RuleSet:
    effective: date
    currency: str
    rates: Mapping[int, int]  # level -> cents per session
    shares: Mapping[Status, int]  # status -> percent of the level's rate

    def rate(self, level: int) -> Money:
        return Money(self.rates[level], self.currency)

    def share(self, status: Status) -> int:
        return self.shares[status]


@dataclass(frozen=True)
class PayRules:
    rule_sets: tuple[RuleSet, ...]  # sorted by effective date, at least one

    @classmethod
    def of(cls, rule_sets: Sequence[RuleSet]) -> PayRules:
        if not rule_sets:
            raise ValueError("at least one pay rule set is needed")
        ordered = tuple(sorted(rule_sets, key=lambda r: r.effective))
        effective_dates = [r.effective for r in ordered]
        if len(set(effective_dates)) != len(effective_dates):
            raise ValueError("two pay rule sets have the same effective date")
        levels = set(ordered[0].rates)
        for rule_set in ordered:
            if set(rule_set.rates) != levels:
                raise ValueError(f"pay rules from {rule_set.effective} do not name the same levels")
            missing = set(Status) - set(rule_set.shares)
            if missing:
                raise ValueError(
                    f"pay rules from {rule_set.effective} have no share for "
                    + ", ".join(sorted(missing))
                )
            for status, percent in rule_set.shares.items():
                if not 0 <= percent <= 100:
                    raise ValueError(f"share for {status} must be 0..100, not {percent}")
            for level, cents in rule_set.rates.items():
                if cents < 0:
                    raise ValueError(f"rate for level {level} is negative")
        return cls(ordered)

    @property
    def levels(self) -> frozenset[int]:
        return frozenset(self.rule_sets[0].rates)

    def in_force(self, on: date) -> RuleSet:
        """The latest rule set effective on or before `on` (the earliest if none is)."""
        chosen = self.rule_sets[0]
        for rule_set in self.rule_sets:
            if rule_set.effective <= on:
                chosen = rule_set
        return chosen


def rules_from_mapping(raw: Sequence[Mapping[str, object]]) -> PayRules:
    """Build rules from the TOML shape: [[pay_rules]] effective, currency, rates, shares."""
    from trello_sync.domain.money import parse_amount

    sets: list[RuleSet] = []
    for item in raw:
        effective = item.get("effective")
        if isinstance(effective, str):
            effective = date.fromisoformat(effective)
        if not isinstance(effective, date):
            raise ValueError("each pay rule set needs an effective date (YYYY-MM-DD)")
        rates_raw = item.get("rates")
        shares_raw = item.get("shares")
        if not isinstance(rates_raw, Mapping) or not isinstance(shares_raw, Mapping):
            raise ValueError("each pay rule set needs `rates` and `shares` tables")
        rates = {int(str(level)): parse_amount(str(amount)) for level, amount in rates_raw.items()}
        shares: dict[Status, int] = {}
        for status, percent in shares_raw.items():
            if not isinstance(percent, int) or isinstance(percent, bool):
                raise ValueError(f"share for {status} must be a whole percent, e.g. 50")
            shares[Status(str(status))] = percent
        currency = str(item.get("currency", "EUR")).upper()
        if len(currency) != 3 or not currency.isalpha():
            raise ValueError(f"currency must be a 3-letter code, not {currency!r}")
        sets.append(RuleSet(effective, currency, rates, shares))
    return PayRules.of(sets)
