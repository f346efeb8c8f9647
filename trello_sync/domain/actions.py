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


def _pick(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _kind(action_type: str, data: Mapping[str, Any]) -> ActionKind:
    if action_type in ("createCard", "copyCard", "convertToCardFromCheckItem", "moveCardToBoard"):
        return ActionKind.CARD_IN_LIST
    if action_type == "moveCardFromBoard":
        return ActionKind.MOVED_AWAY
    if action_type == "deleteCard":
        return ActionKind.DELETED
    if action_type == "commentCard":
        return ActionKind.COMMENT
    if action_type == "updateCard":
        old = _pick(data, "old")
        if data.get("listAfter"):
            return ActionKind.CARD_IN_LIST
        if "closed" in old:
            return (
                ActionKind.ARCHIVED if _pick(data, "card").get("closed") else ActionKind.UNARCHIVED
            )
    return ActionKind.OTHER


def parse_action(raw: Mapping[str, Any]) -> Action:
    """Normalise one action of a board's feed. Raises MalformedAction on a broken shape."""
    try:
        action_id = str(raw["id"])
        action_type = str(raw["type"])
        when = parse_instant(str(raw["date"]))
        data = raw.get("data") or {}
    except KeyError as error:
        raise MalformedAction(f"action without {error.args[0]!r}") from error
    if not isinstance(data, Mapping):
        raise MalformedAction(f"action {action_id}: data is not an object")
    kind = _kind(action_type, data)
    creator = raw.get("memberCreator") or {}
    card = _pick(data, "card")
    target_list = _pick(data, "listAfter") or _pick(data, "list")
    edited = data.get("dateLastEdited")
    card_id = card.get("id")
    if kind is not ActionKind.OTHER and not card_id:
        raise MalformedAction(f"action {action_id} ({action_type}) names no card")
    text = data.get("text")
    if kind is ActionKind.COMMENT and not isinstance(text, str):
        raise MalformedAction(f"comment {action_id} has no text")
    return Action(
        id=action_id,
        type=action_type,
        kind=kind,
        date=when,
        board_id=str(_pick(data, "board").get("id") or ""),
        member_id=str(raw.get("idMemberCreator") or creator.get("id") or ""),
        member_username=storable(str(creator.get("username") or "")),
        card_id=str(card_id) if card_id else None,
        card_name=storable(str(card["name"])) if card.get("name") else None,
        list_id=str(target_list["id"]) if target_list.get("id") else None,
        list_name=storable(str(target_list["name"])) if target_list.get("name") else None,
        text=storable(text) if isinstance(text, str) else None,
        edited_at=parse_instant(str(edited)) if edited else None,
    )


def action_order(action: Action) -> tuple[datetime, str]:
    return (action.date, action.id)
