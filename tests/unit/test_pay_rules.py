"""Pay rules as the TOML writes them: the shapes it accepts, and every problem that makes
a rule set unusable, one line each naming its rule set."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from platform_rules import PLATFORM_2020, platform_2020

from trello_sync.domain.checks import CheckFacts, ConfigFacts, Kind, Unavailable, pay_rules_in_force
from trello_sync.domain.pay_toml import rules_from_mapping
from trello_sync.domain.rules import (
    EntryKind,
    Funding,
    MonthlyFee,
    PayRules,
    PayRulesError,
    RuleSet,
    Status,
)
from trello_sync.domain.stages import StageMap
from trello_sync.settings import ConfigError, load_settings, shipped_defaults

FLAT = {"done": 100, "noshow": 50, "late": 50, "cancel": 0}
RATES = {"1": "30.00", "2": "35.00", "3": "40.00"}


def rule(effective: str, **changes: Any) -> dict[str, Any]:
    return {"effective": effective, "currency": "EUR", "rates": RATES, "shares": FLAT, **changes}


def problems(raw: list[dict[str, Any]]) -> tuple[str, ...]:
    with pytest.raises(PayRulesError) as refused:
        rules_from_mapping(raw)
    return refused.value.problems


def test_the_shipped_default_is_the_handbooks_table_for_every_funding_and_kind():
    rules = rules_from_mapping(shipped_defaults()["pay_rules"])
    (only,) = rules.rule_sets
    assert only.rates == {1: 3000, 2: 3500, 3: 4000}
    for funding in Funding:
        for kind in (EntryKind.SESSION, EntryKind.DEFENSE):
            shares = [only.share(status, funding, kind) for status in Status]
            assert shares == [100, 50, 50, 0]
    assert only.monthly_fees == ()


def test_whether_the_rules_price_by_funding():
    assert not rules_from_mapping(shipped_defaults()["pay_rules"]).priced_by_funding
    assert platform_2020().priced_by_funding
    # Funding named, but every funding paid alike: no need to say it on the cards.
    same = {"session": FLAT, "defense": FLAT}
    alike = rule("2020-06-01", shares={"funded": same, "self": same, "unset": same})
    assert not rules_from_mapping([alike]).priced_by_funding
    fee_for_all = rule("2020-06-01", monthly_fees=[{"amount": "30.00"}])
    assert not rules_from_mapping([fee_for_all]).priced_by_funding
    fee_for_self = rule("2020-06-01", monthly_fees=[{"amount": "30.00", "funding": "self"}])
    assert rules_from_mapping([fee_for_self]).priced_by_funding


def test_whether_the_rules_have_monthly_fees():
    assert not rules_from_mapping(shipped_defaults()["pay_rules"]).has_fees
    assert platform_2020().has_fees
    later = [rule("2000-01-01"), rule("2030-01-01", monthly_fees=[{"amount": "10.00"}])]
    assert rules_from_mapping(later).has_fees


def test_the_platform_2020_example_says_the_matrix():
    rules = platform_2020()
    before, after = rules.rule_sets
    assert (before.effective, after.effective) == (date(2000, 1, 1), date(2020, 6, 1))
    levels = {level: cents for level, cents in enumerate(range(3000, 5501, 500), 1)}
    assert before.rates == after.rates == levels
    for funding in Funding:
        for kind in (EntryKind.SESSION, EntryKind.DEFENSE):
            assert [before.share(s, funding, kind) for s in Status] == [100, 50, 50, 0]
    session, defense = EntryKind.SESSION, EntryKind.DEFENSE
    assert [after.share(s, Funding.FUNDED, session) for s in Status] == [100, 50, 0, 0]
    assert [after.share(s, Funding.SELF, session) for s in Status] == [50, 25, 0, 0]
    assert [after.share(s, Funding.UNSET, session) for s in Status] == [100, 50, 0, 0]
    for funding in Funding:
        assert [after.share(s, funding, defense) for s in Status] == [100, 50, 0, 0]
    assert after.monthly_fees == (MonthlyFee(3000, Funding.SELF, 1),)
    assert rules.in_force(date(2020, 5, 31)) is before
    assert rules.in_force(date(2020, 6, 1)) is after
    assert rules.fees_of_month(date(2020, 6, 17)) is after


def test_the_example_file_is_a_configuration_that_loads(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TRELLO_SYNC_CONFIG", str(PLATFORM_2020))
    settings = load_settings()
    assert settings.pay() == platform_2020()
    assert sorted(settings.pay().levels) == [1, 2, 3, 4, 5, 6]


def test_a_funding_table_may_give_one_share_per_status_for_both_kinds():
    raw = [
        rule(
            "2000-01-01",
            shares={
                "funded": FLAT,
                "self": {"done": 60, "noshow": 30, "late": 0, "cancel": 0},
                "unset": {"session": FLAT, "defense": {**FLAT, "late": 0}},
            },
        )
    ]
    (rule_set,) = rules_from_mapping(raw).rule_sets
    assert rule_set.share(Status.DONE, Funding.SELF, EntryKind.DEFENSE) == 60
    assert rule_set.share(Status.LATE, Funding.UNSET, EntryKind.DEFENSE) == 0
    assert rule_set.share(Status.LATE, Funding.UNSET, EntryKind.SESSION) == 50


def test_a_gap_is_one_line_per_funding_and_kind_naming_the_rule_set():
    raw = [
        rule("2000-01-01"),
        rule(
            "2020-06-01",
            shares={
                "funded": {"session": FLAT, "defense": {"done": 100, "noshow": 50}},
                "self": {"session": FLAT},
            },
        ),
    ]
    assert problems(raw) == (
        "pay rules from 2020-06-01: no share for defenses of funded students (funded) "
        "(missing: late, cancel)",
        "pay rules from 2020-06-01: no share for defenses of self-funded students (self) "
        "(missing: done, noshow, late, cancel)",
        "pay rules from 2020-06-01: no share for sessions of students with no funding (unset) "
        "(missing: done, noshow, late, cancel)",
        "pay rules from 2020-06-01: no share for defenses of students with no funding (unset) "
        "(missing: done, noshow, late, cancel)",
    )


def test_a_flat_table_with_a_status_missing_is_a_gap_for_every_funding():
    found = problems([rule("2000-01-01", shares={"done": 100, "noshow": 50, "late": 50})])
    assert len(found) == 6
    assert all(line.startswith("pay rules from 2000-01-01: no share for ") for line in found)
    assert all(line.endswith("(missing: cancel)") for line in found)


def test_a_level_one_rule_set_prices_and_another_does_not_is_a_gap():
    raw = [rule("2000-01-01"), rule("2020-06-01", rates={**RATES, "6": "55.00"})]
    assert problems(raw) == (
        "pay rules from 2000-01-01: no rate for level 6, which another rule set prices "
        "(every rule set must price every level)",
    )


def test_overlapping_dates_shares_out_of_range_and_negative_amounts():
    raw = [
        rule("2020-06-01", shares={**FLAT, "done": 120}),
        rule("2020-06-01", rates={**RATES, "2": "-35.00"}),
        rule(
            "2021-01-01",
            shares={"funded": FLAT, "self": {**FLAT, "noshow": -5}, "unset": FLAT},
            monthly_fees=[{"amount": "-1.00"}, {"amount": "3", "min_done_sessions": 0}],
        ),
    ]
    assert problems(raw) == (
        "pay rules from 2020-06-01: two rule sets take effect on this date (overlapping "
        "dates); give each its own effective date",
        "pay rules from 2020-06-01: the share for done is 120 %, outside 0–100 %",
        "pay rules from 2020-06-01: the rate for level 2 is negative",
        "pay rules from 2021-01-01: the share for self session noshow is -5 %, outside 0–100 %",
        "pay rules from 2021-01-01: the share for self defense noshow is -5 %, outside 0–100 %",
        "pay rules from 2021-01-01: a monthly fee is negative",
        "pay rules from 2021-01-01: a monthly fee's min_done_sessions must be at least 1, not 0",
    )


def test_a_currency_changes_only_where_a_rule_set_says_so():
    no_currency = {k: v for k, v in rule("2022-01-01").items() if k != "currency"}
    raw = [
        rule("2000-01-01", currency="chf"),
        no_currency,
        rule("2023-01-01", monthly_fees=[{"amount": "30.00", "currency": "USD"}]),
    ]
    assert problems(raw) == (
        "pay rules from 2022-01-01: no currency, while the rule set before it is in CHF: "
        "write its currency (a change of currency needs a rule set that says so)",
        "pay rules from 2023-01-01: a monthly fee is in USD but its rule set is in EUR (a "
        "change of currency needs a rule set of its own, with its effective date)",
    )
    # Said with a date of its own, a change of currency is fine.
    rules = rules_from_mapping([rule("2000-01-01", currency="CHF"), rule("2022-01-01")])
    assert [r.currency for r in rules.rule_sets] == ["CHF", "EUR"]


@pytest.mark.parametrize(
    ("item", "line"),
    [
        (
            {"rates": RATES, "shares": FLAT},
            "pay rules #1: each pay rule set needs an effective date",
        ),
        (rule("2000-01-01", rate=RATES), "pay rules from 2000-01-01: unknown key 'rate'"),
        (rule("2000-01-01", shares=None), "needs `rates` and `shares` tables"),
        (rule("2000-01-01", rates={"one": "30"}), "level 'one' must be a whole number from 1"),
        (rule("2000-01-01", rates={"1": "30,5"}), "the rate for level 1 must be an amount"),
        (rule("2000-01-01", shares={**FLAT, "done": 99.5}), "must be a whole percent"),
        (rule("2000-01-01", shares={**FLAT, "absent": 0}), "not 'absent'"),
        (rule("2000-01-01", shares={"funded": FLAT, "grant": FLAT}), "not 'grant'"),
        (rule("2000-01-01", shares={"self": {"session": FLAT, "exam": FLAT}}), "not 'exam'"),
        (rule("2000-01-01", currency="euro"), "currency must be a 3-letter code"),
        (rule("2000-01-01", monthly_fees={"amount": "3"}), "must be a list of tables"),
        (rule("2000-01-01", monthly_fees=[{"funding": "grant", "amount": "3"}]), "not 'grant'"),
        (rule("2000-01-01", monthly_fees=[{"funding": "self"}]), "needs an `amount`"),
        (rule("2000-01-01", monthly_fees=[{"amount": "3", "every": 2}]), "unknown key 'every'"),
    ],
)
def test_a_rule_set_it_cannot_read_is_one_line_naming_it(item: dict[str, Any], line: str):
    (found,) = problems([item])
    assert line in found and "\n" not in found


def test_the_error_says_the_first_problem_and_how_many_more():
    error = PayRulesError(["pay rules from 2000-01-01: a", "b", "c"])
    assert str(error) == (
        "pay rules from 2000-01-01: a (and 2 more problem(s): `trello-sync check` lists each)"
    )


def test_a_bad_rule_set_stops_the_settings_with_one_line_unless_check_asks():
    bad = [rule("2000-01-01", shares={"funded": FLAT})]
    with pytest.raises(ConfigError) as stopped:
        load_settings(pay_rules=bad, boards=["b1"])
    assert str(stopped.value).startswith("configuration: pay rules from 2000-01-01: no share")
    assert "\n" not in str(stopped.value)
    lenient = load_settings(pay_rules=bad, boards=["b1"], pay_rules_checked=False)
    with pytest.raises(PayRulesError):
        lenient.pay()


def test_rules_built_in_code_are_checked_the_same_way():
    flat = {Status.DONE: 100, Status.NOSHOW: 50, Status.LATE: 50, Status.CANCEL: 0}
    with pytest.raises(PayRulesError, match="overlapping dates"):
        PayRules.of([RuleSet(date(2000, 1, 1), "EUR", {1: 3000}, flat)] * 2)
    with pytest.raises(PayRulesError, match="at least one rule set"):
        PayRules.of([])


def check_facts(rules: PayRules | None, rule_problems: tuple[str, ...], today: date) -> CheckFacts:
    gone = Unavailable("not read", "not needed here")
    config = ConfigFacts(
        boards=("b1",),
        mentors=(),
        stages=StageMap.from_config({"active": ["Active"]}),
        rules=rules,
        today=today,
        boards_setting="TRELLO_SYNC_BOARDS",
        mentors_setting="TRELLO_SYNC_MENTORS",
        rule_problems=rule_problems,
    )
    return CheckFacts(config=config, ledger=gone, export_folder=gone, trello=gone)


def test_check_lists_every_problem_of_the_rules_one_line_each():
    lines = problems([rule("2000-01-01", shares={**FLAT, "late": 150}), rule("2000-01-01")])
    found = pay_rules_in_force(check_facts(None, lines, date(2020, 6, 2)))
    assert [f.kind for f in found] == [Kind.PROBLEM] * len(lines) and len(lines) == 2
    assert [f.line for f in found] == [f"pay_rules: {line}" for line in lines]
    (in_force,) = pay_rules_in_force(check_facts(platform_2020(), (), date(2020, 6, 2)))
    assert in_force.line == (
        "pay rules in force: L1 30.00, L2 35.00, L3 40.00, L4 45.00, L5 50.00, L6 55.00 EUR; "
        "monthly fee 30.00 per self-funded student with 1+ done session(s)"
    )
    (before,) = pay_rules_in_force(check_facts(platform_2020(), (), date(2020, 5, 31)))
    assert "monthly fee" not in before.line
