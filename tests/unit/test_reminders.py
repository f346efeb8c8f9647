"""Time-driven replies: once per episode, a new episode gets a new one, and none that came
due before the ledger knew the board or longer ago than reply_history_days."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from board_script import BoardScript
from planning import facts, run_polls

from trello_sync.clock import FakeClock
from trello_sync.domain.reminders import plan_reminders
from trello_sync.domain.views import held_whole, outlined_except
from trello_sync.ledger.open import open_ledger
from trello_sync.sandbox import SandboxState
from trello_sync.settings import load_settings
from trello_sync.sync import Syncer
from trello_sync.trello.fake import FakeTrello

PARIS = ZoneInfo("Europe/Paris")


def reminders(view, now, due_since=None):
    return plan_reminders(
        view, now, pause_warning_days=14, nudge_days=14, tz=PARIS, due_since=due_since
    )


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


def test_a_card_in_outline_gets_the_reminders_of_the_whole_card():
    # A long first sync holds the cards it is not working on in outline: what the
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
    cut = outlined_except(view, keep=())
    assert [len(c.entries) for c in view.cards.values()] == [4, 3]
    assert not cut.cards and set(cut.outlines) == set(view.cards)
    for card_id, outline in cut.outlines.items():
        whole = view.cards[card_id]
        assert outline.moves == whole.moves and outline.card == whole.card
        assert outline.newest_entry is not None
        assert outline.newest_entry.recorded_at == max(e.recorded_at for e in whole.entries)
        sessions = [e for e in whole.entries if not e.is_reversal]
        assert outline.latest_session == max(sessions, key=lambda e: e.recorded_at)
    # Ana's newest entry is the undo's reversal; her latest session is the no-show.
    ana = cut.outlines[view.cards[next(iter(view.cards))].card.card_id]
    assert ana.newest_entry is not None and ana.newest_entry.is_reversal
    assert ana.latest_session is not None and ana.latest_session.status == "noshow"
    for days in (10, 20, 40):
        now = datetime(2026, 9, 20, 12, tzinfo=UTC) + timedelta(days=days)
        assert reminders(cut, now) == reminders(view, now)
    assert any(r.kind == "nudge" for r in reminders(cut, datetime(2026, 10, 30, tzinfo=UTC)))
    # Held whole again, the card is the same as before.
    assert held_whole(cut, dict(view.cards)) == view


def test_a_reminder_that_came_due_before_the_bound_is_never_planned():
    view = board(
        """
        create Max in Waiting at 2026-10-01 09:00
        move Max to Active at 2026-10-02 09:00
        create Pia in Waiting at 2026-10-01 09:00
        move Pia to Active at 2026-10-02 09:00
        move Pia to "En pause" at 2026-10-03 09:00
        """
    )
    now = datetime(2026, 10, 20, 12, tzinfo=UTC)
    assert sorted(r.kind for r in reminders(view, now)) == ["nudge", "pause_reminder"]
    # Max's nudge came due on 16 Oct at 09:00 Paris (07:00 UTC), Pia's reminder on the 17th.
    max_due = datetime(2026, 10, 16, 7, tzinfo=UTC)
    assert [r.kind for r in reminders(view, now, due_since=max_due)] == [
        "nudge",
        "pause_reminder",
    ]  # due exactly at the bound: planned
    after = max_due + timedelta(seconds=1)
    assert [r.kind for r in reminders(view, now, due_since=after)] == ["pause_reminder"]
    assert reminders(view, now, due_since=datetime(2026, 10, 18, tzinfo=UTC)) == []


def test_a_board_idle_for_400_days_gets_no_reminder_from_its_history():
    view = board(
        """
        create Ada in Waiting at 2025-09-20 09:00
        move Ada to Active at 2025-09-21 09:00
        create Bob in Waiting at 2025-09-20 09:00
        move Bob to Active at 2025-09-21 09:00
        comment Bob "/session 2025-09-22" at 2025-09-22 18:00
        create Cy in Waiting at 2025-09-20 09:00
        move Cy to "En pause" at 2025-09-21 09:00
        """
    )
    now = datetime(2026, 10, 26, 12, tzinfo=UTC)  # 400 days on
    assert len(reminders(view, now)) == 3  # what the first sync posted before
    assert reminders(view, now, due_since=now - timedelta(days=14)) == []


# --- the shell: the bound the sync gives plan_reminders ---------------------------------

START = datetime(2026, 11, 28, 12, tzinfo=UTC)
DAY = timedelta(days=1)


class Shell:
    """A board on the sandbox, synced by the real Syncer into a SQLite ledger, on a clock
    the test moves: weeks pass between two syncs."""

    def __init__(self, folder: Path) -> None:
        self.clock = FakeClock(START)
        self.state = SandboxState(clock=self.clock.now)
        self.state.add_member("camille", "Camille Martin")
        token = self.state.add_token("camille")
        board = self.state.create_board("camille", "Mentoring", at=START - 420 * DAY)
        self.lists = {
            name: self.state.create_list("camille", board["id"], name, at=START - 420 * DAY)["id"]
            for name in ("Waiting", "Active", "Paused")
        }
        self.settings = load_settings(
            boards=[board["id"]],
            mentors=["camille"],
            database_url=f"sqlite:///{folder / 'ledger.db'}",
            export_dir=folder / "exports",
            timezone="Europe/Paris",
        )
        self.ledger = open_ledger(self.settings.database_url, clock=self.clock)
        self.syncer = Syncer(self.settings, FakeTrello(self.state, token), self.ledger, self.clock)

    def student(self, name: str, since: datetime, stage: str = "Active") -> str:
        card = self.state.create_card("camille", self.lists["Waiting"], name, at=since - DAY)
        self.state.move_card("camille", card["id"], self.lists[stage], at=since)
        return str(card["id"])

    def sync(self) -> list[tuple[str, str]]:
        (outcome,) = self.syncer.sync_all()
        assert outcome.problem is None, outcome.problem
        return sorted((r.kind, r.card_id) for r in self.ledger.replies())


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shell]:
    monkeypatch.chdir(tmp_path)  # no stray ./trello-sync.toml
    monkeypatch.delenv("TRELLO_SYNC_CONFIG", raising=False)
    made = Shell(tmp_path)
    yield made
    made.ledger.close()


def test_the_first_sync_posts_no_reminder_and_later_idleness_gets_one_each(shell: Shell):
    for n in range(3):
        shell.student(f"Old {n}", START - 400 * DAY)
    shell.student("Pia", START - 300 * DAY, "Paused")
    # Idle for 20 days: a nudge came due 6 days before the ledger knew the board.
    shell.student("Rae", START - 20 * DAY)
    assert shell.sync() == []

    shell.clock.set(START + DAY)
    ivy = shell.student("Ivy", START + DAY)
    pam = shell.student("Pam", START + DAY, "Paused")
    shell.clock.set(START + 16 * DAY)  # Ivy active, Pam paused, for 15 days
    assert shell.sync() == sorted([("nudge", ivy), ("pause_reminder", pam)])
    shell.clock.advance(3600)
    assert shell.sync() == sorted([("nudge", ivy), ("pause_reminder", pam)])  # once each


def test_a_board_first_synced_by_an_older_version_has_only_the_history_bound(shell: Shell):
    shell.student("Old", START - 400 * DAY)
    rae = shell.student("Rae", START - 20 * DAY)
    assert shell.sync() == []
    # An older version recorded no first-sync moment.
    with sqlite3.connect(shell.settings.database_url.removeprefix("sqlite:///")) as db:
        deleted = db.execute("DELETE FROM meta WHERE key LIKE 'first_synced:%'").rowcount
    assert deleted == 1
    shell.clock.advance(60)
    assert shell.sync() == [("nudge", rae)]  # due 6 days ago: within reply_history_days
