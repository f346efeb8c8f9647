"""Webhooks in `trello-sync run`: the receiver started before anything is registered,
the registrar that keeps the webhooks on Trello, both stopped with the worker."""

from __future__ import annotations

import logging
import sys
from contextlib import ExitStack
from typing import IO, TYPE_CHECKING

from trello_sync.domain.webhooks import parse_listen
from trello_sync.metrics import WorkerMetrics
from trello_sync.settings import ConfigError, Settings, env_name
from trello_sync.webhook_inbox import Inbox
from trello_sync.webhook_receiver import WebhookReceiver
from trello_sync.webhook_registration import WebhookRegistrar

if TYPE_CHECKING:
    from trello_sync.app import App

log = logging.getLogger(__name__)


def start_webhooks(
    settings: Settings,
    app: App,
    inbox: Inbox,
    metrics: WorkerMetrics,
    stack: ExitStack,
    out: IO[str] | None = None,
) -> WebhookRegistrar:
    """Listen at TRELLO_SYNC_WEBHOOK_LISTEN (an address that cannot be listened on is a
    setting to fix: exit code 2), and return the registrar the worker runs as a job."""
    assert settings.webhook_listen is not None and settings.webhook_url is not None
    assert settings.api_secret is not None and settings.token is not None
    listen = settings.webhook_listen
    try:
        receiver = WebhookReceiver(
            parse_listen(listen),
            settings.api_secret.get_secret_value(),
            settings.webhook_url,
            inbox,
            count=lambda result: metrics.webhook_deliveries.labels(result=result).inc(),
        )
    except OSError as error:  # in use, or no such address
        raise ConfigError(
            f"{env_name('webhook_listen')}: cannot listen on {listen}: {error}"
        ) from None
    stack.callback(receiver.stop)
    stack.callback(inbox.close)  # first: what comes while stopping is answered 503
    receiver.start()
    print(f"webhooks: listening on {receiver.address} for {settings.webhook_url}", file=out)
    (out or sys.stdout).flush()
    trello = app.trello
    assert trello is not None, "the worker has a Trello client"
    return WebhookRegistrar(
        list(settings.boards),
        settings.webhook_url,
        trello,
        settings.token.get_secret_value(),
        app.ledger,
        inbox,
    )
