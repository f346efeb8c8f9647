"""The sandbox routes `trello-sync setup` relies on, over real HTTP: token info (scope and
expiry), read-only tokens refused on writes, a member's boards, and the sandbox's hints."""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from trello_sync.sandbox import (
    DemoBoard,
    SandboxServer,
    SandboxState,
    build_demo_board,
    run_sandbox,
)
from trello_sync.sandbox.shapes import BadRequest, Json

START = datetime(2026, 11, 28, 9, 30, 15, 250000, tzinfo=UTC)
NOT_FOUND = "The requested resource was not found."
REFUSED = "unauthorized permission requested"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class Sandbox:
    def __init__(self, server: SandboxServer, demo: DemoBoard, now: list[datetime]) -> None:
        self.server, self.demo, self.now = server, demo, now
        self.state = server.state
        self.http = requests.Session()

    def auth(self, token: str | None = None) -> dict[str, str]:
        token = token or self.demo.mentor_token
        key = self.demo.api_key
        return {"Authorization": f'OAuth oauth_consumer_key="{key}", oauth_token="{token}"'}

    def send(
        self, method: str, path: str, token: str | None = None, **kw: Any
    ) -> requests.Response:
        return self.http.request(
            method, self.server.url + path, headers=self.auth(token), timeout=5, **kw
        )

    def get(self, path: str, token: str | None = None, **kw: Any) -> requests.Response:
        return self.send("GET", path, token, **kw)

    def actions(self) -> list[Json]:
        found: list[Json] = self.http.get(self.server.base_url + "/_sandbox/actions").json()
        return found


def _start(**options: object) -> Iterator[Sandbox]:
    now = [START]
    state = SandboxState(seed=11, clock=lambda: now[0])
    demo = build_demo_board(state, today=date(2026, 11, 28), tz=ZoneInfo("Europe/Paris"))
    with SandboxServer(state, **options) as server:  # type: ignore[arg-type]
        sandbox = Sandbox(server, demo, now)
        yield sandbox
        sandbox.http.close()


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    yield from _start()


def _member_id(sb: Sandbox, username: str) -> str:
    return str(sb.state.member(username)["id"])


# --- tokens ------------------------------------------------------------------------------


def test_token_info_of_a_read_write_token_in_trellos_shape(sb: Sandbox) -> None:
    r = sb.get(f"/tokens/{sb.demo.mentor_token}")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    info = r.json()
    assert list(info) == [
        "id",
        "identifier",
        "idMember",
        "dateCreated",
        "dateExpires",
        "permissions",
    ]
    assert re.fullmatch(r"[0-9a-f]{24}", info["id"])
    assert info["identifier"] == "trello-sync"
    assert info["idMember"] == _member_id(sb, "camille_mentor")
    assert info["dateCreated"] == "2026-11-28T09:30:15.250Z"
    assert info["dateExpires"] is None
    assert info["permissions"] == [
        {"idModel": "*", "modelType": "Board", "read": True, "write": True},
        {"idModel": "*", "modelType": "Organization", "read": True, "write": True},
    ]
    # Another token's info: the student's, asked with the mentor's token.
    student = sb.get(f"/tokens/{sb.demo.student_token}").json()
    assert student["idMember"] == _member_id(sb, "alice_student")
    assert student["id"] != info["id"]


def test_token_info_of_a_read_only_expiring_token(sb: Sandbox) -> None:
    token = sb.state.add_token("camille_mentor", scope="read", expiration="1day")
    info = sb.get(f"/tokens/{token}").json()
    assert ISO_MS.match(info["dateCreated"]) and ISO_MS.match(info["dateExpires"])
    assert info["dateExpires"] == "2026-11-29T09:30:15.250Z"
    assert [(p["modelType"], p["read"], p["write"]) for p in info["permissions"]] == [
        ("Board", True, False),
        ("Organization", True, False),
    ]
    demo = sb.get(f"/tokens/{sb.demo.readonly_token}", token=sb.demo.readonly_token).json()
    assert demo["dateExpires"] is None
    assert demo["idMember"] == _member_id(sb, "camille_mentor")
    assert {p["write"] for p in demo["permissions"]} == {False}


def test_tokens_member_is_the_tokens_owner_like_members_me(sb: Sandbox) -> None:
    me = sb.get("/members/me").json()
    assert sb.get(f"/tokens/{sb.demo.mentor_token}/member").json() == me
    student = sb.get(f"/tokens/{sb.demo.student_token}/member").json()
    assert student["username"] == "alice_student"
    assert student == sb.get("/members/me", token=sb.demo.student_token).json()


