"""The sandbox's fault switches, set over its admin route (`POST /_sandbox/faults`) as a
test in another process sets them, and seen by a plain HTTP client and by HttpTrello.

Every switch: `times`, `path_contains` and `method` choose the requests it applies to.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from trello_sync.clock import FakeClock
from trello_sync.sandbox import SandboxServer, SandboxState
from trello_sync.trello.client import HttpTrello
from trello_sync.trello.port import PostOutcomeUnknown

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
READ_TIMEOUT = 0.3


class Clock:
    """The sandbox state's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = T0 + timedelta(days=3)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Sandbox:
    state: SandboxState
    server: SandboxServer
    clock: Clock
    board: str
    lists: dict[str, str]
    card: str
    token: str
    http: requests.Session

    def arm(self, **fault: Any) -> requests.Response:
        return self.http.post(f"{self.server.base_url}/_sandbox/faults", json=fault, timeout=5)

    def armed(self) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = self.http.get(
            f"{self.server.base_url}/_sandbox/faults", timeout=5
        ).json()
        return answer

    def send(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {
            "Authorization": f'OAuth oauth_consumer_key="{self.state.api_key}", '
            f'oauth_token="{self.token}"'
        }
        return self.http.request(
            method, self.server.url + path, headers=headers, timeout=(2, READ_TIMEOUT), **kw
        )

    def client(self) -> HttpTrello:
        return HttpTrello(
            self.server.url,
            self.state.api_key,
            self.token,
            clock=FakeClock(),
            timeout=(2.0, READ_TIMEOUT),
        )

    def log(self) -> list[dict[str, Any]]:
        return [e for e in self.server.log.entries() if e["path"].startswith("/1/")]

    def comments(self) -> list[dict[str, Any]]:
        """Every comment the sandbox holds, visible or not (its admin view)."""
        return [a for a in self.state.all_actions() if a["type"] == "commentCard"]


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    clock = Clock()
    state = SandboxState(seed=5, clock=clock)
    state.add_member("camille", "Camille Martin")
    token = state.add_token("camille")
    board = state.create_board("camille", "Mentoring", at=T0)
    lists = {n: str(state.create_list("camille", board["id"], n, at=T0)["id"]) for n in "AB"}
    card = state.create_card("camille", lists["A"], "Lea", at=T0)
    for i in range(6):
        state.comment("camille", card["id"], f"note {i}", at=T0 + timedelta(minutes=i))
    with SandboxServer(state) as server, requests.Session() as http:
        yield Sandbox(state, server, clock, board["id"], lists, card["id"], token, http)


def comment_path(sb: Sandbox) -> str:
    return f"/cards/{sb.card}/actions/comments"


# --- the admin route -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"kind": "explode"}, "unknown fault kind"),
        ({"kind": "drop", "delay_s": -1}, "delay_s for drop"),
        ({"kind": "late", "delay_s": 0}, "delay_s for late"),
        ({"kind": "hide", "delay_s": 90000}, "delay_s for hide"),
        ({"kind": "shuffle", "times": 0}, "times must be at least 1"),
        ({"kind": "empty", "colour": "red"}, "unknown fault fields: colour"),
    ],
)
def test_a_bad_fault_is_refused_with_a_400(sb: Sandbox, fault: dict[str, Any], message: str):
    answer = sb.arm(**fault)
    assert answer.status_code == 400 and message in answer.text
    assert sb.armed() == []


def test_armed_faults_are_listed_and_cleared(sb: Sandbox) -> None:
    sb.arm(kind="drop", method="post", path_contains="/comments", times=2)
    sb.arm(kind="hide", delay_s=30)
    listed = sb.armed()
    assert [(f["kind"], f["method"], f["times"], f["delay_s"]) for f in listed] == [
        ("drop", "POST", 2, 0.0),
        ("hide", None, 1, 30.0),
    ]
    sb.http.delete(f"{sb.server.base_url}/_sandbox/faults", timeout=5)
    assert sb.armed() == []


# --- apply, then drop the connection ---------------------------------------------------


def test_drop_applies_the_post_then_closes_without_an_answer(sb: Sandbox) -> None:
    assert sb.arm(kind="drop", method="POST", path_contains="/actions/comments").ok
    with pytest.raises(requests.ConnectionError):
        sb.send("POST", comment_path(sb), json={"text": "dropped"})
    assert [c["data"]["text"] for c in sb.comments()].count("dropped") == 1  # applied
    posted = [e for e in sb.log() if e["method"] == "POST"]
    assert [(e["status"], e["answered"], e["faults"]) for e in posted] == [(200, False, ["drop"])]
    # times=1: the next POST is answered as usual.
    assert sb.send("POST", comment_path(sb), json={"text": "answered"}).status_code == 200
    assert sb.armed() == []


