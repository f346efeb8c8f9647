"""The sandbox's webhooks over real HTTP: registration in Trello's shapes, the HEAD probe
at creation, deliveries signed as Trello signs (new actions, comment edits and
deletions), Trello's retries, and the switches that drop or delay deliveries."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from sandbox_board import MENTOR, BoardEnv

from trello_sync.domain.webhooks import signature_matches


@dataclass
class Recorder:
    """A callback URL that records what it is sent and answers `status`."""

    status: int = 200
    head_status: int = 200
    hold: threading.Event | None = None  # while set to an unset event, POSTs wait on it
    received: list[dict[str, Any]] = field(default_factory=list)
    heads: int = 0
    url: str = ""

    def deliveries(self, action_type: str | None = None) -> list[dict[str, Any]]:
        return [d for d in self.received if action_type in (None, d["body"]["action"]["type"])]


def wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(0.02)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    record = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            record.heads += 1
            self.send_response(record.head_status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            if record.hold is not None:
                record.hold.wait(10)
            record.received.append(
                {"raw": raw, "body": json.loads(raw), "headers": dict(self.headers)}
            )
            self.send_response(record.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    record.url = f"http://127.0.0.1:{server.server_address[1]}/trello"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield record
    server.shutdown()
    server.server_close()


class Api:
    def __init__(self, board: BoardEnv, token: str | None = None) -> None:
        self.board = board
        self.auth = {"key": board.state.api_key, "token": token or board.mentor_token}

    def call(self, method: str, path: str, **data: Any) -> requests.Response:
        return requests.request(
            method, f"{self.board.server.url}{path}", params=self.auth, data=data, timeout=15
        )

    def create(self, url: str, board_id: str | None = None, **extra: Any) -> requests.Response:
        return self.call(
            "POST",
            "/webhooks",
            idModel=board_id or self.board.board_id,
            callbackURL=url,
            description="trello-sync: test",
            **extra,
        )


@pytest.fixture
def api(board: BoardEnv) -> Api:
    board.server.webhooks.retry_delays = (0.05, 0.1, 0.2)
    return Api(board)


def test_a_webhook_is_registered_listed_and_deleted_in_trellos_shapes(
    board: BoardEnv, api: Api, recorder: Recorder
):
    created = api.create(recorder.url)
    assert created.status_code == 200, created.text
    hook = created.json()
    assert hook == {
        "id": hook["id"],
        "description": "trello-sync: test",
        "idModel": board.board_id,
        "callbackURL": recorder.url,
        "active": True,
        "consecutiveFailures": 0,
        "firstConsecutiveFailDate": None,
    }
    assert recorder.heads == 1  # probed before it was created
    listed = api.call("GET", f"/tokens/{board.mentor_token}/webhooks").json()
    assert listed == [hook]
    # The same token, board and URL again: Trello's sentence, nothing created.
    again = api.create(recorder.url)
    assert (again.status_code, again.text) == (
        400,
        "A webhook with that callback, model, and token already exists",
    )
    # Another token sees none of them, and cannot list this token's.
    student = Api(board, board.student_token)
    assert student.call("GET", f"/tokens/{board.student_token}/webhooks").json() == []
    assert student.call("GET", f"/tokens/{board.mentor_token}/webhooks").status_code == 401
    assert student.call("GET", f"/webhooks/{hook['id']}").status_code == 404
    paused = api.call("PUT", f"/webhooks/{hook['id']}", active="false").json()
    assert paused["active"] is False
    assert api.call("GET", f"/webhooks/{hook['id']}").json()["active"] is False
    assert api.call("DELETE", f"/webhooks/{hook['id']}").json() == {"_value": None}
    assert api.call("GET", f"/tokens/{board.mentor_token}/webhooks").json() == []


@pytest.mark.parametrize("answer", [404, "dead"])
def test_a_callback_that_does_not_answer_200_to_head_is_refused_with_trellos_sentence(
    board: BoardEnv, api: Api, recorder: Recorder, answer: int | str
):
    if answer == "dead":
        url, got = "http://127.0.0.1:9/trello", "no answer"
    else:
        recorder.head_status, url, got = 404, recorder.url, "404"
    refused = api.create(url)
    assert (refused.status_code, refused.text) == (
        400,
        f"URL ({url}) did not return 200 status code, got {got}",
    )
    assert api.call("GET", f"/tokens/{board.mentor_token}/webhooks").json() == []


def test_bad_registrations_are_refused(board: BoardEnv, api: Api, recorder: Recorder):
    assert api.create("not a url").status_code == 400
    assert api.create(recorder.url, board_id="nope").text == "invalid value for idModel"
    assert api.create(recorder.url, board_id="5f" * 12).text == "invalid value for idModel"
    readonly = board.state.add_token(MENTOR, scope="read")
    assert Api(board, readonly).create(recorder.url).status_code == 401
    assert recorder.heads == 0


def test_new_actions_edits_and_deletions_are_delivered_signed_and_never_in_the_feed(
    board: BoardEnv, api: Api, recorder: Recorder
):
    assert api.create(recorder.url).status_code == 200
    board.student("Lea")
    comment = board.state.comment(MENTOR, board.cards["Lea"], "/session 45m")
    board.state.edit_comment(MENTOR, comment["id"], "/session 1h")
    board.state.delete_comment(MENTOR, comment["id"])
    wait_for(lambda: len(recorder.deliveries("deleteComment")) == 1)
    types = [d["body"]["action"]["type"] for d in recorder.received]
    assert types == ["createCard", "updateCard", "commentCard", "updateComment", "deleteComment"]
    for delivery in recorder.received:
        signature = delivery["headers"]["X-Trello-Webhook"]
        secret = board.state.api_secret
        assert signature_matches(secret, delivery["raw"], recorder.url, signature)
        assert delivery["body"]["model"]["id"] == board.board_id
    edited = recorder.deliveries("updateComment")[0]["body"]["action"]
    assert edited["data"]["action"] == {"id": comment["id"], "text": "/session 1h"}
    assert edited["data"]["old"] == {"text": "/session 45m"}
    assert edited["data"]["card"]["id"] == board.cards["Lea"]
    assert edited["memberCreator"]["username"] == MENTOR
    deleted = recorder.deliveries("deleteComment")[0]["body"]["action"]
    assert deleted["data"]["action"] == {"id": comment["id"]}
    feed = {a["type"] for a in board.state.all_actions()}
    assert not feed & {"updateComment", "deleteComment"}


def test_a_delivery_is_sent_from_a_thread_not_inside_the_change(
    board: BoardEnv, api: Api, recorder: Recorder
):
    assert api.create(recorder.url).status_code == 200
    board.student("Lea")
    wait_for(lambda: len(recorder.received) == 2)
    recorder.hold = threading.Event()  # the receiver takes its time
    posted = requests.post(
        f"{board.server.url}/cards/{board.cards['Lea']}/actions/comments",
        params=api.auth,
        data={"text": "/session"},
        timeout=5,
    )
    assert posted.status_code == 200 and len(recorder.received) == 2  # answered first
    recorder.hold.set()
    wait_for(lambda: len(recorder.received) == 3)


def test_a_failed_delivery_is_retried_and_counted_then_a_success_resets_the_count(
    board: BoardEnv, api: Api, recorder: Recorder
):
    hook = api.create(recorder.url).json()
    recorder.status = 500
    board.student("Lea")  # two actions, each tried four times
    hub = board.server.webhooks
    wait_for(lambda: len(hub.attempts) == 8 and hub.pending() == 0)
    assert sorted(a["attempt"] for a in hub.attempts) == [0, 0, 1, 1, 2, 2, 3, 3]
    listed = api.call("GET", f"/webhooks/{hook['id']}").json()
    assert listed["consecutiveFailures"] == 8 and listed["firstConsecutiveFailDate"]
    recorder.status = 200
    board.comment("Lea", "/session")
    wait_for(lambda: api.call("GET", f"/webhooks/{hook['id']}").json()["consecutiveFailures"] == 0)
    assert api.call("GET", f"/webhooks/{hook['id']}").json()["firstConsecutiveFailDate"] is None


def test_the_switches_drop_or_delay_deliveries(board: BoardEnv, api: Api, recorder: Recorder):
    assert api.create(recorder.url).status_code == 200
    switches = f"{board.server.base_url}/_sandbox/webhooks"
    assert requests.post(switches, json={"drop_next": 2}, timeout=5).json()["drop_next"] == 2
    board.student("Lea")  # createCard and updateCard: both lost
    board.comment("Lea", "/session")
    wait_for(lambda: len(recorder.received) == 1)
    assert recorder.received[0]["body"]["action"]["type"] == "commentCard"
    attempts = requests.get(switches, timeout=5).json()["attempts"]
    assert [a["dropped"] for a in attempts] == [True, True, False]
    assert requests.post(switches, json={"delay_s": 0.3}, timeout=5).status_code == 200
    board.comment("Lea", "/noshow")
    time.sleep(0.1)
    assert len(recorder.received) == 1  # held back
    wait_for(lambda: len(recorder.received) == 2)
    assert requests.post(switches, json={"delay_s": 99}, timeout=5).status_code == 400
    assert requests.post(switches, json={"other": 1}, timeout=5).status_code == 400
