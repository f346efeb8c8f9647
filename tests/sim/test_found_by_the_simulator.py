"""What the seeded simulator found, pinned down as plain tests. (The seeds named here
found them under the history generator of that day; its weights have changed since.)

- Seed 1: a board whose last active student moves to another board showed no cards, and
  the emptiness guard counted that student as active: the board was flagged for good.
- Seed 7: an answer missing the board's cards while no student was active let sessions
  be recorded at the default level (no card, no project).
- Seeds 1280 and 1375: a deleted command's reversal was dated at the checkpoint, which
  can be one of the service's own replies, dated when it was posted: after a retried
  POST the export differed from the fault-free replay.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from board_script import BoardScript
from planning import config, facts, run_polls

from trello_sync.domain.facts import empty_board_problem
from trello_sync.domain.planner import plan_deleted_comments
from trello_sync.domain.records import BoardView, Checkpoint

HISTORY = """
create Lea in Waiting at 2026-11-01 09:00
create Max in Waiting at 2026-11-01 09:05
move Lea to Active at 2026-11-02 10:00
comment Lea "/session 2026-11-03" at 2026-11-03 18:00
"""


def ledger_view(script: BoardScript, history: str) -> BoardView:
    view, _ = run_polls([script.run(history)], facts({}, script.cards))
    return view


def test_an_empty_board_after_the_last_active_student_moved_away_is_not_suspicious():
    script = BoardScript()
    view = ledger_view(script, HISTORY)
    leaving = script.run("away Lea at 2026-11-04 09:00\ndelete Max at 2026-11-04 09:01")
    assert empty_board_problem(5, 0, view, leaving) is None
    # Deleting the active student's card is still a wiped board: flagged.
    wiped = script.run("delete Lea at 2026-11-04 09:02")
    assert "1 active student(s)" in (empty_board_problem(5, 0, view, wiped) or "")


def test_an_answer_without_cards_is_suspicious_while_new_actions_name_cards():
    script = BoardScript()
    view = ledger_view(script, "create Max in Waiting at 2026-11-01 09:05")  # no one active
    new = script.run(
        'create Lea in Active at 2026-11-03 09:00\ncomment Lea "/session" at 2026-11-03 18:00'
    )
    problem = empty_board_problem(5, 0, view, new)
    assert problem and "new actions name 1 card(s)" in problem
    assert empty_board_problem(0, 3, view, new)  # no lists: the same
    assert empty_board_problem(5, 2, view, new) is None


def test_a_deleted_commands_reversal_is_dated_by_the_history_not_by_own_replies():
    script = BoardScript()
    view = ledger_view(script, HISTORY)
    history_end = datetime(2026, 11, 3, 17, 0, tzinfo=UTC)  # 18:00 Paris
    assert view.checkpoint is not None and view.checkpoint.at == history_end
    # The checkpoint has since moved onto the service's own reply, posted later.
    own_reply = Checkpoint("6a00000000000000000000ff", datetime(2026, 11, 3, 17, 9, tzinfo=UTC))
    view = replace(view, checkpoint=own_reply)
    window = datetime(2026, 10, 1, tzinfo=UTC)
    now = datetime(2026, 11, 6, tzinfo=UTC)
    result = plan_deleted_comments(
        frozenset(), window, view, facts({}, script.cards), config(), now
    )
    (reversal,) = result.entries
    assert reversal.amount_cents < 0
    assert reversal.recorded_at == history_end
