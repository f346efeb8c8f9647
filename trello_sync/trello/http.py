"""The HTTP transport handed to py-trello: session, credentials, pacing, retries, errors.

py-trello sets no timeout, never retries, and turns every non-200 into one generic
exception without headers. So `TrelloClient(http_service=HttpService(...))` routes every
call through here; errors are raised from `request` itself and py-trello only ever sees
a 200.

Safe to share between threads: calls are sent one at a time (a lock is held for a call's
whole life, its pacing and retry waits included), so the pacing and the counters stay
exact. A call from another thread waits for the one in progress: a first sync reading
its history ahead in a background thread, while the main thread also asks for a board's
snapshot, costs that request its turn, never a 429. Separate processes on one token are
kept apart by Trello's rate-limit headers only.
"""

from __future__ import annotations

import gc
import json
import logging
import random
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError

from trello_sync.trello.port import (
    PostOutcomeUnknown,
    TrelloAuthError,
    TrelloError,
    TrelloNotFound,
    TrelloRefused,
    TrelloUnavailable,
)

logger = logging.getLogger(__name__)

# The prefix py-trello hard-codes; rewritten to the configured base URL.
TRELLO_API_URL = "https://api.trello.com/1"
_SAFE_METHODS = frozenset({"GET", "HEAD"})
_SECRET_PARAMS = frozenset({"key", "token"})
_PRE_SEND_ERRORS = (  # raised while building the request: nothing was sent
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
)
_TRANSIENT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class PacingClock(Protocol):
    """The part of trello_sync.clock.Clock this module needs."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    """When a failed call is tried again, and when it is given up (TrelloUnavailable)."""

    max_attempts: int = 6  # per call, the first attempt included
    max_total_wait_s: float = 90.0  # retry sleeps per call; a wait past this gives up at once
    backoff_base_s: float = 1.0  # 5xx / network: wait in [d/2, d], d = min(cap, base * 2^n)
    backoff_cap_s: float = 16.0
    rate_window_s: float = 10.0  # Trello's window when a 429 carries no interval header
    rate_backoff_cap_s: float = 30.0  # 429: wait = min(cap, window * 2^n) + jitter
    rate_jitter: float = 0.1  # 429 jitter, as a fraction of the window


@dataclass(frozen=True)
class PacingPolicy:
    """How the client stays under Trello's limits so that a healthy run never sees a 429.

    Until an answer states the limits, own requests are kept to `max_requests` per
    `window_s` (Trello allows 100 / 10 s per token). Trello's answers state them
    (`x-rate-limit-api-{token,key}-max` and `-interval-ms`); with `follow_headers`, own
    requests are then kept to each stated max less `header_reserve` and `header_margin`
    per stated interval (plus `window_slack_s`, for the time answers take to arrive): 96
    per 10 s on Trello, which stays clear of a 429 and of the `remaining` pause below,
    and gives a long read the limit's full pace rather than 90 %.
    """

    max_requests: int = 90  # own requests per window while the limits are unknown
    window_s: float = 10.0
    header_reserve: int = 2  # x-rate-limit-*-remaining at or below this: wait out the window
    follow_headers: bool = True
    header_margin: int = 2  # stated max - reserve - margin = own requests per interval
    window_slack_s: float = 0.25


@dataclass
class HttpStats:
    """Counters for the CLI, the worker and the benchmarks."""

    requests: int = 0  # attempts sent, retries included
    by_status: dict[int, int] = field(default_factory=dict)
    retries: int = 0
    rate_limited: int = 0  # 429 answers
    network_errors: int = 0  # timeouts, refused or dropped connections
    paced: int = 0  # pauses taken before sending, to stay under the limits
    slept_s: float = 0.0  # pacing and retry waits together

    def copy(self) -> HttpStats:
        return replace(self, by_status=dict(self.by_status))


class _JsonResponse(requests.Response):
    """A response whose `json()` (what py-trello calls, once per answer) decodes the body
    bytes in one pass with the cyclic garbage collector held off: a page of 1000
    actions is some 30,000 new dicts and lists, none in a cycle, and collections run
    on the way through them took about a third of the decoding time."""

    def json(self, **kwargs: Any) -> Any:
        if kwargs:
            return super().json(**kwargs)
        enabled = gc.isenabled()
        if enabled:
            gc.disable()
        try:
            return json.loads(self.content)
        finally:
            if enabled:
                gc.enable()


class _OAuthHeader(AuthBase):
    """Credentials in a header keep them out of URLs, and so out of every logged URL.

    Passing an auth object also stops requests from applying ~/.netrc over the header.
    """

    def __init__(self, api_key: str, token: str) -> None:
        self._value = f'OAuth oauth_consumer_key="{api_key}", oauth_token="{token}"'

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = self._value
        return r

    def __repr__(self) -> str:
        return "<OAuthHeader ***>"


class HttpService:
    """Has `request(...)` with the signature py-trello calls on `requests`."""

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
        base = api_url.rstrip("/")
        if urlsplit(base).scheme not in ("http", "https"):
            raise ValueError("TRELLO_SYNC_API_URL must start with http:// or https://")
        self._base = base
        self._base_path = urlsplit(base).path
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._pacing = pacing or PacingPolicy()
        self._auth = _OAuthHeader(api_key, token)
        self._secrets = [s for s in (api_key, token) if s]
        self._session = session or requests.Session()
        # Explicitly no urllib3-level retries: a silently re-sent POST would double a comment.
        for prefix in ("http://", "https://"):
            self._session.mount(prefix, HTTPAdapter(max_retries=0))
        # When each recent request was sent (the longest window's worth).
        self._sent: deque[float] = deque()
        # Own-request limits: (requests, seconds) per scope, from Trello's headers.
        self._stated: dict[str, tuple[int, float]] = {}
        self._not_before = 0.0
        self._lock = threading.RLock()  # one call at a time (see the module)
        self.stats = HttpStats()

    def close(self) -> None:
        self._session.close()

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        data: Any = None,
        auth: Any = None,  # py-trello's OAuth1 (None here); the header auth replaces it
        files: Any = None,
        proxies: dict[str, str] | None = None,
        **_ignored: Any,
    ) -> requests.Response:
        """Sends one call, pacing and retrying it; returns only a 2xx response."""
        with self._lock:
            return self._request(method, url, params, headers, data, files, proxies)

    def _request(
        self,
        method: str,
        url: str,
        params: dict[str, Any] | None,
        headers: dict[str, str] | None,
        data: Any,
        files: Any,
        proxies: dict[str, str] | None,
    ) -> requests.Response:
        method = method.upper()
        target = self._rewrite(url)
        # py-trello adds key/token (None here); they must never reach a URL.
        query = {k: v for k, v in (params or {}).items() if k not in _SECRET_PARAMS}
        query = {k: v for k, v in query.items() if v is not None}
        where = self._redact(f"{method} {self._short_path(target)}")
        safe = method in _SAFE_METHODS
        attempt, failures, limited, waited = 0, 0, 0, 0.0
        while True:
            attempt += 1
            self._pace()
            started = self._clock.monotonic()
            self.stats.requests += 1
            try:
                resp = self._session.request(
                    method,
                    target,
                    params=query,
                    headers=dict(headers or {}),
                    data=data,
                    files=files,
                    auth=self._auth,
                    timeout=self._timeout,
                    proxies=proxies or None,
                )
            except requests.RequestException as exc:
                self.stats.network_errors += 1
                reason, opened = _describe(exc)
                logger.debug("%s -> %s", self._redact(self._label(where, query)), reason)
                if opened and not safe:
                    raise PostOutcomeUnknown(
                        self._redact(f"{where}: {reason}; Trello may or may not have applied it")
                    ) from exc
                if not isinstance(exc, _TRANSIENT_ERRORS):
                    raise TrelloError(self._redact(f"{where} failed: {reason}")) from exc
                wait = self._backoff(failures)
                failures += 1
                waited = self._retry_or_give_up(where, attempt, waited, wait, reason)
                continue

            status = resp.status_code
            ms = (self._clock.monotonic() - started) * 1000
            self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
            logger.debug("%s -> %d in %.0f ms", self._redact(self._label(where, query)), status, ms)
            self._learn_limits(resp)
            self._note_rate_headers(resp)
            if 200 <= status < 300:
                return self._checked_success(resp, where, safe)
            if status == 429:
                self.stats.rate_limited += 1
                wait, reason = self._rate_limit_wait(resp, limited)
                limited += 1
                waited = self._retry_or_give_up(where, attempt, waited, wait, reason)
                continue
            if status >= 500:
                if not safe:
                    raise PostOutcomeUnknown(
                        f"{where}: HTTP {status}; Trello may or may not have applied it"
                    )
                wait = self._backoff(failures)
                failures += 1
                waited = self._retry_or_give_up(where, attempt, waited, wait, f"HTTP {status}")
                continue
            raise self._client_error(where, resp)

    # -- pacing -------------------------------------------------------------------------

    def _limits(self) -> list[tuple[int, float]]:
        limits = list(self._stated.values())
        if "token" not in self._stated:  # the token's limit is the one that binds first
            limits.append((max(1, self._pacing.max_requests), self._pacing.window_s))
        return limits

    def _pace(self) -> None:
        """Waits before sending when the headers or our own recent requests ask for it."""
        now = self._clock.monotonic()
        wait = self._not_before - now
        sent = self._sent
        for cap, window in self._limits():
            if len(sent) >= cap and sent[-cap] + window > now:
                # The oldest of the last `cap` sends must leave the window first.
                wait = max(wait, sent[-cap] + window - now)
        if wait > 0:
            self.stats.paced += 1
            logger.debug("pacing: waiting %.2f s to stay under Trello's rate limit", wait)
            self._sleep(wait)
        sent.append(self._clock.monotonic())
        longest = max(cap for cap, _ in self._limits())
        while len(sent) > longest:
            sent.popleft()

    def _learn_limits(self, resp: requests.Response) -> None:
        """Own requests per interval, from the limits Trello's answer states."""
        if not self._pacing.follow_headers:
            return
        for scope in ("token", "key"):
            stated = _int_header(resp, f"x-rate-limit-api-{scope}-max")
            interval_ms = _int_header(resp, f"x-rate-limit-api-{scope}-interval-ms")
            if not stated or not interval_ms:
                continue
            cap = stated - self._pacing.header_reserve - self._pacing.header_margin
            window = interval_ms / 1000 + self._pacing.window_slack_s
            self._stated[scope] = (max(1, cap), window)

    def _note_rate_headers(self, resp: requests.Response) -> None:
        """Trello reports what is left of its window; nearly none left → sit the window out.

        The headers do not say when the window started, so the full interval is waited:
        the longest it can take, and rare for a lone client that paces itself anyway.
        """
        for scope in ("token", "key"):
            remaining = _int_header(resp, f"x-rate-limit-api-{scope}-remaining")
            if remaining is None or remaining > self._pacing.header_reserve:
                continue
            window = self._window_from_headers(resp, scope)
            self._not_before = max(self._not_before, self._clock.monotonic() + window)
            logger.info("Trello API %s limit nearly spent; pausing %.1f s", scope, window)

    def _window_from_headers(self, resp: requests.Response, scope: str) -> float:
        interval_ms = _int_header(resp, f"x-rate-limit-api-{scope}-interval-ms")
        return interval_ms / 1000 if interval_ms else self._retry.rate_window_s

    # -- retries ------------------------------------------------------------------------

    def _backoff(self, n: int) -> float:
        # "Equal jitter": wait in [d/2, d] with d doubling, so waits grow yet never align
        # across workers that failed together.
        d = min(self._retry.backoff_cap_s, self._retry.backoff_base_s * 2.0**n)
        return d / 2 + self._rng.uniform(0, d / 2)

    def _rate_limit_wait(self, resp: requests.Response, n: int) -> tuple[float, str]:
        """A 429 waits at least to the end of Trello's window, longer if it repeats.

        Hammering is costly: more than 200 429s in a window blocks the key for the rest.
        """
        error = _json_field(resp, "error") or "rate limited"
        scope = "key" if error == "API_KEY_LIMIT_EXCEEDED" else "token"
        window = self._window_from_headers(resp, scope)
        wait = min(self._retry.rate_backoff_cap_s, window * 2.0**n)
        wait += self._rng.uniform(0, window * self._retry.rate_jitter)
        retry_after = _int_header(resp, "retry-after")  # never seen from Trello; honoured
        if retry_after is not None:
            wait = max(wait, float(retry_after))
        return wait, f"HTTP 429 {error}"

    def _retry_or_give_up(
        self, where: str, attempt: int, waited: float, wait: float, reason: str
    ) -> float:
        if attempt >= self._retry.max_attempts or waited + wait > self._retry.max_total_wait_s:
            raise TrelloUnavailable(
                self._redact(
                    f"Trello unavailable: {where} failed {attempt} times "
                    f"after {waited:.1f} s of waiting (last: {reason})"
                )
            )
        self.stats.retries += 1
        limit = self._retry.max_attempts - 1
        logger.warning("%s: %s; retry %d of %d in %.1f s", where, reason, attempt, limit, wait)
        self._sleep(wait)
        return waited + wait

    def _sleep(self, seconds: float) -> None:
        self.stats.slept_s += seconds
        self._clock.sleep(seconds)

    # -- answers ------------------------------------------------------------------------

    def _checked_success(
        self, resp: requests.Response, where: str, safe: bool
    ) -> requests.Response:
        # A 200 that is not JSON (a proxy's page, a captive portal) cannot be Trello's answer.
        ctype = resp.headers.get("Content-Type", "")
        if resp.status_code == 200 and "json" not in ctype.lower():
            msg = f"{where}: HTTP 200 with a {ctype or 'untyped'} body, not JSON"
            if not safe:
                raise PostOutcomeUnknown(self._redact(msg + "; it may have been applied"))
            raise TrelloError(self._redact(msg))
        if type(resp) is requests.Response:
            resp.__class__ = _JsonResponse
        return resp

    def _client_error(self, where: str, resp: requests.Response) -> TrelloError:
        status = resp.status_code
        text = self._redact(_body_text(resp))
        if status == 401:
            return TrelloAuthError(self._redact(_auth_message(text, where)))
        if status == 404:
            return TrelloNotFound(f"{where}: not found on Trello (or not visible to the token)")
        return TrelloRefused(f"Trello refused {where}: HTTP {status}: {text or resp.reason}")

    # -- URLs and secrets ---------------------------------------------------------------

    def _rewrite(self, url: str) -> str:
        if url.startswith(TRELLO_API_URL + "/"):
            return self._base + url[len(TRELLO_API_URL) :]
        if url.startswith(self._base + "/"):
            return url
        # Never send the credentials header anywhere but the configured API.
        host = urlsplit(url).netloc
        raise TrelloError(f"refusing to send Trello credentials to an unexpected host: {host}")

    def _short_path(self, target: str) -> str:
        path = urlsplit(target).path
        return path[len(self._base_path) :] if path.startswith(self._base_path) else path

    def _label(self, where: str, query: dict[str, Any]) -> str:
        if not query:
            return where
        qs = urlencode(query, safe="/,:")
        return f"{where}?{qs[:200]}"

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _describe(exc: requests.RequestException) -> tuple[str, bool]:
    """A short reason, and whether the request may have reached Trello.

    Only a refused/unresolvable connection or a connect timeout proves it did not; a read
    timeout or a connection dropped after sending may have been applied.
    """
    if isinstance(exc, _PRE_SEND_ERRORS):
        return f"invalid request ({type(exc).__name__})", False
    if isinstance(exc, requests.ConnectTimeout):
        return "connect timeout", False
    if isinstance(exc, requests.ReadTimeout):
        return "read timeout", True
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error", True
    if isinstance(exc, requests.ConnectionError):
        inner = exc.args[0] if exc.args else None
        if isinstance(inner, MaxRetryError):
            inner = inner.reason
        # NewConnectionError (refused, DNS) subclasses ConnectTimeoutError in urllib3 2.
        if isinstance(inner, ConnectTimeoutError):
            return "could not connect", False
        return "connection dropped", True
    return type(exc).__name__, True


