"""The planner, driven by readable board scripts."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from board_script import BOARD_ID, BoardScript
from planning import RULES, SHARES, apply, config, facts, run_polls

from trello_sync.domain.planner import OutlinedCard, plan, plan_deleted_comments
from trello_sync.domain.records import BoardView
from trello_sync.domain.replies import find_marker, marker, reply_id_for
from trello_sync.domain.rules import PayRules, RuleSet
from trello_sync.domain.stages import Stage
from trello_sync.domain.views import held_whole, outlined_except

HISTORY = """
create Lea in Waiting at 2026-11-01 09:00
create Max in Waiting at 2026-11-01 09:05
create Noe in Waiting at 2026-11-01 09:10
create Zoe in Waiting at 2026-11-01 09:15
move Lea to Active at 2026-11-02 10:00
move Max to Active at 2026-11-02 10:00
move Noe to Active at 2026-11-02 10:00
move Zoe to Active at 2026-11-02 10:00
"""

PROJECTS = {
    "Lea": "Learn how to learn",
    "Max": "Build a Python web app",
    "Noe": "Enhance an existing project",
    "Zoe": None,
}


def start(extra: str) -> tuple[BoardScript, BoardView, list]:
    script = BoardScript()
    actions = script.run(HISTORY + extra)
    view, plans = run_polls([actions], facts(PROJECTS, script.cards))
    return script, view, plans


def amounts(plans) -> list[tuple[str, str, int]]:
    return [(e.student, e.status, e.amount_cents) for p in plans for e in p.entries]


def test_sessions_are_paid_by_level_and_status():
    _, _, plans = start(
        """
        comment Lea "/session" at 2026-11-03 18:00
        comment Max "/session 45m" at 2026-11-03 18:00
        comment Noe "/session 1h good progress" at 2026-11-03 18:00
        comment Noe "/noshow" at 2026-11-04 18:00
        comment Max "/late" at 2026-11-04 18:00
        comment Lea "/cancel" at 2026-11-04 18:00
        comment Zoe "/session" at 2026-11-04 18:00
        """
    )
    assert amounts(plans) == [
        ("Lea", "done", 3000),
        ("Max", "done", 3500),
        ("Noe", "done", 4000),
        ("Noe", "noshow", 2000),
        ("Max", "late", 1750),
        ("Lea", "cancel", 0),
        ("Zoe", "done", 3500),
    ]
    entries = {e.entry_id: e for e in plans[0].entries}
    zoe = next(e for e in entries.values() if e.student == "Zoe")
    assert zoe.project is None and zoe.level == 2
    noe = next(e for e in entries.values() if e.student == "Noe" and e.status == "done")
    assert (noe.duration_minutes, noe.note, noe.session_date) == (
        60,
        "good progress",
        date(2026, 11, 3),
    )


def test_each_recorded_session_gets_a_reply_with_month_totals():
    _, _, plans = start(
        """
        comment Noe "/session 2026-11-03" at 2026-11-03 18:00
        comment Noe "/session" at 2026-11-05 18:00
        """
    )
    replies = [r for r in plans[0].replies if r.kind == "recorded"]
    assert len(replies) == 2
    assert "40.00 EUR" in replies[1].text and "2 session(s), 80.00 EUR" in replies[1].text
    assert find_marker(replies[1].text) == replies[1].reply_id


def test_a_session_is_valid_only_while_active():
    _, _, plans = start(
        """
        create Ivy in Waiting at 2026-11-01 09:00
        comment Ivy "/session" at 2026-11-03 18:00
        move Lea to "En pause" at 2026-11-10 09:00
        comment Lea "/session 2026-11-09" at 2026-11-12 09:00
        comment Lea "/session 2026-11-10" at 2026-11-12 09:00
        comment Lea "/session 2026-11-11" at 2026-11-12 09:00
        """
    )
    recorded = [(e.student, e.session_date.day) for e in plans[0].entries]
    # 9 Nov: active; 10 Nov: active until 09:00 (paused afterwards); 11 Nov: paused.
    assert recorded == [("Lea", 9), ("Lea", 10)]
    refused = [r.text for r in plans[0].replies if r.kind == "refused"]
    assert len(refused) == 2
    assert "not in the active stage on 2026-11-03" in refused[0]
    assert "2026-11-11" in refused[1] and "paused" in refused[1]


def test_future_dates_and_dates_before_the_card_are_refused():
    _, _, plans = start(
        """
        comment Lea "/session 2026-11-20" at 2026-11-03 18:00
        comment Lea "/session 2026-10-30" at 2026-11-03 18:00
        comment Lea "/session 31/02" at 2026-11-03 18:00
        """
    )
    assert plans[0].entries == ()
    texts = [r.text for r in plans[0].replies]
    assert "in the future" in texts[0]
    assert "before this card existed" in texts[1]
    assert "not a valid date" in texts[2] and "Usage:" in texts[2]


def test_commands_by_others_and_malformed_commands_record_nothing():
    _, _, plans = start(
        """
        comment Lea "/session" at 2026-11-03 18:00 by lea_student
        comment Lea "/sesion" at 2026-11-03 18:05
        comment Lea "thanks for today!" at 2026-11-03 18:06
        comment Lea "/SESSION" at 2026-11-03 18:10
        """
    )
    assert [e.status for e in plans[0].entries] == ["done"]
    kinds = [r.kind for r in plans[0].replies]
    assert kinds == ["refused", "refused", "recorded"]
    # Named, but not mentioned: a refusal notifies no one.
    assert "lea＿student is not one" in plans[0].replies[0].text
    assert "@" not in plans[0].replies[0].text
    assert "unknown command '/sesion'" in plans[0].replies[1].text


def test_the_services_own_comment_is_never_a_command():
    own = f"/session quoted by the bot {marker('0123456789abcdef')}"
    _, _, plans = start(f'comment Lea "{own}" at 2026-11-03 18:00')
    assert plans[0].entries == () and plans[0].replies == ()
    assert [p.reply_id for p in plans[0].posted] == ["0123456789abcdef"]


def test_a_marker_copied_into_someone_elses_comment_proves_nothing():
    """Anyone can paste a reply's marker; only the service's own comment counts."""
    forged = f"/session {marker('0123456789abcdef')}"
    _, _, plans = start(
        f"""
        comment Lea "{forged}" at 2026-11-03 18:00 by lea_student
        comment Lea "thanks {marker("fedcba9876543210")}" at 2026-11-03 18:05 by lea_student
        """
    )
    assert plans[0].posted == ()
    assert [r.kind for r in plans[0].replies] == ["refused"]  # a student's command
    assert plans[0].entries == ()
    # Without knowing who the service is, no comment is taken for its own.
    script = BoardScript()
    actions = script.run(HISTORY + f'comment Lea "{forged}" at 2026-11-03 18:00')
    cfg = config(service_member_id=None)
    _, unknown = run_polls([actions], facts(PROJECTS, script.cards), cfg)
    assert unknown[0].posted == () and [e.status for e in unknown[0].entries] == ["done"]


def test_undo_reverses_the_latest_entry_once():
    _, _, plans = start(
        """
        comment Lea "/session 2026-11-03" at 2026-11-03 18:00
        comment Lea "/session 2026-11-04" at 2026-11-04 18:00
        comment Lea "/undo" at 2026-11-04 18:01
        comment Lea "/undo" at 2026-11-04 18:02
        comment Lea "/undo" at 2026-11-04 18:03
        """
    )
    entries = plans[0].entries
    assert [e.amount_cents for e in entries] == [3000, 3000, -3000, -3000]
    assert entries[2].reverses_entry_id == entries[1].entry_id
    assert entries[3].reverses_entry_id == entries[0].entry_id
    assert sum(e.amount_cents for e in entries) == 0
    assert plans[0].replies[-1].kind == "refused"  # nothing left to undo


def test_an_edited_command_is_reversed_and_recorded_again():
    script, view, _ = start('comment Lea "/session 2026-11-03" at 2026-11-03 18:00')
    edited = script.run('edit c1 "/noshow 2026-11-03" at 2026-11-03 20:00')
    second = plan(edited, view, facts(PROJECTS, script.cards), config())
    assert [(e.status, e.amount_cents) for e in second.entries] == [
        ("done", -3000),
        ("noshow", 1500),
    ]
    assert (
        second.entries[0].reverses_entry_id == view.cards[script.cards["Lea"]].entries[0].entry_id
    )
    assert [r.kind for r in second.replies] == ["corrected"]
    # Seeing the same edited version again changes nothing: the store filters it, and
    # planning it against the updated view finds the version already applied.
    view = apply(view, second)
    assert view.comments[edited[0].id].version == edited[0].version


def test_a_deleted_command_comment_is_reversed_only_while_its_card_exists():
    script, view, _ = start(
        """
        comment Lea "/session 2026-11-03" at 2026-11-03 18:00
        comment Max "/session 2026-11-03" at 2026-11-03 18:00
        """
    )
    window = datetime(2026, 10, 1, tzinfo=UTC)
    board = facts(PROJECTS, script.cards)
    board = type(board)(board.cards, board.list_names, frozenset({script.cards["Lea"]}))
    now = datetime(2026, 11, 6, tzinfo=UTC)
    result = plan_deleted_comments(frozenset(), window, view, board, config(), now)
    assert [(e.student, e.amount_cents) for e in result.entries] == [("Lea", -3000)]
    # Dated at the newest action seen, not at the (run-dependent) moment of the re-read.
    newest = max(c.at for c in view.comments.values())
    assert result.entries[0].recorded_at == newest < now
    assert [r.kind for r in result.replies] == ["deleted"]
    again = plan_deleted_comments(frozenset(), window, apply(view, result), board, config(), now)
    assert again.entries == ()


def test_the_cap_warning_fires_once_each_time_the_count_goes_above():
    _, _, plans = start(
        """
        create Ada in Waiting at 2026-11-03 09:00
        create Bob in Waiting at 2026-11-03 09:00
        move Ada to Active at 2026-11-03 10:00
        move Bob to Active at 2026-11-03 10:05
        move Bob to "En pause" at 2026-11-04 10:00
        move Ada to "En pause" at 2026-11-04 10:05
        move Ada to Active at 2026-11-05 10:00
        move Bob to Active at 2026-11-05 10:05
        """
    )
    # With a cap of 4 the four students of HISTORY fill it: Ada crosses it twice.
    script = BoardScript()
    actions = script.run(
        HISTORY
        + """
        create Ada in Waiting at 2026-11-03 09:00
        create Bob in Waiting at 2026-11-03 09:00
        move Ada to Active at 2026-11-03 10:00
        move Bob to Active at 2026-11-03 10:05
        move Bob to "En pause" at 2026-11-04 10:00
        move Ada to "En pause" at 2026-11-04 10:05
        move Ada to Active at 2026-11-05 10:00
        move Bob to Active at 2026-11-05 10:05
    """
    )
    result = plan(actions, BoardView("b"), facts(PROJECTS, script.cards), config(cap=4))
    warnings = [r for r in result.replies if r.kind == "cap"]
    assert len(warnings) == 2
    assert "5 active students" in warnings[0].text
    assert all(r.kind != "cap" for r in plans[0].replies)  # default cap 20: none


def test_hand_off_summary():
    _, view, plans = start(
        """
        comment Noe "/session 2026-11-03" at 2026-11-03 18:00
        comment Noe "/noshow 2026-11-04" at 2026-11-04 18:00
        move Noe to "Passé la main" at 2026-11-06 09:00
        """
    )
    summary = [r for r in plans[0].replies if r.kind == "handoff"]
    assert len(summary) == 1
    assert "2026-11-02 → 2026-11-06, 1 session(s), 60.00 EUR" in summary[0].text
    noe = next(c for c in view.cards.values() if c.card.name == "Noe")
    assert noe.stage is Stage.HANDED_OFF


def test_an_entry_keeps_the_rate_in_force_on_its_session_date():
    raised = PayRules.of(
        [*RULES.rule_sets, RuleSet(date(2026, 11, 4), "EUR", {1: 3200, 2: 3700, 3: 4500}, SHARES)]
    )
    script = BoardScript()
    actions = script.run(
        HISTORY
        + """
        comment Noe "/session 2026-11-03" at 2026-11-05 18:00
        comment Noe "/session 2026-11-04" at 2026-11-05 18:00
        """
    )
    result = plan(actions, BoardView("b"), facts(PROJECTS, script.cards), config(rules=raised))
    assert [e.rate_cents for e in result.entries] == [4000, 4500]


def test_archive_delete_and_move_away_leave_the_pipeline():
    _, view, _ = start(
        """
        archive Lea at 2026-11-05 09:00
        unarchive Lea at 2026-11-06 09:00
        delete Max at 2026-11-06 09:00
        away Noe at 2026-11-06 09:00
        """
    )
    stages = {c.card.name: [m.stage for m in c.moves] for c in view.cards.values()}
    assert stages["Lea"][-2:] == [Stage.ARCHIVED, Stage.ACTIVE]
    assert stages["Max"][-1] is Stage.DELETED and stages["Noe"][-1] is Stage.MOVED_AWAY


def test_old_actions_get_no_reply_but_land_in_the_ledger():
    script = BoardScript()
    actions = script.run(HISTORY + 'comment Lea "/session" at 2026-11-03 18:00')
    cfg = config(reply_since=datetime(2026, 11, 10, tzinfo=UTC))
    result = plan(actions, BoardView("b"), facts(PROJECTS, script.cards), cfg)
    assert len(result.entries) == 1 and result.replies == ()


def test_the_planner_leaves_the_checkpoint_to_the_cycle():
    script = BoardScript()
    actions = script.run(HISTORY)
    result = plan(list(reversed(actions)), BoardView("b"), facts(PROJECTS, script.cards), config())
    assert result.checkpoint is None and len(result.moves) == 8  # created, then active


def test_an_action_on_a_card_held_in_outline_is_refused():
    script, view, _ = start('comment Lea "/session 2026-11-03" at 2026-11-03 18:00')
    cut = outlined_except(view, keep=())
    (more,) = script.run('comment Lea "/session 2026-11-04" at 2026-11-04 18:00')
    with pytest.raises(OutlinedCard):
        plan([more], cut, facts(PROJECTS, script.cards), config())
    # Whole again, it is planned as before.
    whole = held_whole(cut, dict(view.cards))
    assert len(plan([more], whole, facts(PROJECTS, script.cards), config()).entries) == 1


def test_a_command_edited_into_plain_text_is_reversed_with_a_reply():
    script, view, _ = start('comment Lea "/session 2026-11-03" at 2026-11-03 18:00')
    (edited,) = script.run('edit c1 "sorry, wrong card" at 2026-11-03 20:00')
    result = plan([edited], view, facts(PROJECTS, script.cards), config())
    assert [(e.status, e.amount_cents) for e in result.entries] == [("done", -3000)]
    (reply,) = result.replies
    assert reply.kind == "uncommanded"
    assert reply.reply_id == reply_id_for(BOARD_ID, f"{edited.id}@{edited.version}", reply.kind)
    assert (
        "The comment that logged the session of 2026-11-03 no longer reads as a command: "
        "the entry is reversed (-30.00 EUR)." in reply.text
    )
    # Like every reply, only within reply_history_days.
    late = config(reply_since=datetime(2026, 11, 20, tzinfo=UTC))
    quiet = plan([edited], view, facts(PROJECTS, script.cards), late)
    assert [e.amount_cents for e in quiet.entries] == [-3000] and quiet.replies == ()


def test_plain_text_edited_into_a_command_is_recorded_once():
    script, view, _ = start('comment Lea "see you on Tuesday" at 2026-11-03 18:00')
    assert view.cards[script.cards["Lea"]].entries == ()
    (edited,) = script.run('edit c1 "/session 2026-11-03" at 2026-11-03 20:00')
    result = plan([edited], view, facts(PROJECTS, script.cards), config())
    assert [(e.status, e.amount_cents) for e in result.entries] == [("done", 3000)]
    assert [r.kind for r in result.replies] == ["recorded"]  # nothing to correct
    # And back into plain text: reversed, and said so.
    view = apply(view, result)
    (again,) = script.run('edit c1 "see you on Tuesday" at 2026-11-03 21:00')
    back = plan([again], view, facts(PROJECTS, script.cards), config())
    assert [e.amount_cents for e in back.entries] == [-3000]
    assert [r.kind for r in back.replies] == ["uncommanded"]


def test_a_command_edited_into_a_refused_one_is_reversed_and_the_refusal_says_so():
    reversed_line = "The session of 2026-11-03 that this comment logged before is reversed"
    for new_text, reason in [
        ("/session 2026-11-30", "Nothing recorded: 2026-11-30 is in the future."),
        ("/sesion", "Nothing recorded: unknown command '/sesion'."),
        ("/undo", "Nothing recorded: there is no entry on this card left to undo."),
    ]:
        script, view, _ = start('comment Lea "/session 2026-11-03" at 2026-11-03 18:00')
        (edited,) = script.run(f'edit c1 "{new_text}" at 2026-11-03 20:00')
        result = plan([edited], view, facts(PROJECTS, script.cards), config())
        assert [e.amount_cents for e in result.entries] == [-3000], new_text
        (reply,) = result.replies
        assert reply.kind == "refused"
        assert reason in reply.text, reply.text
        assert f"{reversed_line} (-30.00 EUR)." in reply.text, reply.text


def test_a_command_edited_into_an_undo_reverses_itself_and_the_latest_other_entry():
    script, view, _ = start(
        """
        comment Lea "/session 2026-11-03" at 2026-11-03 18:00
        comment Lea "/session 2026-11-04" at 2026-11-04 18:00
        """
    )
    (edited,) = script.run('edit c2 "/undo" at 2026-11-04 20:00')
    result = plan([edited], view, facts(PROJECTS, script.cards), config())
    assert [e.amount_cents for e in result.entries] == [-3000, -3000]
    assert {e.reverses_entry_id for e in result.entries} == {
        e.entry_id for e in view.cards[script.cards["Lea"]].entries
    }
    (reply,) = result.replies
    assert reply.kind == "undone"
    assert "Undone: the session of 2026-11-03" in reply.text
    assert "The session of 2026-11-04 that this comment logged before is reversed" in reply.text
