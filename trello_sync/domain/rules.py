"""Pay rules with effective dates: the rate per level, the share per (funding, kind,
status), the monthly flat fees, the currency.

An entry keeps the rule set that was in force on the session's date, so a later change
of the rules never rewrites history. A month's flat fees are those of the rule set in
force on the month's first day (one set of fees per month, whatever happens mid-month).

A rule set is checked whole before it is used (`rule_set_problems`): every level, funding,
kind and status a session can reach is priced, shares are 0–100 %, and no two sets take
effect on the same day. The TOML shape is read by domain/pay_toml.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import cached_property

from trello_sync.domain.money import Money


class Status(StrEnum):
    DONE = "done"
    NOSHOW = "noshow"
    LATE = "late"
    CANCEL = "cancel"


class Funding(StrEnum):
    """How a student is funded, as the card says (domain/funding.py)."""

    FUNDED = "funded"
    SELF = "self"
    UNSET = "unset"  # the card says nothing (or nothing trello-sync understands)


class EntryKind(StrEnum):
    """What an entry pays for."""

    SESSION = "session"  # /session, /noshow, /late, /cancel
    DEFENSE = "defense"  # /defense (/soutenance): a project defense, priced apart
    FEE = "fee"  # a monthly flat fee (domain/fees.py): no command logs it


# The kinds a command logs: each priced by a share of the level's rate.
COMMAND_KINDS: tuple[EntryKind, ...] = (EntryKind.SESSION, EntryKind.DEFENSE)

ShareKey = tuple[Funding, EntryKind, Status]


@dataclass(frozen=True)
class MonthlyFee:
    """A flat amount per student and month, due while the student has at least
    `min_done_sessions` done sessions (not defenses) of that month whose entry has this
    funding (None: any funding)."""

    amount_cents: int
    funding: Funding | None = None
    min_done_sessions: int = 1

    def counts(self, funding: Funding) -> bool:
        return self.funding is None or self.funding is funding


@dataclass(frozen=True)
class RuleSet:
    effective: date
    currency: str
    rates: Mapping[int, int]  # level -> cents per session
    # Percent of the level's rate per status, for every funding and every kind (the
    # TOML's flat `shares = {…}`); `shares_by` names a (funding, kind, status) apart
    # and wins over it.
    shares: Mapping[Status, int]
    shares_by: Mapping[ShareKey, int] = field(default_factory=dict)
    monthly_fees: tuple[MonthlyFee, ...] = ()

    @property
    def name(self) -> str:
        """How a problem line names the rule set."""
        return f"pay rules from {self.effective.isoformat()}"

    def rate(self, level: int) -> Money:
        return Money(self.rates[level], self.currency)

    def share_or_none(
        self,
        status: Status,
        funding: Funding = Funding.UNSET,
        kind: EntryKind = EntryKind.SESSION,
    ) -> int | None:
        found = self.shares_by.get((funding, kind, status))
        return self.shares.get(status) if found is None else found

    def share(
        self,
        status: Status,
        funding: Funding = Funding.UNSET,
        kind: EntryKind = EntryKind.SESSION,
    ) -> int:
        """The share of a checked rule set (every reachable share is priced)."""
        found = self.share_or_none(status, funding, kind)
        if found is None:
            raise KeyError(f"{self.name}: no share for {funding} {kind} {status}")
        return found

    def fee(self, amount_cents: int) -> Money:
        return Money(amount_cents, self.currency)


class PayRulesError(ValueError):
    """Rules that cannot price every session: every problem, one line each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        more = len(self.problems) - 1
        said = self.problems[0] if self.problems else "the pay rules are not valid"
        if more > 0:
            said += f" (and {more} more problem(s): `trello-sync check` lists each)"
        super().__init__(said)


