"""The worker's webhooks on Trello: one per board at the callback URL, kept so.

At start, then every hour (ten minutes after a failure), the token's webhooks are
listed and the plan of domain/webhooks.py is carried out: the missing ones created (Trello
first sends a HEAD to the URL), the paused ones re-activated, trello-sync's stale ones
deleted (another callback URL, or a board no longer configured). Running it again
changes nothing; "already exists" is not an error. A webhook Trello refuses (it cannot
reach the receiver) is a warning, never a stop: polling goes on, and the next run
tries again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from trello_sync.domain.webhooks import (
    ALREADY_EXISTS,
    Registration,
    UnreadableWebhook,
    description_for,
    plan_registrations,
)
from trello_sync.ledger.store import LedgerStore
from trello_sync.trello.client import HttpTrello
from trello_sync.trello.port import TrelloAuthError, TrelloError, TrelloNotFound
from trello_sync.trello.webhooks import TrelloWebhooks
from trello_sync.webhook_inbox import Inbox

log = logging.getLogger(__name__)

REGISTRATION_INTERVAL = 3600  # seconds between two runs that went well
RETRY_INTERVAL = 600  # after a run that left a board without its webhook


class WebhookRegistrar:
    def __init__(
        self,
        boards: list[str],
        callback_url: str,
        trello: HttpTrello,
        token: str,
        ledger: LedgerStore,
        inbox: Inbox,
    ) -> None:
        self._refs = boards
        self._url = callback_url
        self._trello = trello
        self._api = TrelloWebhooks(trello, token)
        self._ledger = ledger
        self._inbox = inbox
        self.complete = False  # the last run left every known board with its webhook
        self._member_known = False

    def next_after(self, now: datetime) -> datetime:
        interval = REGISTRATION_INTERVAL if self.complete else RETRY_INTERVAL
        return now + timedelta(seconds=interval)

    def register(self) -> bool:
        """Carry the plan out; whether every board Trello knows has its webhook now."""
        self.complete = False
        boards = self._board_ids()
        # Deliveries for these boards are kept from now on, before Trello sends any.
        self._inbox.watch(boards.values())
        if not self._member_known:
            self._inbox.ignore_replies_by(str(self._trello.me()["id"]))
            self._member_known = True
        try:
            existing = [Registration.of(raw) for raw in self._api.listed()]
        except TrelloAuthError:
            raise
        except (TrelloError, UnreadableWebhook) as error:
            log.warning("webhooks: the token's webhooks not listed (%s); polling goes on", error)
            return False
        plan = plan_registrations(existing, list(boards.values()), self._url)
        names = {board_id: ref for ref, board_id in boards.items()}
        ok = True
        for stale in plan.delete:
            what = f"delete the stale webhook {stale.webhook_id}"
            ok = self._done(what, self._delete, stale) and ok
        for paused in plan.reactivate:
            what = f"re-activate the webhook of board {names.get(paused.board_id, paused.board_id)}"
            ok = self._done(what, self._api.reactivate, paused.webhook_id) and ok
        for board_id in plan.create:
            ok = self._create(board_id, names.get(board_id, board_id)) and ok
        self.complete = ok and len(boards) == len(self._refs)
        log.info(
            "webhooks: %d board(s) watched at %s (%d created, %d re-activated, %d stale deleted)%s",
            len(boards),
            self._url,
            len(plan.create),
            len(plan.reactivate),
            len(plan.delete),
            "" if ok else "; see the warnings above: polling goes on",
        )
        return self.complete

    def _board_ids(self) -> dict[str, str]:
        """Board id by configured reference, from the ledger, else asked of Trello."""
        found: dict[str, str] = {}
        for ref in self._refs:
            record = self._ledger.board_for_ref(ref)
            if record is not None:
                found[ref] = record.board_id
                continue
            try:
                found[ref] = str(self._trello.board(ref)["id"]).lower()
            except TrelloNotFound:
                log.debug("webhooks: board %r not found; its cycle says so", ref)
        return found

    def _create(self, board_id: str, ref: str) -> bool:
        try:
            self._api.create(board_id, self._url, description_for(board_id))
        except TrelloAuthError:
            raise
        except TrelloError as error:
            if ALREADY_EXISTS in str(error).lower():
                return True
            log.warning(
                "webhooks: board %s has no webhook: %s. Deliveries start once Trello can "
                "reach TRELLO_SYNC_WEBHOOK_URL; polling goes on, and this is tried again",
                ref,
                error,
            )
            return False
        return True

    def _delete(self, stale: Registration) -> None:
        with contextlib.suppress(TrelloNotFound):  # gone already
            self._api.delete(stale.webhook_id)

    @staticmethod
    def _done(what: str, call: Callable[..., object], *args: object) -> bool:
        try:
            call(*args)
        except TrelloAuthError:
            raise
        except TrelloError as error:
            log.warning("webhooks: could not %s: %s; tried again at the next run", what, error)
            return False
        return True