def test_a_dropped_post_is_an_unknown_outcome_for_the_client(sb: Sandbox) -> None:
    sb.arm(kind="drop", method="POST", times=1)
    with sb.client() as client, pytest.raises(PostOutcomeUnknown, match="connection dropped"):
        client.post_comment(sb.card, "hello")
    assert [c["data"]["text"] for c in sb.comments()].count("hello") == 1
    assert len([e for e in sb.log() if e["method"] == "POST"]) == 1  # never re-sent


def test_a_dropped_get_is_read_again(sb: Sandbox) -> None:
    sb.arm(kind="drop", method="GET", path_contains="/actions", times=2)
    with sb.client() as client:
        feed = client.board_actions(sb.board)
    assert len(feed) == 7  # the card's creation and its six comments
    statuses = [(e["status"], e.get("answered", True)) for e in sb.log()]
    assert statuses == [(200, False), (200, False), (200, True)]


# --- apply, then answer after the client has given up ----------------------------------


def test_late_applies_and_answers_after_the_clients_read_timeout(sb: Sandbox) -> None:
    sb.arm(kind="late", method="POST", delay_s=READ_TIMEOUT * 2)
    with sb.client() as client, pytest.raises(PostOutcomeUnknown, match="read timeout"):
        client.post_comment(sb.card, "late one")
    assert [c["data"]["text"] for c in sb.comments()].count("late one") == 1
    (post,) = [e for e in sb.log() if e["method"] == "POST"]
    assert post["status"] == 200 and post["faults"] == ["late"]


# --- show new comments only after a delay ----------------------------------------------


def test_hide_keeps_a_new_comment_out_of_every_feed_for_its_delay(sb: Sandbox) -> None:
    sb.arm(kind="hide", delay_s=30, method="POST")
    created = sb.send("POST", comment_path(sb), json={"text": "shown late"})
    assert created.status_code == 200  # answered as usual
    new_id = created.json()["id"]

    def visible() -> dict[str, bool]:
        board = sb.send("GET", f"/boards/{sb.board}/actions", params={"limit": 1000}).json()
        card = sb.send("GET", f"/cards/{sb.card}/actions", params={"limit": 1000}).json()
        return {
            "board": new_id in {a["id"] for a in board},
            "card": new_id in {a["id"] for a in card},
        }

    assert visible() == {"board": False, "card": False}
    assert new_id in {c["id"] for c in sb.comments()}  # it exists all the same
    sb.clock.now += timedelta(seconds=29)
    assert visible() == {"board": False, "card": False}
    sb.clock.now += timedelta(seconds=1)
    assert visible() == {"board": True, "card": True}
    with sb.client() as client:
        assert new_id in {c["id"] for c in client.card_comments(sb.card)}


def test_hide_only_takes_comment_posts_and_combines_with_drop(sb: Sandbox) -> None:
    sb.arm(kind="hide", delay_s=10)
    sb.arm(kind="drop", method="POST")
    # A read does not use the hide fault up.
    assert sb.send("GET", f"/boards/{sb.board}/actions").status_code == 200
    assert len(sb.armed()) == 2
    with pytest.raises(requests.ConnectionError):
        sb.send("POST", comment_path(sb), json={"text": "lost and late"})
    (made,) = [c for c in sb.comments() if c["data"]["text"] == "lost and late"]
    feed = sb.send("GET", f"/cards/{sb.card}/actions").json()
    assert made["id"] not in {a["id"] for a in feed}
    sb.clock.now += timedelta(seconds=10)
    feed = sb.send("GET", f"/cards/{sb.card}/actions").json()
    assert made["id"] in {a["id"] for a in feed}


# --- a page out of order ---------------------------------------------------------------


def test_shuffle_returns_the_same_page_in_another_order(sb: Sandbox) -> None:
    path = f"/boards/{sb.board}/actions"
    trello_order = [a["id"] for a in sb.send("GET", path, params={"limit": 5}).json()]
    sb.arm(kind="shuffle", seed=3, times=2)
    shuffled = [a["id"] for a in sb.send("GET", path, params={"limit": 5}).json()]
    assert shuffled != trello_order and sorted(shuffled) == sorted(trello_order)
    card = sb.send("GET", f"/cards/{sb.card}/actions").json()  # card feeds too
    assert [a["date"] for a in card] != sorted((a["date"] for a in card), reverse=True)
    again = [a["id"] for a in sb.send("GET", path, params={"limit": 5}).json()]
    assert again == trello_order  # used up


