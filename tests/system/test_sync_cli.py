"""`trello-sync sync / export / report / check` end to end: the CLI in a subprocess, the
sandbox over real HTTP, a SQLite ledger file."""

from __future__ import annotations

import csv

import pytest
from sandbox_board import STUDENT, BoardEnv
from sqlalchemy.exc import DBAPIError

from trello_sync.domain.replies import MARKER_PATTERN


def read_csv(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def handbook_board(board: BoardEnv) -> None:
    board.student("Lea", project="Learn how to learn")
    board.student("Max", project="Build a Python web app")
    board.student("Noe", project="Launch your own restaurant review site")
    board.student("Zoe", project="Space Invaders in Rust")
    board.student("Ugo")  # no project at all
    board.comment("Lea", "/session 45m", days_ago=5)
    board.comment("Max", "/session", days_ago=5)
    board.comment("Noe", "/session 1h", days_ago=5)
    board.comment("Noe", "/noshow", days_ago=4)
    board.comment("Max", "/late", days_ago=4)
    board.comment("Lea", "/cancel", days_ago=4)
    board.comment("Zoe", "/session", days_ago=3)
    board.comment("Ugo", "/session", days_ago=3)


def test_the_handbook_pay_lands_in_the_ledger_and_the_statement(board: BoardEnv):
    handbook_board(board)
    result = board.cli("sync")
    assert result.returncode == 0, result.stderr
    assert "8 entries" in result.stdout and "first sync" in result.stdout

    exported = board.cli("export")
    assert exported.returncode == 0, exported.stderr
    rows = read_csv(board.folder / "exports" / "ledger.csv")
    paid = sorted((r["student"], r["status"], r["level"], r["amount"]) for r in rows)
    assert paid == [
        ("Lea", "cancel", "1", "0.00"),
        ("Lea", "done", "1", "30.00"),
        ("Max", "done", "2", "35.00"),
        ("Max", "late", "2", "17.50"),
        ("Noe", "done", "3", "40.00"),
        ("Noe", "noshow", "3", "20.00"),
        ("Ugo", "done", "2", "35.00"),
        ("Zoe", "done", "2", "35.00"),
    ]
    assert {r["project"] for r in rows if r["student"] == "Zoe"} == {"Space Invaders in Rust"}
    assert {r["project"] for r in rows if r["student"] == "Ugo"} == {""}
    assert all(r["currency"] == "EUR" and r["source_action_id"] for r in rows)

    statements = sorted((board.folder / "exports").glob("statement-*.csv"))
    lines = [row for path in statements for row in read_csv(path)]
    total = [r for r in lines if r["row"] == "total"]
    assert sum(int(r["amount"].replace(".", "")) for r in total) == 21250
    lea = next(r for r in lines if r["row"] == "student" and r["student"] == "Lea")
    assert (lea["sessions"], lea["cancel"], lea["amount"]) == ("1", "1", "30.00")

    report = board.cli("report")
    assert report.returncode == 0, report.stderr
    assert "Ugo" in report.stdout and "no project" in report.stdout


def test_each_command_gets_exactly_one_reply(board: BoardEnv):
    handbook_board(board)
    board.comment("Lea", "/session", days_ago=2, by=STUDENT)
    board.comment("Lea", "/sesion", days_ago=2)
    assert board.cli("sync").returncode == 0
    assert board.cli("sync").returncode == 0
    markers = [
        MARKER_PATTERN.search(a["data"]["text"]).group(1)
        for a in board.comments_with("[trello-sync ref:")
    ]
    assert len(markers) == 10 and len(set(markers)) == 10
    refused = board.comments_with("Nothing recorded")
    assert len(refused) == 2
    # Named, not mentioned: a live @mention would notify the student.
    assert any(f"{STUDENT.replace('_', '＿')} is not one" in a["data"]["text"] for a in refused)
    assert not any(f"@{STUDENT}" in a["data"]["text"] for a in refused)
    posts = [r for r in board.api_requests() if r["method"] == "POST"]
    assert len(posts) == 10


def test_an_idle_sync_costs_one_request_and_writes_nothing(board: BoardEnv):
    handbook_board(board)
    assert board.cli("sync").returncode == 0
    before = board.dump()
    board.server.log.clear()
    result = board.cli("sync")
    assert result.returncode == 0, result.stderr
    assert "no change" in result.stdout
    requests = board.api_requests()
    assert [(r["method"], r["path"]) for r in requests] == [
        ("GET", f"/1/boards/{board.board_id}/actions")
    ]
    assert board.dump() == before


@pytest.mark.parametrize("crash_at", ["after_post_before_record:3", "after_commit_before_post"])
def test_a_killed_sync_posts_no_reply_twice_and_records_no_action_twice(
    board: BoardEnv, crash_at: str
):
    handbook_board(board)
    killed = board.cli("sync", env={"TRELLO_SYNC_CRASH_AT": crash_at})
    assert killed.returncode == 137
    again = board.cli("sync")
    assert again.returncode == 0, again.stderr
    board.cli("sync")
    markers = [
        MARKER_PATTERN.search(a["data"]["text"]).group(1)
        for a in board.comments_with("[trello-sync ref:")
    ]
    assert len(markers) == len(set(markers)) == 8
    with board.ledger() as ledger:
        entries = list(ledger.entries())
        assert len(entries) == 8
        replies = ledger.replies()
        assert {r.status for r in replies} == {"posted"}
        shown = {a["id"] for a in board.comments_with("[trello-sync ref:")}
        assert {r.comment_id for r in replies} == shown


def test_polling_the_same_actions_again_changes_nothing(board: BoardEnv):
    """A re-read is harmless: checkpoint rewound, a rate changed meanwhile → no new row, no POST."""
    handbook_board(board)
    assert board.cli("sync").returncode == 0
    # Rewind to the very first action of the board: every action comes back again.
    ((first_id, first_at),) = board.sql(
        "SELECT action_id, at FROM applied_actions ORDER BY at, action_id LIMIT 1"
    )
    board.sql(
        "UPDATE boards SET checkpoint_action_id = :id, checkpoint_at = :at",
        id=first_id,
        at=first_at,
    )
    (board.folder / "trello-sync.toml").write_text(
        'mentors = ["camille"]\n'
        "[[pay_rules]]\n"
        'effective = "2000-01-01"\n'
        "rates = { 1 = 31, 2 = 36, 3 = 41 }\n"
        "shares = { done = 100, noshow = 50, late = 50, cancel = 0 }\n"
    )
    board.server.log.clear()
    assert board.cli("sync").returncode == 0
    assert not [r for r in board.api_requests() if r["method"] == "POST"]
    with board.ledger() as ledger:
        assert len(list(ledger.entries())) == 8
        assert {e.rate_cents for e in ledger.entries()} == {3000, 3500, 4000}
    ((after,),) = board.sql("SELECT checkpoint_action_id FROM boards")
    assert after == first_id  # an idle poll moves it only when that saves work


def test_edits_and_deletions_of_command_comments(board: BoardEnv):
    """Corrections are reversals: an edit → one reversal + one new entry; a deletion →
    one reversal."""
    board.extra_env["TRELLO_SYNC_REREAD_INTERVAL"] = "0"
    board.student("Lea", project="Learn how to learn")
    board.student("Noe", project="Enhance an existing project")
    edited = board.comment("Lea", "/session", days_ago=2)
    deleted = board.comment("Noe", "/session", days_ago=2)
    assert board.cli("sync").returncode == 0

    board.state.edit_comment("camille", edited, "/noshow")
    board.state.delete_comment("camille", deleted)
    result = board.cli("sync")
    assert result.returncode == 0, result.stderr
    for _ in range(2):
        assert board.cli("sync").returncode == 0
    with board.ledger() as ledger:
        entries = list(ledger.entries())
    changes = sorted((e.student, e.status, e.amount_cents) for e in entries)
    assert changes == [
        ("Lea", "done", -3000),
        ("Lea", "done", 3000),
        ("Lea", "noshow", 1500),
        ("Noe", "done", -4000),
        ("Noe", "done", 4000),
    ]
    assert sum(e.amount_cents for e in entries) == 1500
    assert len(board.comments_with("corrected and recorded")) == 1
    assert len(board.comments_with("was deleted: the entry is reversed")) == 1
    for statement in ("UPDATE entries SET amount_cents = 0", "DELETE FROM entries"):
        with pytest.raises(DBAPIError, match="append-only"):
            board.sql(statement)


def test_a_board_that_suddenly_shows_nothing_records_nothing(board: BoardEnv):
    """The emptiness guard: lost access is not a hand-off."""
    handbook_board(board)
    assert board.cli("sync").returncode == 0
    before = board.dump()
    for card_id in list(board.cards.values()):
        board.state.delete_card("camille", card_id)
    result = board.cli("sync")
    assert result.returncode == 1
    assert "suddenly shows no cards" in result.stdout
    after = board.dump()
    for table in ("stage_moves", "entries", "applied_actions", "replies"):
        assert after[table] == before[table]
    ((flag,),) = board.sql("SELECT flag FROM boards")
    assert "suddenly shows no cards" in flag


def test_the_services_own_command_looking_comment_is_never_obeyed(board: BoardEnv):
    board.student("Lea", project="Learn how to learn")
    board.comment("Lea", "/session quoted [trello-sync ref:0123456789abcdef]", days_ago=1)
    assert board.cli("sync").returncode == 0
    with board.ledger() as ledger:
        assert list(ledger.entries()) == []
    assert [r for r in board.api_requests() if r["method"] == "POST"] == []
