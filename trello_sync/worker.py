"""The worker behind `trello-sync run`: poll every board, export every night, stop cleanly.

Built on `schedule`, with two fixes for a long-running service:
- its jobs read the injected clock, not `datetime.now()`, so tests drive days of
  schedule with a FakeClock and never wait;
- `schedule` drops a missed run and dies with a job that raises: every job here is
  guarded (logged, the loop goes on), and whether a night was exported is read from the
  ledger (`last_export_date`), so a missed night is caught up once at the next start.

With a Slack webhook (trello_sync/notify.py), a third job posts the daily summary, and
each cycle, each export and a rejected token tell the notifier, which posts the alerts;
nothing Slack does changes what the worker does or its exit code.

With Trello webhooks (trello_sync/webhooks_wiring.py), a job keeps the webhooks
registered, and the wait between two jobs ends at each delivery kept in the inbox: the
boards it names run their cycle at once (`Syncer.sync_woken`), the same cycle as a poll.

Signals (after rq): the first SIGINT/SIGTERM sets the stop flag; the cycle in progress
finishes (each board commits in one transaction) and the worker exits 0. A second one
raises StopNow wherever the worker is: an open transaction rolls back.

Exit codes: the continuous run goes on through failures (logged, /healthz says so) and
exits 0 at a stop. A bounded run (`--once`, `--max-cycles N`) is for cron, so it says
how it ended: 0 when its last poll cycle synced every board and no nightly export tried
during the run is left undone, 2 when every reason is a setting to fix (boards that do
not exist or that the token cannot see, an export folder that cannot be written), else 1.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import IO, Protocol

from trello_sync.app import open_app
from trello_sync.claims import Heartbeat, new_owner_id
from trello_sync.clock import Clock, SystemClock
from trello_sync.commands import describe
from trello_sync.exits import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from trello_sync.export_all import export_everything
from trello_sync.ledger.store import LedgerStore
from trello_sync.logs import RedactSecrets
from trello_sync.metrics import CycleFigures, Health, MetricsServer, WorkerMetrics
from trello_sync.nightly import (
    LAST_EXPORT_META,
    ClockScheduler,
    next_export_after,
    night_due,
    parse_export_time,
)
from trello_sync.notify import Notifier
from trello_sync.preflight import export_dir_problem
from trello_sync.settings import ConfigError, Settings
from trello_sync.slack import SlackPoster
from trello_sync.spool import remove_dead_spools
from trello_sync.sync import BoardOutcome
from trello_sync.trello.http import HttpStats
from trello_sync.trello.port import TrelloAuthError
from trello_sync.webhook_inbox import BoardWake, Inbox
from trello_sync.webhook_registration import WebhookRegistrar
from trello_sync.webhooks_wiring import start_webhooks

log = logging.getLogger(__name__)

# A failed nightly export is tried again this much later, not at the next night: a
# Trello or disk hiccup at 02:00 should not cost a day of exports.
EXPORT_RETRY_SECONDS = 600


class StopNow(BaseException):
    """A second stop signal: leave at once. A BaseException, so no job guard keeps it."""


@dataclass(frozen=True)
class Failure:
    """Why a poll cycle or a nightly export did not do all of its work."""

    reason: str
    setting: bool = False  # a setting to fix: an unknown board, an unwritable export folder

    @staticmethod
    def combine(failures: list[Failure]) -> Failure:
        """Several failures as one: a setting only when every one of them is."""
        reason = "; ".join(f.reason for f in failures)
        return Failure(reason, setting=all(f.setting for f in failures))


def _boards_failure(outcomes: list[BoardOutcome], what: str) -> Failure | None:
    failing = [o for o in outcomes if o.problem]
    if not failing:
        return None
    problems = "; ".join(f"{o.name or o.ref}: {o.problem}" for o in failing)
    return Failure(f"{what}: {problems}", setting=all(o.unknown_board for o in failing))


def _is_setting_error(error: BaseException) -> bool:
    """Whether an error of writing the export is the export folder's setting: a folder
    that cannot be written, a file where the folder should be, or a folder under one."""
    return isinstance(error, PermissionError | NotADirectoryError | FileExistsError)


def _one_line(error: BaseException) -> str:
    """The error's type and message on one line (database errors run over several)."""
    text = " ".join(part.strip() for part in str(error).splitlines() if part.strip())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class SyncPass(Protocol):
    def sync_all(self, *, force_reread: bool = False, post: bool = True) -> list[BoardOutcome]: ...

    def sync_woken(
        self, wakes: Mapping[str, BoardWake], *, post: bool = True
    ) -> list[BoardOutcome]: ...


