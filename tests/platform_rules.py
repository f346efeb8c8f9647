"""The shipped example of the platform's 2020 pay rules, for the tests that price by it."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from trello_sync.domain.pay_toml import rules_from_mapping
from trello_sync.domain.rules import PayRules

PLATFORM_2020 = Path(__file__).parents[1] / "config" / "examples" / "platform-2020.toml"


def platform_2020_raw() -> list[dict[str, Any]]:
    """Its [[pay_rules]], as the settings hand them to the rules (a TOML date as text)."""
    with PLATFORM_2020.open("rb") as handle:
        rules: list[dict[str, Any]] = tomllib.load(handle)["pay_rules"]
    for rule in rules:
        if not isinstance(rule["effective"], str):
            rule["effective"] = rule["effective"].isoformat()
    return rules


def platform_2020() -> PayRules:
    return rules_from_mapping(platform_2020_raw())
