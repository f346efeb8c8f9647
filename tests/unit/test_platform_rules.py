"""The platform's 2020 rules (config/examples/platform-2020.toml) in the planner, from
readable board scripts: each history with its expected books, entry by entry.

Students and what the board says of them:
    Lea  "Build a Python web app" (level 2, 35.00)         self-funded
    Max  "Enhance an existing project" (level 3, 40.00)    funded
    Zoe  "Learn how to learn" (level 1, 30.00)             no funding
    Noe  "Build a Python web app", label "Level 5" (50.00) self-funded
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime

from board_script import BoardScript
from planning import TABLE, apply, config, run_polls
from platform_rules import platform_2020

from trello_sync.domain.actions import Action
from trello_sync.domain.pay_toml import rules_from_mapping
from trello_sync.domain.planner import BoardFacts, CardFacts, plan, plan_deleted_comments
from trello_sync.domain.projects import ProjectLevel
from trello_sync.domain.records import BoardView, Entry, Plan
from trello_sync.domain.rules import Funding

RULES = platform_2020()
CFG = config(rules=RULES)
PROJECTS = {
    "Lea": ("Build a Python web app", None),
    "Max": ("Enhance an existing project", None),
    "Zoe": ("Learn how to learn", None),
    "Noe": ("Build a Python web app", 5),
}
FUNDINGS = {"Lea": Funding.SELF, "Max": Funding.FUNDED, "Zoe": Funding.UNSET, "Noe": Funding.SELF}

BOARD = """
create Lea in "En attente" at 2020-05-04 09:00
create Max in "En attente" at 2020-05-04 09:05
create Zoe in "En attente" at 2020-05-04 09:10
create Noe in "En attente" at 2020-05-04 09:15
move Lea to "En cours" at 2020-05-05 10:00
move Max to "En cours" at 2020-05-05 10:00
move Zoe to "En cours" at 2020-05-05 10:00
move Noe to "En cours" at 2020-05-05 10:00
"""


def board_facts(cards: Mapping[str, str], fundings: Mapping[str, Funding] = FUNDINGS) -> BoardFacts:
    """What the board shows now: each student's project, level and funding."""
    out = {}
    for student, card_id in cards.items():
        project, level = PROJECTS[student]
        shown = ProjectLevel(project, level or TABLE.level_of(project), "label", bool(level))
        out[card_id] = CardFacts(student, shown, fundings.get(student, Funding.UNSET))
    return BoardFacts(cards=out, present_cards=frozenset(cards.values()))


Row = tuple[str, str, str, str, str, int, str]


def books(entries: Sequence[Entry]) -> list[Row]:
    """Each entry as (student, kind, status, funding, session date, share, amount)."""
    return [
        (
            e.student,
            str(e.kind),
            str(e.status),
            str(e.funding),
            e.session_date.isoformat(),
            e.share_percent,
            f"{e.amount_cents / 100:.2f}",
        )
        for e in entries
    ]


def run(script: BoardScript, text: str, fundings: Mapping[str, Funding] = FUNDINGS) -> Plan:
    actions = script.run(text)
    _, plans = run_polls([actions], board_facts(script.cards, fundings), CFG)
    return plans[0]


