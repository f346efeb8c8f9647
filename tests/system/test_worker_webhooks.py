"""`trello-sync run` with webhooks, end to end: the worker in a subprocess with its
receiver, the sandbox registering webhooks, probing them and delivering for real over
HTTP, a ledger on each backend.

With a 60 s poll interval, every reply these tests wait for (20 s at most) can only come
from a delivery: the board's cycle woke at once. Forged deliveries change nothing, lost
ones are repaired by the poll, a delivery during SIGTERM is neither lost nor applied
twice, registration is idempotent, and a receiver Trello cannot reach stops nothing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from ports import free_port
from sandbox_board import MENTOR, BoardEnv
from test_sandbox_webhooks import Recorder, recorder
from test_worker_run import assert_each_reply_once, count, markers, wait_for

from trello_sync.domain.webhooks import SIGNATURE_HEADER, expected_signature
from trello_sync.sandbox.faults import Fault

__all__ = ["recorder"]  # the fixture, imported for the test that needs a second URL

POLL = 60  # no poll between the first and the stop: a reply comes from a delivery


class HookedWorker:
    """`trello-sync run --log-format json` with its webhook receiver."""

    def __init__(
        self,
        board: BoardEnv,
        *,
        poll: int = POLL,
        url: str | None = None,
        port: int | None = None,
        env: dict[str, str] | None = None,
        name: str = "worker",
    ) -> None:
        self.board = board
        self.port = port or free_port()
        self.url = url or f"http://127.0.0.1:{self.port}/trello"
        self.out_path = board.folder / f"{name}.out"
        self.err_path = board.folder / f"{name}.err"
        self.env = {
            **board.env,
            "TRELLO_SYNC_POLL_INTERVAL": str(poll),
            "TRELLO_API_SECRET": board.state.api_secret,
            "TRELLO_SYNC_WEBHOOK_LISTEN": f"127.0.0.1:{self.port}",
            "TRELLO_SYNC_WEBHOOK_URL": self.url,
            **(env or {}),
        }
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "trello_sync", "run", "--log-format", "json"],
                env=self.env,
                cwd=board.folder,
                stdout=out,
                stderr=err,
                text=True,
            )

    @property
    def stderr(self) -> str:
        return self.err_path.read_text()

    @property
    def stdout(self) -> str:
        return self.out_path.read_text()

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        found = []
        for line in self.stderr.splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if event is None or item.get("event") == event:
                found.append(item)
        return found

    def woken(self) -> list[dict[str, Any]]:
        return [e for e in self.events("board") if e.get("woken")]

    def polls(self) -> int:
        return len(self.events("cycle"))

    def registered(self) -> bool:
        hooks = self.board.server.webhooks.listed(self.env["TRELLO_TOKEN"])
        return any(h["callbackURL"] == self.url and h["active"] for h in hooks)

    def ready(self) -> None:
        """The first poll done and the board's webhook registered."""
        wait_for(lambda: self.polls() >= 1 and self.registered(), 30, self)

    def stop(self, *, timeout: float = 30) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the worker did not stop:\n{self.stderr}") from None

    def deliver(self, body: bytes, signature: str | None) -> int:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers[SIGNATURE_HEADER] = signature
        answer = requests.post(self.url, data=body, headers=headers, timeout=10)
        return answer.status_code


def replies(board: BoardEnv) -> int:
    return sum(markers(board).values())


def within(condition: Callable[[], bool], worker: HookedWorker, timeout: float = 20) -> None:
    wait_for(condition, timeout, worker)


def one_student(board: BoardEnv) -> None:
    board.student("Lea", project="Learn how to learn")
    board.comment("Lea", "/session 45m", days_ago=3)


def delivery_body(board: BoardEnv, action_type: str = "commentCard", **data: Any) -> bytes:
    payload = {
        "action": {
            "id": "5f00000000000000000ac001",
            "type": action_type,
            "data": {"card": {"id": board.cards["Lea"]}, **data},
        },
        "model": {"id": board.board_id, "name": "Mentoring"},
    }
    return json.dumps(payload).encode()


