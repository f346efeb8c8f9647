"""FakeTrello: the in-memory TrelloPort, calling the sandbox's state directly (no HTTP).

Same semantics as the HTTP client: the token is checked on every call, the board's feed is
paged newest first with `before=<oldest id of the last page>`, de-duplicated by id and
returned oldest first, or read in time slices oldest first by the same slicing logic;
errors are the port's exceptions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from trello_sync.domain.actions import object_id_time
from trello_sync.sandbox.shapes import BadRequest, NotFound, SandboxError, Unauthorized
from trello_sync.sandbox.state import SandboxState
from trello_sync.trello.http import _auth_message
from trello_sync.trello.pager import (
    MAX_PAGE_SIZE,
    CollectedFeed,
    action_order,
    fetch_all_actions,
    iter_action_pages,
)
from trello_sync.trello.port import (
    ACTION_FILTER,
    PAGE_MAX,
    BoardSnapshot,
    Json,
    PageProgress,
    TrelloAuthError,
    TrelloError,
    TrelloNotFound,
    TrelloRefused,
)
from trello_sync.trello.slices import iter_history_slices


@contextmanager
def _port_errors() -> Iterator[None]:
    """The sandbox's errors as the port's exceptions."""
    try:
        yield
    except Unauthorized as error:
        # Worded as HttpTrello words it: names the setting, never its value.
        raise TrelloAuthError(_auth_message(error.message, "this request")) from None
    except NotFound as error:
        raise TrelloNotFound(error.message) from None
    except (BadRequest, SandboxError) as error:
        refused = 400 <= error.status < 500 and error.status != 429
        kind = TrelloRefused if refused else TrelloError
        raise kind(f"HTTP {error.status}: {error.message}") from None


class FakeTrello(CollectedFeed):
    """A TrelloPort over a SandboxState, acting as the member who owns `token`."""

    def __init__(self, state: SandboxState, token: str) -> None:
        self.state = state
        self._token = token

    def __repr__(self) -> str:  # never show the token
        return "FakeTrello(state=..., token=***)"

    def _member_id(self) -> str:
        with _port_errors():
            return str(self.state.member_for_token(self._token)["id"])

    def _board_id(self, board_ref: str) -> str:
        member = self._member_id()
        with _port_errors():
            return self.state.check_board_access(member, board_ref)

    def _card_id(self, card_ref: str) -> str:
        member = self._member_id()
        with _port_errors():
            return self.state.check_card_access(member, card_ref)

    def me(self) -> Json:
        with _port_errors():
            member = self.state.member_for_token(self._token)
        return {k: member[k] for k in ("id", "username", "fullName", "initials", "idBoards")}

    def board(self, board_ref: str) -> Json:
        member = self._member_id()
        with _port_errors():
            try:
                board_id = self.state.check_board_access(member, board_ref)
            except BadRequest:
                # As HttpTrello says it: a reference that is no id nor short link (Trello's
                # 400 "invalid id") names no board.
                raise NotFound("no board has this id or short link") from None
            return self.state.board(board_id)

    def board_members(self, board_id: str) -> list[Json]:
        resolved = self._board_id(board_id)
        with _port_errors():
            return self.state.board_members(resolved)

    def board_action_pages(
        self,
        board_id: str,
        *,
        since: str | None = None,
        action_filter: str = ACTION_FILTER,
        page_size: int = 1000,
        on_page: PageProgress | None = None,
    ) -> Iterator[list[Json]]:
        return iter_action_pages(
            self._feed(board_id),
            since=since,
            action_filter=action_filter,
            page_size=page_size,
            on_page=on_page,
        )

    def board_history_slices(
        self,
        board_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        action_filter: str = ACTION_FILTER,
        page_size: int = MAX_PAGE_SIZE,
        on_page: PageProgress | None = None,
    ) -> Iterator[list[Json]]:
        fetch = self._feed(board_id)
        resolved = self._board_id(board_id)
        return iter_history_slices(
            fetch,
            origin=object_id_time(resolved),
            start=start,
            end=end,
            action_filter=action_filter,
            page_size=page_size,
            on_page=on_page,
        )

    def _feed(self, board_id: str) -> Callable[[dict[str, str]], list[Json]]:
        resolved = self._board_id(board_id)

        def fetch(params: dict[str, str]) -> list[Json]:
            self._member_id()  # a token revoked while paging fails the next page
            with _port_errors():
                return self.state.board_actions(
                    resolved,
                    filter=params["filter"],
                    since=params.get("since"),
                    before=params.get("before"),
                    limit=int(params["limit"]),
                )

        return fetch

    def recent_actions_many(
        self, requests: Sequence[tuple[str, str]]
    ) -> dict[str, list[Json] | None]:
        found: dict[str, list[Json] | None] = {}
        for board_id, since in requests:
            resolved = self._board_id(board_id)
            with _port_errors():
                page = self.state.board_actions(resolved, filter="all", since=since, limit=PAGE_MAX)
            found[board_id] = (
                None
                if len(page) >= PAGE_MAX
                else sorted((a for a in page if a.get("id") != since), key=action_order)
            )
        return found

    def board_snapshot(self, board_id: str) -> BoardSnapshot:
        resolved = self._board_id(board_id)
        with _port_errors():
            return BoardSnapshot(
                board=self.state.board(resolved),
                lists=tuple(self.state.board_lists(resolved, "all")),
                cards=tuple(
                    self.state.board_cards(resolved, "open", custom_field_items=True)
                    + self.state.board_cards(resolved, "closed", custom_field_items=True)
                ),
                custom_fields=tuple(self.state.board_custom_fields(resolved)),
            )

    def card_comments(self, card_id: str) -> list[Json]:
        resolved = self._card_id(card_id)

        def fetch(params: dict[str, str]) -> list[Json]:
            with _port_errors():
                return self.state.card_actions(
                    resolved,
                    filter=params["filter"],
                    before=params.get("before"),
                    limit=int(params["limit"]),
                )

        return fetch_all_actions(fetch, since=None, action_filter="commentCard")

    def post_comment(self, card_id: str, text: str) -> Json:
        member = self._member_id()
        resolved = self._card_id(card_id)
        with _port_errors():
            return self.state.comment(member, resolved, text)