def test_an_unknown_token_in_the_path_is_404_but_the_request_still_needs_auth(
    sb: Sandbox,
) -> None:
    for path in (f"/tokens/{'e' * 64}", f"/tokens/{'e' * 64}/member"):
        r = sb.get(path)
        assert (r.status_code, r.text) == (404, NOT_FOUND)
        assert r.headers["Content-Type"].startswith("text/plain")
    revoked = sb.state.add_token("camille_mentor")
    sb.state.revoke_token(revoked)
    assert sb.get(f"/tokens/{revoked}").status_code == 404
    unauthenticated = sb.http.get(f"{sb.server.url}/tokens/{sb.demo.mentor_token}", timeout=5)
    assert (unauthenticated.status_code, unauthenticated.text) == (401, "invalid key")
    bad_token = sb.get(f"/tokens/{sb.demo.mentor_token}", token="f" * 64)
    assert (bad_token.status_code, bad_token.text) == (401, "invalid token")


@pytest.mark.parametrize(
    ("expiration", "lifetime"),
    [("1hour", timedelta(hours=1)), ("1day", timedelta(days=1)), ("30days", timedelta(days=30))],
)
def test_an_expired_token_is_an_invalid_token(
    sb: Sandbox, expiration: str, lifetime: timedelta
) -> None:
    token = sb.state.add_token("camille_mentor", expiration=expiration)
    sb.now[0] = START + lifetime - timedelta(milliseconds=1)
    assert sb.get("/members/me", token=token).status_code == 200
    sb.now[0] = START + lifetime
    r = sb.get("/members/me", token=token)
    assert (r.status_code, r.text) == (401, "invalid token")
    assert sb.get(f"/tokens/{token}").status_code == 404  # gone, as Trello forgets it
    assert sb.get("/members/me").status_code == 200  # the never-expiring one still works


def test_a_bad_scope_or_expiration_is_refused() -> None:
    state = SandboxState(seed=1)
    state.add_member("m", "M M")
    with pytest.raises(BadRequest, match="invalid value for scope"):
        state.add_token("m", scope="read,admin")
    with pytest.raises(BadRequest, match="invalid value for expiration"):
        state.add_token("m", expiration="1week")
    # The old call, positional member and token, still makes a read-write, lasting token.
    token = state.add_token("m", "t" * 64)
    assert state.authorize(state.api_key, token) == (state.member("m")["id"], True)


# --- a read-only token -------------------------------------------------------------------


def test_a_read_only_token_cannot_write_and_changes_nothing(sb: Sandbox) -> None:
    ro = sb.demo.readonly_token
    card_id = sb.demo.card_ids["Inès Garnier"]
    board = f"/boards/{sb.demo.board_id}"
    before_actions = sb.actions()
    before_card = sb.get(f"/cards/{card_id}").json()
    before_lists = sb.get(f"{board}/lists", params={"filter": "all"}).json()
    comment = next(a for a in before_actions if a["type"] == "commentCard")
    attempts: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", f"/cards/{card_id}/actions/comments", {"data": {"text": "/session 1h"}}),
        ("POST", "/lists", {"data": {"idBoard": sb.demo.board_id, "name": "Sneaky"}}),
        ("PUT", f"/cards/{card_id}", {"params": {"idList": sb.demo.list_ids["Active"]}}),
        ("PUT", f"/cards/{card_id}", {"json": {"name": "Renamed", "closed": True}}),
        ("POST", "/cards", {"json": {"idList": sb.demo.list_ids["Active"], "name": "New"}}),
        ("PUT", f"/actions/{comment['id']}", {"data": {"text": "edited"}}),
        ("DELETE", f"/actions/{comment['id']}", {}),
        ("DELETE", f"/cards/{card_id}", {}),
        ("PUT", board, {"params": {"closed": "true"}}),
    ]
    for method, path, kw in attempts:
        r = sb.send(method, path, ro, **kw)
        assert (r.status_code, r.text) == (401, REFUSED), (method, path)
        assert r.headers["Content-Type"].startswith("text/plain")
    assert sb.actions() == before_actions
    assert sb.get(f"/cards/{card_id}").json() == before_card
    assert sb.get(f"{board}/lists", params={"filter": "all"}).json() == before_lists
    assert sb.get(board).json()["closed"] is False
    # The same writes with the read-write token go through.
    posted = sb.send("POST", f"/cards/{card_id}/actions/comments", data={"text": "ok"})
    assert posted.status_code == 200


