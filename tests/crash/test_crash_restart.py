"""Crashes and restarts: the real CLI in a subprocess, killed at a named
crash point with `os._exit(137)` (no cleanup, like a SIGKILL), then started again; the
sandbox over real HTTP; the ledger on each backend.

"Exactly one comment" means: in the sandbox's state and in its request log, exactly one
successful POST carries that marker.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from backends import BACKENDS, make_ledger_url
from sandbox_board import MENTOR, STAGE_LISTS, STUDENT, BoardEnv

from trello_sync.clock import SystemClock
from trello_sync.domain.replies import MARKER_PATTERN
from trello_sync.ledger.open import open_ledger
from trello_sync.sandbox import SandboxServer, SandboxState
from trello_sync.sandbox.faults import Fault
from trello_sync.settings import load_settings
from trello_sync.sync import Syncer
from trello_sync.trello.client import HttpTrello

KILLED = 137  # os._exit(137) at the crash point
BOOKS = ("entries", "stage_moves", "applied_actions", "replies", "cards")


def crash_at(point: str) -> dict[str, str]:
    return {"TRELLO_SYNC_CRASH_AT": point}


def posted_markers(board: BoardEnv) -> Counter[str]:
    """Markers of the comment POSTs the sandbox applied (its request log)."""
    found: Counter[str] = Counter()
    for request in board.api_requests():
        if request["method"] == "POST" and request.get("status") == 200:
            match = MARKER_PATTERN.search(json.dumps(request.get("body"), ensure_ascii=False))
            if match:
                found[match.group(1)] += 1
    return found


def shown_markers(board: BoardEnv) -> dict[str, list[str]]:
    """Marker → ids of the comments carrying it, in the sandbox's state (hidden or not)."""
    found: dict[str, list[str]] = {}
    for action in board.state.all_actions():
        match = MARKER_PATTERN.search(action["data"].get("text") or "")
        if action["type"] == "commentCard" and match:
            found.setdefault(match.group(1), []).append(action["id"])
    return found


def replies(board: BoardEnv) -> list[tuple[str, str, str | None]]:
    rows = board.sql("SELECT reply_id, status, comment_id FROM replies ORDER BY reply_id")
    return [(str(r[0]), str(r[1]), r[2]) for r in rows]


def books(board: BoardEnv) -> dict[str, list[tuple[Any, ...]]]:
    dump = board.dump()
    return {table: dump[table] for table in BOOKS}


def checkpoint(board: BoardEnv, board_id: str | None = None) -> tuple[Any, ...] | None:
    rows = board.sql(
        "SELECT checkpoint_action_id, checkpoint_at FROM boards WHERE board_id = :b",
        b=board_id or board.board_id,
    )
    return tuple(rows[0]) if rows else None


def assert_each_reply_once(board: BoardEnv, expected: int) -> None:
    """Every reply posted, once: in the ledger, the request log and the sandbox's state."""
    rows = replies(board)
    assert len(rows) == expected
    shown = shown_markers(board)
    for reply_id, status, comment_id in rows:
        assert status == "posted", rows
        assert shown.get(reply_id) == [comment_id]  # recorded with the sandbox's own id
    assert posted_markers(board) == Counter({reply_id: 1 for reply_id, _, _ in rows})


def one_session(board: BoardEnv) -> str:
    board.student("Lea", project="Learn how to learn")
    return board.comment("Lea", "/session 45m", days_ago=1)


# --- 1. a crash between the POST and its record -----------------------------------------


def test_1_a_crash_between_the_post_and_its_record_posts_once(board: BoardEnv) -> None:
    one_session(board)
    killed = board.cli("sync", env=crash_at("after_post_before_record"))
    assert killed.returncode == KILLED, killed.stderr
    # Trello has the comment; the ledger only knows that a POST was attempted.
    ((reply_id, status, comment_id),) = replies(board)
    assert (status, comment_id) == ("attempted", None)
    (shown_id,) = shown_markers(board)[reply_id]

    again = board.cli("sync")
    assert again.returncode == 0, again.stderr
    assert board.cli("sync").returncode == 0
    assert replies(board) == [(reply_id, "posted", shown_id)]
    assert posted_markers(board) == Counter({reply_id: 1})  # no second POST
    assert shown_markers(board) == {reply_id: [shown_id]}
    assert board.sql("SELECT count(*) FROM entries") == [(1,)]


