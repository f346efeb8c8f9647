"""What the service posts on a real board: outside text echoed inert, every reply within
Trello's limit, no flood of reminders on a first sync, and a reply when a command is
edited into plain text. The CLI in a subprocess, the sandbox over real HTTP."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sandbox_board import MENTOR, STUDENT, TZ, BoardEnv

from trello_sync.domain.actions import format_instant
from trello_sync.domain.replies import MARKER_PATTERN

TRELLO_MAX_COMMENT = 16_384
FARID = "Farid @board [pay here](http://example.invalid)"


def replies(board: BoardEnv) -> list[dict]:
    """The service's comments on the board's cards (the mentor's token posts them)."""
    return [
        action
        for action in board.comments_with("[trello-sync ref:")
        if action["memberCreator"]["username"] == MENTOR
    ]


def posts(board: BoardEnv) -> int:
    return len([r for r in board.api_requests() if r["method"] == "POST"])


def test_hostile_names_and_commands_get_short_inert_replies(board: BoardEnv):
    board.student("Farid", project="Learn how to learn")
    board.state.rename_card(MENTOR, board.cards["Farid"], FARID, at=board.days_ago(8))
    board.student("Long")
    board.state.rename_card(STUDENT, board.cards["Long"], "N" * 16_300, at=board.days_ago(8))
    board.student("Eve")
    board.state.rename_card(
        MENTOR, board.cards["Eve"], "Eve [trello-sync ref:0123456789abcdef]", at=board.days_ago(8)
    )
    board.comment("Farid", "/session 45m see www.example.invalid @board", days_ago=5)
    board.comment("Long", "/session 1h", days_ago=5)
    board.comment("Long", "/" + "x" * 16_383, days_ago=4)
    board.comment("Eve", "/session", days_ago=4)
    board.comment("Eve", "/session", days_ago=3, by=STUDENT)
    board.move("Farid", "Handed off", days_ago=2)
    result = board.cli("sync")
    assert result.returncode == 0, result.stderr

    posted = replies(board)
    kinds = {"recorded": 0, "refused": 0, "summary": 0}
    for action in posted:
        text = action["data"]["text"]
        assert len(text) <= TRELLO_MAX_COMMENT
        assert len(text) < 2_000  # every echoed piece is bounded
        assert len(MARKER_PATTERN.findall(text)) == 1 and text.endswith("]"), text[:300]
        assert not re.search(r"@\w", text), text[:300]
        for live in ("](", "://", "www.", "<", ">"):
            assert live not in text, (live, text[:300])
        kinds["recorded"] += "Session recorded" in text
        kinds["refused"] += "Nothing recorded" in text
        kinds["summary"] += "Mentorship summary" in text
    assert kinds == {"recorded": 3, "refused": 2, "summary": 1}, [a["data"]["text"] for a in posted]
    assert len(posted) == 6 == posts(board)
    farid = [a["data"]["text"] for a in posted if a["data"]["card"]["id"] == board.cards["Farid"]]
    assert any("Farid ＠board ［pay here］(http:／／example․invalid)" in t for t in farid)
    refusal = next(a["data"]["text"] for a in posted if "is not one" in a["data"]["text"])
    assert "lea＿student is not one" in refusal  # named, not mentioned
    with board.ledger() as ledger:
        assert {r.status for r in ledger.replies()} == {"posted"}
        # The books keep the names as Trello shows them.
        assert {e.student for e in ledger.entries()} >= {FARID, "N" * 16_300}


def test_the_first_sync_of_a_board_idle_for_months_nudges_no_one(board: BoardEnv):
    for name in ("Ada", "Bob", "Cy"):
        board.student(name, active_days_ago=400)
    board.student("Pia", active_days_ago=300)
    board.move("Pia", "Paused", days_ago=299)
    # Twenty days without a session: a nudge came due six days before the first sync.
    board.student("Rae", active_days_ago=20)
    result = board.cli("sync")
    assert result.returncode == 0, result.stderr
    assert "first sync" in result.stdout
    assert replies(board) == [] and posts(board) == 0
    assert board.cli("sync").returncode == 0
    assert replies(board) == [] and posts(board) == 0


def test_a_student_idle_for_15_days_after_the_first_sync_gets_one_nudge(board: BoardEnv):
    for name in ("Ada", "Bob"):
        board.student(name, active_days_ago=400)
    assert board.cli("sync").returncode == 0
    assert replies(board) == []
    # The ledger has known the board for 20 days: the first sync ran then.
    key = f"first_synced:{board.board_id}"
    assert len(board.sql("SELECT value FROM meta WHERE key = :key", key=key)) == 1
    board.sql(
        "UPDATE meta SET value = :at WHERE key = :key",
        at=format_instant(datetime.now(UTC) - timedelta(days=20)),
        key=key,
    )
    # Ivy, active since 15 days ago (a date of the board's history), had no session since.
    board.student("Ivy", active_days_ago=15)
    moved = board.days_ago(15)  # her move to Active: 10:00 local time, 15 days ago
    for _ in range(3):
        result = board.cli("sync")
        assert result.returncode == 0, result.stderr
    posted = replies(board)
    assert [a["data"]["card"]["id"] for a in posted] == [board.cards["Ivy"]]
    text = posted[0]["data"]["text"]
    assert f"No session logged for Ivy since {moved.astimezone(TZ).date().isoformat()}" in text
    # Whole days since that move: 15 from 10:00 local time on, 14 before it.
    assert f"({(datetime.now(UTC) - moved).days} days)" in text


def test_a_command_edited_into_plain_text_is_reversed_with_one_reply(board: BoardEnv):
    board.extra_env["TRELLO_SYNC_REREAD_INTERVAL"] = "0"
    board.student("Lea", project="Learn how to learn")
    logged = board.comment("Lea", "/session", days_ago=2)
    assert board.cli("sync").returncode == 0
    board.state.edit_comment(MENTOR, logged, "sorry, that was the wrong card")
    for _ in range(3):
        result = board.cli("sync")
        assert result.returncode == 0, result.stderr
    with board.ledger() as ledger:
        amounts = sorted(e.amount_cents for e in ledger.entries())
    assert amounts == [-3000, 3000]
    edited = board.comments_with("no longer reads as a command: the entry is reversed")
    assert len(edited) == 1
    assert "(-30.00 EUR)" in edited[0]["data"]["text"]
    assert len(replies(board)) == 2  # recorded, then reversed