def test_a_read_only_token_reads_everything(sb: Sandbox) -> None:
    ro = sb.demo.readonly_token
    board = f"/boards/{sb.demo.board_id}"
    assert sb.get("/members/me", ro).json()["username"] == "camille_mentor"
    for path in (
        board,
        f"{board}/lists",
        f"{board}/cards",
        f"{board}/actions",
        "/members/me/boards",
    ):
        assert sb.get(path, ro).json() == sb.get(path).json(), path
    batch = sb.get("/batch", ro, params={"urls": f"/members/me,{board}"})
    assert [list(answer) for answer in batch.json()] == [["200"], ["200"]]


def test_refused_writes_count_against_the_rate_limits() -> None:
    for sb in _start(token_limit=3):
        ro = sb.demo.readonly_token
        card = f"/cards/{sb.demo.card_ids['Inès Garnier']}/actions/comments"
        refused = [sb.send("POST", card, ro, data={"text": "x"}) for _ in range(2)]
        assert [r.status_code for r in refused] == [401, 401]
        assert refused[-1].headers["x-rate-limit-api-token-remaining"] == "1"
        assert sb.get("/members/me", ro).status_code == 200
        r = sb.send("POST", card, ro, data={"text": "x"})
        assert r.status_code == 429 and r.json()["error"] == "API_TOKEN_LIMIT_EXCEEDED"
        log = sb.http.get(sb.server.base_url + "/_sandbox/requests", timeout=5).json()
        assert [(e["method"], e["status"], e["member"]) for e in log] == [
            ("POST", 401, "camille_mentor"),
            ("POST", 401, "camille_mentor"),
            ("GET", 200, "camille_mentor"),
            ("POST", 429, "camille_mentor"),
        ]


# --- a member's boards -------------------------------------------------------------------


@pytest.fixture
def boards(sb: Sandbox) -> dict[str, str]:
    """Beside the demo board: the mentor's own open and closed boards, and a stranger's
    board the student is on but the mentor is not."""
    own = sb.state.create_board("camille_mentor", "Own notes")["id"]
    old = sb.state.create_board("camille_mentor", "Last year")["id"]
    closed = sb.send("PUT", f"/boards/{old}", params={"closed": "true"})
    assert closed.status_code == 200 and closed.json()["closed"] is True
    sb.state.add_member("stranger", "Someone Else")
    theirs = sb.state.create_board("stranger", "Elsewhere")["id"]
    sb.state.add_board_member("stranger", theirs, "alice_student")
    return {"demo": sb.demo.board_id, "own": own, "old": old, "theirs": theirs}


def test_my_boards_default_to_all_in_the_board_shape(sb: Sandbox, boards: dict[str, str]) -> None:
    r = sb.get("/members/me/boards")
    assert r.status_code == 200
    mine = r.json()
    assert [b["id"] for b in mine] == [boards["demo"], boards["own"], boards["old"]]
    assert mine[0] == sb.get(f"/boards/{boards['demo']}").json()
    assert [b["closed"] for b in mine] == [False, False, True]
    assert sb.get("/members/me/boards", params={"filter": "all"}).json() == mine
    assert sb.get("/members/me/boards", params={"fields": "all"}).json() == mine
    by_id = sb.get(f"/members/{_member_id(sb, 'camille_mentor')}/boards").json()
    assert by_id == sb.get("/members/camille_mentor/boards").json() == mine


def test_my_boards_filtered_open_or_closed(sb: Sandbox, boards: dict[str, str]) -> None:
    opened = sb.get("/members/me/boards", params={"filter": "open"}).json()
    assert [b["id"] for b in opened] == [boards["demo"], boards["own"]]
    closed = sb.get("/members/me/boards", params={"filter": "closed"}).json()
    assert [b["id"] for b in closed] == [boards["old"]]
    reopened = sb.send("PUT", f"/boards/{boards['old']}", params={"closed": "false"})
    assert reopened.json()["closed"] is False
    assert sb.get("/members/me/boards", params={"filter": "closed"}).json() == []
    bad = sb.get("/members/me/boards", params={"filter": "starred,bogus"})
    assert (bad.status_code, bad.text) == (400, "invalid value for filter")


