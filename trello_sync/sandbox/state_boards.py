"""Boards, lists, labels and custom fields, and every read of cards and actions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from trello_sync.sandbox import shapes
from trello_sync.sandbox.shapes import BadRequest, Json, NotFound
from trello_sync.sandbox.state_base import (
    DEFAULT_CARD_ACTION_FILTER,
    DEFAULT_LABEL_COLORS,
    FIELD_TYPES,
    POS_STEP,
    StateBase,
    locked,
)

# Every field Trello's board object has: `fields` may name any of them (the ones the
# sandbox does not model are left out of the answer); any other name is a 400.
# fmt: off
BOARD_FIELDS = frozenset((
    "id", "name", "desc", "descData", "closed", "idMemberCreator", "idOrganization", "pinned",
    "url", "shortUrl", "prefs", "labelNames", "starred", "limits", "memberships",
    "enterpriseOwned", "dateLastActivity", "dateLastView", "shortLink", "idBoardSource",
    "idEnterprise", "idTags", "powerUps", "subscribed", "creationMethod", "premiumFeatures",
    "ixUpdate", "templateGallery",
))
# fmt: on
MEMBER_BOARD_FILTERS = ("all", "open", "closed")


class BoardState(StateBase):
    # --- boards, lists, labels, custom fields --------------------------------------------

    @locked
    def create_board(
        self,
        actor: str,
        name: str,
        *,
        at: datetime | None = None,
        default_lists: bool = False,
        default_labels: bool = False,
    ) -> Json:
        if not name.strip():
            raise BadRequest("invalid value for name")
        member = self._member(actor)
        when = self._when(at)
        link = self._short_link()
        board: Json = {
            "id": self._ids.new(when),
            "name": name,
            "desc": "",
            "closed": False,
            "idOrganization": None,
            "pinned": False,
            "shortLink": link,
            "shortUrl": f"https://trello.com/b/{link}",
            "url": f"https://trello.com/b/{link}/{shapes.slug(name)}",
            "dateLastActivity": None,
        }
        self._boards[board["id"]] = board
        self._board_members[board["id"]] = [member["id"]]
        self._next_short[board["id"]] = 1
        self._record(
            actor, "createBoard", {"board": self._board_ref(board)}, "action_create_board", when
        )
        if default_lists:
            for list_name in ("To Do", "Doing", "Done"):
                self.create_list(actor, board["id"], list_name, at=when)
        if default_labels:
            for color in DEFAULT_LABEL_COLORS:
                self.create_label(actor, board["id"], "", color)
        return board

    @locked
    def add_board_member(
        self, actor: str, board_ref: str, member_ref: str, *, at: datetime | None = None
    ) -> Json:
        board, member = self._board(board_ref), self._member(member_ref)
        if member["id"] not in self._board_members[board["id"]]:
            self._board_members[board["id"]].append(member["id"])
            data = {
                "board": self._board_ref(board),
                "idMemberAdded": member["id"],
                "memberType": "normal",
            }
            self._record(actor, "addMemberToBoard", data, "action_added_member_to_board", at)
        return self._member_json(member)

    @locked
    def board(self, board_ref: str) -> Json:
        return self._board(board_ref)

    @locked
    def set_board_closed(
        self, actor: str, board_ref: str, closed: bool, *, at: datetime | None = None
    ) -> Json:
        """Closes (archives) or reopens a board, as `PUT /1/boards/{id}?closed=` does."""
        board = self._board(board_ref)
        if board["closed"] != closed:
            board["closed"] = closed
            data = {
                "board": {**self._board_ref(board), "closed": closed},
                "old": {"closed": not closed},
            }
            key = "action_closed_board" if closed else "action_reopened_board"
            self._record(actor, "updateBoard", data, key, at)
        return board

    @locked
    def member_boards(
        self, actor: str, member_ref: str, *, filter: str = "all", fields: str | None = None
    ) -> list[Json]:
        """`GET /1/members/{ref}/boards`: the boards `member_ref` belongs to that `actor`
        may see too (all of them when they are the same member), oldest first, each as
        `GET /1/boards/{id}` shows it, restricted to `fields` (a comma list or "all"; the
        id always comes)."""
        viewer, member = self._member(actor)["id"], self._member(member_ref)["id"]
        if filter not in MEMBER_BOARD_FILTERS:
            raise BadRequest("invalid value for filter")
        keep: set[str] | None = None
        if fields is not None and fields.strip() not in ("", "all"):
            keep = {f.strip() for f in fields.split(",") if f.strip()}
            if not keep <= BOARD_FIELDS:
                raise BadRequest("invalid value for fields")
            keep.add("id")
        boards = [
            self._boards[board_id]
            for board_id, members in self._board_members.items()
            if member in members and viewer in members
        ]
        if filter != "all":
            boards = [b for b in boards if b["closed"] == (filter == "closed")]
        boards.sort(key=lambda b: b["id"])
        return [{k: v for k, v in b.items() if keep is None or k in keep} for b in boards]

    @locked
    def get_list(self, list_id: str) -> Json:
        return self._list(list_id)

    @locked
    def label(self, label_id: str) -> Json:
        found = self._labels.get(label_id)
        if found is None:
            raise NotFound()
        return found

    @locked
    def board_members(self, board_ref: str) -> list[Json]:
        board = self._board(board_ref)
        return [
            {k: self._members[m][k] for k in ("id", "username", "fullName")}
            for m in self._board_members[board["id"]]
        ]

    @locked
    def create_list(
        self,
        actor: str,
        board_ref: str,
        name: str,
        *,
        pos: float | None = None,
        at: datetime | None = None,
    ) -> Json:
        board = self._board(board_ref)
        if not name.strip():
            raise BadRequest("invalid value for name")
        siblings = [lst for lst in self._lists.values() if lst["idBoard"] == board["id"]]
        when = self._when(at)
        lst: Json = {
            "id": self._ids.new(when),
            "name": name,
            "closed": False,
            "idBoard": board["id"],
            "pos": pos if pos is not None else self._next_pos(siblings),
            "subscribed": False,
        }
        self._lists[lst["id"]] = lst
        data = {"list": self._list_ref(lst), "board": self._board_ref(board)}
        self._record(actor, "createList", data, "action_added_list_to_board", when)
        return lst

    @locked
    def set_list_closed(
        self, actor: str, list_id: str, closed: bool, *, at: datetime | None = None
    ) -> Json:
        lst = self._list(list_id)
        if lst["closed"] != closed:
            lst["closed"] = closed
            data = {
                "list": {**self._list_ref(lst), "closed": closed},
                "old": {"closed": not closed},
                "board": self._board_ref(self._boards[lst["idBoard"]]),
            }
            key = "action_archived_list" if closed else "action_sent_list_to_board"
            self._record(actor, "updateList", data, key, at)
        return lst

    @locked
    def board_lists(self, board_ref: str, filter: str = "open") -> list[Json]:
        board = self._board(board_ref)
        if filter not in ("open", "closed", "all"):
            raise BadRequest("invalid value for filter")
        lists = [lst for lst in self._lists.values() if lst["idBoard"] == board["id"]]
        if filter != "all":
            lists = [lst for lst in lists if lst["closed"] == (filter == "closed")]
        return sorted(lists, key=lambda lst: (lst["pos"], lst["id"]))

    @locked
    def create_label(
        self,
        actor: str,
        board_ref: str,
        name: str,
        color: str | None,
        *,
        at: datetime | None = None,
    ) -> Json:
        board = self._board(board_ref)
        self._member(actor)
        label = {
            "id": self._ids.new(self._when(at)),
            "idBoard": board["id"],
            "name": name,
            "color": color or None,
        }
        self._labels[label["id"]] = label
        return label

    @locked
    def board_labels(self, board_ref: str, limit: int = 50) -> list[Json]:
        board = self._board(board_ref)
        shapes.check_limit(limit)
        labels = [lb for lb in self._labels.values() if lb["idBoard"] == board["id"]]
        return [{**lb, "uses": self._label_uses(lb["id"])} for lb in labels[:limit]]

    def _label_uses(self, label_id: str) -> int:
        return sum(1 for c in self._cards.values() if label_id in c["idLabels"])

    @locked
    def create_custom_field(
        self,
        actor: str,
        board_ref: str,
        name: str,
        field_type: str,
        *,
        options: Iterable[str | Json] = (),
        at: datetime | None = None,
    ) -> Json:
        board = self._board(board_ref)
        self._member(actor)
        if field_type not in FIELD_TYPES:
            raise BadRequest("invalid value for type")
        if not name.strip():
            raise BadRequest("invalid value for name")
        when = self._when(at)
        siblings = [f for f in self._fields.values() if f["idModel"] == board["id"]]
        field_id = self._ids.new(when)
        field: Json = {
            "id": field_id,
            "idModel": board["id"],
            "modelType": "board",
            "fieldGroup": f"{self._rng.getrandbits(256):064x}",
            "display": {"cardFront": True},
            "name": name,
            "pos": self._next_pos(siblings),
            "type": field_type,
            "isSuggestedField": False,
        }
        if field_type == "list":
            field["options"] = []
            for index, option in enumerate(options):
                try:
                    text = option if isinstance(option, str) else str(option["value"]["text"])
                except (KeyError, TypeError):
                    raise BadRequest("invalid value for options") from None
                field["options"].append(
                    {
                        "id": self._ids.new(when),
                        "idCustomField": field_id,
                        "value": {"text": text},
                        "color": "none",
                        "pos": (index + 1) * POS_STEP,
                    }
                )
        self._fields[field_id] = field
        return field

    @locked
    def board_custom_fields(self, board_ref: str) -> list[Json]:
        board = self._board(board_ref)
        fields = [f for f in self._fields.values() if f["idModel"] == board["id"]]
        return sorted(fields, key=lambda f: f["pos"])

    # --- cards: reading ------------------------------------------------------------------

    def _comment_counts(self) -> Counter[str]:
        return Counter(
            a["data"]["card"]["id"] for a in self._actions.values() if a["type"] == "commentCard"
        )

    def _card_json(
        self, card: Json, custom_field_items: bool, comments: Counter[str] | None = None
    ) -> Json:
        labels = [self._labels[i] for i in card["idLabels"] if i in self._labels]
        counts = comments if comments is not None else self._comment_counts()
        out = {
            **card,
            "idLabels": list(card["idLabels"]),
            "labels": [{k: lb[k] for k in ("id", "idBoard", "name", "color")} for lb in labels],
            "idMembers": [],
            "idChecklists": [],
            "due": None,
            "dueComplete": False,
            "subscribed": False,
            "badges": {"comments": counts[card["id"]], "checkItems": 0, "checkItemsChecked": 0},
            "shortUrl": f"https://trello.com/c/{card['shortLink']}",
            "url": (
                f"https://trello.com/c/{card['shortLink']}/{card['idShort']}-"
                f"{shapes.slug(card['name'])}"
            ),
        }
        if custom_field_items:
            out["customFieldItems"] = self._items_of(card["id"])
        return out

    def _items_of(self, card_id: str) -> list[Json]:
        items = self._field_items.get(card_id, {})
        return [items[f] for f in sorted(items, key=lambda f: self._fields[f]["pos"])]

    @locked
    def board_cards(
        self, board_ref: str, filter: str = "open", *, custom_field_items: bool = False
    ) -> list[Json]:
        board = self._board(board_ref)
        if filter not in ("open", "visible", "closed", "all"):
            raise BadRequest("invalid value for filter")
        cards = [c for c in self._cards.values() if c["idBoard"] == board["id"]]
        if filter in ("open", "visible"):
            cards = [c for c in cards if not c["closed"]]
        elif filter == "closed":
            cards = [c for c in cards if c["closed"]]
        list_pos = {lid: lst["pos"] for lid, lst in self._lists.items()}
        cards.sort(key=lambda c: (list_pos.get(c["idList"], 0), c["pos"], c["id"]))
        counts = self._comment_counts()
        return [self._card_json(c, custom_field_items, counts) for c in cards]

    @locked
    def card(self, card_ref: str, *, custom_field_items: bool = False) -> Json:
        return self._card_json(self._card(card_ref), custom_field_items)

    @locked
    def card_custom_field_items(self, card_ref: str) -> list[Json]:
        return self._items_of(self._card(card_ref)["id"])

    # --- actions: reading ----------------------------------------------------------------

    @locked
    def board_actions(
        self,
        board_ref: str,
        *,
        filter: str | None = "all",
        since: str | None = None,
        before: str | None = None,
        limit: int = 50,
        page: int = 0,
        fields: str | None = None,
        member_creator: bool = True,
    ) -> list[Json]:
        """Trello's feed: newest first; since/before strict; limit ≤ 1000; page*limit < 1000."""
        board_id = self._board(board_ref)["id"]
        mine = (
            a
            for a in self._actions.values()
            if a["data"].get("board", {}).get("id") == board_id and self._visible(a)
        )
        return shapes.select_actions(
            mine,
            filter=filter,
            since=since,
            before=before,
            limit=limit,
            page=page,
            fields=fields,
            with_member_creator=member_creator,
        )

    @locked
    def card_actions(
        self,
        card_ref: str,
        *,
        filter: str | None = DEFAULT_CARD_ACTION_FILTER,
        since: str | None = None,
        before: str | None = None,
        limit: int = 50,
        page: int = 0,
    ) -> list[Json]:
        card_id = self._card(card_ref)["id"]
        mine = (
            a
            for a in self._actions.values()
            if (a["data"].get("card") or {}).get("id") == card_id and self._visible(a)
        )
        return shapes.select_actions(
            mine, filter=filter, since=since, before=before, limit=limit, page=page
        )

    @locked
    def action(self, action_id: str) -> Json:
        return self._action(action_id)

    @locked
    def all_actions(self) -> list[Json]:
        """Every action still in the feeds, oldest first (for tests and the admin area)."""
        return sorted(self._actions.values(), key=lambda a: (a["date"], a["id"]))