@dataclass(frozen=True)
class PayRules:
    rule_sets: tuple[RuleSet, ...]  # sorted by effective date, at least one

    @classmethod
    def of(cls, rule_sets: Sequence[RuleSet]) -> PayRules:
        problems = rule_set_problems(rule_sets)
        if problems:
            raise PayRulesError(problems)
        return cls(tuple(sorted(rule_sets, key=lambda r: r.effective)))

    @property
    def levels(self) -> frozenset[int]:
        return frozenset(self.rule_sets[0].rates)

    @cached_property
    def has_fees(self) -> bool:
        """Whether any rule set has a monthly fee (the handbook's have none: then the
        planner skips the fee bookkeeping of every session, which a long first sync
        would feel)."""
        return any(rule_set.monthly_fees for rule_set in self.rule_sets)

    @property
    def priced_by_funding(self) -> bool:
        """Whether a student's funding changes what some session pays (a share or a
        monthly fee): then the cards need to say their funding."""
        for rule_set in self.rule_sets:
            if any(fee.funding is not None for fee in rule_set.monthly_fees):
                return True
            for kind in EntryKind:
                for status in Status:
                    shares = {rule_set.share_or_none(status, f, kind) for f in Funding}
                    if len(shares) > 1:
                        return True
        return False

    def in_force(self, on: date) -> RuleSet:
        """The latest rule set effective on or before `on` (the earliest if none is)."""
        chosen = self.rule_sets[0]
        for rule_set in self.rule_sets:
            if rule_set.effective <= on:
                chosen = rule_set
        return chosen

    def fees_of_month(self, month_start: date) -> RuleSet:
        """The rule set whose monthly fees apply to the month starting on `month_start`."""
        return self.in_force(month_start.replace(day=1))


# --- what makes rules unusable ----------------------------------------------------------


def rule_set_problems(rule_sets: Sequence[RuleSet]) -> list[str]:
    """Every reason these rule sets could not price a session, one line each, each
    naming its rule set: an effective date used twice, a level, funding, kind or status
    that no share or rate prices, a share outside 0–100 %, a negative amount."""
    if not rule_sets:
        return ["pay rules: at least one rule set is needed"]
    ordered = sorted(rule_sets, key=lambda r: r.effective)
    problems: list[str] = []
    seen: set[date] = set()
    for rule_set in ordered:
        if rule_set.effective in seen:
            problems.append(
                f"{rule_set.name}: two rule sets take effect on this date (overlapping "
                "dates); give each its own effective date"
            )
        seen.add(rule_set.effective)
    levels = frozenset().union(*(r.rates for r in ordered))
    for rule_set in ordered:
        problems += _problems_of(rule_set, levels)
    return problems


def _problems_of(rule_set: RuleSet, levels: frozenset[int]) -> list[str]:
    name = rule_set.name
    problems: list[str] = []
    missing = sorted(levels - set(rule_set.rates))
    if missing:
        problems.append(
            f"{name}: no rate for level {', '.join(map(str, missing))}, which another "
            "rule set prices (every rule set must price every level)"
        )
    for level, cents in sorted(rule_set.rates.items()):
        if cents < 0:
            problems.append(f"{name}: the rate for level {level} is negative")
    for status, percent in rule_set.shares.items():
        if not 0 <= percent <= 100:
            problems.append(f"{name}: the share for {status} is {percent} %, outside 0–100 %")
    for (funding, kind, status), percent in rule_set.shares_by.items():
        if not 0 <= percent <= 100:
            problems.append(
                f"{name}: the share for {funding} {kind} {status} is {percent} %, outside 0–100 %"
            )
    for funding in Funding:
        for kind in COMMAND_KINDS:
            unpriced = [s.value for s in Status if rule_set.share_or_none(s, funding, kind) is None]
            if unpriced:
                problems.append(
                    f"{name}: no share for {kind}s of {_funding_phrase(funding)} "
                    f"(missing: {', '.join(unpriced)})"
                )
    for fee in rule_set.monthly_fees:
        if fee.amount_cents < 0:
            problems.append(f"{name}: a monthly fee is negative")
        if fee.min_done_sessions < 1:
            problems.append(
                f"{name}: a monthly fee's min_done_sessions must be at least 1, "
                f"not {fee.min_done_sessions}"
            )
    return problems


def _funding_phrase(funding: Funding) -> str:
    return {
        Funding.FUNDED: "funded students (funded)",
        Funding.SELF: "self-funded students (self)",
        Funding.UNSET: "students with no funding (unset)",
    }[funding]