# --- 2. a crash after the commit, before the POST ---------------------------------------


def test_2_a_crash_after_the_commit_before_the_post_posts_once(board: BoardEnv) -> None:
    one_session(board)
    board.student("Max", project="Build a Python web app")
    board.comment("Max", "/noshow", days_ago=1)
    killed = board.cli("run", "--once", env=crash_at("after_commit_before_post"))
    assert killed.returncode == KILLED, killed.stderr
    committed = books(board)
    assert len(committed["entries"]) == 2
    assert [status for _, status, _ in replies(board)] == ["pending", "pending"]
    assert not [r for r in board.api_requests() if r["method"] == "POST"]

    again = board.cli("run", "--once")
    assert again.returncode == 0, again.stderr
    assert board.cli("sync").returncode == 0
    assert books(board)["entries"] == committed["entries"]  # entries unchanged
    assert_each_reply_once(board, 2)


# --- 3. a crash inside the ledger transaction -------------------------------------------


@dataclass
class Twin:
    """A board whose sandbox is built from a seed: two twins have the same ids."""

    env: BoardEnv
    base: datetime

    def at(self, days: float, hour: int = 0) -> datetime:
        return self.base - timedelta(days=days) + timedelta(hours=hour)

    def history_1(self) -> None:
        state, lists = self.env.state, self.env.lists
        for name, project in (("Lea", "Learn how to learn"), ("Max", "Build a Python web app")):
            card = state.create_card(
                MENTOR, lists["Waiting"], name, desc=f"Project: {project}", at=self.at(6)
            )
            self.env.cards[name] = card["id"]
            state.move_card(MENTOR, card["id"], lists["Active"], at=self.at(5))
        state.comment(MENTOR, self.env.cards["Lea"], "/session 1h", at=self.at(4, 18))
        state.comment(MENTOR, self.env.cards["Max"], "/session", at=self.at(4, 19))

    def history_2(self) -> str:
        state, cards = self.env.state, self.env.cards
        state.comment(MENTOR, cards["Lea"], "/late", at=self.at(2, 18))
        state.move_card(MENTOR, cards["Max"], self.env.lists["Paused"], at=self.at(2, 19))
        edited = state.comment(MENTOR, cards["Max"], "/session 30m", at=self.at(3, 18))
        state.edit_comment(MENTOR, edited["id"], "/noshow", at=self.at(2, 20))
        state.comment(STUDENT, cards["Lea"], "/session", at=self.at(2, 21))
        return str(edited["id"])

    def export(self, name: str) -> dict[str, bytes]:
        out = self.env.folder / name
        result = self.env.cli("export", "--offline", "--out", str(out))
        assert result.returncode == 0, result.stderr
        return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def _twin(stack: ExitStack, folder: Path, ledger_url: str, base: datetime) -> Twin:
    folder.mkdir()
    state = SandboxState(seed=20261102)
    state.add_member(MENTOR, "Camille Martin")
    state.add_member(STUDENT, "Léa Student")
    mentor_token, student_token = state.add_token(MENTOR), state.add_token(STUDENT)
    created = base - timedelta(days=30)
    made = state.create_board(MENTOR, "Mentoring", at=created)
    state.add_board_member(MENTOR, made["id"], STUDENT, at=created)
    lists = {
        name: str(state.create_list(MENTOR, made["id"], name, at=created)["id"])
        for name in (*STAGE_LISTS, "Notes")
    }
    (folder / "trello-sync.toml").write_text('mentors = ["camille"]\n')
    server = stack.enter_context(SandboxServer(state))
    env = BoardEnv(
        state,
        server,
        folder,
        str(made["id"]),
        mentor_token,
        student_token,
        lists,
        ledger_url,
    )
    return Twin(env, base)


@pytest.fixture(params=BACKENDS)
def twins(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Twin, Twin]]:
    """Two boards with one history, each with its own sandbox and ledger."""
    base = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with ExitStack() as stack:
        urls = [
            stack.enter_context(_generator(make_ledger_url(request.param, tmp_path / name)))
            for name in ("crashed", "reference")
        ]
        yield (
            _twin(stack, tmp_path / "crashed-board", urls[0], base),
            _twin(stack, tmp_path / "reference-board", urls[1], base),
        )


