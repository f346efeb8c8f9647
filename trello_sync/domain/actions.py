"""Trello actions, normalised into what the planner needs, from the shapes Trello's feed
really gives (a list move has listBefore/listAfter and no `data.list`; a deleted card's
actions vanish, its `deleteCard` names no card name; an edited comment keeps its id)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from trello_sync.domain.text import storable


class ActionKind(StrEnum):
    CARD_IN_LIST = "card_in_list"  # created, copied, moved in from a board, moved to a list
    ARCHIVED = "archived"
    UNARCHIVED = "unarchived"
    MOVED_AWAY = "moved_away"  # to another board
    DELETED = "deleted"
    COMMENT = "comment"
    OTHER = "other"  # applied (for the checkpoint), changes nothing


class MalformedAction(ValueError):
    """An action whose shape is not Trello's: the board's cycle stops, nothing recorded."""


@dataclass(frozen=True, slots=True)
class Action:
    id: str
    type: str
    kind: ActionKind
    date: datetime  # UTC
    board_id: str
    member_id: str
    member_username: str
    card_id: str | None = None
    card_name: str | None = None
    list_id: str | None = None  # the list the card is in after the action
    list_name: str | None = None
    text: str | None = None  # comments
    edited_at: datetime | None = None  # comments edited in place

    @property
    def version(self) -> str:
        """ "" for an action as first written; the edit time for an edited comment."""
        return format_instant(self.edited_at) if self.edited_at else ""


def parse_instant(text: str) -> datetime:
    """Trello's `2026-11-28T09:15:00.000Z` (or any ISO 8601 instant) → aware UTC."""
    if len(text) == 24 and text[-1] == "Z":
        # Trello's own form: read as it is (the Z is UTC), no rewriting, no conversion.
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass  # the general path below says what is wrong with it
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError) as error:
        raise MalformedAction(f"not an ISO 8601 instant: {text!r}") from error
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_instant(when: datetime) -> str:
    """Trello's own form, with milliseconds and Z."""
    utc = when.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def object_id_time(object_id: str) -> datetime | None:
    """A Trello id is a Mongo ObjectId: its first 8 hex digits are the creation second."""
    try:
        return datetime.fromtimestamp(int(object_id[:8], 16), UTC)
    except (ValueError, OverflowError, OSError):
        return None


_EMPTY: Mapping[str, Any] = {}
_IN_LIST_TYPES = frozenset(
    ("createCard", "copyCard", "convertToCardFromCheckItem", "moveCardToBoard")
)


def _pick(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    # A plain dict first: Trello's JSON is made of them, and the Mapping check is slow.
    if type(value) is dict or (value is not None and isinstance(value, Mapping)):
        return value
    return _EMPTY


def _kind(action_type: str, data: Mapping[str, Any], card: Mapping[str, Any]) -> ActionKind:
    if action_type == "commentCard":
        return ActionKind.COMMENT
    if action_type in _IN_LIST_TYPES:
        return ActionKind.CARD_IN_LIST
    if action_type == "moveCardFromBoard":
        return ActionKind.MOVED_AWAY
    if action_type == "deleteCard":
        return ActionKind.DELETED
    if action_type == "updateCard":
        if data.get("listAfter"):
            return ActionKind.CARD_IN_LIST
        if "closed" in _pick(data, "old"):
            return ActionKind.ARCHIVED if card.get("closed") else ActionKind.UNARCHIVED
    return ActionKind.OTHER


def _text(value: Any) -> str:
    text = value if type(value) is str else str(value)
    return storable(text)


def parse_action(raw: Mapping[str, Any]) -> Action:
    """Normalise one action of a board's feed. Raises MalformedAction on a broken shape.

    One pass over the action: each field read once, the date parsed once (Trello's own
    form on a fast path), nothing built that is not kept."""
    try:
        action_id = raw["id"]
        action_type = raw["type"]
        date = raw["date"]
    except KeyError as error:
        raise MalformedAction(f"action without {error.args[0]!r}") from error
    action_id = action_id if type(action_id) is str else str(action_id)
    action_type = action_type if type(action_type) is str else str(action_type)
    when = parse_instant(date if type(date) is str else str(date))
    data = raw.get("data") or _EMPTY
    if type(data) is not dict and not isinstance(data, Mapping):
        raise MalformedAction(f"action {action_id}: data is not an object")
    card = _pick(data, "card")
    kind = _kind(action_type, data, card)
    card_id = card.get("id")
    if kind is not ActionKind.OTHER and not card_id:
        raise MalformedAction(f"action {action_id} ({action_type}) names no card")
    text = data.get("text")
    if kind is ActionKind.COMMENT and type(text) is not str and not isinstance(text, str):
        raise MalformedAction(f"comment {action_id} has no text")
    target_list = _pick(data, "listAfter") or _pick(data, "list")
    creator = raw.get("memberCreator") or _EMPTY
    edited = data.get("dateLastEdited")
    card_name = card.get("name")
    list_id = target_list.get("id")
    list_name = target_list.get("name")
    return Action(
        id=action_id,
        type=action_type,
        kind=kind,
        date=when,
        board_id=str(_pick(data, "board").get("id") or ""),
        member_id=str(raw.get("idMemberCreator") or creator.get("id") or ""),
        member_username=_text(creator.get("username") or ""),
        card_id=str(card_id) if card_id else None,
        card_name=_text(card_name) if card_name else None,
        list_id=str(list_id) if list_id else None,
        list_name=_text(list_name) if list_name else None,
        text=storable(text) if type(text) is str or isinstance(text, str) else None,
        edited_at=parse_instant(str(edited)) if edited else None,
    )


def action_order(action: Action) -> tuple[datetime, str]:
    return (action.date, action.id)