def test_a_session_edit_and_deletion_are_answered_from_the_delivery_not_the_next_poll(
    board: BoardEnv,
) -> None:
    one_student(board)
    worker = HookedWorker(board)
    worker.ready()
    assert "webhooks: listening on 127.0.0.1:" in worker.stdout
    assert worker.registered() and len(board.server.webhooks.listed(board.mentor_token)) == 1
    within(lambda: replies(board) == 1, worker)

    # A session logged now: its reply comes before any second poll could.
    comment = board.state.comment(MENTOR, board.cards["Lea"], "/session 1h good progress")
    # The reply is posted before the cycle's log line is written: wait for both.
    within(
        lambda: (
            replies(board) == 2
            and count(board, "entries") == 2
            and any(e["replies_posted"] == 1 and e["applied"] == 1 for e in worker.woken())
        ),
        worker,
    )

    # The command edited: reversed and recorded anew, with its reply, from the delivery.
    board.state.edit_comment(MENTOR, comment["id"], "/session 30m")
    within(lambda: replies(board) == 3 and count(board, "entries") == 4, worker)
    # Another command deleted: reversed, with its reply.
    noshow = board.state.comment(MENTOR, board.cards["Lea"], "/noshow")
    within(lambda: replies(board) == 4, worker)
    board.state.delete_comment(MENTOR, noshow["id"])
    within(lambda: replies(board) == 5 and count(board, "entries") == 6, worker)
    assert worker.polls() == 1  # every answer after the first came from a delivery

    amounts = sorted(row[0] for row in board.sql("SELECT amount_cents FROM entries"))
    assert amounts == [-3000, -1500, 1500, 3000, 3000, 3000]
    assert worker.stop() == 0, worker.stderr
    before = board.dump()

    # The hourly re-read (here the one before an export) finds nothing left to do.
    export = board.cli("export")
    assert export.returncode == 0, export.stderr
    assert count(board, "entries") == 6
    assert_each_reply_once(board, 5)
    after = board.dump()
    assert after["entries"] == before["entries"] and after["replies"] == before["replies"]
    everything = worker.stdout + worker.stderr
    for secret in (board.mentor_token, board.state.api_key, board.state.api_secret):
        assert secret not in everything


def test_a_forged_delivery_changes_nothing(board: BoardEnv) -> None:
    one_student(board)
    worker = HookedWorker(board)
    worker.ready()
    within(lambda: replies(board) == 1, worker)
    assert requests.head(worker.url, timeout=5).status_code == 200  # Trello's probe
    before = board.dump()
    body = delivery_body(board, "deleteComment", action={"id": "5f00000000000000000cc001"})
    assert worker.deliver(body, None) == 401
    assert worker.deliver(body, "not-a-signature") == 401
    assert worker.deliver(body, expected_signature("another secret", body, worker.url)) == 401
    assert (
        worker.deliver(body, expected_signature(board.state.api_secret, body, "http://x/")) == 401
    )
    signed = expected_signature(board.state.api_secret, body, worker.url)
    assert worker.deliver(body.replace(b"deleteComment", b"updateComment"), signed) == 401
    assert worker.deliver(b"{" + b" " * 1_048_576 + b"}", signed) == 413
    # The worker is alive and unchanged: a real change still gets its answer at once.
    board.state.comment(MENTOR, board.cards["Lea"], "/session")
    within(lambda: replies(board) == 2 and bool(worker.woken()), worker)
    assert worker.polls() == 1
    assert worker.stop() == 0, worker.stderr
    after = board.dump()
    assert len(after["entries"]) == len(before["entries"]) + 1  # the real session alone
    assert "refused a delivery (no valid signature, HTTP 401)" in worker.stderr


def test_lost_deliveries_are_repaired_by_the_next_poll(board: BoardEnv) -> None:
    one_student(board)
    worker = HookedWorker(board, poll=5)
    worker.ready()
    within(lambda: replies(board) == 1, worker)
    board.server.webhooks.drop_next = 1000  # the network eats every delivery
    polls = worker.polls()
    board.state.comment(MENTOR, board.cards["Lea"], "/session")
    within(lambda: replies(board) == 2, worker)
    # An edit of a command older than the polls' overlap shows only to a re-read.
    (old,) = [
        a for a in board.comments_with("/session 45m") if "[trello-sync" not in a["data"]["text"]
    ]
    board.state.edit_comment(MENTOR, old["id"], "/late")
    within(lambda: worker.polls() >= polls + 2, worker)  # no delivery: the edit waits
    assert not worker.woken() and replies(board) == 2
    assert worker.stop() == 0, worker.stderr
    # The hourly re-read finds the edit.
    assert board.cli("export").returncode == 0
    assert replies(board) == 3 and count(board, "entries") == 4
    assert_each_reply_once(board, 3)


