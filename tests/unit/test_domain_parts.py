"""Commands, stages, projects and money: the small pure pieces."""

from __future__ import annotations

from datetime import date

import pytest
from planning import TABLE

from trello_sync.domain.commands import InvalidCommand, SessionCommand, UndoCommand, parse_command
from trello_sync.domain.money import Money, format_cents, parse_amount
from trello_sync.domain.projects import resolve_project
from trello_sync.domain.rules import Status
from trello_sync.domain.stages import Stage, StageMap

TODAY = date(2026, 11, 28)


@pytest.mark.parametrize(
    ("text", "status", "day", "minutes", "note"),
    [
        ("/session", Status.DONE, TODAY, None, ""),
        ("/Session 2026-11-20 45m", Status.DONE, date(2026, 11, 20), 45, ""),
        ("/noshow 27/11", Status.NOSHOW, date(2026, 11, 27), None, ""),
        ("/late 28/11/2026 1h was ill", Status.LATE, TODAY, 60, "was ill"),
        ("/cancel yesterday", Status.CANCEL, date(2026, 11, 27), None, ""),
        ("/session today 1h30m great\nsecond line", Status.DONE, TODAY, 90, "great\nsecond line"),
        ("  /SESSION 45m yesterday", Status.DONE, date(2026, 11, 27), 45, ""),
    ],
)
def test_status_commands(text, status, day, minutes, note):
    assert parse_command(text, TODAY) == SessionCommand(status, day, minutes, note)


def test_day_month_without_year_is_the_nearest_such_day():
    assert parse_command("/session 30/12", date(2027, 1, 2)) == SessionCommand(
        Status.DONE, date(2026, 12, 30), None, ""
    )


def test_undo_plain_chatter_and_errors():
    assert parse_command("/undo oops", TODAY) == UndoCommand("oops")
    assert parse_command("great session!", TODAY) is None
    assert isinstance(parse_command("/sessions", TODAY), InvalidCommand)
    assert isinstance(parse_command("/session 30/02", TODAY), InvalidCommand)
    assert isinstance(parse_command("/session 900m", TODAY), InvalidCommand)


def test_stage_names_fold_case_accents_and_spaces():
    stages = StageMap.from_config({"handed_off": ["Passé la main"], "paused": ["En pause"]})
    assert stages.stage_of("  passe LA main ") is Stage.HANDED_OFF
    assert stages.stage_of("EN  PAUSE") is Stage.PAUSED
    assert stages.stage_of("Handed_off") is Stage.HANDED_OFF
    assert stages.stage_of("Notes") is Stage.UNMAPPED
    with pytest.raises(ValueError):
        StageMap.from_config({"active": ["X"], "paused": ["x"]})


FIELDS = [
    {"id": "f1", "name": "Project", "type": "text"},
    {
        "id": "f2",
        "name": "Level",
        "type": "list",
        "options": [{"id": "o3", "value": {"text": "Level 3"}}],
    },
]


def card(**parts):
    return {"labels": [], "desc": "", "customFieldItems": [], **parts}


def test_project_precedence_field_then_label_then_description():
    label = [{"name": "Launch your own restaurant review site"}]
    field = [{"idCustomField": "f1", "value": {"text": "learn how to learn"}}]
    desc = "Hello\nProject: Enhance an existing project\n"
    got = resolve_project(card(customFieldItems=field, labels=label, desc=desc), FIELDS, TABLE)
    assert (got.project, got.level, got.project_source) == ("Learn how to learn", 1, "custom_field")
    got = resolve_project(card(labels=[{"name": "urgent"}, *label], desc=desc), FIELDS, TABLE)
    assert (got.project, got.level, got.project_source) == (
        "Launch your own restaurant review site",
        3,
        "label",
    )
    got = resolve_project(card(desc=desc), FIELDS, TABLE)
    assert (got.project, got.level, got.project_source) == (
        "Enhance an existing project",
        3,
        "description",
    )


def test_unknown_project_is_level_two_and_no_project_is_flagged():
    got = resolve_project(card(desc="Project: Space Invaders in Rust"), FIELDS, TABLE)
    assert (got.project, got.level, got.flagged) == ("Space Invaders in Rust", 2, False)
    got = resolve_project(card(), FIELDS, TABLE)
    assert (got.project, got.level, got.flagged) == (None, 2, True)


def test_level_label_or_field_overrides():
    got = resolve_project(
        card(desc="Project: Web app", labels=[{"name": "Level 3"}]), FIELDS, TABLE
    )
    assert (got.level, got.level_overridden) == (3, True)
    field = [{"idCustomField": "f2", "idValue": "o3"}]
    got = resolve_project(
        card(labels=[{"name": "Learn how to learn"}], customFieldItems=field), FIELDS, TABLE
    )
    assert (got.project, got.level) == ("Learn how to learn", 3)


def test_money_is_integer_cents():
    assert Money(3500).share(50) == Money(1750)
    assert Money(3333).share(50) == Money(1667)  # half away from zero
    assert Money(-3333).share(50) == Money(-1667)
    assert format_cents(-4000) == "-40.00" and format_cents(5) == "0.05"
    assert parse_amount("40") == 4000 and parse_amount("17.5") == 1750
    with pytest.raises(ValueError):
        parse_amount("1e3")
    with pytest.raises(ValueError):
        Money(1, "EUR") + Money(1, "USD")
