"""Posting a message to a Slack incoming webhook, or to a Slack-compatible one (Mattermost
and Rocket.Chat take the same payloads).

Slack answers `200 ok`; a refusal is a plain-text code (`invalid_payload`,
`channel_not_found`, `no_service`, …) with a 400, 403, 404 or 410; a 429 says in
`Retry-After` how long to wait; a 5xx is Slack's own trouble. So:

- a 429 is waited for, as long as it asks but never more than `max_retry_after_s`
  (a longer wait gives the message up for this time: the caller tries at its next cycle);
- a 5xx, or a connection that could not be made, is tried again with a doubling
  back-off, a few times;
- a refused message is one SlackError naming Slack's code and what to do about it; a
  refusal of the blocks (`invalid_blocks`, `invalid_payload`) is tried once more as the
  plain-text fallback alone, so a summary still arrives;
- an answer lost after the request went out (a read time-out, a dropped connection) is
  SlackError(unknown=True): Slack may have posted it, and a webhook has no way to ask,
  so it is never sent again blindly.

The URL is a credential: no message, error or log line here holds it (nor the text of a
requests exception, which does), and redirects are not followed.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError

from trello_sync.clock import Clock
from trello_sync.domain.daily import webhook_shown

log = logging.getLogger(__name__)

SETTING = "TRELLO_SYNC_SLACK_WEBHOOK_URL"

# Slack's codes, with what to do about each. A code in SETTING_ERRORS means the webhook
# itself must change (exit code 2 for `summary --slack`); the others are passing.
EXPLAINED = {
    "invalid_payload": "Slack could not read the message",
    "invalid_blocks": "Slack refused the message's blocks",
    "invalid_blocks_format": "Slack refused the message's blocks",
    "no_text": "the message had no text",
    "missing_text_or_fallback_or_attachments": "the message had no text",
    "too_many_attachments": "the message had too many attachments",
    "channel_not_found": "the webhook's channel no longer exists: make a new webhook",
    "channel_is_archived": "the webhook's channel is archived: unarchive it or make a new webhook",
    "no_service": "the webhook was removed or disabled: make a new one",
    "no_service_id": "the webhook was removed or disabled: make a new one",
    "no_team": "the webhook's workspace is gone: make a new webhook",
    "team_disabled": "the webhook's workspace is disabled",
    "invalid_token": "the webhook's token is not valid: make a new webhook",
    "action_prohibited": "a workspace admin restricts posting to this channel",
    "posting_to_general_channel_denied": "only admins may post to this channel",
    "user_not_found": "the webhook's user is gone: make a new webhook",
    "rollup_error": "Slack failed on its side",
}
SETTING_ERRORS = frozenset(
    {
        "channel_not_found",
        "channel_is_archived",
        "no_service",
        "no_service_id",
        "no_team",
        "team_disabled",
        "invalid_token",
        "action_prohibited",
        "posting_to_general_channel_denied",
        "user_not_found",
    }
)
BLOCK_ERRORS = frozenset({"invalid_blocks", "invalid_blocks_format", "invalid_payload"})
# The `error` label of the metric: Slack's codes above, and these of our own.
OWN_KINDS = ("rate_limited", "unavailable", "network", "unknown", "redirect", "other")
_CODE = re.compile(r"[a-z][a-z0-9_]{1,63}")


class SlackError(Exception):
    """A message not delivered (or not known to be): one line, naming no URL."""

    def __init__(self, kind: str, message: str, *, setting: bool = False, unknown: bool = False):
        super().__init__(message)
        self.kind = kind  # Slack's code, or one of OWN_KINDS: the metric's label
        self.setting = setting  # the webhook itself must change
        self.unknown = unknown  # sent, its answer lost: it may have been posted


@dataclass(frozen=True)
class SlackRetry:
    """How long one post may take: every wait is bounded, and so is their sum."""

    max_attempts: int = 4  # the first included
    backoff_s: float = 1.0  # 5xx and connection failures: 1, 2, 4 s
    max_retry_after_s: float = 30.0  # a 429 asking for longer is given up at once
    max_total_wait_s: float = 45.0


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """An auth that adds nothing: without one, requests would send ~/.netrc's password
    for the webhook's host."""
    return request