def test_a_history_across_1_june_2020_is_priced_entry_by_entry_as_the_matrix_says():
    script = BoardScript()
    result = run(
        script,
        BOARD
        + """
        # Before 1 June: 100 / 50 / 50 / 0 % for everyone, defenses too; no monthly fee.
        comment Lea "/session" at 2020-05-20 18:00
        comment Lea "/noshow" at 2020-05-27 18:00
        comment Lea "/late" at 2020-05-28 18:00
        comment Max "/session" at 2020-05-28 18:00
        comment Max "/defense" at 2020-05-29 18:00
        comment Zoe "/cancel" at 2020-05-29 18:00
        # Written on 1 June about 31 May: the rules of its date.
        comment Lea "/session 2020-05-31" at 2020-06-01 18:00
        # From 1 June: self-funded 50 % (+ 30.00 once a month), funded 100 %.
        comment Lea "/session" at 2020-06-02 18:00
        comment Lea "/session 45m" at 2020-06-09 18:00
        comment Lea "/noshow" at 2020-06-10 18:00
        comment Lea "/late" at 2020-06-11 18:00
        comment Max "/session" at 2020-06-03 18:00
        comment Max "/noshow" at 2020-06-04 18:00
        comment Max "/late" at 2020-06-05 18:00
        comment Max "/soutenance" at 2020-06-15 18:00
        comment Max "/defense noshow" at 2020-06-16 18:00
        comment Zoe "/session" at 2020-06-03 18:00
        comment Zoe "/late" at 2020-06-04 18:00
        comment Lea "/defense" at 2020-06-20 18:00
        comment Lea "/defense noshow" at 2020-06-21 18:00
        comment Noe "/session" at 2020-06-22 18:00
        """,
    )
    assert books(result.entries) == [
        ("Lea", "session", "done", "self", "2020-05-20", 100, "35.00"),
        ("Lea", "session", "noshow", "self", "2020-05-27", 50, "17.50"),
        ("Lea", "session", "late", "self", "2020-05-28", 50, "17.50"),
        ("Max", "session", "done", "funded", "2020-05-28", 100, "40.00"),
        ("Max", "defense", "done", "funded", "2020-05-29", 100, "40.00"),
        ("Zoe", "session", "cancel", "unset", "2020-05-29", 0, "0.00"),
        ("Lea", "session", "done", "self", "2020-05-31", 100, "35.00"),
        ("Lea", "session", "done", "self", "2020-06-02", 50, "17.50"),
        ("Lea", "fee", "done", "self", "2020-06-02", 100, "30.00"),
        ("Max", "session", "done", "funded", "2020-06-03", 100, "40.00"),
        ("Zoe", "session", "done", "unset", "2020-06-03", 100, "30.00"),
        ("Max", "session", "noshow", "funded", "2020-06-04", 50, "20.00"),
        ("Zoe", "session", "late", "unset", "2020-06-04", 0, "0.00"),
        ("Max", "session", "late", "funded", "2020-06-05", 0, "0.00"),
        ("Lea", "session", "done", "self", "2020-06-09", 50, "17.50"),
        ("Lea", "session", "noshow", "self", "2020-06-10", 25, "8.75"),
        ("Lea", "session", "late", "self", "2020-06-11", 0, "0.00"),
        ("Max", "defense", "done", "funded", "2020-06-15", 100, "40.00"),
        ("Max", "defense", "noshow", "funded", "2020-06-16", 50, "20.00"),
        ("Lea", "defense", "done", "self", "2020-06-20", 100, "35.00"),
        ("Lea", "defense", "noshow", "self", "2020-06-21", 50, "17.50"),
        ("Noe", "session", "done", "self", "2020-06-22", 50, "25.00"),
        ("Noe", "fee", "done", "self", "2020-06-22", 100, "30.00"),
    ]
    fee = next(e for e in result.entries if e.student == "Lea" and e.kind == "fee")
    session = next(e for e in result.entries if e.session_date == date(2020, 6, 2))
    assert fee.entry_id == f"fee:{script.cards['Lea']}:2020-06:2020-06-01:1"
    assert (fee.source_action_id, fee.recorded_at) == (
        session.source_action_id,
        session.recorded_at,
    )
    assert (fee.level, fee.mentor, fee.currency) == (2, "camille", "EUR")


def test_the_replies_say_the_funding_the_fee_and_the_month_with_it():
    result = run(
        BoardScript(),
        BOARD
        + """
        comment Lea "/session" at 2020-06-02 18:00
        comment Lea "/soutenance 1h" at 2020-06-03 18:00
        comment Zoe "/session" at 2020-06-03 18:00
        """,
    )
    first, defense, unset = (r.text for r in result.replies)
    assert first.startswith(
        "🤖 Session recorded: 2020-06-02 · Level 2 (Build a Python web app) · self-funded · "
        "17.50 EUR (50% of 35.00 EUR).\n"
        "Monthly fee for 2020-06 recorded: 30.00 EUR (self-funded).\n"
        "Lea, 2020-06: 1 session(s), 47.50 EUR."
    )
    assert defense.startswith(
        "🤖 Defense recorded: 2020-06-03, 60 min · Level 2 (Build a Python web app) · "
        "self-funded · 35.00 EUR (100% of 35.00 EUR).\n"
        "Lea, 2020-06: 1 session(s), 1 defense(s), 82.50 EUR."
    )
    # A card with no funding reads exactly as every reply always has.
    assert unset.startswith(
        "🤖 Session recorded: 2020-06-03 · Level 1 (Learn how to learn) · 30.00 EUR "
        "(100% of 30.00 EUR).\nZoe, 2020-06: 1 session(s), 30.00 EUR."
    )


