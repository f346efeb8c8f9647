"""The REST routes under `/1`: parameters in, SandboxState calls, Trello's JSON out.

`Api.handle` raises a SandboxError (status + plain-text message) for every error Trello
would answer with; the HTTP layer (server.py) turns it into a response.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from trello_sync.sandbox.shapes import BadRequest, Json, NotFound, SandboxError
from trello_sync.sandbox.state import SandboxState
from trello_sync.sandbox.state_base import DEFAULT_CARD_ACTION_FILTER

MAX_BATCH_URLS = 10
ERROR_NAMES = {400: "BadRequestError", 401: "UnauthorizedError", 404: "NotFoundError"}

Handler = Callable[..., Any]


def flatten_query(query: str) -> Json:
    """A query string as {name: last value} (Trello ignores repeated parameters)."""
    return {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}


def _str(params: Json, name: str, default: str | None = None) -> str | None:
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        raise BadRequest(f"invalid value for {name}")
    return str(value)


def _required(params: Json, name: str) -> str:
    value = _str(params, name)
    if value is None:
        raise BadRequest(f"invalid value for {name}")
    return value


def _int(params: Json, name: str, default: int) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"invalid value for {name}") from None


def _bool(params: Json, name: str, default: bool | None) -> bool | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    if value in (True, "true", "1", 1):
        return True
    if value in (False, "false", "0", 0):
        return False
    raise BadRequest(f"invalid value for {name}")


def _flag(params: Json, name: str, default: bool) -> bool:
    return bool(_bool(params, name, default))


class Api:
    """Routes a request (acting member, method, path without `/1`, params) to the state."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        table: list[tuple[str, str, Handler]] = [
            ("GET", "/members/{ref}", self._get_member),
            ("GET", "/members/{ref}/boards", self._get_member_boards),
            ("GET", "/tokens/{token}", self._get_token),
            ("GET", "/tokens/{token}/member", self._get_token_member),
            ("GET", "/boards/{ref}", self._get_board),
            ("GET", "/boards/{ref}/actions", self._get_board_actions),
            ("GET", "/boards/{ref}/lists", self._get_board_lists),
            ("GET", "/boards/{ref}/lists/{filter}", self._get_board_lists),
            ("GET", "/boards/{ref}/cards", self._get_board_cards),
            ("GET", "/boards/{ref}/cards/{filter}", self._get_board_cards),
            ("GET", "/boards/{ref}/customFields", self._get_board_fields),
            ("GET", "/boards/{ref}/labels", self._get_board_labels),
            ("GET", "/boards/{ref}/members", self._get_board_members),
            ("GET", "/cards/{ref}", self._get_card),
            ("GET", "/cards/{ref}/actions", self._get_card_actions),
            ("GET", "/cards/{ref}/customFieldItems", self._get_card_items),
            ("GET", "/actions/{id}", self._get_action),
            ("GET", "/batch", self._batch),
            ("POST", "/cards", self._post_card),
            ("PUT", "/cards/{ref}", self._put_card),
            ("DELETE", "/cards/{ref}", self._delete_card),
            ("POST", "/cards/{ref}/actions/comments", self._post_comment),
            ("PUT", "/actions/{id}", self._put_action),
            ("PUT", "/actions/{id}/text", self._put_action_text),
            ("DELETE", "/actions/{id}", self._delete_action),
            ("POST", "/cards/{ref}/idLabels", self._post_card_label),
            ("DELETE", "/cards/{ref}/idLabels/{label}", self._delete_card_label),
            ("PUT", "/cards/{ref}/customField/{field}/item", self._put_field_item),
            ("POST", "/boards", self._post_board),
            ("PUT", "/boards/{ref}", self._put_board),
            ("POST", "/lists", self._post_list),
            ("PUT", "/lists/{id}", self._put_list),
            ("POST", "/labels", self._post_label),
            ("POST", "/customFields", self._post_custom_field),
        ]
        self._routes = [
            (method, re.compile(re.sub(r"\{\w+\}", "([^/]+)", pattern)), handler)
            for method, pattern, handler in table
        ]

    def handle(self, member: str, method: str, path: str, params: Json) -> Any:
        path = path.rstrip("/") or "/"
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                return handler(member, params, *match.groups())
        raise NotFound()

    # --- reads ---------------------------------------------------------------------------

    def _get_member(self, member: str, params: Json, ref: str) -> Any:
        return self.state.member(member if ref == "me" else ref)

    def _get_member_boards(self, member: str, params: Json, ref: str) -> Any:
        return self.state.member_boards(
            member,
            member if ref == "me" else ref,
            filter=_str(params, "filter", "all") or "all",
            fields=_str(params, "fields"),
        )

    def _get_token(self, member: str, params: Json, token: str) -> Any:
        return self.state.token_info(token)

    def _get_token_member(self, member: str, params: Json, token: str) -> Any:
        return self.state.token_member(token)

    def _board_id(self, member: str, ref: str) -> str:
        return self.state.check_board_access(member, ref)

    def _card_id(self, member: str, ref: str) -> str:
        return self.state.check_card_access(member, ref)

    def _get_board(self, member: str, params: Json, ref: str) -> Any:
        return self.state.board(self._board_id(member, ref))

    def _get_board_actions(self, member: str, params: Json, ref: str) -> Any:
        return self.state.board_actions(
            self._board_id(member, ref),
            filter=_str(params, "filter", "all"),
            since=_str(params, "since"),
            before=_str(params, "before"),
            limit=_int(params, "limit", 50),
            page=_int(params, "page", 0),
            fields=_str(params, "fields"),
            member_creator=_flag(params, "memberCreator", True),
        )

    def _get_board_lists(self, member: str, params: Json, ref: str, filter: str = "") -> Any:
        chosen = filter or _str(params, "filter", "open") or "open"
        return self.state.board_lists(self._board_id(member, ref), chosen)

    def _get_board_cards(self, member: str, params: Json, ref: str, filter: str = "") -> Any:
        chosen = filter or _str(params, "filter", "visible") or "visible"
        return self.state.board_cards(
            self._board_id(member, ref),
            chosen,
            custom_field_items=_flag(params, "customFieldItems", False),
        )

    def _get_board_fields(self, member: str, params: Json, ref: str) -> Any:
        return self.state.board_custom_fields(self._board_id(member, ref))

    def _get_board_labels(self, member: str, params: Json, ref: str) -> Any:
        return self.state.board_labels(self._board_id(member, ref), _int(params, "limit", 50))

    def _get_board_members(self, member: str, params: Json, ref: str) -> Any:
        return self.state.board_members(self._board_id(member, ref))

    def _get_card(self, member: str, params: Json, ref: str) -> Any:
        return self.state.card(
            self._card_id(member, ref),
            custom_field_items=_flag(params, "customFieldItems", False),
        )

    def _get_card_actions(self, member: str, params: Json, ref: str) -> Any:
        return self.state.card_actions(
            self._card_id(member, ref),
            filter=_str(params, "filter", DEFAULT_CARD_ACTION_FILTER),
            since=_str(params, "since"),
            before=_str(params, "before"),
            limit=_int(params, "limit", 50),
            page=_int(params, "page", 0),
        )

    def _get_card_items(self, member: str, params: Json, ref: str) -> Any:
        return self.state.card_custom_field_items(self._card_id(member, ref))

    def _get_action(self, member: str, params: Json, action_id: str) -> Any:
        return self.state.action(self.state.check_action_access(member, action_id))

    def _batch(self, member: str, params: Json) -> Any:
        raw = _str(params, "urls")
        urls = [u for u in (raw or "").split(",") if u.strip()]
        if not urls:
            raise BadRequest("invalid value for urls")
        if len(urls) > MAX_BATCH_URLS:
            raise BadRequest("too many urls: at most 10 per batch")
        answers: list[Json] = []
        for url in urls:
            split = urlsplit(url.strip())
            path = split.path[2:] if split.path.startswith("/1/") else split.path
            try:
                if path.rstrip("/") == "/batch":
                    raise BadRequest("a batch cannot contain a batch")
                body = self.handle(member, "GET", path, flatten_query(split.query))
                answers.append({"200": body})
            except SandboxError as error:
                answers.append(
                    {
                        "name": ERROR_NAMES.get(error.status, "Error"),
                        "message": error.message,
                        "statusCode": error.status,
                    }
                )
        return answers

    # --- writes (the acting member is the token's owner) ---------------------------------

    def _post_card(self, member: str, params: Json) -> Any:
        list_id = _required(params, "idList")
        self._board_id(member, self.state.get_list(list_id)["idBoard"])
        source = _str(params, "idCardSource")
        if source:
            self._card_id(member, source)
            return self.state.copy_card(member, source, list_id, name=_str(params, "name"))
        labels = params.get("idLabels") or []
        if isinstance(labels, str):
            labels = [x for x in labels.split(",") if x]
        return self.state.create_card(
            member,
            list_id,
            _str(params, "name", "") or "",
            desc=_str(params, "desc", "") or "",
            id_labels=labels,
        )

    def _put_card(self, member: str, params: Json, ref: str) -> Any:
        card_id = self._card_id(member, ref)
        id_board = _str(params, "idBoard")
        if id_board is not None:
            self._board_id(member, id_board)
        return self.state.update_card(
            member,
            card_id,
            id_list=_str(params, "idList"),
            closed=_bool(params, "closed", None),
            name=_str(params, "name"),
            desc=_str(params, "desc"),
            id_board=id_board,
        )

    def _delete_card(self, member: str, params: Json, ref: str) -> Any:
        self.state.delete_card(member, self._card_id(member, ref))
        return {"limits": {}}

    def _post_comment(self, member: str, params: Json, ref: str) -> Any:
        return self.state.comment(
            member, self._card_id(member, ref), _str(params, "text", "") or ""
        )

    def _put_action(self, member: str, params: Json, action_id: str) -> Any:
        action_id = self.state.check_action_access(member, action_id)
        return self.state.edit_comment(member, action_id, _str(params, "text", "") or "")

    def _put_action_text(self, member: str, params: Json, action_id: str) -> Any:
        action_id = self.state.check_action_access(member, action_id)
        return self.state.edit_comment(member, action_id, _str(params, "value", "") or "")

    def _delete_action(self, member: str, params: Json, action_id: str) -> Any:
        self.state.delete_comment(member, self.state.check_action_access(member, action_id))
        return {"_value": None}

    def _post_card_label(self, member: str, params: Json, ref: str) -> Any:
        return self.state.add_label(member, self._card_id(member, ref), _required(params, "value"))

    def _delete_card_label(self, member: str, params: Json, ref: str, label: str) -> Any:
        return self.state.remove_label(member, self._card_id(member, ref), label)

    def _put_field_item(self, member: str, params: Json, ref: str, field: str) -> Any:
        value: Any = params.get("value")
        if "idValue" in params:
            value = {"idValue": params["idValue"]}
        elif isinstance(value, str) and value.startswith("{"):
            try:
                value = json.loads(value)
            except ValueError:
                raise BadRequest("invalid value for value") from None
        return self.state.set_custom_field(member, self._card_id(member, ref), field, value)

    def _post_board(self, member: str, params: Json) -> Any:
        return self.state.create_board(
            member,
            _required(params, "name"),
            default_lists=_flag(params, "defaultLists", True),
            default_labels=_flag(params, "defaultLabels", True),
        )

    def _put_board(self, member: str, params: Json, ref: str) -> Any:
        board_id = self._board_id(member, ref)
        closed = _bool(params, "closed", None)
        if closed is None:
            return self.state.board(board_id)
        return self.state.set_board_closed(member, board_id, closed)

    def _post_list(self, member: str, params: Json) -> Any:
        board_id = self._board_id(member, _required(params, "idBoard"))
        pos = params.get("pos")
        position = float(pos) if pos is not None and _is_number(pos) else None
        return self.state.create_list(member, board_id, _required(params, "name"), pos=position)

    def _put_list(self, member: str, params: Json, list_id: str) -> Any:
        lst = self.state.get_list(list_id)
        self._board_id(member, lst["idBoard"])
        closed = _bool(params, "closed", None)
        if closed is None:
            return lst
        return self.state.set_list_closed(member, list_id, closed)

    def _post_label(self, member: str, params: Json) -> Any:
        board_id = self._board_id(member, _required(params, "idBoard"))
        return self.state.create_label(
            member, board_id, _str(params, "name", "") or "", _str(params, "color")
        )

    def _post_custom_field(self, member: str, params: Json) -> Any:
        board_id = self._board_id(member, _required(params, "idModel"))
        if _str(params, "modelType", "board") != "board":
            raise BadRequest("invalid value for modelType")
        options = params.get("options") or []
        if isinstance(options, str):
            try:
                options = json.loads(options)
            except ValueError:
                raise BadRequest("invalid value for options") from None
        if not isinstance(options, list):
            raise BadRequest("invalid value for options")
        return self.state.create_custom_field(
            member,
            board_id,
            _required(params, "name"),
            _required(params, "type"),
            options=options,
        )


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
