"""Many boards: idle polls go ten boards to a /1/batch request (so that 1,000 boards fit
Trello's rate limit),
and what the batch shows is applied exactly as a board's own poll would."""

from __future__ import annotations

from sandbox_board import MENTOR, BoardEnv


def many_boards(board: BoardEnv, count: int) -> list[str]:
    ids = [board.board_id]
    board.student("Lea", project="Learn how to learn")
    board.comment("Lea", "/session", days_ago=2)
    for index in range(count - 1):
        other = board.state.create_board(MENTOR, f"Mentoring {index}", at=board.days_ago(30))
        active = board.state.create_list(MENTOR, other["id"], "Active", at=board.days_ago(30))
        card = board.state.create_card(MENTOR, active["id"], f"S{index}", at=board.days_ago(20))
        board.cards[f"S{index}"] = str(card["id"])
        board.comment(f"S{index}", "/session", days_ago=2)
        ids.append(str(other["id"]))
    return ids


def test_an_idle_poll_of_twelve_boards_costs_two_requests(board: BoardEnv):
    boards = many_boards(board, 12)
    env = {"TRELLO_SYNC_BOARDS": ",".join(boards)}
    first = board.cli("sync", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("first sync") == 12
    board.cli("sync", env=env)  # sees its own replies once

    board.server.log.clear()
    idle = board.cli("sync", env=env)
    assert idle.returncode == 0, idle.stderr
    assert idle.stdout.count("no change") == 12
    assert [(r["method"], r["path"]) for r in board.api_requests()] == [("GET", "/1/batch")] * 2

    board.state.comment(MENTOR, board.cards["S7"], "/noshow")
    board.server.log.clear()
    busy = board.cli("sync", env=env)
    assert busy.returncode == 0, busy.stderr
    assert busy.stdout.count("no change") == 11 and "1 entry" in busy.stdout
    posts = [r for r in board.api_requests() if r["method"] == "POST"]
    assert len(posts) == 1 and "No-show recorded" in posts[0]["body"]["text"]
    with board.ledger() as ledger:
        statuses = sorted(e.status for e in ledger.entries())
    assert statuses == ["done"] * 12 + ["noshow"]
