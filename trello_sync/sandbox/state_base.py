"""The sandbox state's core: storage, lookups, action recording, members, tokens, access.

Layers: StateBase (here) → BoardState (state_boards.py: boards, lists, labels, custom
fields, reads) → SandboxState (state.py: card mutations). Thread-safe: one re-entrant
lock; every public method holds it and returns deep copies, so callers never share
internals.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import random
import string
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Concatenate, ParamSpec, TypeVar

from trello_sync.sandbox import shapes
from trello_sync.sandbox.shapes import BadRequest, Json, NotFound, Unauthorized

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound="StateBase")

FIELD_TYPES = ("text", "number", "date", "checkbox", "list")
VALUE_KEYS = ("text", "number", "date", "checked")
DEFAULT_CARD_ACTION_FILTER = "commentCard,updateCard:idList"
DEFAULT_LABEL_COLORS = ("green", "yellow", "orange", "red", "purple", "blue")
POS_STEP = 16384
# `expiration` values Trello's authorize page takes, as a lifetime (None: never expires).
TOKEN_LIFETIMES: dict[str, timedelta | None] = {
    "1hour": timedelta(hours=1),
    "1day": timedelta(days=1),
    "30days": timedelta(days=30),
    "never": None,
}
TOKEN_SCOPES = frozenset(("read", "write", "account"))
TOKEN_IDENTIFIER = "trello-sync"  # the app name a token is granted to, as Trello shows it
# The sandbox application's secret (Trello shows an application's secret on its Power-Up
# admin page): known to everyone, as the sandbox is for trying things out.
DEMO_API_SECRET = "5a4db0c5e1d3f0a9" * 4


def _utc_now() -> datetime:
    return datetime.now(UTC)


def locked(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Holds the state's lock and returns a deep copy, so callers never share internals."""

    def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._lock:
            return copy.deepcopy(method(self, *args, **kwargs))

    functools.update_wrapper(wrapper, method)
    return wrapper


def _token_object_id(token: str, created: datetime) -> str:
    """A token's 24-hex object id: its creation second, then a digest of the token. Not
    drawn from the state's id factory nor its random source, so that adding a token leaves
    every other id and draw of a seeded state as it was."""
    digest = hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]
    return f"{int(created.timestamp()):08x}{digest}"


