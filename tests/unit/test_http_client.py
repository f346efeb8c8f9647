"""HttpTrello over py-trello, with the HTTP answered by `responses`."""

from __future__ import annotations

import json
import random
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from responses import matchers

from trello_sync.clock import FakeClock
from trello_sync.trello.client import HttpTrello
from trello_sync.trello.port import (
    ACTION_FILTER,
    PostOutcomeUnknown,
    TrelloAuthError,
    TrelloNotFound,
    TrelloPort,
    TrelloRefused,
    TrelloUnavailable,
)

KEY = "k3y0123456789abcdef0123456789ab"
TOKEN = "t0ken9876543210fedcba9876543210fedcba98765432"
BASE = "http://127.0.0.1:8765/1"
B = "5f21eea50f40e30520c6cda3"


@pytest.fixture
def client() -> HttpTrello:
    return HttpTrello(BASE, KEY, TOKEN, clock=FakeClock(), rng=random.Random(1))


def query(call_index: int) -> dict[str, list[str]]:
    return parse_qs(urlsplit(str(responses.calls[call_index].request.url)).query)


def test_is_a_trello_port(client: HttpTrello) -> None:
    port: TrelloPort = client
    assert port is client


@responses.activate
def test_me_and_board(client: HttpTrello) -> None:
    responses.get(f"{BASE}/members/me", json={"id": "m1", "username": "ann", "fullName": "A"})
    responses.get(f"{BASE}/boards/abc123", json={"id": B, "name": "Board", "shortLink": "abc"})
    assert client.me()["username"] == "ann"
    assert client.board("abc123")["id"] == B
    assert query(0) == {"fields": ["id,username,fullName"]}
    assert query(1) == {"fields": ["id,name,shortLink,closed"]}
    for call in responses.calls:
        assert KEY not in (call.request.url or "") and TOKEN not in (call.request.url or "")
        assert call.request.headers["Authorization"].startswith("OAuth oauth_consumer_key=")
    assert client.stats.requests == 2 and client.stats.by_status == {200: 2}


@responses.activate
def test_401_reaches_the_caller_as_auth_error(client: HttpTrello) -> None:
    responses.get(f"{BASE}/members/me", status=401, body="invalid token")
    with pytest.raises(TrelloAuthError) as err:
        client.me()
    assert str(err.value) == "Trello rejected the token (TRELLO_TOKEN): invalid token"


@responses.activate
def test_404_reaches_the_caller(client: HttpTrello) -> None:
    responses.get(f"{BASE}/boards/gone", status=404, body="The requested resource was not found.")
    with pytest.raises(TrelloNotFound):
        client.board("gone")


def _actions(n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"{1700000000 + i:08x}{i:016x}", "date": f"2023-11-14T22:13:{i % 60:02d}.000Z"}
        for i in range(n)
    ]


@responses.activate
def test_board_actions_pages_through_the_feed(client: HttpTrello) -> None:
    acts = sorted(_actions(1001), key=lambda a: a["id"], reverse=True)
    url = f"{BASE}/boards/{B}/actions"
    responses.get(url, json=acts[:1000])
    responses.get(url, json=acts[1000:])
    got = client.board_actions(B, since="a0")
    assert len(got) == 1001
    assert query(0) == {"filter": [ACTION_FILTER], "limit": ["1000"], "since": ["a0"]}
    assert query(1)["before"] == [acts[999]["id"]]


@responses.activate
def test_card_comments_oldest_first(client: HttpTrello) -> None:
    acts = _actions(3)
    responses.get(f"{BASE}/cards/c1/actions", json=list(reversed(acts)))
    got = client.card_comments("c1")
    assert [a["id"] for a in got] == [a["id"] for a in acts]
    assert query(0) == {"filter": ["commentCard"], "limit": ["1000"]}


@responses.activate
def test_post_comment_sends_text_in_the_body(client: HttpTrello) -> None:
    action = {"id": "act1", "type": "commentCard", "data": {"text": "hello"}}
    responses.post(
        f"{BASE}/cards/c1/actions/comments",
        json=action,
        match=[matchers.json_params_matcher({"text": "hello"})],
    )
    assert client.post_comment("c1", "hello") == action
    assert urlsplit(responses.calls[0].request.url).query == ""


@responses.activate
def test_post_comment_read_timeout_is_sent_once(client: HttpTrello) -> None:
    import requests

    responses.post(f"{BASE}/cards/c1/actions/comments", body=requests.ReadTimeout("slow"))
    with pytest.raises(PostOutcomeUnknown):
        client.post_comment("c1", "hello")
    assert len(responses.calls) == 1