def test_a_change_of_funding_mid_month_prices_what_follows_and_keeps_what_was():
    """Max is funded until mid-June, then self-funded: his earlier entries keep their
    funding, and the fee comes with his first self-funded done session. Lea goes the
    other way: her fee stays, her later sessions are paid in full."""
    script = BoardScript()
    before = script.run(
        BOARD
        + """
        comment Max "/session" at 2020-06-02 18:00
        comment Max "/session" at 2020-06-05 18:00
        comment Lea "/session" at 2020-06-02 18:00
        """
    )
    after = script.run(
        """
        comment Max "/noshow" at 2020-06-12 18:00
        comment Max "/session" at 2020-06-15 18:00
        comment Max "/session" at 2020-06-19 18:00
        comment Lea "/session" at 2020-06-16 18:00
        """
    )
    switched = {**FUNDINGS, "Max": Funding.SELF, "Lea": Funding.FUNDED}
    view = BoardView("5f0000000000000000b0a4d1")
    first = plan(before, view, board_facts(script.cards), CFG)
    second = plan(after, apply(view, first), board_facts(script.cards, switched), CFG)
    assert books(first.entries) == [
        ("Max", "session", "done", "funded", "2020-06-02", 100, "40.00"),
        ("Lea", "session", "done", "self", "2020-06-02", 50, "17.50"),
        ("Lea", "fee", "done", "self", "2020-06-02", 100, "30.00"),
        ("Max", "session", "done", "funded", "2020-06-05", 100, "40.00"),
    ]
    assert books(second.entries) == [
        ("Max", "session", "noshow", "self", "2020-06-12", 25, "10.00"),
        ("Max", "session", "done", "self", "2020-06-15", 50, "20.00"),
        ("Max", "fee", "done", "self", "2020-06-15", 100, "30.00"),
        ("Lea", "session", "done", "funded", "2020-06-16", 100, "35.00"),
        ("Max", "session", "done", "self", "2020-06-19", 50, "20.00"),
    ]
    # Nothing of the first poll is rewritten: the ledger only grows.
    assert not {e.entry_id for e in first.entries} & {e.entry_id for e in second.entries}


def test_an_undo_of_the_last_qualifying_session_reverses_the_fee():
    result = run(
        BoardScript(),
        BOARD
        + """
        comment Lea "/session" at 2020-06-02 18:00
        comment Lea "/undo" at 2020-06-02 18:30
        comment Lea "/session 2020-06-04" at 2020-06-04 18:00
        comment Lea "/session 2020-06-05" at 2020-06-05 18:00
        comment Lea "/undo" at 2020-06-05 18:30
        """,
    )
    assert books(result.entries) == [
        ("Lea", "session", "done", "self", "2020-06-02", 50, "17.50"),
        ("Lea", "fee", "done", "self", "2020-06-02", 100, "30.00"),
        ("Lea", "session", "done", "self", "2020-06-02", 50, "-17.50"),
        ("Lea", "fee", "done", "self", "2020-06-02", 100, "-30.00"),
        # The month qualifies again: a fee of its own, as an entry is reversed once.
        ("Lea", "session", "done", "self", "2020-06-04", 50, "17.50"),
        ("Lea", "fee", "done", "self", "2020-06-04", 100, "30.00"),
        ("Lea", "session", "done", "self", "2020-06-05", 50, "17.50"),
        # Undoing the 5th leaves the 4th: the month still qualifies, the fee stays.
        ("Lea", "session", "done", "self", "2020-06-05", 50, "-17.50"),
    ]
    fees = [e for e in result.entries if e.kind == "fee"]
    assert fees[1].reverses_entry_id == fees[0].entry_id
    assert fees[2].entry_id == f"{fees[0].entry_id}#2"
    undone = [r.text for r in result.replies if r.kind == "undone"]
    assert undone[0].startswith(
        "🤖 Undone: the session of 2020-06-02 (17.50 EUR) is reversed (-17.50 EUR). "
        "The monthly fee for 2020-06 (30.00 EUR) is reversed (-30.00 EUR): its condition "
        "no longer holds."
    )
    assert "monthly fee" not in undone[1]
    assert sum(e.amount_cents for e in result.entries) == 1750 + 3000


def test_an_edit_that_moves_the_session_out_of_the_month_moves_the_fee():
    script = BoardScript()
    view, _ = run_polls(
        [script.run(BOARD + 'comment Lea "/session 2020-06-02" at 2020-06-02 18:00')],
        board_facts(script.cards),
        CFG,
    )
    edited = script.run('edit c1 "/session 2020-05-29" at 2020-06-02 20:00')
    result = plan(edited, view, board_facts(script.cards), CFG)
    # May is priced by the old rules, which have no monthly fee.
    assert books(result.entries) == [
        ("Lea", "session", "done", "self", "2020-06-02", 50, "-17.50"),
        ("Lea", "session", "done", "self", "2020-05-29", 100, "35.00"),
        ("Lea", "fee", "done", "self", "2020-06-02", 100, "-30.00"),
    ]
    (reply,) = result.replies
    assert "The monthly fee for 2020-06 (30.00 EUR) is reversed (-30.00 EUR)" in reply.text
    assert reply.kind == "corrected"


