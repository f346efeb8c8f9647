"""The webhook receiver over real HTTP (waitress on a local port) and its inbox: HEAD,
signatures, oversized bodies, a delivery while stopping, and a flood from many threads
(a bounded inbox, every board's wake-up kept, nothing crashes)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from ports import free_port

from trello_sync.domain.webhooks import (
    MAX_BODY_BYTES,
    SIGNATURE_HEADER,
    Delivery,
    DeliveryKind,
    expected_signature,
)
from trello_sync.webhook_inbox import BoardWake, Inbox
from trello_sync.webhook_receiver import WebhookReceiver

SECRET = "5a4db0c5e1d3f0a9" * 4
BOARD = "5f0000000000000000b0a4d1"
UNWATCHED = "5f0000000000000000b0a4ff"


def card(n: int) -> str:
    return f"5f00000000000000{n:08x}"


def body_for(board: str = BOARD, action_type: str = "commentCard", card_id: str | None = None):
    data: dict[str, object] = {"text": "/session"}
    if card_id is not None:
        data = {"card": {"id": card_id}, "action": {"id": card(0)}}
    payload = {
        "action": {"id": card(1), "type": action_type, "data": data},
        "model": {"id": board, "name": "Mentoring"},
    }
    return json.dumps(payload).encode()


class Served:
    def __init__(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/trello"
        self.inbox = Inbox(max_cards=5)
        self.inbox.watch([BOARD])
        self.results: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.receiver = WebhookReceiver(
            ("127.0.0.1", port), SECRET, self.url, self.inbox, count=self._count
        )
        self.session = requests.Session()

    def _count(self, result: str) -> None:
        with self._lock:
            self.results[result] += 1

    def post(self, body: bytes, signature: str | None = "sign", **kwargs: object):
        headers = {"Content-Type": "application/json"}
        if signature == "sign":
            signature = expected_signature(SECRET, body, self.url)
        if signature is not None:
            headers[SIGNATURE_HEADER] = signature
        return self.session.post(self.url, data=body, headers=headers, timeout=10, **kwargs)


@pytest.fixture
def served() -> Iterator[Served]:
    served = Served()
    with served.receiver:
        yield served
    served.session.close()


def test_head_and_get_answer_200_as_trello_asks_before_it_creates_a_webhook(served: Served):
    assert served.session.head(served.url, timeout=5).status_code == 200
    assert served.session.get(served.url, timeout=5).status_code == 200
    assert served.session.put(served.url, timeout=5).status_code == 405
    assert served.inbox.take() == {}


def test_a_signed_delivery_is_kept_and_wakes_the_worker(served: Served):
    answer = served.post(body_for())
    assert answer.status_code == 200
    assert served.inbox.wait(0)  # the worker's wait ends at once
    assert served.inbox.take() == {BOARD: BoardWake()}
    edited = served.post(body_for(action_type="updateComment", card_id=card(7)))
    assert edited.status_code == 200
    assert served.inbox.take() == {BOARD: BoardWake(cards=frozenset({card(7)}))}
    assert served.results == Counter(ok=2)


@pytest.mark.parametrize("signature", [None, "", "bad", "another-url", "one-byte"])
def test_a_bad_or_missing_signature_is_401_and_changes_nothing(served: Served, signature):
    body = body_for()
    if signature == "another-url":
        signature = expected_signature(SECRET, body, served.url + "/other")
    elif signature == "one-byte":
        signature = expected_signature(SECRET, body, served.url)
        body = body.replace(b"/session", b"/sessioN")
    answer = served.post(body, signature)
    assert answer.status_code == 401
    assert not served.inbox.ready.is_set() and served.inbox.take() == {}
    assert served.results == Counter(unsigned=1)


def test_a_body_over_a_megabyte_is_413_unread_and_one_of_exactly_a_megabyte_is_read(
    served: Served,
):
    too_big = b"{" + b" " * MAX_BODY_BYTES + b"}"
    assert served.post(too_big).status_code == 413
    # Without a Content-Length (chunked), the limit holds too.
    chunks = iter([b"{", b" " * MAX_BODY_BYTES, b"}"])
    assert served.post(chunks, signature="x").status_code == 413  # type: ignore[arg-type]
    assert served.inbox.take() == {} and not served.results  # refused by waitress, unread
    exact = body_for()
    exact = exact[:-1] + b" " * (MAX_BODY_BYTES - len(exact)) + b"}"
    assert len(exact) == MAX_BODY_BYTES
    assert served.post(exact).status_code == 200
    assert served.inbox.take() == {BOARD: BoardWake()}


def test_a_signed_body_that_is_not_a_delivery_changes_nothing(served: Served):
    assert served.post(b"not json").status_code == 400
    assert served.post(b'{"action": {}}').status_code == 200  # Trello's; not retried
    assert served.post(body_for(board=UNWATCHED)).status_code == 200
    assert served.inbox.take() == {}
    assert served.results == Counter(unreadable=2, ignored=1)


def test_once_the_worker_stops_a_delivery_is_503_so_trello_sends_it_again(served: Served):
    served.inbox.close()
    assert served.inbox.wait(0)  # the stop ends the worker's wait
    assert served.post(body_for()).status_code == 503
    assert served.inbox.take() == {}
    assert served.results == Counter(stopping=1)


def test_a_flood_is_answered_bounded_and_loses_no_board_wake_up(served: Served):
    boards = [f"5f0000000000000000b1{n:04x}" for n in range(8)]
    served.inbox.watch(boards)
    bodies = [
        body_for(board=boards[n % 8], action_type="deleteComment", card_id=card(n % 50))
        for n in range(400)
    ] + [body_for(board=UNWATCHED)] * 50

    def post(body: bytes) -> int:
        with requests.Session() as session:
            headers = {SIGNATURE_HEADER: expected_signature(SECRET, body, served.url)}
            return session.post(served.url, data=body, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=32) as pool:
        statuses = Counter(pool.map(post, bodies))
    assert statuses == Counter({200: 450})
    wakes = served.inbox.take()
    # One wake-up per board, whatever the number of deliveries; each card set bounded:
    # past five cards a board's open months are re-read instead.
    assert set(wakes) == set(boards)
    assert all(w.reread and not w.cards for w in wakes.values())
    assert served.inbox.kept == 400 and served.results == Counter(ok=400, ignored=50)
    assert served.post(body_for(board=boards[0])).status_code == 200  # still serving


def test_the_inbox_merges_cards_until_its_bound_then_asks_for_a_reread():
    inbox = Inbox(max_cards=2)
    inbox.watch([BOARD])
    put = [
        inbox.put(Delivery(BOARD, card(1), "deleteComment", DeliveryKind.COMMENT_DELETED, card(n)))
        for n in (1, 2, 2)
    ]
    assert put == [True, True, True]
    assert inbox.take() == {BOARD: BoardWake(cards=frozenset({card(1), card(2)}))}
    for n in (1, 2, 3):
        inbox.put(Delivery(BOARD, card(1), "updateComment", DeliveryKind.COMMENT_EDITED, card(n)))
    assert inbox.take() == {BOARD: BoardWake(reread=True)}
    assert not inbox.put(Delivery(UNWATCHED, card(1), "commentCard", DeliveryKind.ACTION))
    assert inbox.take() == {} and inbox.pending_boards() == 0


def test_the_delivery_of_the_services_own_reply_wakes_nothing():
    inbox = Inbox()
    inbox.watch([BOARD])
    inbox.ignore_replies_by(card(9).upper())
    own = Delivery(BOARD, card(1), "commentCard", DeliveryKind.ACTION, None, card(9), True)
    assert inbox.put(own) and not inbox.ready.is_set() and inbox.take() == {}
    someone_else = Delivery(BOARD, card(2), "commentCard", DeliveryKind.ACTION, None, card(8), True)
    assert inbox.put(someone_else) and inbox.take() == {BOARD: BoardWake()}