def test_post_comment_length_checked(client: HttpTrello) -> None:
    with pytest.raises(TrelloRefused):
        client.post_comment("c1", "")
    with pytest.raises(TrelloRefused):
        client.post_comment("c1", "x" * 16385)
    assert len(responses.calls) == 0


# -- snapshot -------------------------------------------------------------------------

BOARD = {"id": B, "name": "Mentoring", "shortLink": "abc", "closed": False}
LISTS = [{"id": "l1", "name": "Active", "closed": False, "pos": 1}]
OPEN = [{"id": "c1", "name": "Alice", "closed": False, "labels": [], "customFieldItems": []}]
CLOSED = [{"id": "c2", "name": "Bob", "closed": True, "labels": [], "customFieldItems": []}]
FIELDS = [{"id": "f1", "name": "Project", "type": "list", "options": []}]


def _batch_urls(call_index: int) -> list[str]:
    return query(call_index)["urls"][0].split(",")


@responses.activate
def test_snapshot_in_one_batch_request(client: HttpTrello) -> None:
    responses.get(
        f"{BASE}/batch",
        json=[{"200": BOARD}, {"200": LISTS}, {"200": OPEN}, {"200": CLOSED}, {"200": FIELDS}],
    )
    snap = client.board_snapshot(B)
    assert len(responses.calls) == 1
    assert snap.board == BOARD and list(snap.lists) == LISTS
    assert [c["id"] for c in snap.cards] == ["c1", "c2"]
    assert list(snap.custom_fields) == FIELDS
    assert _batch_urls(0) == [
        f"/boards/{B}?fields=all",
        f"/boards/{B}/lists?filter=all",
        f"/boards/{B}/cards?customFieldItems=true&fields=all",
        f"/boards/{B}/cards/closed?customFieldItems=true&fields=all",
        f"/boards/{B}/customFields",
    ]


@responses.activate
def test_snapshot_batch_error_item_falls_back_to_a_separate_get(client: HttpTrello) -> None:
    err = {"name": "ServerError", "message": "oops", "statusCode": 500}
    responses.get(
        f"{BASE}/batch",
        json=[{"200": BOARD}, {"200": LISTS}, err, {"200": CLOSED}, {"200": FIELDS}],
    )
    responses.get(
        f"{BASE}/boards/{B}/cards",
        json=OPEN,
        match=[matchers.query_param_matcher({"customFieldItems": "true", "fields": "all"})],
    )
    snap = client.board_snapshot(B)
    assert len(responses.calls) == 2
    assert [c["id"] for c in snap.cards] == ["c1", "c2"]


@responses.activate
def test_snapshot_without_batch_support_reads_each_route(client: HttpTrello) -> None:
    responses.get(f"{BASE}/batch", status=404, body="Cannot GET /1/batch")
    responses.get(f"{BASE}/boards/{B}", json=BOARD)
    responses.get(f"{BASE}/boards/{B}/lists", json=LISTS)
    responses.get(f"{BASE}/boards/{B}/cards", json=OPEN)
    responses.get(f"{BASE}/boards/{B}/cards/closed", json=[*CLOSED, OPEN[0]])
    responses.get(f"{BASE}/boards/{B}/customFields", json=FIELDS)
    snap = client.board_snapshot(B)
    assert len(responses.calls) == 6
    assert sorted(c["id"] for c in snap.cards) == ["c1", "c2"]  # a card seen twice, kept once


@responses.activate
def test_snapshot_missing_board_in_batch_surfaces_not_found(client: HttpTrello) -> None:
    nf = {"name": "NotFound", "message": "not found", "statusCode": 404}
    responses.get(f"{BASE}/batch", json=[nf] * 5)
    responses.get(f"{BASE}/boards/{B}", status=404, body="The requested resource was not found.")
    with pytest.raises(TrelloNotFound):
        client.board_snapshot(B)


@responses.activate
def test_snapshot_gives_up_when_trello_is_unavailable(client: HttpTrello) -> None:
    responses.get(f"{BASE}/batch", status=503)
    with pytest.raises(TrelloUnavailable):
        client.board_snapshot(B)
    assert len(responses.calls) == 6  # retried, then no per-route fallback storm


@responses.activate
def test_snapshot_batch_answer_not_json_falls_back(client: HttpTrello) -> None:
    # `body=` without a JSON content type: refused as "not JSON", then read route by route.
    responses.get(f"{BASE}/batch", body=json.dumps([{"200": BOARD}, *[{"200": []}] * 4]))
    responses.get(f"{BASE}/boards/{B}", json=BOARD)
    for suffix in ("lists", "cards", "cards/closed", "customFields"):
        responses.get(f"{BASE}/boards/{B}/{suffix}", json=[])
    snap = client.board_snapshot(B)
    assert snap.board == BOARD and snap.cards == ()
