"""HttpTrello: the TrelloPort over py-trello, with HttpService as its transport."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import requests
import trello
from trello import exceptions as trello_exceptions

from trello_sync.domain.actions import object_id_time
from trello_sync.trello.http import HttpService, HttpStats, PacingClock, PacingPolicy, RetryPolicy
from trello_sync.trello.pager import (
    MAX_PAGE_SIZE,
    CollectedFeed,
    action_order,
    fetch_all_actions,
    iter_action_pages,
)
from trello_sync.trello.port import (
    ACTION_FILTER,
    BATCH_MAX_ROUTES,
    PAGE_MAX,
    BoardSnapshot,
    Json,
    PageProgress,
    PostOutcomeUnknown,
    TrelloAuthError,
    TrelloError,
    TrelloNotFound,
    TrelloRefused,
    TrelloUnavailable,
)
from trello_sync.trello.slices import iter_history_slices

logger = logging.getLogger(__name__)

MAX_COMMENT_LENGTH = 16384  # Trello refuses longer comment texts
_BATCH_MAX_ROUTES = BATCH_MAX_ROUTES


def _seg(value: str) -> str:
    # Ids and short links are plain; quoting keeps a stray '/' or '?' from changing the route.
    return quote(value, safe="")


class HttpTrello(CollectedFeed):
    """Talks to Trello (or the sandbox) over HTTP; every call goes through HttpService."""

    def __init__(
        self,
        api_url: str,
        api_key: str,
        token: str,
        *,
        clock: PacingClock,
        rng: random.Random | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        retry: RetryPolicy | None = None,
        pacing: PacingPolicy | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self._http = HttpService(
            api_url,
            api_key,
            token,
            clock=clock,
            rng=rng,
            timeout=timeout,
            retry=retry,
            pacing=pacing,
            session=session,
        )
        # No key/secret given to py-trello: credentials travel only in HttpService's header.
        self._client = trello.TrelloClient(api_key=None, api_secret=None, http_service=self._http)

    @property
    def stats(self) -> HttpStats:
        return self._http.stats

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HttpTrello:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- TrelloPort ---------------------------------------------------------------------

    def me(self) -> Json:
        return self._json_object("/members/me", {"fields": "id,username,fullName"})

    def board(self, board_ref: str) -> Json:
        path = f"/boards/{_seg(board_ref)}"
        try:
            return self._json_object(path, {"fields": "id,name,shortLink,closed"})
        except (TrelloAuthError, TrelloNotFound, TrelloUnavailable):
            raise
        except TrelloError as error:
            # Trello's 400 "invalid id" for a reference that is no id nor short link: no
            # board is known by it, as a 404 would say.
            if "HTTP 400" not in str(error):
                raise
            raise TrelloNotFound(f"GET {path}: no board has this id or short link") from None

    def board_members(self, board_id: str) -> list[Json]:
        return self._json_list(f"/boards/{_seg(board_id)}/members", {"fields": "username,fullName"})

    def board_action_pages(
        self,
        board_id: str,
        *,
        since: str | None = None,
        action_filter: str = ACTION_FILTER,
        page_size: int = MAX_PAGE_SIZE,
        on_page: PageProgress | None = None,
    ) -> Iterator[list[Json]]:
        path = f"/boards/{_seg(board_id)}/actions"
        return iter_action_pages(
            lambda params: self._json_list(path, params),
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
        path = f"/boards/{_seg(board_id)}/actions"
        return iter_history_slices(
            lambda params: self._json_list(path, params),
            origin=object_id_time(board_id),
            start=start,
            end=end,
            action_filter=action_filter,
            page_size=page_size,
            on_page=on_page,
        )

    def recent_actions_many(
        self, requests: Sequence[tuple[str, str]]
    ) -> dict[str, list[Json] | None]:
        """Idle polls of many boards, ten to a /batch request: 1,000 boards cost 100
        requests instead of 1,000. The routes ask `filter=all`, because /batch splits its
        `urls` on commas and a list of types has commas; the caller keeps what it needs."""
        found: dict[str, list[Json] | None] = {}
        items = list(requests)
        for start in range(0, len(items), _BATCH_MAX_ROUTES):
            chunk = items[start : start + _BATCH_MAX_ROUTES]
            routes = [
                (
                    f"/boards/{_seg(board_id)}/actions",
                    {"filter": "all", "limit": str(PAGE_MAX), "since": since},
                )
                for board_id, since in chunk
            ]
            for (board_id, since), page in zip(chunk, self._batch(routes), strict=True):
                if not isinstance(page, list) or len(page) >= PAGE_MAX:
                    found[board_id] = None  # more than one page: the pager reads it alone
                    continue
                found[board_id] = sorted(
                    (a for a in page if a.get("id") != since), key=action_order
                )
        return found

    def board_snapshot(self, board_id: str) -> BoardSnapshot:
        """One /batch request for all five reads (one moment, one request against the limit).

        The routes carry no comma inside their own query (`fields=all`, not a field list),
        because /batch splits `urls` on commas. An item that failed in the batch is fetched
        alone, so that its real error (404, 401, …) surfaces with its own status.
        """
        b = f"/boards/{_seg(board_id)}"
        routes: list[tuple[str, dict[str, str]]] = [
            (b, {"fields": "all"}),
            (f"{b}/lists", {"filter": "all"}),
            (f"{b}/cards", {"customFieldItems": "true", "fields": "all"}),
            (f"{b}/cards/closed", {"customFieldItems": "true", "fields": "all"}),
            (f"{b}/customFields", {}),
        ]
        board, lists, open_cards, closed_cards, fields = self._batch(routes)
        # Open first, then closed: a card archived between two separate reads shows twice
        # (kept once, as archived) rather than not at all.
        cards: dict[str, Json] = {}
        for card in [*_expect_list(open_cards, b), *_expect_list(closed_cards, b)]:
            cards[str(card["id"])] = card
        if not isinstance(board, dict):
            raise TrelloError(f"GET {b}: expected a board object from Trello")
        return BoardSnapshot(
            board=board,
            lists=tuple(_expect_list(lists, b)),
            cards=tuple(cards.values()),
            custom_fields=tuple(_expect_list(fields, b)),
        )

    def card_comments(self, card_id: str) -> list[Json]:
        # Paged like the board feed: a long-lived card can hold more than 1000 comments.
        path = f"/cards/{_seg(card_id)}/actions"
        return fetch_all_actions(
            lambda params: self._json_list(path, params),
            since=None,
            action_filter="commentCard",
            page_size=MAX_PAGE_SIZE,
        )

    def post_comment(self, card_id: str, text: str) -> Json:
        if not 1 <= len(text) <= MAX_COMMENT_LENGTH:
            raise TrelloRefused(
                f"a comment must be 1 to {MAX_COMMENT_LENGTH} characters long, not {len(text)}"
            )
        # The text goes in the JSON body, not the query: it stays out of URLs and logs.
        path = f"/cards/{_seg(card_id)}/actions/comments"
        result = self._call(path, "POST", body={"text": text})
        if not isinstance(result, dict) or "id" not in result:
            raise PostOutcomeUnknown(f"POST {path}: the answer is not a comment action")
        return result

    # -- plumbing -----------------------------------------------------------------------

    def _batch(self, routes: list[tuple[str, dict[str, str]]]) -> list[Any]:
        assert len(routes) <= _BATCH_MAX_ROUTES
        urls = [f"{path}?{urlencode(q)}" if q else path for path, q in routes]
        assert not any("," in u for u in urls), "a comma would split a batch route"
        answers: list[Any] | None
        try:
            answer = self._call("/batch", "GET", params={"urls": ",".join(urls)})
            answers = answer if isinstance(answer, list) and len(answer) == len(urls) else None
        except (TrelloAuthError, TrelloUnavailable):
            raise  # the separate reads would fail the same way, only slower
        except TrelloError as exc:
            logger.info("batch read refused (%s); reading one route at a time", exc)
            answers = None
        results: list[Any] = []
        for i, (path, query) in enumerate(routes):
            item = answers[i] if answers is not None else None
            if isinstance(item, dict) and set(item) == {"200"}:
                results.append(item["200"])
            else:
                if answers is not None:
                    logger.info("batch item %s failed (%s); reading it alone", path, item)
                results.append(self._call(path, "GET", params=query))
        return results

    def _json_object(self, path: str, params: dict[str, str]) -> Json:
        result = self._call(path, "GET", params=params)
        if not isinstance(result, dict):
            raise TrelloError(f"GET {path}: expected a JSON object from Trello")
        return result

    def _json_list(self, path: str, params: dict[str, str]) -> list[Json]:
        result = self._call(path, "GET", params=params)
        if not isinstance(result, list):
            raise TrelloError(f"GET {path}: expected a JSON list from Trello")
        return result

    def _call(
        self,
        path: str,
        method: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        try:
            # Fresh dicts every call: py-trello adds key/token to query_params in place.
            return self._client.fetch_json(
                path,
                http_method=method,
                query_params=dict(params or {}),
                post_args=dict(body) if body is not None else None,
            )
        except trello_exceptions.ResourceUnavailable as exc:
            # Only a 2xx other than 200 gets here (HttpService raises on the rest).
            status = getattr(exc, "_status", None) or "non-200"
            raise self._unexpected(method, path, f"HTTP {status}") from None
        except ValueError:  # a 200 whose JSON does not parse
            raise self._unexpected(method, path, "unreadable JSON") from None

    @staticmethod
    def _unexpected(method: str, path: str, what: str) -> TrelloError:
        msg = f"{method} {path}: unexpected answer from Trello ({what})"
        return TrelloError(msg) if method == "GET" else PostOutcomeUnknown(msg)


def _expect_list(value: Any, where: str) -> list[Json]:
    # Never read a malformed answer as "empty": an empty board looks like lost students.
    if not isinstance(value, list):
        raise TrelloError(f"{where}: expected a JSON list from Trello")
    return value
