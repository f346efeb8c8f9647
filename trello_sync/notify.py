"""Slack for the worker: when the daily summary and the alerts are posted, and their
records in the ledger (the decisions are trello_sync/domain/daily.py's).

- **The daily summary** of yesterday is due at `summary_time` (local, with the nightly
  export's daylight-saving rules); one missed is sent once at the next start, and only
  the latest is ever due. The ledger's meta `slack_summary` records the latest day done
  and, while a worker posts one, its claim: claimed (compare-and-set) before the post,
  recorded done after it, so of several workers on one ledger exactly one posts it. A
  summary not delivered gives its claim back and is tried again at the next cycle.
- **Alerts** are kept in the meta `slack_alerts`: the alerts active now and an outbox of
  the lines still to post, each claimed the same way. A condition found true raises its
  alert once; found false again, its alert ends with one line. Each check covers only
  what this worker saw (its boards, its export), so two workers never undo each other.
- A line whose answer was lost, or whose claim ran out (a worker stopped mid-post), may
  have been posted: it is not posted again.

Nothing here stops the worker: a Slack or ledger failure is one log line, a metric, and
another try at the next cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from trello_sync.clock import Clock
from trello_sync.domain.checks import error_line
from trello_sync.domain.daily import (
    AlertState,
    BoardProblem,
    Daily,
    Observation,
    SummaryState,
    active_students,
    alert_payload,
    board_gone,
    board_observation,
    build_daily,
    cap_observation,
    claim_next,
    decode_alerts,
    decode_summary,
    encode_alerts,
    encode_summary,
    export_observation,
    finish,
    observe,
    release,
    stale_board_keys,
    summary_done,
    summary_payload,
    summary_released,
    summary_step,
    token_observation,
)
from trello_sync.ledger.store import LedgerStore
from trello_sync.metrics import WorkerMetrics
from trello_sync.nightly import latest_export_night, next_export_after, parse_export_time
from trello_sync.settings import Settings, env_name
from trello_sync.slack import EXPLAINED, OWN_KINDS, SlackError, SlackPoster
from trello_sync.sync import BoardOutcome

log = logging.getLogger(__name__)

SUMMARY_META = "slack_summary"
ALERTS_META = "slack_alerts"
EXPORT_FAILURES_META = "export_failures"  # failed tries since the last night recorded
# A claim outlives any post: the poster's waits are bounded well below this.
CLAIM_SECONDS = 600
SWAP_TRIES = 10  # compare-and-set rounds against other workers' writes, then next cycle
DELIVER_MAX = 20  # alert lines posted per call at most


def summary_day(now: datetime, settings: Settings) -> date:
    """The day whose summary is the latest due at `now`: the day before the latest
    summary time."""
    at = parse_export_time(settings.summary_time)
    return latest_export_night(now, at, settings.zone) - timedelta(days=1)


def read_daily(
    ledger: LedgerStore,
    settings: Settings,
    day: date,
    problems: Iterable[BoardProblem] = (),
) -> Daily:
    """The summary of `day` from the ledger; `problems`: boards this process saw fail,
    beside the boards the ledger has flagged."""
    flagged = [BoardProblem(b.name or b.ref, b.flag) for b in ledger.boards() if b.flag]
    names = {p.name for p in flagged}
    extra = [p for p in problems if p.name not in names]
    return build_daily(
        day,
        ledger.cards(),
        ledger.moves(),
        ledger.entries(),
        [*flagged, *extra],
        settings.daily_rules(),
        settings.pay().in_force(day).currency,
    )


class Notifier:
    def __init__(
        self,
        settings: Settings,
        ledger: LedgerStore,
        clock: Clock,
        poster: SlackPoster,
        *,
        owner: str,
        metrics: WorkerMetrics | None = None,
        redact: Callable[[str], str] = lambda text: text,
    ) -> None:
        self._settings = settings
        self._ledger = ledger
        self._clock = clock
        self._poster = poster
        self._owner = owner
        self._metrics = metrics
        self._redact = redact
        self._summary_at = parse_export_time(settings.summary_time)
        self._summary_pending = False  # a summary due and not done: tried each cycle
        self._cap_checked = False
        self._problems: list[BoardProblem] = []  # this worker's last cycle
        # Posted, but recording that failed: recorded, never posted again.
        self._posted_days: set[date] = set()
        self._posted_ids: set[int] = set()

    # --- the worker's hooks: none raises --------------------------------------------------
    def next_summary_after(self, now: datetime) -> datetime:
        return next_export_after(now, self._summary_at, self._settings.zone)

    def after_cycle(self, outcomes: Sequence[BoardOutcome] | None, failure: str = "") -> None:
        """After a poll cycle (`outcomes` None: the whole cycle failed, saying `failure`)."""
        if outcomes is None:
            self._problems = [BoardProblem("every board", failure)] if failure else []
        else:
            self._problems = [
                BoardProblem(o.name or o.ref, o.problem) for o in outcomes if o.problem
            ]
            self._safely("alerts", lambda: self._observe_cycle(outcomes))
        self._safely("alerts", self.deliver_alerts)
        if self._summary_pending:
            self._safely("the daily summary", self.summary_if_due)

    def token_rejected(self, reason: str) -> None:
        """Trello rejected the key or token: the worker is about to stop."""
        self._safely("alerts", lambda: self._record([token_observation(reason)]))
        self._safely("alerts", self.deliver_alerts)

    def export_result(self, night: date | None, failure: str | None) -> None:
        """A try of the nightly export: `failure` None when `night` was recorded."""
        self._safely("alerts", lambda: self._observe_export(night, failure))
        self._safely("alerts", self.deliver_alerts)

    def summary_job(self) -> None:
        self._safely("the daily summary", self.summary_if_due)

    # --- the daily summary ------------------------------------------------------------------
    def summary_if_due(self) -> None:
        """Post the latest summary due unless the ledger says it is done."""
        self._summary_pending = True
        now = self._clock.now()
        day = summary_day(now, self._settings)
        raw = self._ledger.get_meta(SUMMARY_META)
        state = decode_summary(raw)
        if day in self._posted_days:
            self._swap_summary(lambda s: summary_done(s, day, self._owner))
            self._summary_pending = False
            return
        until = now + timedelta(seconds=CLAIM_SECONDS)
        step = summary_step(state, day, self._owner, now, until)
        if step.state != state and not self._ledger.swap_meta(
            SUMMARY_META, raw, encode_summary(step.state)
        ):
            return  # another worker wrote meanwhile: looked at again at the next cycle
        if step.abandoned is not None:
            log.warning(
                "slack: the daily summary for %s was being posted by a worker that stopped; "
                "it may have arrived, so it is not posted again",
                step.abandoned.isoformat(),
            )
        if not step.post:
            # Done, or another worker posts it now (then checked again next cycle).
            self._summary_pending = step.state.claim is not None
            return
        try:
            daily = read_daily(self._ledger, self._settings, day, self._problems)
            if daily.quiet and not self._settings.summary_when_quiet:
                self._swap_summary(lambda s: summary_done(s, day, self._owner))
                self._summary_pending = False
                log.info(
                    "slack: nothing to say for %s, no summary posted (summary_when_quiet)",
                    day.isoformat(),
                    extra={"fields": _fields("summary", "quiet", day=day)},
                )
                return
            self._poster.post(redacted(summary_payload(daily), self._redact))
        except SlackError as error:
            if not error.unknown:
                self._swap_summary(lambda s: summary_released(s, self._owner))
                self._failed("summary", error, f"the daily summary for {day.isoformat()}", day)
                return
            self._failed("summary", error, f"the daily summary for {day.isoformat()}", day)
        except BaseException:
            self._give_back_summary()
            raise
        else:
            self._count("summary", "ok")
            log.info(
                "slack: daily summary for %s posted",
                day.isoformat(),
                extra={"fields": _fields("summary", "ok", day=day)},
            )
        self._posted_days.add(day)
        self._swap_summary(lambda s: summary_done(s, day, self._owner))
        self._summary_pending = False

    def _give_back_summary(self) -> None:
        try:
            self._swap_summary(lambda s: summary_released(s, self._owner))
        except Exception:  # the claim runs out by itself
            log.debug("slack: giving the summary's claim back failed", exc_info=True)

    def _swap_summary(self, change: Callable[[SummaryState], SummaryState]) -> None:
        self._update(SUMMARY_META, lambda raw: encode_summary(change(decode_summary(raw))))

    # --- alerts -------------------------------------------------------------------------------
    def _observe_cycle(self, outcomes: Sequence[BoardOutcome]) -> None:
        records = {b.board_id: b for b in self._ledger.boards()}
        seen: list[Observation] = []
        for outcome in outcomes:
            record = records.get(outcome.board_id or "")
            flag = record.flag if record is not None else None
            if outcome.unknown_board:
                seen.append(board_observation(outcome.ref, "", None, outcome.problem))
            elif flag is not None or not outcome.problem:
                # A passing problem (Trello unavailable) says nothing of the flag: unchecked.
                name = outcome.name or (record.name if record else "")
                seen.append(board_observation(outcome.ref, name, flag, None))
        if any(not o.problem for o in outcomes):
            seen.append(token_observation(None))  # Trello answered this token
        state = decode_alerts(self._ledger.get_meta(ALERTS_META))
        boards_setting = env_name("boards")
        seen += [
            board_gone(ref, boards_setting)
            for ref in stale_board_keys(state, self._settings.boards)
        ]
        if not self._cap_checked or any(o.moves for o in outcomes):
            # All the ledger's moves: read only when this worker recorded some.
            active = active_students(self._ledger.moves())
            cap = self._settings.max_students
            seen.append(cap_observation(active, cap, env_name("max_students")))
            self._cap_checked = True
        self._record(seen)

    def _observe_export(self, night: date | None, failure: str | None) -> None:
        if failure is None:
            if self._ledger.get_meta(EXPORT_FAILURES_META) not in (None, "0"):
                self._ledger.set_meta(EXPORT_FAILURES_META, "0")
            self._record([export_observation(0, None, night)])
            return
        self._update(EXPORT_FAILURES_META, lambda raw: str(_count_of(raw) + 1))
        failures = _count_of(self._ledger.get_meta(EXPORT_FAILURES_META))
        if failures >= 2:  # one failure alone says nothing yet: unchecked
            self._record([export_observation(failures, failure, night)])

    def _record(self, observations: Sequence[Observation]) -> None:
        if observations:
            self._update(
                ALERTS_META,
                lambda raw: encode_alerts(observe(decode_alerts(raw), observations)),
            )

    def deliver_alerts(self) -> None:
        """Post the alert lines waiting, oldest first, each claimed first."""
        for _ in range(DELIVER_MAX):
            now = self._clock.now()
            raw = self._ledger.get_meta(ALERTS_META)
            state = decode_alerts(raw)
            until = now + timedelta(seconds=CLAIM_SECONDS)
            claimed = claim_next(state, self._owner, now, until, frozenset(self._posted_ids))
            if claimed.state == state:
                return  # nothing to post, or another worker posts the next line now
            if not self._ledger.swap_meta(ALERTS_META, raw, encode_alerts(claimed.state)):
                continue  # another worker wrote meanwhile: read again
            for gone in claimed.abandoned:
                log.warning(
                    "slack: an alert a stopped worker was posting may have arrived; not "
                    "posted again: %s",
                    gone.text,
                )
            message = claimed.message
            if message is None:
                continue
            try:
                self._poster.post(alert_payload(self._redact(message.text)))
            except SlackError as error:
                self._failed("alert", error, "an alert")
                if not error.unknown:
                    self._update_alerts(partial(release, message_id=message.id))
                    return
            except BaseException:
                self._give_back_alert(message.id)
                raise
            else:
                self._count("alert", "ok")
                log.info(
                    "slack: alert posted: %s",
                    message.text,
                    extra={"fields": _fields("alert", "ok")},
                )
            self._posted_ids.add(message.id)
            self._update_alerts(partial(finish, message_id=message.id))

    def _give_back_alert(self, message_id: int) -> None:
        try:
            self._update_alerts(partial(release, message_id=message_id))
        except Exception:  # the claim runs out by itself
            log.debug("slack: giving an alert's claim back failed", exc_info=True)

    def _update_alerts(self, change: Callable[[AlertState], AlertState]) -> None:
        self._update(ALERTS_META, lambda raw: encode_alerts(change(decode_alerts(raw))))

    # --- plumbing -----------------------------------------------------------------------------
    def _update(self, key: str, change: Callable[[str | None], str]) -> None:
        """Read, change, compare-and-set; again while other workers write in between."""
        for _ in range(SWAP_TRIES):
            raw = self._ledger.get_meta(key)
            new = change(raw)
            if new == raw or self._ledger.swap_meta(key, raw, new):
                return
        raise RuntimeError(f"the ledger's {key!r} kept changing under this worker")

    def _safely(self, what: str, job: Callable[[], object]) -> None:
        try:
            job()
        except Exception as error:
            log.error(
                "slack: %s failed; the worker goes on: %s",
                what,
                error_line(error),
                exc_info=log.isEnabledFor(logging.DEBUG),
            )

    def _failed(self, kind: str, error: SlackError, what: str, day: date | None = None) -> None:
        result = "unknown" if error.unknown else "error"
        self._count(kind, result, error.kind)
        then = (
            "it is not sent again, so that it never appears twice"
            if error.unknown
            else "tried again at the next cycle"
        )
        log.warning(
            "slack: %s was not posted: %s; %s",
            what,
            error,
            then,
            extra={"fields": _fields(kind, result, day=day, error=error.kind)},
        )

    def _count(self, kind: str, result: str, error: str | None = None) -> None:
        if self._metrics is None:
            return
        self._metrics.slack_messages.labels(kind=kind, result=result).inc()
        if error is not None:
            label = error if error in EXPLAINED or error in OWN_KINDS else "other"
            self._metrics.slack_errors.labels(error=label).inc()


def redacted(value: Any, redact: Callable[[str], str]) -> Any:
    """Every text of a message with the secrets taken out: no text the summary quotes
    (a board's problem) can carry a credential to a channel."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redacted(item, redact) for key, item in value.items()}
    if isinstance(value, list):
        return [redacted(item, redact) for item in value]
    return value


def _count_of(raw: str | None) -> int:
    try:
        return max(0, int(raw or 0))
    except ValueError:
        return 0


def _fields(
    kind: str, result: str, *, day: date | None = None, error: str | None = None
) -> dict[str, object]:
    fields: dict[str, object] = {"event": "slack", "kind": kind, "result": result}
    if day is not None:
        fields["day"] = day.isoformat()
    if error is not None:
        fields["error"] = error
    return fields
