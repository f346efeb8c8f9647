"""Paging through an actions feed: pure logic, no HTTP, so every edge is tested directly.

Trello answers newest first, at most 1000 actions a request; older ones are reached with
`before=<oldest id of the last page>`. Whether `since`/`before` include their boundary
is unconfirmed, so actions are de-duplicated by id and either answer is safe.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trello_sync.trello.port import PageProgress, TrelloError

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
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, not {page_size}")
    by_id: dict[str, Action] = {}
    before: str | None = None
    oldest_date: str | None = None
    while True:
        params = {"filter": action_filter, "limit": str(page_size)}
        if since:
            params["since"] = since
        if before:
            params["before"] = before
        page = fetch_page(params)

        new = 0
        cursor: str | None = None
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
            if aid not in by_id:
                new += 1
            # A re-read copy is the fresher one (a comment can be edited while paging).
            by_id[aid] = action
        if on_page is not None:
            on_page(len(by_id), oldest_date)

        if len(page) < page_size or cursor is None:
            break  # a short page is the last one
        if cursor == since:
            break  # `since` is inclusive here, and it has been reached
        if cursor == before or new == 0:
            raise PagingStalled(
                f"Trello's actions feed stopped moving back at action {cursor} "
                f"({len(by_id)} actions read); refusing to return a partial history"
            )
        before = cursor
    return sorted(by_id.values(), key=action_order)