class Worker:
    def __init__(
        self,
        settings: Settings,
        syncer: SyncPass,
        ledger: LedgerStore,
        clock: Clock,
        *,
        stop: threading.Event | None = None,
        stats: Callable[[], HttpStats] | None = None,
        metrics: WorkerMetrics | None = None,
        health: Health | None = None,
        notifier: Notifier | None = None,
        inbox: Inbox | None = None,
        registrar: WebhookRegistrar | None = None,
    ) -> None:
        self._settings = settings
        self._notifier = notifier
        # Webhooks: deliveries wait in the inbox; the registrar keeps the webhooks on Trello.
        self._inbox = inbox
        self._registrar = registrar
        self._syncer = syncer
        self._ledger = ledger
        self._clock = clock
        self.stop = stop or threading.Event()
        self._stats = stats
        self.metrics = metrics or WorkerMetrics()
        self.health = health or Health(clock, settings.poll_interval)
        self._export_at = parse_export_time(settings.export_time)
        self._export_failed = False
        # What a bounded run is judged on: the last poll cycle, and the nightly export
        # while one tried during the run is not done.
        self._poll_failure: Failure | None = None
        self._export_failure: Failure | None = None
        self.cycles = 0
        self.exports: list[date] = []  # nights exported by this process

    # --- the loop ---------------------------------------------------------------------
    def run(self, max_cycles: int | None = None) -> int:
        """Poll and export until stopped (returns 0), or until `max_cycles` poll cycles:
        returns 0, or 1 or 2 when the last cycle or an export failed (see `_verdict`)."""
        self._poll_failure = self._export_failure = None
        scheduler = ClockScheduler(self._clock)
        interval = timedelta(seconds=self._settings.poll_interval)
        scheduler.job("poll", lambda now: now + interval).do(self._guard("poll cycle", self.poll))
        scheduler.job("nightly export", self._next_export).do(
            self._guard("nightly export", self._export_job)
        )
        if self._notifier is not None:
            scheduler.job("daily summary", self._notifier.next_summary_after).do(
                self._guard("daily summary", self._notifier.summary_job)
            )
        if self._registrar is not None:
            scheduler.job("webhook registration", self._registrar.next_after).do(
                self._guard("webhook registration", self._registrar.register)
            )
        now, done_before = self._clock.now(), self.cycles
        for job in scheduler.jobs:  # all at once: the first poll, a missed night, a summary
            job.next_run = now
        while not self.stop.is_set():
            scheduler.run_pending()
            if max_cycles is not None and self.cycles - done_before >= max_cycles:
                break
            if self.stop.is_set():
                break
            if self._inbox is not None:
                self._serve_deliveries()
                if self.stop.is_set():
                    break
            self._idle(max(scheduler.idle_seconds or 0.0, 0.0))
        log.info("worker stopped after %d cycle(s)", self.cycles)
        if max_cycles is None:
            return EXIT_OK  # a stop: the failures were logged as they happened
        return self._verdict()

    def _idle(self, seconds: float) -> None:
        """Wait for the next job. A SystemClock built on the stop event wakes at the first
        signal; with webhooks, the inbox's wait also ends at each delivery it keeps."""
        if self._inbox is None:
            self._clock.sleep(seconds)
        else:
            self._inbox.wait(seconds)

    def _serve_deliveries(self) -> None:
        """The cycles the deliveries kept since the last look ask for, guarded as a job."""
        assert self._inbox is not None
        wakes = self._inbox.take()
        if wakes:
            self._guard("webhook cycle", lambda: self.woken(wakes))()

    def woken(self, wakes: Mapping[str, BoardWake]) -> list[BoardOutcome]:
        """Sync the boards deliveries woke, counted in the metrics; the poll cycles alone
        say whether the worker is healthy. A board's line is logged when its cycle did
        something (a delivery of the service's own reply wakes a cycle that does not)."""
        outcomes, figures = self._measured(lambda: self._syncer.sync_woken(wakes), woken=True)
        self.metrics.observe(figures, self._clock.now().timestamp(), cycle=False)
        self.metrics.webhook_cycles.inc(len(outcomes))
        return outcomes

    def _verdict(self) -> int:
        """A bounded run's exit code, said in one line when it is not 0."""
        failures = [f for f in (self._poll_failure, self._export_failure) if f is not None]
        if not failures:
            return EXIT_OK
        # 2 only when nothing but a setting failed: anything else may heal by itself.
        failure = Failure.combine(failures)
        code = EXIT_USAGE if failure.setting else EXIT_FAILURE
        kind = "a setting to fix" if failure.setting else "a failure"
        log.error("exit code %d, %s: %s", code, kind, failure.reason)
        return code

    def run_once(self) -> int:
        """One poll cycle, and the nightly export if one is due (as `--once`)."""
        return self.run(max_cycles=1)

    def _guard(self, name: str, job: Callable[[], object]) -> Callable[[], None]:
        def guarded() -> None:
            if self.stop.is_set():
                return  # stopping: what is left waits for the next start
            try:
                job()
            except TrelloAuthError as error:
                if self._notifier is not None:
                    self._notifier.token_rejected(str(error))
                raise  # a bad key or token will not heal by itself: exit code 2
            except Exception as error:
                # One line: a worker failing every minute (Trello down for an hour) would
                # fill its log with the same traceback. --debug shows it.
                log.error(
                    "%s failed; the worker goes on: %s",
                    name,
                    _one_line(error),
                    exc_info=log.isEnabledFor(logging.DEBUG),
                )

        return guarded

    # --- the poll cycle -----------------------------------------------------------------
    def poll(self) -> list[BoardOutcome]:
        self.cycles += 1
        cycle = self.cycles
        try:
            outcomes, figures = self._sync(force_reread=False)
        except TrelloAuthError:
            raise
        except Exception as error:
            self.metrics.cycles.labels(result="error").inc()
            self.health.cycle_done(False, f"cycle {cycle} failed: {error}")
            self._poll_failure = Failure(f"cycle {cycle} failed: {_one_line(error)}")
            if self._notifier is not None:
                self._notifier.after_cycle(None, f"cycle {cycle} failed: {_one_line(error)}")
            raise
        self._poll_failure = _boards_failure(outcomes, f"cycle {cycle}")
        self.metrics.observe(figures, self._clock.now().timestamp())
        problems = [f"{o.name or o.ref}: {o.problem}" for o in outcomes if o.problem]
        self.health.cycle_done(figures.ok, "; ".join(problems))
        requests = sum((figures.requests_by_status or {}).values())
        log.info(
            "cycle %d: %d board(s), %d with a problem; %d action(s) applied, %d entr%s, "
            "%d repl%s posted; %d Trello request(s); %.2f s",
            cycle,
            len(outcomes),
            len(problems),
            figures.applied,
            figures.entries,
            "y" if figures.entries == 1 else "ies",
            figures.replies_posted,
            "y" if figures.replies_posted == 1 else "ies",
            requests,
            figures.seconds,
            extra={
                "fields": {
                    "event": "cycle",
                    "cycle": cycle,
                    "boards": len(outcomes),
                    "board_problems": len(problems),
                    "applied": figures.applied,
                    "entries": figures.entries,
                    "replies_posted": figures.replies_posted,
                    "requests": requests,
                    "requests_by_status": dict(figures.requests_by_status or {}),
                    "seconds": round(figures.seconds, 3),
                }
            },
        )
        if self._notifier is not None:
            self._notifier.after_cycle(outcomes)
        return outcomes

    def _sync(self, *, force_reread: bool) -> tuple[list[BoardOutcome], CycleFigures]:
        return self._measured(lambda: self._syncer.sync_all(force_reread=force_reread))

    def _measured(
        self, sync: Callable[[], list[BoardOutcome]], *, woken: bool = False
    ) -> tuple[list[BoardOutcome], CycleFigures]:
        """Run a sync pass; its outcomes (each board logged) and what it cost."""
        before = self._stats().copy() if self._stats else None
        started = self._clock.monotonic()
        outcomes = sync()
        seconds = self._clock.monotonic() - started
        for outcome in outcomes:
            _log_board(outcome, woken=woken)
        by_status: dict[str, int] = {}
        rate_limited = 0
        if before is not None and self._stats is not None:
            after = self._stats()
            for status, count in after.by_status.items():
                if count - before.by_status.get(status, 0):
                    by_status[str(status)] = count - before.by_status.get(status, 0)
            if after.network_errors - before.network_errors:
                by_status["error"] = after.network_errors - before.network_errors
            rate_limited = after.rate_limited - before.rate_limited
        figures = CycleFigures(
            seconds=seconds,
            ok=not any(o.problem for o in outcomes),
            applied=sum(o.applied for o in outcomes),
            entries=sum(o.entries for o in outcomes),
            replies_posted=sum(o.outbox.posted for o in outcomes),
            replies_given_up=sum(o.outbox.given_up for o in outcomes),
            board_problems=sum(1 for o in outcomes if o.problem),
            requests_by_status=by_status,
            rate_limited=rate_limited,
        )
        return outcomes, figures

    # --- the nightly export ---------------------------------------------------------------
    def _next_export(self, now: datetime) -> datetime:
        if self._export_failed:
            return now + timedelta(seconds=EXPORT_RETRY_SECONDS)
        return next_export_after(now, self._export_at, self._settings.zone)

    def _export_job(self) -> None:
        self._export_failed = True  # until a night is recorded, or none is due
        try:
            night = self.export_if_due()
        except Exception as error:
            self.metrics.exports.labels(result="error").inc()
            if self._export_failure is None:  # not from the re-read or the files
                self._export_failure = Failure(f"nightly export failed: {_one_line(error)}")
            if self._notifier is not None and not isinstance(error, TrelloAuthError):
                self._notifier.export_result(None, self._export_failure.reason)
            raise
        if self._export_failure is not None:  # written, not recorded: tried again soon
            self.metrics.exports.labels(result="error").inc()
            if self._notifier is not None:
                self._notifier.export_result(None, self._export_failure.reason)
            return
        self._export_failed = False
        if night is not None and self._notifier is not None:
            self._notifier.export_result(night, None)

    def export_if_due(self) -> date | None:
        """Export the latest night unless the ledger says it is done; returns the night
        recorded as exported.

        A night counts only when the re-read before it synced every board and the files
        were written. When the re-read fails, the files are written all the same (the
        books as they stand are better than none) but the night is not recorded, so
        the next try (EXPORT_RETRY_SECONDS later, or the next start) does it again;
        `_export_failure` says why, and None is returned.
        """
        self._export_failure = None
        now = self._clock.now()
        last = self._ledger.get_meta(LAST_EXPORT_META)
        night = night_due(now, self._export_at, self._settings.zone, last)
        if night is None:
            return None
        started = self._clock.monotonic()
        # Edits and deletions of comments are always looked for before an export.
        try:
            outcomes, figures = self._sync(force_reread=True)
        except Exception as error:
            self._export_failure = Failure(f"the re-read before the export: {_one_line(error)}")
            raise
        self.metrics.observe(figures, now.timestamp(), cycle=False)
        reread = _boards_failure(outcomes, "the re-read before the export")
        try:
            paths = export_everything(self._ledger, self._settings, now, self._settings.export_dir)
        except Exception as error:
            failed = Failure(
                f"nightly export failed: {_one_line(error)}", setting=_is_setting_error(error)
            )
            self._export_failure = Failure.combine([f for f in (reread, failed) if f])
            raise
        if reread is not None:
            self._export_failure = reread
            log.warning(
                "nightly export for %s: %d file(s) written in %s, but not recorded as done "
                "(%s): it is done again in %d s, or at the next start",
                night.isoformat(),
                len(paths),
                self._settings.export_dir,
                reread.reason,
                EXPORT_RETRY_SECONDS,
                extra={"fields": self._export_fields(night, paths, False, reread.reason)},
            )
            return None
        self._ledger.set_meta(LAST_EXPORT_META, night.isoformat())
        self.exports.append(night)
        self.metrics.exports.labels(result="ok").inc()
        log.info(
            "nightly export for %s: %d file(s) in %s; %.2f s",
            night.isoformat(),
            len(paths),
            self._settings.export_dir,
            self._clock.monotonic() - started,
            extra={"fields": self._export_fields(night, paths, True)},
        )
        return night

    def _export_fields(
        self, night: date, paths: list[Path], recorded: bool, problem: str | None = None
    ) -> dict[str, object]:
        """The JSON log's `export` event: `recorded` says whether the night now counts."""
        fields: dict[str, object] = {
            "event": "export",
            "night": night.isoformat(),
            "files": [p.name for p in paths],
            "folder": str(self._settings.export_dir),
            "recorded": recorded,
        }
        if problem is not None:
            fields["problem"] = problem
        return fields


