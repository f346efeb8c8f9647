"""The pay rules as the TOML writes them (`[[pay_rules]]`), read into domain/rules.py's
rule sets; every problem is one line naming its rule set.

    [[pay_rules]]
    effective = "2020-06-01"
    currency = "EUR"
    rates = { 1 = "30.00", 2 = "35.00" }
    shares = { done = 100, noshow = 50, late = 50, cancel = 0 }   # every funding, kind
    # … or per funding (funded, self, unset), each per kind (session, defense) or flat:
    [pay_rules.shares.self]
    session = { done = 50, noshow = 25, late = 0, cancel = 0 }
    defense = { done = 100, noshow = 50, late = 0, cancel = 0 }
    [[pay_rules.monthly_fees]]
    funding = "self"            # optional: every funding
    amount = "30.00"
    min_done_sessions = 1       # optional, default 1

A currency changes only where a rule set says so: a rule set without `currency` is in
EUR, and is refused after one in another currency (it would change the currency without
saying it); a monthly fee is in its rule set's currency (a `currency` it gives must be
that one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from trello_sync.domain.money import parse_amount
from trello_sync.domain.rules import (
    COMMAND_KINDS,
    EntryKind,
    Funding,
    MonthlyFee,
    PayRules,
    PayRulesError,
    RuleSet,
    ShareKey,
    Status,
    rule_set_problems,
)

DEFAULT_CURRENCY = "EUR"
_RULE_KEYS = frozenset({"effective", "currency", "rates", "shares", "monthly_fees"})
_FEE_KEYS = frozenset({"funding", "amount", "min_done_sessions", "currency"})
_STATUSES = frozenset(s.value for s in Status)
_FUNDINGS = frozenset(f.value for f in Funding)
_KINDS = frozenset(k.value for k in COMMAND_KINDS)


class _Refused(Exception):
    """One problem of the rule set being read (its line, without the rule set's name)."""


@dataclass(frozen=True)
class _Read:
    rule_set: RuleSet
    currency_given: bool
    fee_currencies: tuple[str, ...]  # as the fees wrote them (when they did)


def rules_from_mapping(raw: Sequence[Mapping[str, object]]) -> PayRules:
    """The rules of `[[pay_rules]]`; PayRulesError with every problem (one line each)."""
    read: list[_Read] = []
    problems: list[str] = []
    for number, item in enumerate(raw, 1):
        name = _name(item, number)
        try:
            read.append(_rule_set(item))
        except _Refused as refused:
            problems.append(f"{name}: {refused}")
    read.sort(key=lambda r: r.rule_set.effective)
    problems += _currency_problems(read)
    if read or not problems:  # a rule set that could not be read is judged no further
        problems += rule_set_problems([r.rule_set for r in read])
    if problems:
        raise PayRulesError(problems)
    return PayRules(tuple(r.rule_set for r in read))


def _name(item: object, number: int) -> str:
    effective = item.get("effective") if isinstance(item, Mapping) else None
    if isinstance(effective, date):
        return f"pay rules from {effective.isoformat()}"
    if isinstance(effective, str):
        try:
            return f"pay rules from {date.fromisoformat(effective).isoformat()}"
        except ValueError:
            pass
    return f"pay rules #{number}"


def _rule_set(item: object) -> _Read:
    if not isinstance(item, Mapping):
        raise _Refused("each [[pay_rules]] entry must be a table")
    unknown = sorted(str(key) for key in item if key not in _RULE_KEYS)
    if unknown:
        raise _Refused(f"unknown key {', '.join(map(repr, unknown))}")
    effective = _effective(item.get("effective"))
    rates_raw, shares_raw = item.get("rates"), item.get("shares")
    if not isinstance(rates_raw, Mapping) or not isinstance(shares_raw, Mapping):
        raise _Refused("each pay rule set needs `rates` and `shares` tables")
    currency_raw = item.get("currency")
    currency = DEFAULT_CURRENCY if currency_raw is None else _currency(currency_raw)
    flat, by = _shares(shares_raw)
    fees, fee_currencies = _fees(item.get("monthly_fees"))
    rule_set = RuleSet(effective, currency, _rates(rates_raw), flat, by, fees)
    return _Read(rule_set, currency_raw is not None, fee_currencies)


def _effective(value: object) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _Refused("each pay rule set needs an effective date (YYYY-MM-DD)")


def _currency(value: object) -> str:
    code = str(value).upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise _Refused(f"currency must be a 3-letter code, not {str(value)[:20]!r}")
    return code


def _rates(raw: Mapping[object, object]) -> dict[int, int]:
    rates: dict[int, int] = {}
    for level, amount in raw.items():
        text = str(level).strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 3 and int(text) >= 1):
            raise _Refused(f"level {text[:20]!r} must be a whole number from 1")
        rates[int(text)] = _amount(amount, f"the rate for level {text}")
    return rates


