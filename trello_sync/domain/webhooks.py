"""Trello's webhooks as data: a delivery's signature, what a delivery asks of the worker,
and which of the token's webhooks the worker keeps, creates, re-activates or deletes.

Trello signs each delivery with the application's secret: the header `X-Trello-Webhook`
is base64(HMAC-SHA1(secret, raw body + the callback URL exactly as it was registered)).
A delivery is only a hint that something changed: the worker still reads the change
from Trello (the board's feed, or the card's comments for an edited or deleted one), so
that a delivery can neither invent an action nor be applied twice.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from trello_sync.domain.replies import carries_marker

SIGNATURE_HEADER = "X-Trello-Webhook"
# A delivery is one action and its board: a few kilobytes. Anything above this is not
# Trello's and is refused (413) before it is read.
MAX_BODY_BYTES = 1_048_576
# Every webhook trello-sync creates says so in its description: the token's other
# webhooks (made by another program) are never touched.
DESCRIPTION_PREFIX = "trello-sync"
# Trello's answer when the webhook exists already: not an error for an idempotent start.
ALREADY_EXISTS = "a webhook with that callback, model, and token already exists"

_OBJECT_ID = re.compile(r"[0-9a-fA-F]{24}")


def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:8787` for IPv6) → (host, port); ValueError saying what is wrong."""
    host, sep, port_text = value.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{value.strip()[:60]!r} is not HOST:PORT (such as 127.0.0.1:8787)")
    return host, int(port_text)


def callback_url_problem(url: str) -> str | None:
    """Why a callback URL cannot be given to Trello, or None."""
    match = re.fullmatch(r"(https?)://([^/?#@\s]+)([^\s]*)", url)
    if match is None:
        return "is not an http(s) URL such as https://hooks.example.org/trello"
    return None