def _log_board(outcome: BoardOutcome, *, woken: bool = False) -> None:
    """One line per board cycle. A cycle a webhook woke says so; one that found nothing
    new (the delivery of the service's own reply wakes such a cycle) is a debug line."""
    fields = {
        "event": "board",
        "board": outcome.board_id or outcome.ref,
        "name": outcome.name,
        "applied": outcome.applied,
        "entries": outcome.entries,
        "moves": outcome.moves,
        "replies_posted": outcome.outbox.posted,
        "requests": outcome.requests,
        "seconds": round(outcome.seconds, 3),
        "first_sync": outcome.first_sync,
        "problem": outcome.problem,
    }
    level = logging.WARNING if outcome.problem else logging.INFO
    if woken:
        fields["woken"] = True
    if woken and not outcome.problem and not (outcome.applied or outcome.outbox.posted):
        level = logging.DEBUG
    log.log(
        level,
        "board %s; %d Trello request(s); %.2f s%s",
        describe(outcome),
        outcome.requests,
        outcome.seconds,
        " (woken by a webhook)" if woken else "",
        extra={"fields": fields},
    )


def install_signal_handlers(
    stop: threading.Event, also: Callable[[], None] | None = None
) -> Callable[[], None]:
    """SIGINT/SIGTERM: first sets `stop` (and calls `also`), second raises StopNow.
    Returns the undo."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            raise StopNow(f"{name} again: stopped at once; the transaction in progress rolled back")
        stop.set()
        if also is not None:
            also()
        log.warning("%s: stopping after the cycle in progress (send it again to stop now)", name)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def run_worker(
    settings: Settings,
    *,
    max_cycles: int | None = None,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    out: IO[str] | None = None,
) -> int:
    """`trello-sync run`: wire the parts, serve the metrics, loop until stopped."""
    stop = threading.Event()
    clock = SystemClock(stop)  # every wait (between cycles, HTTP back-off) ends at a signal
    # Webhooks serve a worker that keeps running: a run of one cycle polls alone.
    inbox = Inbox() if settings.webhooks_on and max_cycles != 1 else None
    restore = install_signal_handlers(stop, also=inbox.close if inbox is not None else None)
    try:
        # The temporary files of first syncs that a kill -9 cut short; live ones stay.
        # A folder the nightly export cannot write is a setting to fix: said at start,
        # exit code 2 (systemd leaves it stopped), not discovered at 02:00.
        problem = export_dir_problem(settings.export_dir)
        if problem is not None:
            raise ConfigError(problem)
        remove_dead_spools()
        owner = new_owner_id()
        with open_app(settings, clock, owner=owner) as app, ExitStack() as stack:
            if app.claims is not None:
                # Renews this worker's board leases while it works (even mid-cycle); a
                # paused worker's leases run out and its boards go to another worker.
                stack.enter_context(Heartbeat(app.claims, stop=threading.Event()))
            trello = app.trello
            metrics = WorkerMetrics()
            notifier = None
            if settings.slack_webhook_url is not None:
                poster = SlackPoster(
                    settings.slack_webhook_url.get_secret_value(), clock, stopping=stop.is_set
                )
                stack.callback(poster.close)
                notifier = Notifier(
                    settings,
                    app.ledger,
                    clock,
                    poster,
                    owner=owner,
                    metrics=metrics,
                    redact=RedactSecrets(settings.secret_values()).redact,
                )
            registrar = None
            if inbox is not None:
                registrar = start_webhooks(settings, app, inbox, metrics, stack, out)
            worker = Worker(
                settings,
                app.require_syncer(),
                app.ledger,
                clock,
                stop=stop,
                stats=(lambda: trello.stats) if trello is not None else None,
                metrics=metrics,
                notifier=notifier,
                inbox=inbox,
                registrar=registrar,
            )
            if metrics_port is not None:
                try:
                    server = MetricsServer(
                        worker.metrics, worker.health, metrics_host, metrics_port
                    )
                except OSError as error:  # in use, or no such address: a usage error
                    where = f"{metrics_host}:{metrics_port}"
                    message = f"--metrics-port: cannot listen on {where}: {error}"
                    raise ConfigError(message) from None
                stack.enter_context(server)
                print(f"metrics: {server.url}/metrics health: {server.url}/healthz", file=out)
                (out or sys.stdout).flush()
            # Where Slack messages go, as a log line may say it: scheme and host only.
            slack = (
                f"; Slack ({poster.shown}): daily summary at {settings.summary_time}"
                if notifier is not None
                else ""
            )
            log.info(
                "worker started: %d board(s), a poll every %d s, nightly export at %s %s%s",
                len(settings.boards),
                settings.poll_interval,
                settings.export_time,
                settings.timezone,
                slack,
            )
            return worker.run(max_cycles=max_cycles)
    finally:
        restore()
