"""Trello's JSON shapes and query rules, as pure functions the sandbox state builds on.

Ids are 24-hex Mongo ObjectIds: 8 hex digits of the creation second, then (our choice)
3 hex digits of its millisecond, a fixed 7-digit "machine" part and a 6-digit counter.
So ids sort exactly like (date, creation order), and `before=<id>` paging is consistent
with the newest-first order of the feed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]

OBJECT_ID_RE = re.compile(r"^[0-9a-fA-F]{24}$")
SHORT_LINK_RE = re.compile(r"^[0-9A-Za-z]{8}$")

MAX_LIMIT = 1000
MAX_COMMENT_LENGTH = 16384
NOT_FOUND_TEXT = "The requested resource was not found."

# Action types Trello accepts in `filter` (an unknown one is a 400, as on Trello).
# fmt: off
KNOWN_ACTION_TYPES = frozenset((
    "acceptEnterpriseJoinRequest", "addAttachmentToCard", "addChecklistToCard", "addLabelToCard",
    "addMemberToBoard", "addMemberToCard", "addMemberToOrganization",
    "addOrganizationToEnterprise", "addToEnterprisePluginWhitelist", "addToOrganizationBoard",
    "commentCard", "convertToCardFromCheckItem", "copyBoard", "copyCard", "copyChecklist",
    "copyCommentCard", "createBoard", "createCard", "createCustomField", "createLabel",
    "createList", "createOrganization", "deleteAttachmentFromCard", "deleteBoardInvitation",
    "deleteCard", "deleteCheckItem", "deleteCustomField", "deleteLabel",
    "deleteOrganizationInvitation", "disablePlugin", "disablePowerUp", "emailCard", "enablePlugin",
    "enablePowerUp", "makeAdminOfBoard", "makeAdminOfOrganization", "makeNormalMemberOfBoard",
    "makeNormalMemberOfOrganization", "makeObserverOfBoard", "memberJoinedTrello",
    "moveCardFromBoard", "moveCardToBoard", "moveListFromBoard", "moveListToBoard",
    "removeChecklistFromCard", "removeFromOrganizationBoard", "removeLabelFromCard",
    "removeMemberFromBoard", "removeMemberFromCard", "removeMemberFromOrganization", "updateBoard",
    "updateCard", "updateCheckItem", "updateCheckItemStateOnCard", "updateChecklist",
    "updateComment", "updateCustomField", "updateCustomFieldItem", "updateLabel", "updateList",
    "updateMember", "updateOrganization", "voteOnCard", "deleteComment",
))
# fmt: on


class SandboxError(Exception):
    """An error Trello would answer with: an HTTP status and its short plain-text body."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(SandboxError):
    status = 400


class Unauthorized(SandboxError):
    status = 401


class NotFound(SandboxError):
    status = 404

    def __init__(self, message: str = NOT_FOUND_TEXT) -> None:
        super().__init__(message)


# --- time -------------------------------------------------------------------------------


def to_utc_ms(when: datetime) -> datetime:
    """A timezone-aware UTC datetime truncated to the millisecond (naive means UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    return when.replace(microsecond=(when.microsecond // 1000) * 1000)


def format_date(when: datetime) -> str:
    """Trello's date format: `YYYY-MM-DDThh:mm:ss.sssZ`."""
    when = to_utc_ms(when)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def parse_date(text: str) -> datetime:
    """An ISO 8601 date or date-time (Z, offset or naive = UTC); ValueError if not one."""
    value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    return to_utc_ms(value)


# --- ids --------------------------------------------------------------------------------


class ObjectIdFactory:
    """Makes ObjectIds whose order is (second, millisecond, creation order)."""

    def __init__(self, machine: int) -> None:
        self._machine = machine & 0xFFFFFFF
        self._counter = 0

    def new(self, when: datetime) -> str:
        when = to_utc_ms(when)
        self._counter = (self._counter + 1) & 0xFFFFFF
        seconds = int(when.timestamp())
        millis = when.microsecond // 1000
        return f"{seconds:08x}{millis:03x}{self._machine:07x}{self._counter:06x}"


def id_time(object_id: str) -> datetime:
    """The creation second embedded in an ObjectId."""
    return datetime.fromtimestamp(int(object_id[:8], 16), tz=UTC)


def is_object_id(text: str) -> bool:
    return bool(OBJECT_ID_RE.match(text))


# --- members and actions ----------------------------------------------------------------


def initials(full_name: str) -> str:
    parts = [p for p in full_name.split() if p]
    return "".join(p[0].upper() for p in parts[:2]) or "?"