def test_a_delivery_during_sigterm_is_neither_lost_nor_applied_twice(board: BoardEnv) -> None:
    one_student(board)
    board.server.webhooks.retry_delays = (0.5, 1.0, 5.0)
    worker = HookedWorker(board)
    worker.ready()
    within(lambda: replies(board) == 1, worker)
    # The woken cycle's poll is held 1.5 s: the stop comes while it runs, and the next
    # delivery while the worker stops.
    board.server.faults.add(
        Fault(kind="timeout", status=0, delay_s=1.5, path_contains="/actions", method="GET")
    )
    board.state.comment(MENTOR, board.cards["Lea"], "/session")
    within(lambda: not board.server.faults.describe(), worker)  # the cycle is held
    worker.proc.send_signal(signal.SIGTERM)
    late = board.state.comment(MENTOR, board.cards["Lea"], "/noshow")
    assert worker.proc.wait(30) == 0, worker.stderr
    # The receiver answered it while the worker stopped: 503 once the stop is known
    # (Trello sends it again later), else 200 (kept, and read by the next start's poll).
    answers = [a["status"] for a in board.server.webhooks.attempts if a["action"] == late["id"]]
    assert answers and answers[0] in (200, 503), answers
    if board.ledger_url.startswith("sqlite"):
        assert board.sql("PRAGMA integrity_check") == [("ok",)]
    # Started again: whatever the stop left, every command is answered once.
    again = HookedWorker(board, port=worker.port, name="again")
    again.ready()
    within(lambda: replies(board) == 3 and count(board, "entries") == 3, again)
    assert again.stop() == 0, again.stderr
    assert_each_reply_once(board, 3)


def test_registration_is_idempotent_and_check_shows_each_webhook(
    board: BoardEnv, recorder: Recorder
) -> None:
    one_student(board)
    first = HookedWorker(board)
    first.ready()
    hub = board.server.webhooks
    (ours,) = hub.listed(board.mentor_token)
    auth = {"key": board.state.api_key, "token": board.mentor_token}
    api = board.server.url

    def create(url: str, description: str) -> None:
        data = {"idModel": board.board_id, "callbackURL": url, "description": description}
        assert requests.post(f"{api}/webhooks", params=auth, data=data, timeout=10).ok

    create(recorder.url, "trello-sync: an old URL")  # ours, stale
    create(recorder.url + "/zap", "another program")  # not ours: left alone
    paused = requests.put(
        f"{api}/webhooks/{ours['id']}", params=auth, data={"active": "false"}, timeout=10
    )
    assert paused.json()["active"] is False
    assert first.stop() == 0, first.stderr

    second = HookedWorker(board, port=first.port, name="second")
    second.ready()
    within(lambda: "re-activated" in second.stderr, second)
    after = {h["callbackURL"]: h for h in hub.listed(board.mentor_token)}
    assert set(after) == {first.url, recorder.url + "/zap"}
    assert after[first.url]["id"] == ours["id"] and after[first.url]["active"] is True
    assert "(0 created, 1 re-activated, 1 stale deleted)" in second.stderr
    assert second.stop() == 0, second.stderr

    # The worker is down: Trello's deliveries fail, and check shows how many.
    board.state.comment(MENTOR, board.cards["Lea"], "/session")

    def failures() -> int:
        hooks = {h["id"]: h for h in hub.listed(board.mentor_token)}
        return int(hooks[ours["id"]]["consecutiveFailures"])

    wait_for(lambda: failures() >= 1, 20)
    checked = board.cli(
        "check", env={k: v for k, v in second.env.items() if k.startswith("TRELLO")}
    )
    assert checked.returncode == 0, checked.stderr
    assert f"board 'Mentoring': webhook {ours['id']} active, " in checked.stdout
    assert "consecutive failures since" in checked.stdout
    assert board.state.api_secret not in checked.stdout + checked.stderr


def test_a_receiver_trello_cannot_reach_is_a_warning_and_polling_goes_on(board: BoardEnv) -> None:
    one_student(board)
    unreachable = f"http://127.0.0.1:{free_port()}/trello"  # nobody listens there
    worker = HookedWorker(board, poll=5, url=unreachable)
    within(lambda: "has no webhook" in worker.stderr, worker)
    assert "did not return 200 status code" in worker.stderr
    assert not board.server.webhooks.listed(board.mentor_token)
    polls = worker.polls()
    board.state.comment(MENTOR, board.cards["Lea"], "/session")
    within(lambda: replies(board) == 2 and worker.polls() > polls, worker)
    assert worker.stop() == 0, worker.stderr
    checked = board.cli(
        "check", env={k: v for k, v in worker.env.items() if k.startswith("TRELLO_")}
    )
    assert checked.returncode == 0, checked.stderr
    assert f"board 'Mentoring': no webhook at {unreachable} yet" in checked.stdout


