"""The Trello calls only `trello-sync setup` makes: who a token is, what it may do, the
member's boards, and creating a board, its lists and its labels.

Built on HttpTrello, so that these calls share its transport: the credentials travel in
the Authorization header only, 401/404/429 and timeouts are handled the same way, and
the token (which is part of the `/tokens/{token}` path) is redacted from every error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from trello_sync.trello.client import HttpTrello, _seg
from trello_sync.trello.port import BATCH_MAX_ROUTES, Json, TrelloError


@dataclass(frozen=True)
class TokenInfo:
    """What `GET /1/tokens/{token}` says of a token."""

    member_id: str
    can_read: bool
    can_write: bool
    expires: str | None  # an ISO date, or None: never

    @classmethod
    def of(cls, answer: Json) -> TokenInfo:
        permissions = answer.get("permissions")
        if not isinstance(permissions, list) or not isinstance(answer.get("idMember"), str):
            raise TrelloError("GET /tokens/…: Trello's answer has no permissions or member")
        # The service reads boards and posts comments on their cards: the permission on
        # boards is the one that counts ("*" is every board the member can see).
        boards = [p for p in permissions if isinstance(p, dict) and p.get("modelType") == "Board"]
        expires = answer.get("dateExpires")
        return cls(
            member_id=answer["idMember"],
            can_read=any(p.get("read") is True for p in boards),
            can_write=any(p.get("write") is True for p in boards),
            expires=str(expires) if expires else None,
        )

    @property
    def permissions(self) -> str:
        granted = [name for name, ok in (("read", self.can_read), ("write", self.can_write)) if ok]
        return ", ".join(granted) or "none"


class TrelloAccount(HttpTrello):
    """HttpTrello plus the reads and writes of setting a board up."""

    def token_info(self, token: str) -> TokenInfo:
        return TokenInfo.of(self._json_object(f"/tokens/{_seg(token)}", {"fields": "all"}))

    def open_boards(self) -> list[Json]:
        """The member's open boards: {id, name, shortLink, url}, in Trello's order."""
        return self._json_list(
            "/members/me/boards", {"filter": "open", "fields": "id,name,shortLink,url,closed"}
        )

    def open_card_counts(self, board_ids: Sequence[str]) -> dict[str, int | None]:
        """How many open cards each board holds, ten boards to a /1/batch request.

        None for a board whose count could not be read: the count only helps the user
        pick, so one unreadable board does not stop the list from being shown."""
        counts: dict[str, int | None] = {}
        ids = list(board_ids)
        for start in range(0, len(ids), BATCH_MAX_ROUTES):
            chunk = ids[start : start + BATCH_MAX_ROUTES]
            routes = [(f"/boards/{_seg(i)}/cards", {"fields": "id"}) for i in chunk]
            try:
                answers: list[Any] = self._batch(routes)
            except TrelloError:
                answers = [None] * len(chunk)
            for board_id, cards in zip(chunk, answers, strict=True):
                counts[board_id] = len(cards) if isinstance(cards, list) else None
        return counts

    def board_labels(self, board_id: str) -> list[Json]:
        return self._json_list(f"/boards/{_seg(board_id)}/labels", {"limit": "1000"})

    def create_board(self, name: str) -> Json:
        # No default lists ("To Do", "Doing", "Done") nor colour-only labels: setup adds
        # the stage lists and the project labels itself.
        body = {"name": name, "defaultLists": "false", "defaultLabels": "false"}
        return self._created("/boards", body)

    def create_list(self, board_id: str, name: str) -> Json:
        return self._created("/lists", {"idBoard": board_id, "name": name, "pos": "bottom"})

    def create_label(self, board_id: str, name: str, color: str) -> Json:
        return self._created("/labels", {"idBoard": board_id, "name": name, "color": color})

    def _created(self, path: str, body: dict[str, str]) -> Json:
        result = self._call(path, "POST", body=body)
        if not isinstance(result, dict) or "id" not in result:
            raise TrelloError(f"POST {path}: Trello's answer is not the object created")
        return result