def test_the_pager_reads_whole_feeds_from_shuffled_pages(sb: Sandbox) -> None:
    with sb.client() as client:
        expected = [a["id"] for a in client.board_actions(sb.board)]
        sb.arm(kind="shuffle", times=10, path_contains="/actions")
        got = [a["id"] for a in client.board_actions(sb.board, page_size=3)]
    assert got == expected
    assert sum(1 for e in sb.log() if e.get("faults") == ["shuffle"]) == 3  # 7 = 3 + 3 + 1


# --- an empty board --------------------------------------------------------------------


def test_empty_answers_no_lists_and_no_cards_while_the_board_exists(sb: Sandbox) -> None:
    sb.arm(kind="empty", times=3, path_contains=sb.board)
    assert sb.send("GET", f"/boards/{sb.board}").json()["id"] == sb.board  # not taken
    assert sb.send("GET", f"/boards/{sb.board}/actions").json() != []  # not taken
    assert sb.send("GET", f"/boards/{sb.board}/lists").json() == []
    assert sb.send("GET", f"/boards/{sb.board}/cards").json() == []
    assert sb.send("GET", f"/boards/{sb.board}/cards/closed").json() == []
    assert len(sb.send("GET", f"/boards/{sb.board}/lists").json()) == 2  # used up


def test_empty_takes_a_batch_and_empties_only_its_lists_and_cards(sb: Sandbox) -> None:
    sb.arm(kind="empty")
    with sb.client() as client:
        snapshot = client.board_snapshot(sb.board)
        assert snapshot.board["id"] == sb.board
        assert snapshot.lists == () and snapshot.cards == ()
        again = client.board_snapshot(sb.board)
    assert len(again.lists) == 2 and len(again.cards) == 1
    assert [e["path"] for e in sb.log()] == ["/1/batch", "/1/batch"]


# --- the older switches still behave ----------------------------------------------------


def test_a_status_fault_stops_the_request_and_no_other_fault_is_used(sb: Sandbox) -> None:
    sb.arm(status=503, method="POST")
    sb.arm(kind="hide", delay_s=5)
    answer = sb.send("POST", comment_path(sb), json={"text": "refused"})
    assert answer.status_code == 503
    assert "refused" not in [c["data"]["text"] for c in sb.comments()]
    assert [f["kind"] for f in sb.armed()] == ["hide"]


def test_the_sandbox_in_its_own_process_takes_faults_over_http() -> None:
    """The switches as a test in another process sets them: drop, then hide."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "trello_sync.sandbox"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        settings = dict(proc.stdout.readline().strip().split("=", 1) for _ in range(4))
        api = settings["TRELLO_SYNC_API_URL"]
        admin = api.removesuffix("/1") + "/_sandbox"
        auth = {"key": settings["TRELLO_API_KEY"], "token": settings["TRELLO_TOKEN"]}
        board = settings["TRELLO_SYNC_BOARDS"]
        with requests.Session() as http:
            card = http.get(f"{api}/boards/{board}/cards", params=auth, timeout=5).json()[0]
            where = f"{api}/cards/{card['id']}/actions/comments"
            http.post(f"{admin}/faults", json={"kind": "drop", "method": "POST"}, timeout=5)
            http.post(f"{admin}/faults", json={"kind": "hide", "delay_s": 600}, timeout=5)
            with pytest.raises(requests.ConnectionError):
                http.post(where, params=auth, json={"text": "across processes"}, timeout=5)
            everything = http.get(f"{admin}/actions", timeout=5).json()
            made = [a for a in everything if a["data"].get("text") == "across processes"]
            assert len(made) == 1  # applied
            feed = http.get(
                f"{api}/cards/{card['id']}/actions", params={**auth, "limit": 1000}, timeout=5
            ).json()
            assert made[0]["id"] not in {a["id"] for a in feed}  # not shown yet
            log = http.get(f"{admin}/requests", timeout=5).json()
            assert [(e["status"], e.get("answered")) for e in log if e["method"] == "POST"] == [
                (200, False)
            ]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    assert proc.returncode == 0
