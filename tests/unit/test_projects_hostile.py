"""Project and level read from what anyone can type on a card: bounded, and in linear time."""

from __future__ import annotations

from planning import TABLE

from trello_sync.domain.projects import MAX_PROJECT_CHARS, resolve_project

FIELDS = [
    {"id": "f1", "name": "Project", "type": "text"},
    {"id": "f2", "name": "Level", "type": "text"},
]


def card(**parts):
    return {"labels": [], "desc": "", "customFieldItems": [], **parts}


def level_field(text):
    return [{"idCustomField": "f2", "value": {"text": text}}]


def test_a_level_label_with_5000_digits_is_no_level():
    got = resolve_project(card(labels=[{"name": "Level " + "9" * 5000}]), FIELDS, TABLE)
    assert (got.level, got.level_overridden) == (2, False)
    got = resolve_project(card(customFieldItems=level_field("9" * 5000)), FIELDS, TABLE)
    assert (got.level, got.level_overridden) == (2, False)


def test_levels_are_ascii_digits():
    got = resolve_project(card(labels=[{"name": "Level ３"}]), FIELDS, TABLE)
    assert got.level_overridden is False
    got = resolve_project(card(labels=[{"name": " level3 "}]), FIELDS, TABLE)
    assert (got.level, got.level_overridden) == (3, True)


def test_long_blank_lines_and_fields_resolve():
    spaces = " " * 16000
    desc = f"Project: a{spaces}b\n{spaces}\nProjet:{spaces}"
    got = resolve_project(card(desc=desc), FIELDS, TABLE)
    assert got.project == "a"  # "a", 199 spaces once cut to 200 characters, stripped
    for text in (spaces, f"Level{spaces}x", f"Level 3{spaces}x"):
        got = resolve_project(card(customFieldItems=level_field(text)), FIELDS, TABLE)
        assert got.level_overridden is False


def test_a_16000_character_project_name_is_cut_to_200():
    name = "Space Invaders " + "x" * 16000
    for parts in (
        {"desc": f"Project: {name}"},
        {"customFieldItems": [{"idCustomField": "f1", "value": {"text": name}}]},
    ):
        got = resolve_project(card(**parts), FIELDS, TABLE)
        assert got.project == name[:MAX_PROJECT_CHARS]
        assert (got.level, got.flagged) == (2, False)


def test_the_description_line_is_read_as_before():
    cases = {
        "Hello\nproject : Web app  \r\nProject: other": "Web app",
        "  PROJET:Learn how to learn": "Learn how to learn",
        "Project:\n\n  Web app \n": "Web app",
        "Projects: no\nproject without colon\nx Project: no": None,
        "": None,
    }
    for desc, project in cases.items():
        assert resolve_project(card(desc=desc), FIELDS, TABLE).project == project, desc


def test_nul_bytes_from_the_board_are_kept_as_a_replacement_character():
    """PostgreSQL cannot store NUL in text: the books must hold the same on both backends."""
    from trello_sync.domain.actions import parse_action
    from trello_sync.domain.text import storable

    assert storable("a\x00b") == "a\ufffdb" and storable("plain") == "plain"
    action = parse_action(
        {
            "id": "6aea13100000000000000001",
            "type": "commentCard",
            "date": "2026-11-03T17:00:00.000Z",
            "idMemberCreator": "m1",
            "memberCreator": {"username": "cam\x00ille"},
            "data": {
                "text": "/session \x00 45m",
                "card": {"id": "c1", "name": "Lea\x00"},
                "list": {"id": "l1", "name": "Active\x00"},
            },
        }
    )
    fields = (action.text, action.card_name, action.list_name, action.member_username)
    assert not any("\x00" in (value or "") for value in fields)
    assert action.text == "/session \ufffd 45m"
