"""The Trello sandbox over real HTTP: auth, errors, limits, batch, writes, log, faults, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from trello_sync.sandbox import DemoBoard, SandboxServer, SandboxState, build_demo_board
from trello_sync.sandbox.shapes import Json

ROOT = Path(__file__).resolve().parents[2]


class Sandbox:
    def __init__(self, server: SandboxServer, demo: DemoBoard) -> None:
        self.server, self.demo = server, demo
        self.http = requests.Session()

    def auth(self, token: str | None = None, key: str | None = None) -> dict[str, str]:
        key = key or self.demo.api_key
        token = token or self.demo.mentor_token
        return {"Authorization": f'OAuth oauth_consumer_key="{key}", oauth_token="{token}"'}

    def get(self, path: str, **kw: object) -> requests.Response:
        kw.setdefault("headers", self.auth())
        return self.http.get(self.server.url + path, timeout=5, **kw)  # type: ignore[arg-type]

    def send(self, method: str, path: str, **kw: object) -> requests.Response:
        kw.setdefault("headers", self.auth())
        return self.http.request(method, self.server.url + path, timeout=5, **kw)  # type: ignore[arg-type]

    def requests_log(self) -> list[Json]:
        entries: list[Json] = self.http.get(self.server.base_url + "/_sandbox/requests").json()
        return entries


def _start(**options: object) -> Iterator[Sandbox]:
    state = SandboxState(seed=11)
    demo = build_demo_board(state, today=date(2026, 11, 28), tz=ZoneInfo("Europe/Paris"))
    with SandboxServer(state, **options) as server:  # type: ignore[arg-type]
        sandbox = Sandbox(server, demo)
        yield sandbox
        sandbox.http.close()


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    yield from _start()


def test_auth_errors_are_plain_text_401(sb: Sandbox) -> None:
    board = f"/boards/{sb.demo.board_id}"
    for headers, message in (
        (sb.auth(key="0" * 32), "invalid key"),
        (sb.auth(token="f" * 64), "invalid token"),
        ({}, "invalid key"),
    ):
        r = sb.get(board, headers=headers)
        assert (r.status_code, r.text) == (401, message)
        assert r.headers["Content-Type"].startswith("text/plain")
    r = sb.get(board, headers={}, params={"key": sb.demo.api_key})
    assert (r.status_code, r.text) == (401, "invalid token")
    r = sb.get(board, headers={}, params={"key": sb.demo.api_key, "token": sb.demo.mentor_token})
    assert r.status_code == 200 and r.json()["id"] == sb.demo.board_id


def test_reads_answer_json_in_trello_shapes(sb: Sandbox) -> None:
    me = sb.get("/members/me")
    assert me.headers["Content-Type"] == "application/json; charset=utf-8"
    assert me.json()["username"] == "camille_mentor"
    board = sb.get(f"/boards/{sb.demo.short_link}").json()
    assert board["id"] == sb.demo.board_id
    lists = sb.get(f"/boards/{sb.demo.board_id}/lists").json()
    assert [x["name"] for x in lists][:2] == ["En attente", "Active"]
    cards = sb.get(f"/boards/{sb.demo.board_id}/cards", params={"customFieldItems": "true"}).json()
    alice = next(c for c in cards if c["name"] == "Alice Nguyen")
    assert alice["customFieldItems"][0]["value"] == {"text": "Build a Python web app"}
    hugo = next(c for c in cards if c["name"] == "Hugo Lambert")
    assert [lb["name"] for lb in hugo["labels"]] == ["Level 3"]
    fields = sb.get(f"/boards/{sb.demo.board_id}/customFields").json()
    assert [(f["name"], f["type"]) for f in fields] == [("Project", "text")]
    assert len(sb.get(f"/boards/{sb.demo.board_id}/labels").json()) == 6
    assert sb.get(f"/boards/{sb.demo.board_id}/cards/closed").json() == []
    actions = sb.get(f"/boards/{sb.demo.board_id}/actions", params={"limit": 1000}).json()
    assert actions == sorted(actions, key=lambda a: (a["date"], a["id"]), reverse=True)
    assert len(sb.get(f"/boards/{sb.demo.board_id}/actions").json()) == 50
    comments = sb.get(f"/cards/{alice['id']}/actions", params={"filter": "commentCard"}).json()
    assert comments[-1]["data"]["text"].startswith("/session 1h")


def test_since_and_before_take_dates_as_well_as_ids(sb: Sandbox) -> None:
    feed = f"/boards/{sb.demo.board_id}/actions"
    everything = sb.get(feed, params={"limit": 1000}).json()
    oldest_first = sorted(everything, key=lambda a: (a["date"], a["id"]))
    low, high = oldest_first[10], oldest_first[-10]
    expected = [a for a in everything if low["date"] < a["date"] < high["date"]]
    for since, before in ((low["date"], high["date"]), (low["date"], high["id"])):
        window = sb.get(feed, params={"limit": 1000, "since": since, "before": before})
        assert window.status_code == 200
        got = window.json()
        assert [a["id"] for a in got if a["date"] != high["date"]] == [a["id"] for a in expected]
    # A date without milliseconds, or a day, is a date too; anything else is a 400.
    day = low["date"][:10]
    assert sb.get(feed, params={"limit": 1000, "before": day}).json() == [
        a for a in everything if a["date"] < day
    ]
    assert sb.get(feed, params={"since": low["date"][:19] + "Z", "limit": 5}).status_code == 200
    bad = sb.get(feed, params={"before": "last tuesday"})
    assert (bad.status_code, bad.text) == (400, "invalid value for before")


def test_not_found_and_bad_request_are_plain_text(sb: Sandbox) -> None:
    for path in ("/boards/" + "0" * 24, "/cards/" + "0" * 24, "/no/such/route"):
        r = sb.get(path)
        assert (r.status_code, r.text) == (404, "The requested resource was not found.")
        assert r.headers["Content-Type"].startswith("text/plain")
    r = sb.get(f"/boards/{sb.demo.board_id}/actions", params={"limit": 1001})
    assert (r.status_code, r.text) == (400, "invalid value for limit")
    r = sb.get(f"/boards/{sb.demo.board_id}/actions", params={"limit": 500, "page": 2})
    assert r.status_code == 400


def test_the_token_limit_answers_429_with_json_and_headers() -> None:
    for sb in _start(token_limit=3, key_limit=5):
        for remaining in (2, 1, 0):
            r = sb.get("/members/me")
            assert r.status_code == 200
            assert r.headers["x-rate-limit-api-token-remaining"] == str(remaining)
            assert r.headers["x-rate-limit-api-token-max"] == "3"
            assert r.headers["x-rate-limit-api-token-interval-ms"] == "10000"
            assert r.headers["x-rate-limit-api-key-max"] == "5"
        r = sb.get("/members/me")
        assert r.status_code == 429
        assert r.json() == {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"}
        assert r.headers["x-rate-limit-api-token-remaining"] == "0"
        student = sb.auth(token=sb.demo.student_token)
        assert [sb.get("/members/me", headers=student).status_code for _ in range(3)] == [
            200,
            200,
            429,
        ]
        assert sb.get("/members/me", headers=student).json()["error"] == "API_KEY_LIMIT_EXCEEDED"


def test_the_rate_window_resets_on_the_monotonic_clock() -> None:
    now = [0.0]
    for sb in _start(token_limit=1, monotonic=lambda: now[0]):
        assert sb.get("/members/me").status_code == 200
        assert sb.get("/members/me").status_code == 429
        now[0] += 10.0
        assert sb.get("/members/me").status_code == 200


def test_batch_answers_in_order_with_error_objects(sb: Sandbox) -> None:
    urls = [
        "/members/me",
        f"/boards/{sb.demo.board_id}/actions?filter=createCard%2CcommentCard&limit=3",
        "/boards/" + "0" * 24,
    ]
    r = sb.get("/batch", params={"urls": ",".join(urls)})
    assert r.status_code == 200
    me, actions, missing = r.json()
    assert me["200"]["username"] == "camille_mentor"
    assert len(actions["200"]) == 3
    assert {a["type"] for a in actions["200"]} <= {"createCard", "commentCard"}
    assert missing == {
        "name": "NotFoundError",
        "message": "The requested resource was not found.",
        "statusCode": 404,
    }
    too_many = sb.get("/batch", params={"urls": ",".join(["/members/me"] * 11)})
    assert too_many.status_code == 400


def test_writes_like_a_person_and_py_trello(sb: Sandbox) -> None:
    card_id = sb.demo.card_ids["Inès Garnier"]
    posted = sb.send(
        "POST",
        f"/cards/{card_id}/actions/comments",
        data=json.dumps({"text": "/session 45m"}),
        headers={**sb.auth(), "Content-Type": "application/json; charset=utf-8"},
    )
    assert posted.status_code == 200
    action = posted.json()
    assert action["type"] == "commentCard" and action["data"]["text"] == "/session 45m"
    assert action["memberCreator"]["username"] == "camille_mentor"
    edited = sb.send("PUT", f"/actions/{action['id']}", data={"text": "/session 1h"}).json()
    assert edited["id"] == action["id"] and edited["data"]["dateLastEdited"]
    assert (
        sb.send("POST", f"/cards/{card_id}/actions/comments", data={"text": ""}).status_code == 400
    )
    deleted = sb.send("DELETE", f"/actions/{action['id']}")
    assert deleted.json() == {"_value": None}
    moved = sb.send("PUT", f"/cards/{card_id}", params={"idList": sb.demo.list_ids["Active"]})
    assert moved.json()["idList"] == sb.demo.list_ids["Active"]
    last = sb.get(f"/boards/{sb.demo.board_id}/actions", params={"limit": 1}).json()[0]
    assert last["data"]["listAfter"]["name"] == "Active" and "list" not in last["data"]
    new = sb.send("POST", "/cards", json={"idList": sb.demo.list_ids["En attente"], "name": "Zoé"})
    assert new.json()["idShort"] > 0
    field = sb.get(f"/boards/{sb.demo.board_id}/customFields").json()[0]
    item = sb.send(
        "PUT",
        f"/cards/{new.json()['id']}/customField/{field['id']}/item",
        json={"value": {"text": "P"}},
    )
    assert item.json()["value"] == {"text": "P"}
    assert sb.send("DELETE", f"/cards/{new.json()['id']}").status_code == 200
    student = sb.auth(token=sb.demo.student_token)
    own = sb.send(
        "POST", f"/cards/{card_id}/actions/comments", data={"text": "hi"}, headers=student
    )
    r = sb.send("PUT", f"/actions/{own.json()['id']}", data={"text": "x"})
    assert (r.status_code, r.text) == (401, "unauthorized permission requested")


def test_the_request_log_never_holds_secrets(sb: Sandbox) -> None:
    sb.get(
        "/members/me", headers={}, params={"key": sb.demo.api_key, "token": sb.demo.mentor_token}
    )
    sb.send(
        "POST", f"/cards/{sb.demo.card_ids['Gaëlle Roux']}/actions/comments", data={"text": "hello"}
    )
    sb.get("/members/me", headers=sb.auth(token="bad"))
    log = sb.requests_log()
    assert [(e["method"], e["status"], e["member"]) for e in log] == [
        ("GET", 200, "camille_mentor"),
        ("POST", 200, "camille_mentor"),
        ("GET", 401, None),
    ]
    assert log[0]["query"] == {} and log[0]["path"] == "/1/members/me"
    assert log[1]["body"] == {"text": "hello"}
    assert [e["seq"] for e in log] == [1, 2, 3]
    dumped = json.dumps(log)
    assert sb.demo.mentor_token not in dumped and sb.demo.api_key not in dumped
    sb.http.delete(sb.server.base_url + "/_sandbox/requests", timeout=5)
    assert sb.requests_log() == []
    health = sb.http.get(sb.server.base_url + "/_sandbox/health", timeout=5)
    assert health.json()["status"] == "ok"


def test_fault_switch_answers_a_status_n_times(sb: Sandbox) -> None:
    admin = sb.server.base_url + "/_sandbox/faults"
    armed = sb.http.post(admin, json={"status": 503, "times": 2, "path_contains": "/actions"})
    assert armed.status_code == 200
    board_actions = f"/boards/{sb.demo.board_id}/actions"
    assert sb.get("/members/me").status_code == 200
    assert [sb.get(board_actions).status_code for _ in range(3)] == [503, 503, 200]
    sb.http.post(admin, json={"status": 429, "error": "API_KEY_LIMIT_EXCEEDED"})
    r = sb.get("/members/me")
    assert r.status_code == 429 and r.json()["error"] == "API_KEY_LIMIT_EXCEEDED"
    assert sb.http.post(admin, json={"status": 418}).status_code == 400


def test_python_m_sandbox_prints_settings_and_serves_until_sigterm() -> None:
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
        lines = [proc.stdout.readline().strip() for _ in range(4)]
        settings = dict(line.split("=", 1) for line in lines)
        assert list(settings) == [
            "TRELLO_SYNC_API_URL",
            "TRELLO_API_KEY",
            "TRELLO_TOKEN",
            "TRELLO_SYNC_BOARDS",
        ]
        url = settings["TRELLO_SYNC_API_URL"]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/1")
        params = {"key": settings["TRELLO_API_KEY"], "token": settings["TRELLO_TOKEN"]}
        board = settings["TRELLO_SYNC_BOARDS"]
        r = requests.get(f"{url}/boards/{board}/actions", params=params, timeout=5)
        assert r.status_code == 200 and len(r.json()) == 50
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert settings["TRELLO_TOKEN"] not in err
