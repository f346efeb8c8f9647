"""Time-driven replies: once per episode, a new episode gets a new one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from board_script import BoardScript
from planning import facts, run_polls

from trello_sync.domain.reminders import plan_reminders

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