def test_my_boards_restricted_to_fields(sb: Sandbox, boards: dict[str, str]) -> None:
    params = {"filter": "open", "fields": "name,url,shortLink,closed"}
    got = sb.get("/members/me/boards", params=params).json()
    demo = sb.get(f"/boards/{boards['demo']}").json()
    assert got[0] == {k: demo[k] for k in ("id", "name", "url", "shortLink", "closed")}
    assert [set(b) for b in got] == [{"id", "name", "url", "shortLink", "closed"}] * 2
    only_name = sb.get("/members/me/boards", params={"fields": "name"}).json()
    assert only_name[1] == {"id": boards["own"], "name": "Own notes"}
    # A real Trello field the sandbox does not model is left out; an unknown one is a 400.
    assert sb.get("/members/me/boards", params={"fields": "name,prefs"}).json() == only_name
    bad = sb.get("/members/me/boards", params={"fields": "name,colour"})
    assert (bad.status_code, bad.text) == (400, "invalid value for fields")


def test_another_members_boards_are_those_both_can_see(sb: Sandbox, boards: dict[str, str]) -> None:
    student_id = _member_id(sb, "alice_student")
    for ref in ("alice_student", student_id):
        seen = sb.get(f"/members/{ref}/boards", params={"fields": "name"}).json()
        assert seen == [{"id": boards["demo"], "name": "Mentorat — Camille Martin"}]
    student = sb.demo.student_token
    own = sb.get("/members/me/boards", student, params={"fields": "name"}).json()
    assert [b["id"] for b in own] == [boards["demo"], boards["theirs"]]
    mentor_seen_by_student = sb.get("/members/camille_mentor/boards", student).json()
    assert [b["id"] for b in mentor_seen_by_student] == [boards["demo"]]
    missing = sb.get("/members/nobody_here/boards")
    assert (missing.status_code, missing.text) == (404, NOT_FOUND)


# --- the demo and the sandbox command ----------------------------------------------------


def test_the_demo_has_a_read_only_mentor_token(sb: Sandbox) -> None:
    ro = sb.demo.readonly_token
    assert ro and ro not in (sb.demo.mentor_token, sb.demo.student_token)
    assert sb.state.authorize(sb.demo.api_key, ro) == (_member_id(sb, "camille_mentor"), False)
    assert sb.state.authorize(sb.demo.api_key, sb.demo.mentor_token)[1] is True
    assert sb.state.authorize(sb.demo.api_key, sb.demo.student_token)[1] is True


def test_run_sandbox_prints_the_settings_then_how_to_try_setup() -> None:
    out, stop = io.StringIO(), threading.Event()
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(run_sandbox(0, out=out, stop=stop)))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while out.getvalue().count("\n") < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        lines = out.getvalue().splitlines()
        settings = dict(line.split("=", 1) for line in lines[:4])
        assert list(settings) == [
            "TRELLO_SYNC_API_URL",
            "TRELLO_API_KEY",
            "TRELLO_TOKEN",
            "TRELLO_SYNC_BOARDS",
        ]
        url, key, token = (settings[n] for n in list(settings)[:3])
        hints = lines[4:]
        assert hints and all(line.startswith("# ") for line in hints)
        assert hints[0] == "# Try the guided setup against this sandbox (no Trello account needed):"
        assert hints[1] == f"#   TRELLO_SYNC_API_URL={url} trello-sync setup"
        found = re.fullmatch(
            r"#   API key: (\w+)   token: (\w+)   read-only token \(setup refuses it\): (\w+)",
            hints[2],
        )
        assert found is not None and found.group(1, 2) == (key, token)
        readonly = found.group(3)
        board = requests.get(
            f"{url}/boards/{settings['TRELLO_SYNC_BOARDS']}",
            params={"key": key, "token": token},
            timeout=5,
        ).json()
        assert hints[3] == (
            f"# or in one command: TRELLO_SYNC_API_URL={url} trello-sync setup --key {key} "
            f"--token {token} --board {board['shortLink']} --yes"
        )
        # The printed tokens are live: the read-only one reads, and is read-only.
        info = requests.get(
            f"{url}/tokens/{readonly}", params={"key": key, "token": readonly}, timeout=5
        ).json()
        assert {p["write"] for p in info["permissions"]} == {False}
    finally:
        stop.set()
        thread.join(timeout=10)
    assert codes == [0]