def _amount(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Refused(f'{what} must be an amount such as "35.00"')
    try:
        return parse_amount(str(value))
    except ValueError:
        raise _Refused(f'{what} must be an amount such as "35.00", not {value!r}') from None


def _percent(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Refused(f"the share for {what} must be a whole percent, e.g. 50")
    return value


def _statuses(raw: object, what: str) -> dict[Status, int]:
    if not isinstance(raw, Mapping):
        raise _Refused(f"the shares for {what} must be a table of statuses")
    unknown = sorted(str(key) for key in raw if key not in _STATUSES)
    if unknown:
        raise _Refused(
            f"unknown status {', '.join(map(repr, unknown))} in the shares for {what} "
            "(done, noshow, late, cancel)"
        )
    return {Status(str(key)): _percent(value, f"{what} {key}") for key, value in raw.items()}


def _shares(raw: Mapping[object, object]) -> tuple[dict[Status, int], dict[ShareKey, int]]:
    """The flat shares (statuses: every funding, every kind) or the shares per funding."""
    keys = {str(key) for key in raw}
    if keys <= _STATUSES:
        return _statuses(raw, "every session"), {}
    if not keys <= _FUNDINGS:
        raise _Refused(
            "`shares` names statuses (done, noshow, late, cancel) or fundings (funded, "
            f"self, unset), not {', '.join(map(repr, sorted(keys - _STATUSES - _FUNDINGS)))}"
        )
    by: dict[ShareKey, int] = {}
    for funding_name, table in raw.items():
        funding = Funding(str(funding_name))
        if not isinstance(table, Mapping):
            raise _Refused(f"the shares for {funding} must be a table")
        names = {str(key) for key in table}
        if names <= _STATUSES:  # the same for sessions and defenses
            for status, percent in _statuses(table, str(funding)).items():
                for kind in COMMAND_KINDS:
                    by[(funding, kind, status)] = percent
            continue
        if not names <= _KINDS:
            raise _Refused(
                f"the shares for {funding} name kinds (session, defense) or statuses, "
                f"not {', '.join(map(repr, sorted(names - _KINDS - _STATUSES)))}"
            )
        for kind_name, statuses in table.items():
            kind = EntryKind(str(kind_name))
            for status, percent in _statuses(statuses, f"{funding} {kind}").items():
                by[(funding, kind, status)] = percent
    return {}, by


def _fees(raw: object) -> tuple[tuple[MonthlyFee, ...], tuple[str, ...]]:
    if raw is None:
        return (), ()
    if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
        raise _Refused("`monthly_fees` must be a list of tables ([[pay_rules.monthly_fees]])")
    fees: list[MonthlyFee] = []
    currencies: list[str] = []
    for item in raw:
        unknown = sorted(str(key) for key in item if key not in _FEE_KEYS)
        if unknown:
            raise _Refused(f"unknown key {', '.join(map(repr, unknown))} in a monthly fee")
        funding_raw = item.get("funding")
        if funding_raw is not None and str(funding_raw) not in _FUNDINGS:
            raise _Refused(
                f"a monthly fee's funding is funded, self or unset, not {str(funding_raw)[:20]!r}"
            )
        if "amount" not in item:
            raise _Refused("a monthly fee needs an `amount`")
        minimum = item.get("min_done_sessions", 1)
        if not isinstance(minimum, int) or isinstance(minimum, bool):
            raise _Refused("a monthly fee's min_done_sessions must be a whole number")
        if item.get("currency") is not None:
            currencies.append(_currency(item["currency"]))
        fees.append(
            MonthlyFee(
                amount_cents=_amount(item["amount"], "a monthly fee's amount"),
                funding=None if funding_raw is None else Funding(str(funding_raw)),
                min_done_sessions=minimum,
            )
        )
    return tuple(fees), tuple(currencies)


def _currency_problems(read: Sequence[_Read]) -> list[str]:
    """A change of currency is said, with its date, by a rule set of its own."""
    problems: list[str] = []
    before: str | None = None
    for item in read:
        rule_set = item.rule_set
        if not item.currency_given and before not in (None, rule_set.currency):
            problems.append(
                f"{rule_set.name}: no currency, while the rule set before it is in {before}: "
                f"write its currency (a change of currency needs a rule set that says so)"
            )
        for fee_currency in item.fee_currencies:
            if fee_currency != rule_set.currency:
                problems.append(
                    f"{rule_set.name}: a monthly fee is in {fee_currency} but its rule set is "
                    f"in {rule_set.currency} (a change of currency needs a rule set of its "
                    "own, with its effective date)"
                )
        before = rule_set.currency
    return problems
