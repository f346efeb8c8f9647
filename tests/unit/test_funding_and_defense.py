"""The funding a card says, and the /defense command."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from trello_sync.domain.commands import (
    DEFENSE_USAGE,
    USAGE,
    InvalidCommand,
    SessionCommand,
    parse_command,
)
from trello_sync.domain.funding import funding_of, resolve_funding
from trello_sync.domain.rules import EntryKind, Funding, Status

TODAY = date(2020, 6, 10)
FIELDS = [
    {"id": "f-text", "name": "Funding", "type": "text"},
    {
        "id": "f-list",
        "name": "Financement",
        "type": "list",
        "options": [
            {"id": "o1", "value": {"text": "Financé"}},
            {"id": "o2", "value": {"text": "Autofinancé"}},
        ],
    },
]


def card(*, labels: tuple[str, ...] = (), desc: str = "", items: Any = ()) -> dict[str, Any]:
    return {
        "id": "c1",
        "labels": [{"name": name} for name in labels],
        "desc": desc,
        "customFieldItems": list(items),
    }


@pytest.mark.parametrize(
    ("text", "funding"),
    [
        ("funded", Funding.FUNDED),
        ("Financé", Funding.FUNDED),
        ("FINANCE", Funding.FUNDED),
        ("self", Funding.SELF),
        (" Self-funded ", Funding.SELF),
        ("autofinancé", Funding.SELF),
        ("Auto-financé", Funding.SELF),
        ("scholarship", Funding.UNSET),
        ("", Funding.UNSET),
        ("self" * 5000, Funding.UNSET),
    ],
)
def test_the_values_a_card_may_say(text: str, funding: Funding):
    assert funding_of(text) is funding


def test_a_label_says_it():
    assert resolve_funding(card(labels=("Urgent", "Funding: self")), FIELDS) is Funding.SELF
    assert resolve_funding(card(labels=("Financement : financé",)), FIELDS) is Funding.FUNDED
    assert resolve_funding(card(labels=("Self",)), FIELDS) is Funding.UNSET  # no key: no funding


def test_a_custom_field_says_it_first_then_a_label_then_the_description():
    by_list = card(
        labels=("Funding: funded",),
        desc="Funding: funded",
        items=[{"idCustomField": "f-list", "idValue": "o2"}],
    )
    assert resolve_funding(by_list, FIELDS) is Funding.SELF
    by_text = card(items=[{"idCustomField": "f-text", "value": {"text": "funded"}}])
    assert resolve_funding(by_text, FIELDS) is Funding.FUNDED
    described = card(labels=("Level 2",), desc="Project: Build a web app\n  funding: Self")
    assert resolve_funding(described, FIELDS) is Funding.SELF
    assert resolve_funding(card(desc="Project: X"), FIELDS) is Funding.UNSET
    assert resolve_funding(card(), []) is Funding.UNSET


def test_a_value_it_does_not_know_is_no_funding_even_where_it_comes_first():
    said = card(
        labels=("Funding: self",), items=[{"idCustomField": "f-text", "value": {"text": "?"}}]
    )
    assert resolve_funding(said, FIELDS) is Funding.UNSET


@pytest.mark.parametrize(
    ("text", "status", "day", "minutes", "note"),
    [
        ("/defense", Status.DONE, TODAY, None, ""),
        ("/soutenance 1h30 bravo", Status.DONE, TODAY, 90, "bravo"),
        ("/Defence yesterday", Status.DONE, date(2020, 6, 9), None, ""),
        ("/defense noshow 08/06", Status.NOSHOW, date(2020, 6, 8), None, ""),
        ("/soutenance late", Status.LATE, TODAY, None, ""),
        ("/defense CANCEL 45m moved to July", Status.CANCEL, TODAY, 45, "moved to July"),
        ("/defense done 2020-06-01 1h", Status.DONE, date(2020, 6, 1), 60, ""),
    ],
)
def test_a_defense_takes_a_status_then_the_session_syntax(
    text: str, status: Status, day: date, minutes: int | None, note: str
):
    assert parse_command(text, TODAY) == SessionCommand(
        status, day, minutes, note, kind=EntryKind.DEFENSE
    )


def test_a_refused_defense_shows_its_own_usage_and_a_session_the_usual_one():
    refused = parse_command("/defense 31/02", TODAY)
    assert isinstance(refused, InvalidCommand) and refused.usage == DEFENSE_USAGE
    assert "not a valid date" in refused.reason
    session = parse_command("/session 31/02", TODAY)
    assert isinstance(session, InvalidCommand) and session.usage == USAGE
    assert "/defense" not in USAGE  # every earlier refusal reads as it always has


def test_a_defense_on_a_later_line_is_a_second_command():
    refused = parse_command("/session\n/soutenance", TODAY)
    assert isinstance(refused, InvalidCommand) and "one command per comment" in refused.reason