def member_creator(member: Json) -> Json:
    return {
        "id": member["id"],
        "activityBlocked": False,
        "avatarHash": None,
        "avatarUrl": None,
        "fullName": member["fullName"],
        "idMemberReferrer": None,
        "initials": member["initials"],
        "nonPublic": {},
        "nonPublicAvailable": True,
        "username": member["username"],
    }


def action_envelope(
    action_id: str,
    action_type: str,
    when: datetime,
    member: Json,
    data: Json,
    translation_key: str,
) -> Json:
    """The full action object, as `GET /1/boards/{id}/actions` answers it."""
    entities: Json = {
        "memberCreator": {
            "type": "member",
            "id": member["id"],
            "username": member["username"],
            "text": member["fullName"],
        }
    }
    card = data.get("card")
    if card is not None:
        entities["card"] = {
            "type": "card",
            "id": card["id"],
            "shortLink": card.get("shortLink"),
            "text": card.get("name", ""),
        }
    if action_type == "commentCard":
        entities["comment"] = {"type": "comment", "text": data["text"]}
    return {
        "id": action_id,
        "idMemberCreator": member["id"],
        "data": data,
        "appCreator": None,
        "type": action_type,
        "date": format_date(when),
        "limits": {},
        "display": {"translationKey": translation_key, "entities": entities},
        "memberCreator": member_creator(member),
    }


# --- action queries ---------------------------------------------------------------------


def parse_filter(spec: str | None) -> list[tuple[str, str | None]] | None:
    """`all` → None; else [(type, sub-field or None)]. Unknown types are a 400."""
    if spec is None or spec.strip() in ("", "all"):
        return None
    parsed: list[tuple[str, str | None]] = []
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        if item == "all":
            return None
        kind, _, field = item.partition(":")
        if kind not in KNOWN_ACTION_TYPES:
            raise BadRequest("invalid value for filter")
        parsed.append((kind, field or None))
    return parsed


def _matches(action: Json, wanted: list[tuple[str, str | None]] | None) -> bool:
    if wanted is None:
        return True
    for kind, field in wanted:
        if action["type"] != kind:
            continue
        if field is None or field in (action["data"].get("old") or {}):
            return True
    return False


def _bound(value: str | None, name: str) -> tuple[str, str] | None:
    """A since/before value as ("id", id) or ("date", canonical date); None = no bound."""
    if value is None or value.strip() in ("", "null"):
        return None
    text = value.strip()
    if is_object_id(text):
        return ("id", text.lower())
    try:
        return ("date", format_date(parse_date(text)))
    except ValueError:
        raise BadRequest(f"invalid value for {name}") from None


def _after(action: Json, bound: tuple[str, str]) -> bool:
    kind, value = bound
    return bool(action["id"] > value if kind == "id" else action["date"] > value)


def _before(action: Json, bound: tuple[str, str]) -> bool:
    kind, value = bound
    return bool(action["id"] < value if kind == "id" else action["date"] < value)


def check_limit(limit: int, page: int = 0) -> None:
    if limit < 0 or limit > MAX_LIMIT:
        raise BadRequest("invalid value for limit")
    if page < 0:
        raise BadRequest("invalid value for page")
    if page and page * limit >= MAX_LIMIT:
        raise BadRequest("page * limit must be less than 1000")


def select_actions(
    actions: Iterable[Json],
    *,
    filter: str | None = "all",
    since: str | None = None,
    before: str | None = None,
    limit: int = 50,
    page: int = 0,
    fields: str | None = None,
    with_member_creator: bool = True,
) -> list[Json]:
    """Trello's feed rules: newest first by (date, id); `since` and `before` strict."""
    check_limit(limit, page)
    wanted = parse_filter(filter)
    after_bound = _bound(since, "since")
    before_bound = _bound(before, "before")
    chosen = [
        a
        for a in actions
        if _matches(a, wanted)
        and (after_bound is None or _after(a, after_bound))
        and (before_bound is None or _before(a, before_bound))
    ]
    chosen.sort(key=lambda a: (a["date"], a["id"]), reverse=True)
    chosen = chosen[page * limit : page * limit + limit]
    keep = None
    if fields is not None and fields.strip() not in ("", "all"):
        keep = {f.strip() for f in fields.split(",") if f.strip()} | {"id"}
    shaped = []
    for action in chosen:
        item = {
            k: v for k, v in action.items() if keep is None or k in keep or k == "memberCreator"
        }
        if not with_member_creator:
            item.pop("memberCreator", None)
        shaped.append(item)
    return shaped


def slug(name: str) -> str:
    """The readable tail of a Trello URL: lowercase words joined by dashes."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = re.findall(r"[0-9a-z]+", ascii_name.lower())
    return "-".join(words) or "card"
