"""SandboxState: an in-memory Trello with a Python API, the model behind the sandbox.

Every mutation takes the acting member (id or username) and an optional `at` (default:
the state's clock), so a backdated history can be built, and records Trello's actions in
their real shapes, as Trello's own feed shows them: a list move has listBefore/listAfter and
no `data.list`; editing a comment changes that action in place; deleting a card erases
its earlier actions from every feed; label changes leave no action in the feed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from trello_sync.sandbox import shapes
from trello_sync.sandbox.shapes import BadRequest, Json, NotFound, Unauthorized
from trello_sync.sandbox.state_base import VALUE_KEYS, locked
from trello_sync.sandbox.state_boards import BoardState

__all__ = ["BadRequest", "NotFound", "SandboxState", "Unauthorized"]


class SandboxState(BoardState):
    # --- creating, copying, deleting -----------------------------------------------------

    @locked
    def create_card(
        self,
        actor: str,
        list_id: str,
        name: str,
        *,
        desc: str = "",
        id_labels: Iterable[str] = (),
        pos: float | None = None,
        at: datetime | None = None,
    ) -> Json:
        lst = self._list(list_id)
        board = self._boards[lst["idBoard"]]
        labels = [self._label(board["id"], ref)["id"] for ref in id_labels]
        card = self._new_card(lst, name, desc, labels, pos, self._when(at))
        data = {
            "card": self._card_ref(card),
            "list": self._list_ref(lst),
            "board": self._board_ref(board),
        }
        self._record(actor, "createCard", data, "action_create_card", at)
        return self._card_json(card, False)

    def _new_card(
        self, lst: Json, name: str, desc: str, labels: list[str], pos: float | None, when: datetime
    ) -> Json:
        board_id = lst["idBoard"]
        siblings = [c for c in self._cards.values() if c["idList"] == lst["id"]]
        card = {
            "id": self._ids.new(when),
            "name": name,
            "desc": desc,
            "closed": False,
            "idBoard": board_id,
            "idList": lst["id"],
            "idShort": self._take_short(board_id),
            "shortLink": self._short_link(),
            "idLabels": list(dict.fromkeys(labels)),
            "pos": pos if pos is not None else self._next_pos(siblings),
            "dateLastActivity": shapes.format_date(when),
        }
        self._cards[card["id"]] = card
        return card

    def _take_short(self, board_id: str) -> int:
        number = self._next_short[board_id]
        self._next_short[board_id] = number + 1
        return number

    @locked
    def copy_card(
        self,
        actor: str,
        card_ref: str,
        list_id: str,
        *,
        name: str | None = None,
        at: datetime | None = None,
    ) -> Json:
        source = self._card(card_ref)
        lst = self._list(list_id)
        same_board = lst["idBoard"] == source["idBoard"]
        labels = list(source["idLabels"]) if same_board else []
        card = self._new_card(
            lst, name or source["name"], source["desc"], labels, None, self._when(at)
        )
        if same_board:
            items = self._field_items.get(source["id"], {})
            self._field_items[card["id"]] = {
                f: {**item, "id": self._ids.new(self._when(at)), "idModel": card["id"]}
                for f, item in items.items()
            }
        data = {
            "cardSource": self._card_ref(source),
            "card": self._card_ref(card),
            "list": self._list_ref(lst),
            "board": self._board_ref(self._boards[lst["idBoard"]]),
        }
        self._record(actor, "copyCard", data, "action_copy_card", at)
        return self._card_json(card, False)

    @locked
    def convert_check_item_to_card(
        self, actor: str, card_ref: str, item_name: str, *, at: datetime | None = None
    ) -> Json:
        """A checklist item of `card_ref` becomes a card in its list (no checklists kept)."""
        source = self._card(card_ref)
        lst = self._lists[source["idList"]]
        card = self._new_card(lst, item_name, "", [], None, self._when(at))
        data = {
            "cardSource": self._card_ref(source),
            "card": self._card_ref(card),
            "list": self._list_ref(lst),
            "board": self._board_ref(self._boards[lst["idBoard"]]),
        }
        key = "action_convert_to_card_from_checkitem"
        self._record(actor, "convertToCardFromCheckItem", data, key, at)
        return self._card_json(card, False)

    @locked
    def delete_card(self, actor: str, card_ref: str, *, at: datetime | None = None) -> None:
        """Trello forgets the card's history: only the deleteCard action remains."""
        card = self._card(card_ref)
        self._member(actor)
        for action_id in [
            a["id"]
            for a in self._actions.values()
            if (a["data"].get("card") or {}).get("id") == card["id"]
        ]:
            del self._actions[action_id]
        del self._cards[card["id"]]
        self._field_items.pop(card["id"], None)
        data = {
            "card": {k: card[k] for k in ("id", "idShort", "shortLink")},
            "list": self._list_ref(self._lists[card["idList"]]),
            "board": self._board_ref(self._boards[card["idBoard"]]),
        }
        self._record(actor, "deleteCard", data, "action_delete_card", at)

    # --- updating ------------------------------------------------------------------------

    def _update(self, actor: str, card: Json, changed: Json, old: Json, key: str, at: Any) -> None:
        card.update(changed)
        data: Json = {
            "card": self._card_ref(card, **changed),
            "old": old,
            "board": self._board_ref(self._boards[card["idBoard"]]),
            "list": self._list_ref(self._lists[card["idList"]]),
        }
        self._record(actor, "updateCard", data, key, at)

    @locked
    def move_card(
        self, actor: str, card_ref: str, list_id: str, *, at: datetime | None = None
    ) -> Json:
        """A move between lists (another board's list: a move to that board)."""
        card = self._card(card_ref)
        target = self._list(list_id)
        if target["idBoard"] != card["idBoard"]:
            return self.move_card_to_board(
                actor, card["id"], target["idBoard"], target["id"], at=at
            )
        if target["id"] != card["idList"]:
            source = self._lists[card["idList"]]
            card["idList"] = target["id"]
            data = {
                "card": self._card_ref(card, idList=target["id"]),
                "old": {"idList": source["id"]},
                "board": self._board_ref(self._boards[card["idBoard"]]),
                "listBefore": self._list_ref(source),
                "listAfter": self._list_ref(target),
            }
            self._record(actor, "updateCard", data, "action_move_card_from_list_to_list", at)
        return self._card_json(card, False)

    @locked
    def archive_card(self, actor: str, card_ref: str, *, at: datetime | None = None) -> Json:
        return self._set_closed(actor, self._card(card_ref), True, at)

    @locked
    def unarchive_card(self, actor: str, card_ref: str, *, at: datetime | None = None) -> Json:
        return self._set_closed(actor, self._card(card_ref), False, at)

    def _set_closed(self, actor: str, card: Json, closed: bool, at: datetime | None) -> Json:
        if card["closed"] != closed:
            key = "action_archived_card" if closed else "action_sent_card_to_board"
            self._update(actor, card, {"closed": closed}, {"closed": not closed}, key, at)
        return self._card_json(card, False)

    @locked
    def rename_card(
        self, actor: str, card_ref: str, name: str, *, at: datetime | None = None
    ) -> Json:
        card = self._card(card_ref)
        if not name.strip():
            raise BadRequest("invalid value for name")
        if card["name"] != name:
            old = {"name": card["name"]}
            self._update(actor, card, {"name": name}, old, "action_renamed_card", at)
        return self._card_json(card, False)

    @locked
    def set_card_desc(
        self, actor: str, card_ref: str, desc: str, *, at: datetime | None = None
    ) -> Json:
        card = self._card(card_ref)
        if card["desc"] != desc:
            key = "action_changed_description_of_card"
            self._update(actor, card, {"desc": desc}, {"desc": card["desc"]}, key, at)
        return self._card_json(card, False)

    @locked
    def move_card_to_board(
        self,
        actor: str,
        card_ref: str,
        board_ref: str,
        list_id: str | None = None,
        *,
        at: datetime | None = None,
    ) -> Json:
        """moveCardFromBoard on the source board, moveCardToBoard on the destination."""
        card = self._card(card_ref)
        target_board = self._board(board_ref)
        if target_board["id"] == card["idBoard"]:
            return self.move_card(actor, card["id"], list_id or card["idList"], at=at)
        if list_id is not None:
            target = self._list(list_id)
            if target["idBoard"] != target_board["id"]:
                raise BadRequest("invalid value for idList")
        else:
            open_lists = self.board_lists(target_board["id"])
            if not open_lists:
                raise BadRequest("invalid value for idList")
            target = self._lists[open_lists[0]["id"]]
        when = self._when(at)
        source_board = self._boards[card["idBoard"]]
        source_list = self._lists[card["idList"]]
        data_from = {
            "board": self._board_ref(source_board),
            "boardTarget": {"id": target_board["id"]},
            "list": self._list_ref(source_list),
            "card": self._card_ref(card),
        }
        self._record(actor, "moveCardFromBoard", data_from, "action_move_card_to_board", when)
        card["idBoard"] = target_board["id"]
        card["idList"] = target["id"]
        card["idShort"] = self._take_short(target_board["id"])
        card["idLabels"] = []  # labels belong to the source board
        self._field_items.pop(card["id"], None)  # so do custom fields
        data_to = {
            "board": self._board_ref(target_board),
            "boardSource": {"id": source_board["id"]},
            "list": self._list_ref(target),
            "card": self._card_ref(card),
        }
        self._record(actor, "moveCardToBoard", data_to, "action_move_card_from_board", when)
        return self._card_json(card, False)

    @locked
    def update_card(
        self,
        actor: str,
        card_ref: str,
        *,
        id_list: str | None = None,
        closed: bool | None = None,
        name: str | None = None,
        desc: str | None = None,
        id_board: str | None = None,
        at: datetime | None = None,
    ) -> Json:
        """PUT /1/cards/{id}: one updateCard action per changed field, as Trello logs them."""
        card = self._card(card_ref)
        if id_board is not None and self._board(id_board)["id"] != card["idBoard"]:
            self.move_card_to_board(actor, card["id"], id_board, id_list, at=at)
        elif id_list is not None:
            self.move_card(actor, card["id"], id_list, at=at)
        if name is not None:
            self.rename_card(actor, card["id"], name, at=at)
        if desc is not None:
            self.set_card_desc(actor, card["id"], desc, at=at)
        if closed is not None:
            self._set_closed(actor, card, closed, at)
        return self._card_json(card, False)

    # --- labels and custom fields on a card ----------------------------------------------

    @locked
    def add_label(
        self, actor: str, card_ref: str, label_ref: str, *, at: datetime | None = None
    ) -> list[str]:
        """No action in the feed (Trello sends addLabelToCard to webhooks only)."""
        card = self._card(card_ref)
        self._member(actor)
        label = self._label(card["idBoard"], label_ref)
        if label["id"] in card["idLabels"]:
            raise BadRequest("that label is already on the card")
        card["idLabels"].append(label["id"])
        card["dateLastActivity"] = shapes.format_date(self._when(at))
        return list(card["idLabels"])

    @locked
    def remove_label(
        self, actor: str, card_ref: str, label_ref: str, *, at: datetime | None = None
    ) -> list[str]:
        card = self._card(card_ref)
        self._member(actor)
        label = self._label(card["idBoard"], label_ref)
        if label["id"] not in card["idLabels"]:
            raise NotFound()
        card["idLabels"].remove(label["id"])
        card["dateLastActivity"] = shapes.format_date(self._when(at))
        return list(card["idLabels"])

    @locked
    def set_custom_field(
        self,
        actor: str,
        card_ref: str,
        field_ref: str,
        value: str | Json | None,
        *,
        at: datetime | None = None,
    ) -> Json:
        """Sets (or, with None / "" / {}, clears) a card's custom field: updateCustomFieldItem.

        `value` is Trello's body ({"value": {"text": ..}} / {"idValue": ..}), its inner
        `{"text": ..}`, or a plain string wrapped by the field's type.
        """
        card = self._card(card_ref)
        field = self._field(card["idBoard"], field_ref)
        new = self._field_value(field, value)
        items = self._field_items.setdefault(card["id"], {})
        previous = items.get(field["id"])
        value_key = "idValue" if field["type"] == "list" else "value"
        old_value = previous.get(value_key) if previous else None
        new_value = new.get(value_key) if new else None
        item_id = previous["id"] if previous else self._ids.new(self._when(at))
        item: Json = {
            "id": item_id,
            value_key: new_value,
            "idCustomField": field["id"],
            "idModel": card["id"],
            "modelType": "card",
        }
        if old_value == new_value:
            return item
        if new_value is None:
            items.pop(field["id"], None)
        else:
            items[field["id"]] = item
        data = {
            "card": self._card_ref(card),
            "board": self._board_ref(self._boards[card["idBoard"]]),
            "customField": {k: field[k] for k in ("id", "name", "type")},
            "customFieldItem": dict(item),
            "old": {value_key: old_value},
        }
        self._record(actor, "updateCustomFieldItem", data, "action_update_custom_field_item", at)
        return item

    @staticmethod
    def _field_value(field: Json, value: str | Json | None) -> Json | None:
        if value is None or value == "" or value == {}:
            return None
        if isinstance(value, dict) and "value" in value and "idValue" not in value:
            return SandboxState._field_value(field, value["value"])
        if field["type"] == "list":
            wanted = value.get("idValue") if isinstance(value, dict) else value
            for option in field.get("options", []):
                if wanted in (option["id"], option["value"]["text"]):
                    return {"idValue": option["id"]}
            if wanted in (None, ""):
                return None
            raise BadRequest("invalid value for idValue")
        if isinstance(value, str):
            key = {"text": "text", "number": "number", "date": "date"}.get(field["type"], "checked")
            return {"value": {key: value}}
        present = {
            k: str(value[k]) for k in VALUE_KEYS if k in value and value[k] not in (None, "")
        }
        if not present:
            return None
        if len(present) != 1:
            raise BadRequest("invalid value for value")
        return {"value": present}

    # --- comments ------------------------------------------------------------------------

    @staticmethod
    def _check_text(text: str) -> None:
        if not isinstance(text, str) or not 1 <= len(text) <= shapes.MAX_COMMENT_LENGTH:
            raise BadRequest("invalid value for text")

    @locked
    def comment(self, actor: str, card_ref: str, text: str, *, at: datetime | None = None) -> Json:
        card = self._card(card_ref)
        self._check_text(text)
        data = {
            "text": text,
            "card": self._card_ref(card),
            "board": self._board_ref(self._boards[card["idBoard"]]),
            "list": self._list_ref(self._lists[card["idList"]]),
        }
        return self._record(actor, "commentCard", data, "action_comment_on_card", at)

    @locked
    def edit_comment(
        self, actor: str, action_id: str, text: str, *, at: datetime | None = None
    ) -> Json:
        """Changes the same action in place: new text, data.dateLastEdited; same id and date."""
        action = self._action(action_id)
        if action["type"] != "commentCard":
            raise BadRequest("invalid value for idAction")
        if self._member(actor)["id"] != action["idMemberCreator"]:
            raise Unauthorized("unauthorized permission requested")
        self._check_text(text)
        old = action["data"]["text"]
        when = self._when(at)
        action["data"]["text"] = text
        action["data"]["dateLastEdited"] = shapes.format_date(when)
        action["display"]["entities"]["comment"]["text"] = text
        self._webhook_only_action(
            actor, "updateComment", self._comment_change(action, text=text, old=old), when
        )
        return action

    @locked
    def delete_comment(self, actor: str, action_id: str, *, at: datetime | None = None) -> None:
        """The comment simply vanishes from every feed (deleteComment goes to webhooks only)."""
        action = self._action(action_id)
        self._member(actor)
        if action["type"] != "commentCard":
            raise BadRequest("invalid value for idAction")
        del self._actions[action["id"]]
        self._webhook_only_action(actor, "deleteComment", self._comment_change(action), at)

    @staticmethod
    def _comment_change(comment: Json, *, text: str | None = None, old: str | None = None) -> Json:
        """An updateComment's or deleteComment's data, as Trello's webhooks carry it: the
        comment as `data.action` ({id, text} for an edit, {id} for a deletion), `data.old`
        the text before an edit, and the card, board and list of the comment."""
        data: Json = {"action": {"id": comment["id"]}}
        if text is not None:
            data["action"]["text"] = text
            data["old"] = {"text": old}
        for key in ("card", "board", "list"):
            if key in comment["data"]:
                data[key] = copy.deepcopy(comment["data"][key])
        return data