class _generator:
    """A one-value generator (make_ledger_url) as a context manager, cleanup included."""

    def __init__(self, gen: Iterator[str]) -> None:
        self._gen = gen

    def __enter__(self) -> str:
        return next(self._gen)

    def __exit__(self, *_exc: object) -> None:
        for _ in self._gen:
            pass


def test_3_a_crash_inside_the_commit_leaves_no_trace_and_a_restart_catches_up(
    twins: tuple[Twin, Twin],
) -> None:
    crashed, reference = twins
    for twin in twins:
        twin.history_1()
        assert twin.env.cli("sync").returncode == 0
        twin.history_2()
    before = books(crashed.env)
    mark = checkpoint(crashed.env)

    killed = crashed.env.cli("sync", env=crash_at("mid_commit"))
    assert killed.returncode == KILLED, killed.stderr
    # Nothing of that cycle is in the ledger, and the checkpoint did not move.
    assert books(crashed.env) == before
    assert checkpoint(crashed.env) == mark

    assert reference.env.cli("sync").returncode == 0  # the run that never crashed
    again = crashed.env.cli("sync")
    assert again.returncode == 0, again.stderr
    got, want = crashed.export("out"), reference.export("out")
    assert sorted(got) == sorted(want) and len(got) >= 3
    assert got == want  # byte for byte
    assert books(crashed.env)["entries"] == books(reference.env)["entries"]
    for twin in twins:
        assert_each_reply_once(twin.env, len(replies(reference.env)))


# --- 4. the POST's answer is lost -------------------------------------------------------

LEASE = 3  # seconds: TRELLO_SYNC_REPLY_LEASE, small so that the test waits little
HIDDEN = 1.5  # seconds the sandbox hides the new comment: shorter than the lease


def sync_until_posted(board: BoardEnv, env: dict[str, str]) -> list[str]:
    """`trello-sync sync` until no reply is left unconfirmed (the lease runs out in
    between); returns each run's stdout. Bounded: a failure, not a hang."""
    outputs = []
    for _ in range(20):
        result = board.cli("sync", env=env)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
        if all(status == "posted" for _, status, _ in replies(board)):
            return outputs
        time.sleep(0.5)
    raise AssertionError(f"replies still unconfirmed: {replies(board)}\n{outputs}")


def test_4_an_answer_lost_after_the_post_was_applied_gives_one_comment(board: BoardEnv) -> None:
    """Applied, then the connection drops; and Trello shows the comment only after a
    delay shorter than the reply lease."""
    one_session(board)
    board.server.faults.add(Fault(kind="drop", method="POST", path_contains="/actions/comments"))
    board.server.faults.add(Fault(kind="hide", delay_s=HIDDEN))
    env = {"TRELLO_SYNC_REPLY_LEASE": str(LEASE)}
    first = board.cli("sync", env=env)
    assert first.returncode == 0, first.stderr
    assert "awaiting confirmation" in first.stdout
    ((_, status, _),) = replies(board)
    assert status == "attempted"

    sync_until_posted(board, env)
    assert board.sql("SELECT attempts FROM replies") == [(1,)]  # never posted again
    assert_each_reply_once(board, 1)
    assert board.sql("SELECT count(*) FROM entries") == [(1,)]


