"""The registrar's answers to what Trello says: "already exists" is not an error, a URL
Trello cannot reach is a warning and a sooner retry, a bad token still stops the worker.
(The whole registration against the sandbox is in tests/system/test_worker_webhooks.py.)"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from trello_sync.domain.webhooks import description_for
from trello_sync.trello.port import TrelloAuthError, TrelloNotFound, TrelloRefused
from trello_sync.webhook_inbox import Inbox
from trello_sync.webhook_registration import (
    REGISTRATION_INTERVAL,
    RETRY_INTERVAL,
    WebhookRegistrar,
)

BOARD = "5f0000000000000000b0a4d1"
SERVICE = "5f00000000000000000de001"
URL = "https://hooks.example.org/trello"
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


class StubTrello:
    """What the registrar asks of HttpTrello, answering as scripted."""

    def __init__(self, listed: list[dict[str, Any]], create_error: Exception | None = None):
        self.listed = listed
        self.create_error = create_error
        self.calls: list[tuple[str, str]] = []

    def me(self) -> dict[str, Any]:
        return {"id": SERVICE}

    def board(self, ref: str) -> dict[str, Any]:
        if ref == "gone":
            raise TrelloNotFound("GET /boards/gone: not found")
        return {"id": BOARD}

    def _json_list(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        self.calls.append(("GET", path))
        return self.listed

    def _call(self, path: str, method: str, **_kwargs: Any) -> Any:
        self.calls.append((method, path))
        if method == "POST" and self.create_error is not None:
            raise self.create_error
        return {"id": "5f00000000000000000e0001"}


class NoBoards:
    def board_for_ref(self, ref: str) -> None:
        return None


def registrar(
    trello: StubTrello, boards: list[str] | None = None
) -> tuple[WebhookRegistrar, Inbox]:
    inbox = Inbox()
    made = WebhookRegistrar(
        boards or [BOARD],
        URL,
        trello,
        "token-value",
        NoBoards(),
        inbox,  # type: ignore[arg-type]
    )
    return made, inbox


def test_already_exists_is_not_an_error(caplog: pytest.LogCaptureFixture):
    refused = TrelloRefused(
        "Trello refused POST /webhooks: HTTP 400: A webhook with that callback, model, and "
        "token already exists"
    )
    made, inbox = registrar(StubTrello([], refused))
    with caplog.at_level(logging.WARNING):
        assert made.register() is True
    assert not caplog.records
    assert inbox.watched == {BOARD}
    assert made.next_after(NOW) == NOW + timedelta(seconds=REGISTRATION_INTERVAL)


def test_a_url_trello_cannot_reach_is_a_warning_and_a_sooner_retry(
    caplog: pytest.LogCaptureFixture,
):
    refused = TrelloRefused(
        f"Trello refused POST /webhooks: HTTP 400: URL ({URL}) did not return 200 status "
        "code, got 502"
    )
    made, inbox = registrar(StubTrello([], refused))
    with caplog.at_level(logging.WARNING):
        assert made.register() is False
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "did not return 200 status code" in warning.getMessage()
    assert "polling goes on" in warning.getMessage()
    assert made.next_after(NOW) == NOW + timedelta(seconds=RETRY_INTERVAL)
    assert inbox.watched == {BOARD}  # a delivery that does come is still taken


def test_nothing_is_written_when_every_webhook_is_in_place():
    trello = StubTrello(
        [
            {
                "id": "5f00000000000000000e0001",
                "idModel": BOARD,
                "callbackURL": URL,
                "description": description_for(BOARD),
                "active": True,
            }
        ]
    )
    made, _ = registrar(trello)
    assert made.register() is True
    assert [method for method, _ in trello.calls] == ["GET"]  # listed, nothing else


def test_a_board_trello_does_not_know_is_left_to_its_cycle():
    trello = StubTrello([])
    made, inbox = registrar(trello, [BOARD, "gone"])
    assert made.register() is False  # not complete: tried again sooner
    assert inbox.watched == {BOARD}
    assert [m for m, _ in trello.calls] == ["GET", "POST"]


def test_a_rejected_token_still_stops_the_worker():
    made, _ = registrar(StubTrello([], TrelloAuthError("Trello rejected the token")))
    with pytest.raises(TrelloAuthError):
        made.register()