def _int_header(resp: requests.Response, name: str) -> int | None:
    raw = resp.headers.get(name)
    try:
        return int(float(raw)) if raw is not None else None
    except (ValueError, OverflowError):
        return None


def _json_field(resp: requests.Response, name: str) -> str | None:
    # 401/404/400 are plain text; only parse what says it is JSON.
    if "json" not in resp.headers.get("Content-Type", "").lower():
        return None
    try:
        body = resp.json()
    except ValueError:
        return None
    value = body.get(name) if isinstance(body, dict) else None
    return str(value) if value is not None else None


def _body_text(resp: requests.Response) -> str:
    """The first line of an error body, short, whether it is plain text or JSON."""
    text = _json_field(resp, "message") or _json_field(resp, "error") or resp.text or ""
    lines = text.strip().splitlines()
    return lines[0][:200] if lines else ""


def _auth_message(text: str, where: str) -> str:
    low = text.lower()
    if "invalid key" in low:
        return f"Trello rejected the API key (TRELLO_API_KEY): {text}"
    if "permission" in low:
        return f"Trello refused the token (TRELLO_TOKEN) access for {where}: {text}"
    if "token" in low:
        return f"Trello rejected the token (TRELLO_TOKEN): {text}"
    if "key" in low:
        return f"Trello rejected the API key (TRELLO_API_KEY): {text}"
    detail = text or "HTTP 401"
    return f"Trello rejected the API key or token (TRELLO_API_KEY / TRELLO_TOKEN): {detail}"