def test_a_flood_of_deliveries_is_answered_and_no_board_wake_up_is_lost(board: BoardEnv) -> None:
    one_student(board)
    worker = HookedWorker(board)
    worker.ready()
    within(lambda: replies(board) == 1, worker)
    secret = board.state.api_secret
    bodies = [
        delivery_body(
            board,
            "updateComment" if n % 3 else "commentCard",
            action={"id": f"5f0000000000000000{n:06x}", "text": "/session"},
        )
        for n in range(300)
    ]

    def deliver(body: bytes) -> int:
        return worker.deliver(body, expected_signature(secret, body, worker.url))

    with ThreadPoolExecutor(max_workers=24) as pool:
        flood = pool.map(deliver, bodies)
        board.state.comment(MENTOR, board.cards["Lea"], "/session in the flood")
        statuses = Counter(flood)
    assert statuses == Counter({200: 300})
    within(
        lambda: replies(board) == 2 and count(board, "entries") == 2 and bool(worker.woken()),
        worker,
    )
    assert worker.proc.poll() is None  # still running
    cycles = len(worker.woken())
    assert 1 <= cycles < 300  # merged per board, not one cycle per delivery
    assert worker.stop() == 0, worker.stderr
    assert_each_reply_once(board, 2)
    assert "Traceback" not in worker.stderr


def test_two_workers_one_receiver_every_reply_once(board: BoardEnv) -> None:
    """Two workers on one ledger (PostgreSQL with TRELLO_SYNC_TEST_DATABASE_URL), one
    with the receiver: a board the other holds is left to its poll, every reply once."""
    state = board.state
    state.add_member("ops_bot", "Ops Bot")
    token_b = state.add_token("ops_bot")
    boards = [board.board_id]
    for index in range(3):
        other = state.create_board(MENTOR, f"Mentoring {index}", at=board.days_ago(30))
        state.add_board_member(MENTOR, other["id"], "ops_bot")
        active = state.create_list(MENTOR, other["id"], "Active", at=board.days_ago(30))
        card = state.create_card(MENTOR, active["id"], f"Student{index}", at=board.days_ago(20))
        board.cards[f"Student{index}"] = str(card["id"])
        boards.append(str(other["id"]))
    state.add_board_member(MENTOR, board.board_id, "ops_bot")
    board.student("Lea", project="Learn how to learn")
    students = ["Lea", "Student0", "Student1", "Student2"]
    shared = {
        "TRELLO_SYNC_BOARDS": ",".join(boards),
        "TRELLO_SYNC_LEASE_SECONDS": "6",
    }
    with_receiver = HookedWorker(board, poll=5, env=shared, name="a")
    within(lambda: with_receiver.polls() >= 1 and with_receiver.registered(), with_receiver)
    plain_env = {
        **board.env,
        **shared,
        "TRELLO_TOKEN": token_b,
        "TRELLO_SYNC_POLL_INTERVAL": "5",
    }
    plain = subprocess.Popen(
        [sys.executable, "-m", "trello_sync", "run"],
        env=plain_env,
        cwd=board.folder,
        stdout=subprocess.DEVNULL,
        stderr=open(board.folder / "b.err", "w"),  # noqa: SIM115
    )
    try:

        def b_holds_a_board() -> bool:
            rows = board.sql(
                "SELECT owner FROM board_leases WHERE board_key NOT LIKE 'worker:%' "
                "AND owner LIKE :pid",
                pid=f"%:{plain.pid}:%",
            )
            return bool(rows)

        within(b_holds_a_board, with_receiver, timeout=45)
        for name in students:
            state.comment(MENTOR, board.cards[name], "/session")
        within(lambda: replies(board) == 4, with_receiver, timeout=45)
        for name in students:
            state.comment(MENTOR, board.cards[name], "/noshow")
        within(lambda: replies(board) == 8, with_receiver, timeout=45)
    finally:
        assert with_receiver.stop() == 0, with_receiver.stderr
        plain.send_signal(signal.SIGTERM)
        assert plain.wait(30) == 0, (board.folder / "b.err").read_text()
    found = markers(board)
    assert len(found) == 8 and set(found.values()) == {1}
    entries = board.sql("SELECT source_action_id FROM entries")
    assert len(entries) == 8 and len(set(entries)) == 8
    assert with_receiver.woken()  # its own boards answered from deliveries