class SlackPoster:
    def __init__(
        self,
        url: str,
        clock: Clock,
        *,
        timeout: tuple[float, float] = (5.0, 10.0),
        retry: SlackRetry | None = None,
        session: requests.Session | None = None,
        stopping: Callable[[], bool] | None = None,
    ) -> None:
        self._url = url
        self._clock = clock
        self._timeout = timeout
        self._retry = retry or SlackRetry()
        self._stopping = stopping or (lambda: False)
        self._session = session or requests.Session()
        # No urllib3-level retries: a POST re-sent under the hood could post twice.
        for prefix in ("http://", "https://"):
            self._session.mount(prefix, HTTPAdapter(max_retries=0))

    @property
    def shown(self) -> str:
        """Where it posts, as a message may say it: scheme and host only."""
        return webhook_shown(self._url)

    def close(self) -> None:
        self._session.close()

    def post(self, payload: Mapping[str, Any]) -> None:
        """Deliver `payload`, or raise SlackError."""
        body = _encoded(payload)
        attempt, failures, waited, fell_back = 0, 0, 0.0, False
        while True:
            attempt += 1
            try:
                answer = self._session.post(
                    self._url,
                    data=body,
                    headers={"Content-Type": "application/json; charset=utf-8"},
                    timeout=self._timeout,
                    allow_redirects=False,
                    auth=_no_auth,
                )
            except requests.RequestException as error:
                reason, maybe_sent = _describe(error)
                if maybe_sent:
                    raise SlackError(
                        "unknown",
                        f"Slack's answer was lost ({reason}): the message may have been "
                        "posted, so it is not sent again",
                        unknown=True,
                    ) from None
                wait = self._retry.backoff_s * 2.0**failures
                failures += 1
                waited = self._wait(attempt, waited, wait, "network", f"Slack {reason}")
                continue
            status = answer.status_code
            log.debug("Slack webhook -> %d", status)
            if 200 <= status < 300:
                return
            text = _first_line(answer)
            if status == 429:
                wait = _retry_after(answer, self._retry.backoff_s * 2.0**failures)
                if wait > self._retry.max_retry_after_s:
                    raise SlackError(
                        "rate_limited",
                        f"Slack's rate limit asks to wait {wait:.0f} s, more than "
                        f"{self._retry.max_retry_after_s:.0f}: tried again later",
                    )
                waited = self._wait(attempt, waited, wait, "rate_limited", "Slack's rate limit")
                continue
            if status >= 500:
                wait = self._retry.backoff_s * 2.0**failures
                failures += 1
                waited = self._wait(
                    attempt, waited, wait, "unavailable", f"Slack unavailable (HTTP {status})"
                )
                continue
            if 300 <= status < 400:
                raise SlackError(
                    "redirect",
                    f"{SETTING}: the webhook answered a redirect (HTTP {status}), not a "
                    "webhook's answer: check the URL",
                    setting=True,
                )
            code = text if _CODE.fullmatch(text) else ""
            if code in BLOCK_ERRORS and "blocks" in payload and not fell_back:
                # The fallback text alone still carries the whole message.
                log.warning("Slack refused the message's blocks (%s): sending its text alone", code)
                body, fell_back = _encoded({"text": payload.get("text") or ""}), True
                continue
            raise _refused(status, code)

    def _wait(self, attempt: int, waited: float, wait: float, kind: str, reason: str) -> float:
        """Wait before the next attempt, or give up when the budget would be spent."""
        budget = self._retry
        if attempt >= budget.max_attempts or waited + wait > budget.max_total_wait_s:
            raise SlackError(
                kind, f"{reason}: not delivered after {attempt} tries, tried again later"
            )
        log.debug("%s; try %d in %.1f s", reason, attempt + 1, wait)
        self._clock.sleep(wait)
        if self._stopping():
            raise SlackError(kind, f"{reason}: stopping before another try")
        return waited + wait


def _encoded(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def _first_line(answer: requests.Response) -> str:
    lines = (answer.text or "").strip().splitlines()
    return lines[0].strip()[:200] if lines else ""


def _retry_after(answer: requests.Response, default: float) -> float:
    raw = answer.headers.get("Retry-After")
    try:
        return max(0.0, float(raw)) if raw is not None else default
    except ValueError:  # an HTTP date, or garbage: the back-off's own wait
        return default


def _refused(status: int, code: str) -> SlackError:
    if code:
        explained = EXPLAINED.get(code, "Slack refused it")
        setting = code in SETTING_ERRORS
        where = f"{SETTING}: " if setting else ""
        kind = code if code in EXPLAINED else "other"
        return SlackError(
            kind, f"{where}Slack refused the message: {code} ({explained})", setting=setting
        )
    # Not one of Slack's codes (a Slack-compatible server, a proxy): the status says it.
    setting = status in (401, 403, 404, 410)
    where = f"{SETTING}: " if setting else ""
    return SlackError(
        "other", f"{where}the webhook refused the message: HTTP {status}", setting=setting
    )


def _describe(error: requests.RequestException) -> tuple[str, bool]:
    """A short reason without the URL, and whether the request may have reached Slack:
    only a connection never made (refused, no such host, connect time-out) proves not."""
    if isinstance(error, requests.ConnectTimeout):
        return "connect time-out", False
    if isinstance(error, requests.ReadTimeout):
        return "read time-out", True
    if isinstance(error, requests.exceptions.SSLError):
        return "TLS error", False
    if isinstance(error, requests.ConnectionError):
        inner = error.args[0] if error.args else None
        if isinstance(inner, MaxRetryError):
            inner = inner.reason
        # NewConnectionError (refused, DNS) subclasses ConnectTimeoutError in urllib3 2.
        if isinstance(inner, ConnectTimeoutError):
            return "could not be reached", False
        return "connection dropped", True
    return type(error).__name__, True
