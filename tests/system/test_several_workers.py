"""Several workers on one ledger (one killed with SIGKILL), and moving a ledger between databases.

Real worker processes against the sandbox over HTTP, on each ledger backend (with
TRELLO_SYNC_TEST_DATABASE_URL set, PostgreSQL too). The two workers act as two Trello
members, so the sandbox's request log tells which worker touched which board when.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from sandbox_board import MENTOR, BoardEnv
from test_sync_cli import handbook_board, read_csv

from trello_sync.domain.replies import MARKER_PATTERN

WORKER_B = "ops_bot"


def wait_for(what: str, condition: Callable[[], bool], timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def markers(board: BoardEnv) -> list[str]:
    found = []
    for action in board.state.all_actions():
        if action["type"] == "commentCard":
            match = MARKER_PATTERN.search(action["data"]["text"])
            if match:
                found.append(match.group(1))
    return found


def start_worker(board: BoardEnv, token: str, boards: list[str]) -> subprocess.Popen[str]:
    env = {
        **board.env,
        "TRELLO_TOKEN": token,
        "TRELLO_SYNC_BOARDS": ",".join(boards),
        "TRELLO_SYNC_POLL_INTERVAL": "5",
        "TRELLO_SYNC_LEASE_SECONDS": "6",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "trello_sync", "run"],
        env=env,
        cwd=board.folder,
        stdout=subprocess.PIPE,
        stderr=None if os.environ.get("DEBUG_WORKERS") else subprocess.PIPE,
        text=True,
    )


def board_of(request: dict, cards_by_board: dict[str, set[str]]) -> str | None:
    where = request["path"] + json.dumps(request.get("query") or {})
    for board_id, card_ids in cards_by_board.items():
        if board_id in where or any(card in where for card in card_ids):
            return board_id
    return None


def test_two_workers_one_killed_every_reply_once_no_board_shared(board: BoardEnv):
    state = board.state
    state.add_member(WORKER_B, "Ops Bot")
    token_b = state.add_token(WORKER_B)
    boards = [board.board_id]
    cards_by_board: dict[str, set[str]] = {board.board_id: set()}
    board.student("Lea", project="Learn how to learn")
    cards_by_board[board.board_id].add(board.cards["Lea"])
    for index in range(3):
        other = state.create_board(MENTOR, f"Mentoring {index}", at=board.days_ago(30))
        state.add_board_member(MENTOR, other["id"], WORKER_B)
        active = state.create_list(MENTOR, other["id"], "Active", at=board.days_ago(30))
        name = f"Student{index}"
        card = state.create_card(MENTOR, active["id"], name, at=board.days_ago(20))
        board.cards[name] = str(card["id"])
        boards.append(str(other["id"]))
        cards_by_board[str(other["id"])] = {str(card["id"])}
    state.add_board_member(MENTOR, board.board_id, WORKER_B)
    students = ["Lea", "Student0", "Student1", "Student2"]

    def log_round(first: bool = False) -> None:
        for name in students:
            if first:  # history from before the workers started
                board.comment(name, "/session", days_ago=3)
            else:  # a mentor commenting now, while the workers run
                state.comment(MENTOR, board.cards[name], "/session")

    checkpoints: list[list[tuple]] = []

    def note_checkpoints() -> None:
        checkpoints.append(
            board.sql("SELECT board_id, checkpoint_at FROM boards ORDER BY board_id")
        )

    log_round(first=True)
    worker_a = start_worker(board, board.mentor_token, boards)
    worker_b = None
    try:
        wait_for("worker A's first replies", lambda: len(markers(board)) == 4)
        note_checkpoints()
        worker_b = start_worker(board, token_b, boards)

        def b_holds_boards() -> bool:
            rows = board.sql(
                "SELECT owner FROM board_leases WHERE board_key NOT LIKE 'worker:%' "
                "AND owner LIKE :pid",
                pid=f"%:{worker_b.pid}:%",
            )
            return len(rows) >= 1

        wait_for("worker B to hold boards", b_holds_boards)
        log_round()
        wait_for("the second round of replies", lambda: len(markers(board)) == 8)
        note_checkpoints()
        worker_b.send_signal(signal.SIGKILL)
        worker_b.wait(timeout=10)
        log_round()
        wait_for("the survivor to take over", lambda: len(markers(board)) == 12, timeout=60)
        note_checkpoints()
    finally:
        worker_a.send_signal(signal.SIGTERM)
        assert worker_a.wait(timeout=30) == 0, worker_a.stderr.read() if worker_a.stderr else ""
        if worker_b is not None and worker_b.poll() is None:
            worker_b.kill()

    # Every reply once: on the cards, and in the log of successful POSTs.
    found = markers(board)
    assert len(found) == len(set(found)) == 12
    posts = [r for r in board.api_requests() if r["method"] == "POST" and r["status"] == 200]
    assert len(posts) == 12
    # Every action once: one entry per /session, none twice.
    with board.ledger() as ledger:
        entries = list(ledger.entries())
        assert len(entries) == 12 and len({e.source_action_id for e in entries}) == 12
        assert {r.status for r in ledger.replies()} == {"posted"}
    # No board handled by two workers at once: per board, the workers that touched it,
    # in order, change hands at most twice (A alone; B given its share; A after B died).
    for board_id in boards:
        hands = [
            r["member"]
            for r in board.api_requests()
            if board_of(r, cards_by_board) == board_id and r["member"]
        ]
        runs = [m for i, m in enumerate(hands) if i == 0 or hands[i - 1] != m]
        assert len(runs) <= 3, (board_id, runs)
    assert any(r["member"] == WORKER_B for r in board.api_requests())
    # Each checkpoint only moves forward.
    for earlier, later in itertools.pairwise(checkpoints):
        for (board_a, at_a), (board_b, at_b) in zip(earlier, later, strict=False):
            assert board_a == board_b and at_b >= at_a


def test_a_sqlite_ledger_moves_to_another_database_with_the_same_export(board: BoardEnv):
    handbook_board(board)
    source = f"sqlite:///{board.folder / 'laptop.db'}"
    env = {"TRELLO_SYNC_DATABASE_URL": source}
    assert board.cli("sync", env=env).returncode == 0
    before = board.folder / "before"
    assert board.cli("export", "--offline", "--out", str(before), env=env).returncode == 0

    moved = board.cli("migrate-ledger", "--to", board.ledger_url, env=env)
    assert moved.returncode == 0, moved.stderr
    assert "8 entries" in moved.stdout
    after = board.folder / "after"
    assert board.cli("export", "--offline", "--out", str(after)).returncode == 0
    assert {p.name: p.read_bytes() for p in before.iterdir()} == {
        p.name: p.read_bytes() for p in after.iterdir()
    }
    assert len(read_csv(after / "ledger.csv")) == 8
    # The moved ledger goes on: a sync there finds nothing new and writes nothing.
    books = board.dump()
    assert board.cli("sync").returncode == 0
    assert board.dump() == books

    again = board.cli("migrate-ledger", "--to", board.ledger_url, env=env)
    assert again.returncode == 1 and "not empty" in again.stderr
    bad = board.cli("migrate-ledger", "--to", "mysql://nope", env=env)
    assert bad.returncode == 2 and "--to" in bad.stderr
    assert os.path.exists(board.folder / "laptop.db")
