"""The cycle's one decision (domain/cycle.py), from plain data: where the checkpoint
goes, what an idle poll writes, the open months, the re-read, reminders, the flag."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from board_script import BOARD_ID, BoardScript
from planning import apply, config, facts

from trello_sync.domain import cycle
from trello_sync.domain.planner import plan
from trello_sync.domain.records import BoardView, Checkpoint

PARIS = ZoneInfo("Europe/Paris")
RULES = cycle.CycleRules(
    tz=PARIS,
    reread_interval_s=3600,
    overlap_s=300,
    reply_history_days=14,
    pause_warning_days=14,
    nudge_days=14,
)
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PROJECTS = {"Lea": "Learn how to learn", "Max": None}
HISTORY = """
create Lea in Waiting at 2026-11-01 09:00
move Lea to "En cours" at 2026-11-02 10:00
comment Lea "/session 2026-11-03" at 2026-11-03 18:00
create Max in Waiting at 2026-11-01 09:00
move Max to "En cours" at 2026-11-02 10:00
"""


def start(view: BoardView, *, now: datetime = NOW, forced: bool = False, flagged: bool = False):
    return cycle.start_cycle(view, now, RULES, forced_reread=forced, flagged=flagged)


def test_the_open_months_start_on_the_first_of_last_month_at_local_midnight():
    assert cycle.open_months_start(NOW, PARIS) == datetime(2026, 10, 1, tzinfo=PARIS)
    january = datetime(2027, 1, 3, 8, tzinfo=UTC)
    assert cycle.open_months_start(january, PARIS) == datetime(2026, 12, 1, tzinfo=PARIS)
    # 23:30 UTC on 31 October is already 1 November in Paris.
    late = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
    assert cycle.open_months_start(late, PARIS) == datetime(2026, 10, 1, tzinfo=PARIS)


def test_a_first_sync_rereads_and_counts_as_first_synced_now():
    state = start(BoardView(BOARD_ID))
    assert state.first and state.reread and not state.rereading
    assert state.first_synced == NOW
    known = BoardView(BOARD_ID, checkpoint=Checkpoint("a", NOW), last_reread=NOW)
    later = start(known, now=NOW + timedelta(minutes=59))
    assert not later.first and not later.reread and later.first_synced is None
    assert start(known, now=NOW + timedelta(hours=1)).rereading
    assert start(known, now=NOW + timedelta(minutes=1), forced=True).rereading


def test_the_last_chunk_checkpoints_at_the_newest_action_of_the_whole_fetch():
    script = BoardScript()
    actions = script.run(HISTORY)
    newest = Checkpoint("zzzz", actions[-1].date + timedelta(hours=1))  # a reply, say
    decision = cycle.decide_last(
        list(reversed(actions)),
        BoardView(BOARD_ID),
        facts(PROJECTS, script.cards),
        config(),
        start(BoardView(BOARD_ID)),
        latest=newest,
        window_size=len(actions) + 1,
        planned_before=False,
    )
    assert decision.planned and decision.plan.checkpoint == newest
    assert len(decision.plan.entries) == 1
    # A first sync records when it started, and that the comments were just read.
    assert decision.plan.first_synced == NOW and decision.plan.reread_at == NOW


def test_a_chunk_before_the_last_checkpoints_at_its_end_and_outlines_the_cards_it_left():
    script = BoardScript()
    actions = script.run(HISTORY)
    lea_actions = [a for a in actions if a.card_id == script.cards["Lea"]]
    max_actions = [a for a in actions if a.card_id == script.cards["Max"]]
    state = start(BoardView(BOARD_ID))
    end = Checkpoint(lea_actions[-1].id, lea_actions[-1].date)
    first = cycle.decide_chunk(
        lea_actions, BoardView(BOARD_ID), facts(PROJECTS, script.cards), config(), state, end=end
    )
    assert first.plan.checkpoint == end and first.planned
    assert set(first.view.cards) == {script.cards["Lea"]}  # what it worked on, whole
    second = cycle.decide_chunk(
        max_actions, first.view, facts(PROJECTS, script.cards), config(), state, end=end
    )
    # Lea was not touched by the second chunk: held in outline now.
    assert set(second.view.outlines) == {script.cards["Lea"]}
    assert set(second.view.cards) == {script.cards["Max"]}
    # An action of hers later in the window needs her whole first.
    (more,) = script.run('comment Lea "/session 2026-11-10" at 2026-11-10 18:00')
    needed = cycle.cards_to_hold_whole(second.view, [more], state, last=True)
    assert needed == {script.cards["Lea"]}
    # A chunk with nothing new only moves the checkpoint.
    empty = cycle.decide_chunk([], second.view, None, None, state, end=end)
    assert not empty.planned and empty.plan.is_empty and empty.plan.checkpoint == end


def settled() -> tuple[BoardScript, BoardView]:
    script = BoardScript()
    actions = script.run(HISTORY)
    view = apply(
        BoardView(BOARD_ID),
        plan(actions, BoardView(BOARD_ID), facts(PROJECTS, script.cards), config()),
    )
    newest = Checkpoint(actions[-1].id, actions[-1].date)
    # First synced just now: no reminder is due yet (each test moves that moment).
    return script, replace(view, checkpoint=newest, last_reread=NOW, first_synced=NOW)


def idle(view: BoardView, *, latest: Checkpoint | None, size: int, now: datetime = NOW):
    return cycle.decide_last(
        [],
        view,
        None,
        None,
        start(view, now=now),
        latest=latest,
        window_size=size,
        planned_before=False,
    )


def test_an_idle_poll_writes_nothing():
    _, view = settled()
    decision = idle(view, latest=view.checkpoint, size=3)
    assert not decision.planned and decision.plan.writes_nothing


def test_an_idle_poll_moves_the_checkpoint_over_applied_actions_only_past_a_hundred():
    _, view = settled()
    assert view.checkpoint is not None
    ahead = Checkpoint("ffff", view.checkpoint.at + timedelta(minutes=5))
    assert idle(view, latest=ahead, size=99).plan.writes_nothing
    assert idle(view, latest=ahead, size=100).plan.checkpoint == ahead
    # Never backwards.
    behind = Checkpoint("0000", view.checkpoint.at - timedelta(minutes=5))
    assert idle(view, latest=behind, size=500).plan.writes_nothing


def test_a_reminder_is_planned_once_and_not_again_once_in_the_outbox():
    script, view = settled()
    # Synced since 1 November: Max (active since the 2nd, no session) is due on the 16th,
    # Lea (last session on the 3rd) on the 17th.
    early = replace(view, first_synced=datetime(2026, 11, 1, tzinfo=UTC))
    nudges = idle(early, latest=view.checkpoint, size=1).plan.replies
    assert sorted((r.kind, r.card_id) for r in nudges) == sorted(
        ("nudge", script.cards[name]) for name in ("Lea", "Max")
    )
    sent = replace(early, reminders_sent=frozenset(r.reply_id for r in nudges))
    assert idle(sent, latest=view.checkpoint, size=1).plan.writes_nothing
    # Never one that came due before the board was first synced.
    midway = replace(view, first_synced=datetime(2026, 11, 16, 12, tzinfo=UTC))
    (lea,) = idle(midway, latest=view.checkpoint, size=1).plan.replies
    assert lea.card_id == script.cards["Lea"]


@pytest.mark.parametrize("planned_before", [False, True])
def test_a_flagged_board_is_cleared_only_when_the_cycle_plans(planned_before: bool):
    _, view = settled()
    state = start(view, flagged=True)
    decision = cycle.decide_last(
        [], view, None, None, state, latest=None, window_size=0, planned_before=planned_before
    )
    assert decision.plan.clear_flag is planned_before


def test_a_deleted_comment_in_the_open_months_is_reversed_when_the_reread_misses_it():
    script, view = settled()
    state = start(view, now=NOW + timedelta(hours=2)).with_comments(())
    assert state.rereading
    lea = script.cards["Lea"]
    assert cycle.cards_to_hold_whole(
        replace(view, cards={}, outlines={lea: view.cards[lea].outline()}), [], state, last=True
    ) == {lea}
    decision = cycle.decide_last(
        [],
        view,
        facts(PROJECTS, script.cards),
        config(),
        state,
        latest=None,
        window_size=0,
        planned_before=False,
    )
    assert [(e.student, e.amount_cents) for e in decision.plan.entries] == [("Lea", -3000)]
    assert [r.kind for r in decision.plan.replies] == ["deleted"]
    assert decision.plan.reread_at == state.now