def expected_signature(secret: str, body: bytes, callback_url: str) -> str:
    """What Trello puts in `X-Trello-Webhook` for this body sent to this callback URL."""
    mac = hmac.new(secret.encode("utf-8"), body + callback_url.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def signature_matches(secret: str, body: bytes, callback_url: str, header: str | None) -> bool:
    """Whether `header` is Trello's signature of `body`, compared in constant time.

    The header arrives as WSGI gives it (latin-1 text): compared as those bytes, so that
    any header, whatever it holds, is simply a mismatch."""
    if not header or not secret:
        return False
    wanted = expected_signature(secret, body, callback_url).encode("ascii")
    given = header.strip().encode("latin-1", errors="replace")
    return hmac.compare_digest(wanted, given)


# --- what a delivery asks ---------------------------------------------------------------


class DeliveryKind(StrEnum):
    ACTION = "action"  # a new action on the board: its cycle runs now
    COMMENT_EDITED = "comment_edited"  # updateComment: the card's comments are read again
    COMMENT_DELETED = "comment_deleted"  # deleteComment: the same


class UnreadableDelivery(ValueError):
    """A body that is not a Trello delivery of a board's action (the reason, one line)."""


@dataclass(frozen=True)
class Delivery:
    board_id: str  # the watched model: the board the webhook was registered on
    action_id: str
    action_type: str
    kind: DeliveryKind
    card_id: str | None = None  # the card whose comments an edit or a deletion changed
    member_id: str | None = None  # who made the change
    # A new comment carrying something like a reply's marker (its text is not kept).
    marked_comment: bool = False

    @property
    def changes_comments(self) -> bool:
        return self.kind is not DeliveryKind.ACTION

    def is_reply_of(self, member_id: str | None) -> bool:
        """Whether this is a reply the service itself just posted as `member_id`: the
        service recorded it when it posted it, so its cycle would find nothing new."""
        return member_id is not None and self.marked_comment and self.member_id == member_id


_COMMENT_CHANGES = {
    "updateComment": DeliveryKind.COMMENT_EDITED,
    "deleteComment": DeliveryKind.COMMENT_DELETED,
}
_TYPE = re.compile(r"[A-Za-z]{1,64}")


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise UnreadableDelivery(f"{what} is not an object")
    return value


def _object_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _OBJECT_ID.fullmatch(value):
        raise UnreadableDelivery(f"{what} is not a Trello id")
    return value.lower()


def read_delivery(payload: Any) -> Delivery:
    """What a delivery (`{"action": {...}, "model": {...}}`, decoded) asks of the worker.

    Only ids and the action's type are read, each checked for its shape: the text of a
    comment, a name or anything else a board holds is never taken from a delivery."""
    body = _object(payload, "the delivery")
    action = _object(body.get("action"), "its action")
    model = _object(body.get("model"), "its model")
    board_id = _object_id(model.get("id"), "its model's id")
    action_id = _object_id(action.get("id"), "its action's id")
    action_type = action.get("type")
    if not isinstance(action_type, str) or not _TYPE.fullmatch(action_type):
        raise UnreadableDelivery("its action has no type")
    data = action.get("data")
    data = data if isinstance(data, Mapping) else {}
    kind = _COMMENT_CHANGES.get(action_type, DeliveryKind.ACTION)
    card_id: str | None = None
    if kind is not DeliveryKind.ACTION:
        card = _object(data.get("card"), f"its {action_type}'s card")
        card_id = _object_id(card.get("id"), f"its {action_type}'s card id")
    creator = action.get("idMemberCreator")
    member_id = (
        creator.lower() if isinstance(creator, str) and _OBJECT_ID.fullmatch(creator) else None
    )
    text = data.get("text")
    marked = action_type == "commentCard" and isinstance(text, str) and carries_marker(text)
    return Delivery(board_id, action_id, action_type, kind, card_id, member_id, marked)


# --- the token's webhooks ------------------------------------------------------------------


class UnreadableWebhook(ValueError):
    """Trello listed a webhook in a shape that is not Trello's."""


@dataclass(frozen=True)
class Registration:
    """One of the token's webhooks, as `GET /1/tokens/{token}/webhooks` lists it."""

    webhook_id: str
    board_id: str  # idModel
    callback_url: str
    description: str
    active: bool
    consecutive_failures: int = 0
    failing_since: str | None = None  # firstConsecutiveFailDate

    @classmethod
    def of(cls, raw: Any) -> Registration:
        if not isinstance(raw, Mapping):
            raise UnreadableWebhook("a webhook is not an object")
        try:
            webhook_id = _object_id(raw.get("id"), "a webhook's id")
            board_id = _object_id(raw.get("idModel"), f"webhook {raw.get('id')}'s idModel")
        except UnreadableDelivery as error:
            raise UnreadableWebhook(str(error)) from None
        callback = raw.get("callbackURL")
        if not isinstance(callback, str):
            raise UnreadableWebhook(f"webhook {webhook_id} has no callbackURL")
        failures = raw.get("consecutiveFailures")
        since = raw.get("firstConsecutiveFailDate")
        return cls(
            webhook_id=webhook_id,
            board_id=board_id,
            callback_url=callback,
            description=str(raw.get("description") or ""),
            active=raw.get("active") is not False,
            consecutive_failures=failures if isinstance(failures, int) and failures > 0 else 0,
            failing_since=str(since) if since else None,
        )

    @property
    def made_by_trello_sync(self) -> bool:
        return self.description.startswith(DESCRIPTION_PREFIX)


def description_for(board_id: str) -> str:
    """The description of the webhook trello-sync creates for a board."""
    return f"{DESCRIPTION_PREFIX}: board {board_id}"


@dataclass(frozen=True)
class RegistrationPlan:
    keep: tuple[Registration, ...] = ()  # active, for a watched board at the callback URL
    create: tuple[str, ...] = ()  # boards without one
    reactivate: tuple[Registration, ...] = ()  # paused or switched off by Trello
    delete: tuple[Registration, ...] = ()  # ours, for another URL or an unwatched board

    @property
    def changes(self) -> bool:
        return bool(self.create or self.reactivate or self.delete)


def plan_registrations(
    existing: Iterable[Registration], boards: Sequence[str], callback_url: str
) -> RegistrationPlan:
    """One webhook per watched board at `callback_url`, whoever made it; trello-sync's
    own webhooks for another callback URL or a board no longer watched are deleted, and
    any second one for the same board and URL. Webhooks another program made for
    another URL or board are left alone."""
    watched = {board.lower() for board in boards}
    keep: list[Registration] = []
    reactivate: list[Registration] = []
    delete: list[Registration] = []
    covered: set[str] = set()
    for registration in sorted(existing, key=lambda r: (not r.active, r.webhook_id)):
        serves = registration.board_id in watched and registration.callback_url == callback_url
        if serves and registration.board_id not in covered:
            covered.add(registration.board_id)
            (keep if registration.active else reactivate).append(registration)
        elif registration.made_by_trello_sync:
            delete.append(registration)
    create = tuple(dict.fromkeys(b.lower() for b in boards if b.lower() not in covered))
    return RegistrationPlan(tuple(keep), create, tuple(reactivate), tuple(delete))


def registration_for(
    existing: Iterable[Registration], board_id: str, callback_url: str
) -> Registration | None:
    """The webhook that serves this board at this callback URL (an active one first)."""
    serving = [
        r for r in existing if r.board_id == board_id.lower() and r.callback_url == callback_url
    ]
    return min(serving, key=lambda r: (not r.active, r.webhook_id), default=None)


@dataclass(frozen=True)
class WebhookFacts:
    """What `check` shows of the webhooks: the settings, and what Trello lists."""

    setting: str  # the setting that turns webhooks on (the receiver's address)
    callback_url: str | None  # None: webhooks are off
    boards: tuple[tuple[str, str], ...] = ()  # (name, board id) of the boards Trello showed
    registrations: tuple[Registration, ...] = ()  # every webhook of the token
