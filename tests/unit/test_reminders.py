"""Time-driven replies: once per episode, a new episode gets a new one."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from board_script import BoardScript
from planning import facts, run_polls

from trello_sync.domain.reminders import plan_reminders
from trello_sync.domain.views import skeleton

PARIS = ZoneInfo("Europe/Paris")


def reminders(view, now):
    return plan_reminders(view, now, pause_warning_days=14, nudge_days=14, tz=PARIS)


def board(script_text: str):
    script = BoardScript()
    view, _ = run_polls([script.run(script_text)], facts({}, script.cards))
    return view


def test_a_long_pause_gets_one_reminder_per_episode():
    view = board(
        """
        create Lea in Waiting at 2026-10-01 09:00
        move Lea to Active at 2026-10-02 09:00
        comment Lea "/session" at 2026-10-03 18:00
        move Lea to "En pause" at 2026-10-05 09:00
        """
    )
    early = reminders(view, datetime(2026, 10, 18, 12, tzinfo=UTC))
    assert early == []
    late = reminders(view, datetime(2026, 10, 25, 12, tzinfo=UTC))
    assert [r.kind for r in late] == ["pause_reminder"]
    assert "paused for 20 days (since 2026-10-05)" in late[0].text
    # The same episode, later: the same reply id, so the outbox keeps only one.
    later = reminders(view, datetime(2026, 11, 5, 12, tzinfo=UTC))
    assert [r.reply_id for r in later] == [late[0].reply_id]


def test_an_active_student_without_sessions_gets_a_nudge_and_a_session_ends_the_episode():
    script = BoardScript()
    first = script.run(
        """
        create Max in Waiting at 2026-10-01 09:00
        move Max to Active at 2026-10-02 09:00
        """
    )
    view, _ = run_polls([first], facts({}, script.cards))
    now = datetime(2026, 10, 20, 12, tzinfo=UTC)
    nudge = reminders(view, now)
    assert [r.kind for r in nudge] == ["nudge"]
    assert "since 2026-10-02 (18 days)" in nudge[0].text

    more = script.run('comment Max "/session" at 2026-10-21 18:00')
    view, _ = run_polls([first + more], facts({}, script.cards))
    assert reminders(view, now + timedelta(days=2)) == []
    again = reminders(view, datetime(2026, 11, 10, 12, tzinfo=UTC))
    assert [r.kind for r in again] == ["nudge"] and again[0].reply_id != nudge[0].reply_id


def test_no_reminder_for_waiting_or_handed_off_students():
    view = board(
        """
        create Ada in Waiting at 2026-09-01 09:00
        create Bob in Waiting at 2026-09-01 09:00
        move Bob to Active at 2026-09-02 09:00
        move Bob to "Handed off" at 2026-09-03 09:00
        """
    )
    assert reminders(view, datetime(2026, 11, 1, tzinfo=UTC)) == []


def test_a_skeleton_card_gets_the_reminders_of_the_whole_card():
    # A long first sync keeps untouched cards as skeletons (views.skeleton): what the
    # time-driven replies read of them must not change.
    view = board(
        """
        create Ana in Waiting at 2026-09-01 09:00
        move Ana to Active at 2026-09-02 09:00
        comment Ana "/session 2026-09-03" at 2026-09-03 18:00
        comment Ana "/session 2026-09-10" at 2026-09-10 18:00
        comment Ana "/noshow 2026-09-12" at 2026-09-12 18:00
        comment Ana "/undo" at 2026-09-20 18:00
        create Ben in Waiting at 2026-09-01 09:00
        move Ben to Active at 2026-09-02 09:00
        comment Ben "/session 2026-09-05" at 2026-09-05 18:00
        comment Ben "/session 2026-09-06" at 2026-09-06 18:00
        comment Ben "/session 2026-09-07" at 2026-09-07 18:00
        move Ben to "En pause" at 2026-09-08 09:00
        """
    )
    cut = replace(view, cards={k: skeleton(card) for k, card in view.cards.items()})
    assert [len(c.entries) for c in view.cards.values()] == [4, 3]
    assert [len(c.entries) for c in cut.cards.values()] == [2, 1]
    for card_id, card in cut.cards.items():
        whole = view.cards[card_id]
        assert list(card.entries) == [e for e in whole.entries if e in card.entries]  # order
        assert card.moves == whole.moves and card.card == whole.card
        newest = max(e.recorded_at for e in whole.entries)
        assert max(e.recorded_at for e in card.entries) == newest
    for days in (10, 20, 40):
        now = datetime(2026, 9, 20, 12, tzinfo=UTC) + timedelta(days=days)
        assert reminders(cut, now) == reminders(view, now)
    assert any(r.kind == "nudge" for r in reminders(cut, datetime(2026, 10, 30, tzinfo=UTC)))
    small = view.cards[next(iter(view.cards))]
    small = replace(small, entries=small.entries[:2])
    assert skeleton(small) is small
