"""Paging through an actions feed: pure logic, no HTTP, so every edge is tested directly.

Trello answers newest first, at most 1000 actions a request; older ones are reached with
`before=<oldest id of the last page>`. Whether `since`/`before` include their boundary
is unconfirmed, so actions are de-duplicated by id and either answer is safe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from trello_sync.trello.port import ACTION_FILTER, PageProgress, TrelloError

MAX_PAGE_SIZE = 1000  # Trello's cap on `limit` for actions

Action = dict[str, Any]
FetchPage = Callable[[dict[str, str]], list[Action]]


class PagingStalled(TrelloError):
    """A full page brought nothing new: the feed ignores `before`, so the rest is out of reach.

    Raised rather than returning what was read: a partial history that looks complete
    would let the caller move its checkpoint past actions it never saw.
    """


def action_order(action: Action) -> tuple[str, str]:
    """Oldest first: Trello dates are fixed-width UTC ('…T12:00:00.000Z'), ids hex of one
    length, so plain string order is time order and the id breaks ties."""
    return (str(action.get("date") or ""), str(action["id"]))


def fetch_all_actions(
    fetch_page: FetchPage,
    *,
    since: str | None,
    action_filter: str,
    page_size: int = MAX_PAGE_SIZE,
    on_page: PageProgress | None = None,
) -> list[Action]:
    """Every action newer than `since` (all history when None), oldest first by (date, id).

    `fetch_page(params)` performs one request with the given query parameters and returns
    the decoded JSON list. The action whose id is `since` itself is left out.
    """
    return collect_pages(
        iter_action_pages(
            fetch_page,
            since=since,
            action_filter=action_filter,
            page_size=page_size,
            on_page=on_page,
        )
    )


def collect_pages(pages: Iterable[list[Action]]) -> list[Action]:
    """The actions of these pages once each, oldest first by (date, id)."""
    by_id: dict[str, Action] = {}
    for page in pages:
        for action in page:
            # A re-read copy is the fresher one (a comment can be edited while paging).
            by_id[str(action["id"])] = action
    return sorted(by_id.values(), key=action_order)


def iter_action_pages(
    fetch_page: FetchPage,
    *,
    since: str | None,
    action_filter: str,
    page_size: int = MAX_PAGE_SIZE,
    on_page: PageProgress | None = None,
) -> Iterator[list[Action]]:
    """The pages of `fetch_all_actions`, newest first, as they arrive: for a caller that
    keeps a long history out of memory. An action can come twice (a boundary read again);
    the later copy is the fresher one. Raises PagingStalled before yielding a page that
    does not move back, so a consumer never mistakes a partial history for a whole one.
    """
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, not {page_size}")
    before: str | None = None
    oldest_date: str | None = None
    count = 0
    while True:
        params = {"filter": action_filter, "limit": str(page_size)}
        if since:
            params["since"] = since
        if before:
            params["before"] = before
        page = fetch_page(params)

        cursor: str | None = None
        kept: list[Action] = []
        for action in page:
            aid, date = str(action["id"]), str(action.get("date") or "")
            # The cursor is the smallest id, not the last item: a page can arrive out of
            # order. Ids (not dates) because `before` takes an id; an action whose date
            # disagrees with its id (Trello's order is not causal) then costs no loss.
            if cursor is None or aid < cursor:
                cursor = aid
            if date and (oldest_date is None or date < oldest_date):
                oldest_date = date
            if aid == since:
                continue
            # Every id read so far is at least `before` (each page's smallest id is
            # smaller than the last's), so exactly the ids below it are new.
            if before is None or aid < before:
                count += 1
            kept.append(action)
        full = len(page) >= page_size
        if full and before is not None and cursor is not None and cursor >= before:
            raise PagingStalled(
                f"Trello's actions feed stopped moving back at action {cursor} "
                f"({count} actions read); refusing to return a partial history"
            )
        yield kept
        if on_page is not None:
            on_page(count, oldest_date)

        if not full or cursor is None:
            return  # a short page is the last one
        if cursor == since:
            return  # `since` is inclusive here, and it has been reached
        before = cursor


class CollectedFeed:
    """`board_actions` for a port that has `board_action_pages`: one pager for both the
    HTTP client and the in-memory fake, held to one contract."""

    def board_action_pages(
        self,
        board_id: str,
        *,
        since: str | None = None,
        action_filter: str = ACTION_FILTER,
        page_size: int = MAX_PAGE_SIZE,
        on_page: PageProgress | None = None,
    ) -> Iterator[list[Action]]:
        raise NotImplementedError

    def board_actions(
        self,
        board_id: str,
        *,
        since: str | None = None,
        action_filter: str = ACTION_FILTER,
        page_size: int = MAX_PAGE_SIZE,
        on_page: PageProgress | None = None,
    ) -> list[Action]:
        pages = self.board_action_pages(
            board_id, since=since, action_filter=action_filter, page_size=page_size, on_page=on_page
        )
        return collect_pages(pages)
