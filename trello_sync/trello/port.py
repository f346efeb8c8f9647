"""The Trello port: everything the service asks of Trello, as a small protocol.

Values are Trello's own JSON shapes (plain dicts), so that the HTTP client, the
in-memory fake and the sandbox can be held to one contract suite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

Json = dict[str, Any]

# Every action type the service reads from a board's feed.
ACTION_FILTER = ",".join(
    [
        "createCard",
        "copyCard",
        "convertToCardFromCheckItem",
        "moveCardToBoard",
        "moveCardFromBoard",
        "updateCard",
        "deleteCard",
        "commentCard",
    ]
)

ACTION_TYPES = frozenset(ACTION_FILTER.split(","))
# The most boards one /1/batch request may carry, and the largest page Trello returns.
BATCH_MAX_ROUTES = 10
PAGE_MAX = 1000

# Called by the pager after each page: (actions fetched so far, oldest date seen). The
# history slices call it too: (actions fetched so far, the date handed over up to).
PageProgress = Callable[[int, str | None], None]


class TrelloError(Exception):
    """Trello answered with an error the service cannot work around."""


class TrelloAuthError(TrelloError):
    """401: the API key or the token is invalid (message names which, never the value)."""


class TrelloNotFound(TrelloError):
    """404: the board, card or action does not exist (or the token cannot see it)."""


class TrelloRefused(TrelloError):
    """Trello refused the request as it is (a 4xx other than 401, 404 and 429, or a
    comment text outside 1 to 16,384 characters): sending it again will not help."""


class TrelloUnavailable(TrelloError):
    """The retry budget ran out (429, 5xx, timeouts): nothing from this call is usable."""


class PostOutcomeUnknown(TrelloError):
    """A POST was sent but its answer was lost (read timeout, dropped connection).

    Trello may or may not have applied it; the caller must not blindly send it again.
    """


@dataclass(frozen=True)
class BoardSnapshot:
    """What a board looks like now: enough to resolve stages, projects and levels."""

    board: Json  # {id, name, shortLink, ...}
    lists: Sequence[Json]  # open and archived lists: {id, name, closed, pos}
    cards: Sequence[Json]  # open AND archived cards, each with labels, desc, customFieldItems
    custom_fields: Sequence[Json] = field(default_factory=tuple)  # {id, name, type, options}


class TrelloPort(Protocol):
    def me(self) -> Json:
        """GET /1/members/me: the member who owns the token ({id, username, fullName})."""
        ...

    def board(self, board_ref: str) -> Json:
        """GET /1/boards/{ref}: resolves a board id or short link ({id, name, shortLink}).

        TrelloNotFound when no board has that id or short link, including a reference
        that is neither (Trello answers those 400 "invalid id")."""
        ...

    def board_members(self, board_id: str) -> list[Json]:
        """GET /1/boards/{id}/members: the board's members ({id, username, fullName})."""
        ...

    def board_actions(
        self,
        board_id: str,
        *,
        since: str | None = None,
        action_filter: str = ACTION_FILTER,
        page_size: int = 1000,
        on_page: PageProgress | None = None,
    ) -> list[Json]:
        """Every action newer than `since` (a date or an action id; None = all history).

        Pages newest-first with `before=` until a short page, de-duplicates by id and
        returns the actions sorted oldest first by (date, id).
        """
        ...

    def board_action_pages(
        self,
        board_id: str,
        *,
        since: str | None = None,
        action_filter: str = ACTION_FILTER,
        page_size: int = 1000,
        on_page: PageProgress | None = None,
    ) -> Iterator[list[Json]]:
        """The pages `board_actions` reads, newest first, each as it arrives (one request
        per page, not before it is asked for): for a history too long to hold in memory.
        An action can come twice; the later copy is the fresher one."""
        ...

    def board_history_slices(
        self,
        board_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        action_filter: str = ACTION_FILTER,
        page_size: int = PAGE_MAX,
        on_page: PageProgress | None = None,
    ) -> Iterator[list[Json]]:
        """The board's actions dated in [start, end) (None: from the board's creation, and
        anything dated before it; up to the newest action), in time slices, oldest slice
        first, each read with `since`/`before` dates when it is asked for.

        Each slice is complete (every action of the feed dated in its range) and sorted
        oldest first by (date, id); every action comes exactly once across the slices. So
        a caller may apply a slice and checkpoint at its newest action before asking for
        the next. The one exception to the order: an action the feed did not show when
        the slice of its date was read comes once, at the front of a later slice. A short
        history is one request; no page is read twice unless a slice proves far denser
        than estimated (see trello/slices.py)."""
        ...

    def recent_actions_many(
        self, requests: Sequence[tuple[str, str]]
    ) -> dict[str, list[Json] | None]:
        """For each (board_id, since): the board's actions of every type newer than
        `since`, oldest first, fetched ten boards to a request (/1/batch). None for a board
        whose page came back full (or failed): page that board alone with board_actions.
        """
        ...

    def board_snapshot(self, board_id: str) -> BoardSnapshot:
        """Lists, open and archived cards (with labels and custom-field items), fields."""
        ...

    def card_comments(self, card_id: str) -> list[Json]:
        """The card's commentCard actions, oldest first."""
        ...

    def post_comment(self, card_id: str, text: str) -> Json:
        """POST /1/cards/{id}/actions/comments: returns the new commentCard action."""
        ...