def test_4_an_answer_that_comes_after_the_read_timeout_gives_one_comment(
    board: BoardEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer arrives after the client stopped waiting (HttpTrello's read timeout is
    30 s in the CLI, so this one runs the real Syncer in-process with a short one)."""
    monkeypatch.chdir(board.folder)
    for name, value in board.env.items():
        if name.startswith("TRELLO"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("TRELLO_SYNC_REPLY_LEASE", str(LEASE))
    one_session(board)
    board.server.faults.add(Fault(kind="late", method="POST", delay_s=0.8))
    board.server.faults.add(Fault(kind="hide", delay_s=HIDDEN))

    def one_pass() -> None:
        settings = load_settings()
        clock = SystemClock()
        session = requests.Session()
        with (
            HttpTrello(
                settings.api_url,
                board.state.api_key,
                board.mentor_token,
                clock=clock,
                rng=random.Random(1),
                timeout=(2.0, 0.4),
                session=session,
            ) as trello,
            open_ledger(settings.database_url, clock=clock) as ledger,
        ):
            (outcome,) = Syncer(settings, trello, ledger, clock).sync_all()
            assert outcome.problem is None

    one_pass()
    ((_, status, _),) = replies(board)
    assert status == "attempted"  # the answer came too late to be read
    for _ in range(20):
        time.sleep(0.5)
        one_pass()
        if replies(board)[0][1] == "posted":
            break
    assert_each_reply_once(board, 1)


def test_the_one_limit_a_comment_shown_later_than_the_lease_is_posted_twice(
    board: BoardEnv,
) -> None:
    """The one documented limit of "every reply is posted once" (README): if Trello shows a
    comment whose answer was lost only after the reply lease, the marker check cannot
    see it, and the reply is posted a second time."""
    one_session(board)
    board.server.faults.add(Fault(kind="drop", method="POST"))
    board.server.faults.add(Fault(kind="hide", delay_s=600))
    env = {"TRELLO_SYNC_REPLY_LEASE": "1"}
    assert board.cli("sync", env=env).returncode == 0
    time.sleep(1.1)  # the lease runs out while Trello still hides the comment
    sync_until_posted(board, env)
    ((reply_id, _, _),) = replies(board)
    assert posted_markers(board) == Counter({reply_id: 2})
    assert len(shown_markers(board)[reply_id]) == 2


# --- 6. the same entry id with different content ---------------------------------------


def test_6_a_conflicting_entry_fails_that_boards_commit_whole_and_others_still_sync(
    board: BoardEnv,
) -> None:
    state = board.state
    command = one_session(board)
    other = state.create_board(MENTOR, "Second board", at=board.days_ago(30))
    other_lists = {
        name: str(state.create_list(MENTOR, other["id"], name, at=board.days_ago(30))["id"])
        for name in STAGE_LISTS
    }
    max_card = state.create_card(
        MENTOR,
        other_lists["Active"],
        "Max",
        desc="Project: Learn how to learn",
        at=board.days_ago(8),
    )
    board.cards["Max"] = max_card["id"]
    state.comment(MENTOR, max_card["id"], "/session", at=board.days_ago(1, 17))

    # The ledger already holds an entry with the command's id, but other content.
    board.ledger().close()  # creates the schema
    board.sql(
        "INSERT INTO entries (entry_id, recorded_at, board_id, card_id, student, project,"
        " level, status, session_date, duration_minutes, note, rate_cents, share_percent,"
        " amount_cents, currency, mentor, source_action_id)"
        " VALUES (:id, :at, :board, :card, 'Lea', NULL, 3, 'done', :day, 45, '', 4000,"
        " 100, 4000, 'EUR', 'camille', :id)",
        id=command,
        at=board.days_ago(1, 18),
        board=board.board_id,
        card=board.cards["Lea"],
        day=board.days_ago(1, 18).date(),
    )
    planted = books(board)

    both = {"TRELLO_SYNC_BOARDS": f"{board.board_id},{other['id']}"}
    result = board.cli("sync", env=both)
    assert result.returncode == 1, result.stderr
    failed = [line for line in result.stdout.splitlines() if "NOT SYNCED" in line]
    assert len(failed) == 1 and f"entry {command} already exists" in failed[0]
    assert "Mentoring" in failed[0]
    # That board's commit failed whole: nothing of its cycle, no reply, no checkpoint.
    mine = [
        (table, row)
        for table, rows in books(board).items()
        for row in rows
        if board.board_id in row and row not in planted[table]
    ]
    assert mine == []
    assert checkpoint(board) in (None, (None, None))
    # The other board synced and got its reply.
    (other_entry,) = [e for e in books(board)["entries"] if e[2] == other["id"]]
    assert other_entry[4] == "Max"
    assert checkpoint(board, other["id"])[0] is not None
    (other_reply,) = replies(board)
    assert other_reply[1] == "posted"
    assert posted_markers(board) == Counter({other_reply[0]: 1})