class StateBase:
    def __init__(
        self,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        clock: Callable[[], datetime] | None = None,
        seed: int | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._rng: random.Random = (
            random.Random(seed) if seed is not None else random.SystemRandom()
        )
        self._clock: Callable[[], datetime] = clock or _utc_now
        self._ids = shapes.ObjectIdFactory(self._rng.getrandbits(28))
        self.api_key: str = api_key or f"{self._rng.getrandbits(128):032x}"
        # The application's secret, which signs webhook deliveries: a fixed one by default
        # (not drawn, so that a seeded state's draws stay what they were).
        self.api_secret: str = api_secret or DEMO_API_SECRET
        self._members: dict[str, Json] = {}
        # token → {id, idMember, write, dateCreated, dateExpires (None: never)}
        self._tokens: dict[str, Json] = {}
        self._boards: dict[str, Json] = {}
        self._board_members: dict[str, list[str]] = {}
        self._next_short: dict[str, int] = {}
        self._lists: dict[str, Json] = {}
        self._labels: dict[str, Json] = {}
        self._fields: dict[str, Json] = {}
        self._cards: dict[str, Json] = {}
        self._field_items: dict[str, dict[str, Json]] = {}  # card id → field id → item
        self._actions: dict[str, Json] = {}
        self._short_links: set[str] = set()
        # Actions the feeds leave out until then (the "hide" fault: Trello showing late).
        self._hidden_until: dict[str, datetime] = {}
        # Told of every change a webhook delivers: each new action, and the updateComment
        # and deleteComment actions the feeds never show (see sandbox/webhooks.py).
        self._listeners: list[Callable[[Json], None]] = []

    # --- clock and helpers ---------------------------------------------------------------

    def set_clock(self, clock: Callable[[], datetime]) -> None:
        with self._lock:
            self._clock = clock

    def now(self) -> datetime:
        with self._lock:
            return shapes.to_utc_ms(self._clock())

    def hide_action(self, action_id: str, seconds: float) -> None:
        """Leave the action out of every board and card feed for `seconds` of this
        state's clock (a fault: Trello shows some new comments only after a delay)."""
        with self._lock:
            self._hidden_until[action_id] = self._clock() + timedelta(seconds=seconds)

    def _visible(self, action: Json) -> bool:
        until = self._hidden_until.get(action["id"])
        return until is None or self._clock() >= until

    def add_listener(self, listener: Callable[[Json], None]) -> None:
        """`listener(action)` after each change a webhook would deliver, while the
        state's lock is held: it must only take note, copying what it keeps (an action
        changes in place when its comment is edited)."""
        with self._lock:
            self._listeners.append(listener)

    def _emit(self, action: Json) -> None:
        for listener in self._listeners:
            listener(action)

    def _webhook_only_action(
        self, actor: str, action_type: str, data: Json, at: datetime | None
    ) -> None:
        """An action Trello sends to webhooks only (updateComment, deleteComment): never in
        a feed. Its id is a digest, not drawn from the id factory, so that a seeded state's
        ids stay what they were; it is built only when a listener will hear of it."""
        if not self._listeners:
            return
        member = self._member(actor)
        when = self._when(at)
        comment = (data.get("action") or {}).get("id", "")
        digest = hashlib.sha256(f"{action_type}|{comment}|{when.isoformat()}".encode())
        action_id = f"{int(when.timestamp()):08x}{digest.hexdigest()[:16]}"
        key = "action_edit_comment" if action_type == "updateComment" else "action_delete_comment"
        self._emit(shapes.action_envelope(action_id, action_type, when, member, data, key))

    def _when(self, at: datetime | None) -> datetime:
        return shapes.to_utc_ms(at if at is not None else self._clock())

    def _short_link(self) -> str:
        alphabet = string.ascii_letters + string.digits
        while True:
            link = "".join(self._rng.choice(alphabet) for _ in range(8))
            if link not in self._short_links:
                self._short_links.add(link)
                return link

    def _member(self, ref: str) -> Json:
        found = self._members.get(ref)
        if found is None:
            found = next((m for m in self._members.values() if m["username"] == ref), None)
        if found is None:
            raise NotFound()
        return found

    def _board(self, ref: str) -> Json:
        if shapes.is_object_id(ref):
            found = self._boards.get(ref.lower())
        elif shapes.SHORT_LINK_RE.match(ref):
            found = next((b for b in self._boards.values() if b["shortLink"] == ref), None)
        else:
            raise BadRequest("invalid id")
        if found is None:
            raise NotFound()
        return found

    def _list(self, list_id: str) -> Json:
        if not shapes.is_object_id(list_id):
            raise BadRequest("invalid value for idList")
        found = self._lists.get(list_id.lower())
        if found is None:
            raise NotFound()
        return found

    def _card(self, ref: str) -> Json:
        if shapes.is_object_id(ref):
            found = self._cards.get(ref.lower())
        elif shapes.SHORT_LINK_RE.match(ref):
            found = next((c for c in self._cards.values() if c["shortLink"] == ref), None)
        else:
            raise BadRequest("invalid id")
        if found is None:
            raise NotFound()
        return found

    def _action(self, action_id: str) -> Json:
        if not shapes.is_object_id(action_id):
            raise BadRequest("invalid id")
        found = self._actions.get(action_id.lower())
        if found is None:
            raise NotFound()
        return found

    def _label(self, board_id: str, ref: str) -> Json:
        found = self._labels.get(ref)
        if found is None:
            found = next(
                (
                    lb
                    for lb in self._labels.values()
                    if lb["idBoard"] == board_id and lb["name"] == ref
                ),
                None,
            )
        if found is None or found["idBoard"] != board_id:
            raise BadRequest("invalid value for idLabel")
        return found

    def _field(self, board_id: str, ref: str) -> Json:
        found = self._fields.get(ref)
        if found is None:
            found = next(
                (f for f in self._fields.values() if f["idModel"] == board_id and f["name"] == ref),
                None,
            )
        if found is None or found["idModel"] != board_id:
            raise NotFound()
        return found

    @staticmethod
    def _board_ref(board: Json) -> Json:
        return {"id": board["id"], "name": board["name"], "shortLink": board["shortLink"]}

    @staticmethod
    def _list_ref(lst: Json) -> Json:
        return {"id": lst["id"], "name": lst["name"]}

    @staticmethod
    def _card_ref(card: Json, **extra: Any) -> Json:
        ref = {k: card[k] for k in ("id", "name", "idShort", "shortLink")}
        ref.update(extra)
        return ref

    def _record(
        self, actor: str, action_type: str, data: Json, key: str, at: datetime | None
    ) -> Json:
        member = self._member(actor)
        when = self._when(at)
        action = shapes.action_envelope(self._ids.new(when), action_type, when, member, data, key)
        self._actions[action["id"]] = action
        self._emit(action)
        stamp = action["date"]
        card = self._cards.get((data.get("card") or {}).get("id", ""))
        if card is not None:
            card["dateLastActivity"] = max(card["dateLastActivity"], stamp)
        board = self._boards.get((data.get("board") or {}).get("id", ""))
        if board is not None:
            board["dateLastActivity"] = max(board["dateLastActivity"] or stamp, stamp)
        return action

    def _next_pos(self, items: Iterable[Json]) -> float:
        return max((float(i["pos"]) for i in items), default=0.0) + POS_STEP

    # --- members and tokens --------------------------------------------------------------

    @locked
    def add_member(self, username: str, full_name: str) -> Json:
        if any(m["username"] == username for m in self._members.values()):
            raise BadRequest("username already taken")
        member_id = self._ids.new(self._when(None))
        member = {
            "id": member_id,
            "username": username,
            "fullName": full_name,
            "initials": shapes.initials(full_name),
            "avatarHash": None,
        }
        self._members[member_id] = member
        return member

    @locked
    def add_token(
        self,
        member_ref: str,
        token: str | None = None,
        *,
        scope: str = "read,write",
        expiration: str = "never",
    ) -> str:
        """A new token for the member, as Trello's authorize page grants one: `scope` is a
        comma list of read/write/account (every token can read), `expiration` one of
        1hour/1day/30days/never, counted from this state's clock."""
        member = self._member(member_ref)
        parts = {p.strip() for p in scope.split(",") if p.strip()}
        if not parts or not parts <= TOKEN_SCOPES:
            raise BadRequest("invalid value for scope")
        if expiration not in TOKEN_LIFETIMES:
            raise BadRequest("invalid value for expiration")
        token = token or f"{self._rng.getrandbits(256):064x}"
        created = self._when(None)
        lifetime = TOKEN_LIFETIMES[expiration]
        self._tokens[token] = {
            "id": _token_object_id(token, created),
            "idMember": member["id"],
            "write": "write" in parts,
            "dateCreated": created,
            "dateExpires": created + lifetime if lifetime is not None else None,
        }
        return token

    def revoke_token(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def _token(self, token: str) -> Json | None:
        """The token's record, or None if it was never granted, was revoked or expired."""
        record = self._tokens.get(token)
        if record is None:
            return None
        expires = record["dateExpires"]
        if expires is not None and self._when(None) >= expires:
            return None
        return record

    @locked
    def authenticate(self, key: str | None, token: str | None) -> str:
        """The id of the member behind (key, token); 401 `invalid key` / `invalid token`."""
        return self.authorize(key, token)[0]

    @locked
    def authorize(self, key: str | None, token: str | None) -> tuple[str, bool]:
        """(member id, may the token write) for (key, token); 401 as `authenticate`."""
        if not key or key != self.api_key:
            raise Unauthorized("invalid key")
        record = self._token(token or "")
        if record is None:
            raise Unauthorized("invalid token")
        return str(record["idMember"]), bool(record["write"])

    @locked
    def member_for_token(self, token: str) -> Json:
        record = self._token(token)
        if record is None:
            raise Unauthorized("invalid token")
        return self._member_json(self._members[record["idMember"]])

    @locked
    def token_info(self, token: str) -> Json:
        """`GET /1/tokens/{token}`: who granted it, when, until when, with which rights;
        404 for a token that is unknown, revoked or expired (Trello keeps none of them)."""
        record = self._token(token)
        if record is None:
            raise NotFound()
        expires = record["dateExpires"]
        return {
            "id": record["id"],
            "identifier": TOKEN_IDENTIFIER,
            "idMember": record["idMember"],
            "dateCreated": shapes.format_date(record["dateCreated"]),
            "dateExpires": shapes.format_date(expires) if expires is not None else None,
            "permissions": [
                {"idModel": "*", "modelType": model, "read": True, "write": record["write"]}
                for model in ("Board", "Organization")
            ],
        }

    @locked
    def token_member(self, token: str) -> Json:
        """`GET /1/tokens/{token}/member`: the token's member, as `/members/me` shows it."""
        record = self._token(token)
        if record is None:
            raise NotFound()
        return self._member_json(self._members[record["idMember"]])

    @locked
    def member(self, member_ref: str) -> Json:
        return self._member_json(self._member(member_ref))

    def _member_json(self, member: Json) -> Json:
        boards = [b for b, ms in self._board_members.items() if member["id"] in ms]
        return {**member, "idBoards": boards, "url": f"https://trello.com/{member['username']}"}

    # --- access --------------------------------------------------------------------------

    @locked
    def check_board_access(self, member_ref: str, board_ref: str) -> str:
        """The board's id if the member may see it; 401 `unauthorized permission requested`."""
        board = self._board(board_ref)
        if self._member(member_ref)["id"] not in self._board_members[board["id"]]:
            raise Unauthorized("unauthorized permission requested")
        return str(board["id"])

    @locked
    def check_card_access(self, member_ref: str, card_ref: str) -> str:
        card = self._card(card_ref)
        if self._member(member_ref)["id"] not in self._board_members[card["idBoard"]]:
            raise Unauthorized("unauthorized card permission requested")
        return str(card["id"])

    @locked
    def check_action_access(self, member_ref: str, action_id: str) -> str:
        action = self._action(action_id)
        board_id = (action["data"].get("board") or {}).get("id", "")
        if self._member(member_ref)["id"] not in self._board_members.get(board_id, []):
            raise Unauthorized("unauthorized permission requested")
        return str(action["id"])
