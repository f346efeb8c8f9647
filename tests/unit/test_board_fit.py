"""How a board fits the stages and the pay table: what `trello-sync setup` shows and
offers to fix."""

from __future__ import annotations

from trello_sync.domain.board_fit import (
    FUNDING_LABEL_NAMES,
    STAGE_LIST_NAMES,
    Lang,
    fit_board,
    label_color,
    lang_of_locale,
)
from trello_sync.domain.funding import label_funding
from trello_sync.domain.rules import Funding
from trello_sync.domain.stages import PIPELINE_STAGES, Stage
from trello_sync.settings import load_settings

SETTINGS = load_settings()


def fit(lists, cards=(), labels=()):
    return fit_board(
        lists=lists,
        cards=list(cards),
        labels=list(labels),
        custom_fields=[],
        stage_map=SETTINGS.stage_map(),
        projects=SETTINGS.project_table(),
    )


def test_funding_labels_are_offered_only_when_the_rules_price_by_funding():
    base = dict(lists=[], cards=[], custom_fields=[], stage_map=SETTINGS.stage_map())
    projects = SETTINGS.project_table()
    have = [{"name": "Financement : autofinancé"}, {"name": "Funding"}]
    assert fit_board(**base, labels=have, projects=projects).fundings_without_label == ()
    by_funding = fit_board(**base, labels=have, projects=projects, by_funding=True)
    assert by_funding.fundings_without_label == (Funding.FUNDED,)
    assert by_funding.funding_labels_to_create(Lang.EN) == ("Funding: funded",)
    none = fit_board(**base, labels=[], projects=projects, by_funding=True)
    assert none.funding_labels_to_create(Lang.FR) == (
        "Financement: financé",
        "Financement: autofinancé",
    )


def test_the_labels_setup_creates_for_fundings_are_read_back_as_those_fundings():
    for lang, names in FUNDING_LABEL_NAMES.items():
        for funding, name in names.items():
            assert label_funding(name) == funding, (lang, name)


def test_every_list_name_setup_creates_is_an_alias_of_its_stage():
    stage_map = SETTINGS.stage_map()
    for lang in Lang:
        names = STAGE_LIST_NAMES[lang]
        assert set(names) == set(PIPELINE_STAGES)
        for stage, name in names.items():
            assert stage_map.stage_of(name) is stage, (lang, name)


def test_lists_in_board_order_mapped_or_named_and_missing_stages():
    board = fit(
        [
            {"id": "l3", "name": "Notes", "pos": 3, "closed": False},
            {"id": "l1", "name": " en ATTENTE ", "pos": 1, "closed": False},
            {"id": "l2", "name": "En cours", "pos": 2, "closed": False},
            {"id": "l4", "name": "Paused", "pos": 4, "closed": True},  # archived: not a list
        ]
    )
    assert [(f.name, f.stage) for f in board.lists] == [
        (" en ATTENTE ", Stage.WAITING),
        ("En cours", Stage.ACTIVE),
        ("Notes", None),
    ]
    assert board.unmapped_lists == ("Notes",)
    assert board.missing_stages == (Stage.PAUSED, Stage.HANDED_OFF)
    assert board.lists_to_create(Lang.EN) == ("Paused", "Handed off")
    assert board.lists_to_create(Lang.FR) == ("En pause", "Passé la main")


def test_students_without_project_are_the_open_cards_on_stage_lists():
    lists = [
        {"id": "active", "name": "Active", "pos": 1},
        {"id": "notes", "name": "Notes", "pos": 2},
    ]
    cards = [
        {"id": "c1", "name": "Alice", "idList": "active", "labels": [], "desc": ""},
        {"id": "c2", "name": "Bob", "idList": "active", "labels": [], "desc": "Project: X"},
        {
            "id": "c3",
            "name": "Chloé",
            "idList": "active",
            "labels": [{"name": "Learn how to learn"}],
        },
        {"id": "c4", "name": "Checklist", "idList": "notes", "labels": []},  # not a student
        {"id": "c5", "name": "Dan", "idList": "active", "closed": True},  # archived
    ]
    assert fit(lists, cards).students_without_project == ("Alice",)


def test_the_labels_to_create_are_the_pay_tables_projects_the_board_lacks():
    projects = list(SETTINGS.projects)
    have = [{"name": projects[0].upper()}, {"name": ""}, {"name": "Urgent"}]
    assert fit([], labels=have).labels_to_create == tuple(projects[1:])


def test_a_french_locale_gives_french_names_and_anything_else_english():
    assert lang_of_locale("fr_FR.UTF-8") is Lang.FR
    assert lang_of_locale("fr-CA") is Lang.FR
    assert lang_of_locale("en_GB.UTF-8") is Lang.EN
    assert lang_of_locale("C") is Lang.EN
    assert lang_of_locale(None) is Lang.EN


def test_label_colours_go_round():
    assert label_color(0) == label_color(9) == "green"