def test_an_edit_that_changes_nothing_for_the_month_leaves_the_fee_alone():
    script = BoardScript()
    view, _ = run_polls(
        [script.run(BOARD + 'comment Lea "/session" at 2020-06-02 18:00')],
        board_facts(script.cards),
        CFG,
    )
    edited = script.run('edit c1 "/session 45m" at 2020-06-02 20:00')
    result = plan(edited, view, board_facts(script.cards), CFG)
    assert [e.kind for e in result.entries] == ["session", "session"]
    assert "monthly fee" not in result.replies[0].text


def test_a_deleted_comment_reverses_its_session_and_the_fee_it_carried():
    script = BoardScript()
    view, _ = run_polls(
        [script.run(BOARD + 'comment Lea "/session" at 2020-06-02 18:00')],
        board_facts(script.cards),
        CFG,
    )
    now = datetime(2020, 6, 10, tzinfo=UTC)
    window = datetime(2020, 5, 1, tzinfo=UTC)
    result = plan_deleted_comments(frozenset(), window, view, board_facts(script.cards), CFG, now)
    assert books(result.entries) == [
        ("Lea", "session", "done", "self", "2020-06-02", 50, "-17.50"),
        ("Lea", "fee", "done", "self", "2020-06-02", 100, "-30.00"),
    ]
    (reply,) = result.replies
    assert reply.kind == "deleted" and "The monthly fee for 2020-06" in reply.text
    again = plan_deleted_comments(
        frozenset(), window, apply(view, result), board_facts(script.cards), CFG, now
    )
    assert again.entries == ()


def test_defenses_and_other_statuses_never_earn_the_fee():
    result = run(
        BoardScript(),
        BOARD
        + """
        comment Lea "/defense" at 2020-06-02 18:00
        comment Lea "/noshow" at 2020-06-03 18:00
        comment Lea "/late" at 2020-06-04 18:00
        comment Max "/session" at 2020-06-04 18:00
        comment Zoe "/session" at 2020-06-04 18:00
        """,
    )
    assert [e for e in result.entries if e.kind == "fee"] == []


def test_a_fee_that_needs_two_done_sessions_comes_with_the_second():
    raw = [
        {
            "effective": "2000-01-01",
            "rates": {"2": "35.00", "1": "30.00", "3": "40.00", "5": "50.00"},
            "shares": {"done": 100, "noshow": 50, "late": 50, "cancel": 0},
            "monthly_fees": [{"amount": "12.50", "min_done_sessions": 2}],
        }
    ]
    cfg = replace(CFG, rules=rules_from_mapping(raw))
    script = BoardScript()
    actions = script.run(
        BOARD
        + """
        comment Zoe "/session" at 2020-06-02 18:00
        comment Zoe "/session" at 2020-06-09 18:00
        comment Zoe "/session" at 2020-06-16 18:00
        comment Zoe "/undo" at 2020-06-16 18:30
        comment Zoe "/undo" at 2020-06-16 18:31
        """
    )
    _, plans = run_polls([actions], board_facts(script.cards), cfg)
    assert books(plans[0].entries) == [
        ("Zoe", "session", "done", "unset", "2020-06-02", 100, "30.00"),
        ("Zoe", "session", "done", "unset", "2020-06-09", 100, "30.00"),
        ("Zoe", "fee", "done", "unset", "2020-06-09", 100, "12.50"),
        ("Zoe", "session", "done", "unset", "2020-06-16", 100, "30.00"),
        ("Zoe", "session", "done", "unset", "2020-06-16", 100, "-30.00"),
        ("Zoe", "session", "done", "unset", "2020-06-09", 100, "-30.00"),
        ("Zoe", "fee", "done", "unset", "2020-06-09", 100, "-12.50"),
    ]


def test_planning_the_same_history_twice_gives_the_same_books():
    """Every id is derived (a fee's from card, month and rule): a second planning of the
    same actions is the same decision, so the ledger's keys make it harmless."""
    script = BoardScript()
    actions: list[Action] = script.run(
        BOARD
        + """
        comment Lea "/session" at 2020-06-02 18:00
        comment Lea "/undo" at 2020-06-02 18:30
        comment Lea "/session" at 2020-06-04 18:00
        """
    )
    cards = board_facts(script.cards)
    once = run_polls([actions], cards, CFG)[1][0]
    twice = run_polls([actions[:9], actions[9:]], cards, CFG)[1]
    assert once.entries == twice[0].entries + twice[1].entries
    assert [r.reply_id for r in once.replies] == [r.reply_id for p in twice for r in p.replies]
