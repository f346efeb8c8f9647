"""The worker behind `trello-sync run`: poll every board, export every night, stop cleanly.

Built on `schedule`, with two fixes for a long-running service:
- its jobs read the injected clock, not `datetime.now()`, so tests drive days of
  schedule with a FakeClock and never wait;
- `schedule` drops a missed run and dies with a job that raises: every job here is
  guarded (logged, the loop goes on), and whether a night was exported is read from the
  ledger (`last_export_date`), so a missed night is caught up once at the next start.

Signals (after rq): the first SIGINT/SIGTERM sets the stop flag; the cycle in progress
finishes (each board commits in one transaction) and the worker exits 0. A second one
raises StopNow wherever the worker is: an open transaction rolls back.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from contextlib import ExitStack
from datetime import date, datetime, timedelta
from types import FrameType
from typing import IO, Protocol

from trello_sync.app import open_app
from trello_sync.claims import Heartbeat, new_owner_id
from trello_sync.clock import Clock, SystemClock
from trello_sync.commands import describe
from trello_sync.export import export_ledger
from trello_sync.ledger.store import LedgerStore
from trello_sync.metrics import CycleFigures, Health, MetricsServer, WorkerMetrics
from trello_sync.nightly import (
    LAST_EXPORT_META,
    ClockScheduler,
    next_export_after,
    night_due,
    parse_export_time,
)
from trello_sync.settings import ConfigError, Settings
from trello_sync.sync import BoardOutcome
from trello_sync.trello.http import HttpStats
from trello_sync.trello.port import TrelloAuthError

log = logging.getLogger(__name__)

# A failed nightly export is tried again this much later, not at the next night: a
# Trello or disk hiccup at 02:00 should not cost a day of exports.
EXPORT_RETRY_SECONDS = 600


class StopNow(BaseException):
    """A second stop signal: leave at once. A BaseException, so no job guard keeps it."""


class SyncPass(Protocol):
    def sync_all(self, *, force_reread: bool = False, post: bool = True) -> list[BoardOutcome]: ...


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
    ) -> None:
        self._settings = settings
        self._syncer = syncer
        self._ledger = ledger
        self._clock = clock
        self.stop = stop or threading.Event()
        self._stats = stats
        self.metrics = metrics or WorkerMetrics()
        self.health = health or Health(clock, settings.poll_interval)
        self._export_at = parse_export_time(settings.export_time)
        self._export_failed = False
        self.cycles = 0
        self.exports: list[date] = []  # nights exported by this process

    # --- the loop ---------------------------------------------------------------------
    def run(self, max_cycles: int | None = None) -> int:
        """Poll and export until stopped, or until `max_cycles` poll cycles; returns 0."""
        scheduler = ClockScheduler(self._clock)
        interval = timedelta(seconds=self._settings.poll_interval)
        scheduler.job("poll", lambda now: now + interval).do(self._guard("poll cycle", self.poll))
        scheduler.job("nightly export", self._next_export).do(
            self._guard("nightly export", self._export_job)
        )
        now, done_before = self._clock.now(), self.cycles
        for job in scheduler.jobs:  # both at once: the first poll, then a missed night
            job.next_run = now
        while not self.stop.is_set():
            scheduler.run_pending()
            if max_cycles is not None and self.cycles - done_before >= max_cycles:
                break
            if self.stop.is_set():
                break
            # A SystemClock built on the stop event wakes here at the first signal.
            self._clock.sleep(max(scheduler.idle_seconds or 0.0, 0.0))
        log.info("worker stopped after %d cycle(s)", self.cycles)
        return 0

    def run_once(self) -> int:
        """One poll cycle, and the nightly export if one is due (as `--once`)."""
        return self.run(max_cycles=1)

    def _guard(self, name: str, job: Callable[[], object]) -> Callable[[], None]:
        def guarded() -> None:
            if self.stop.is_set():
                return  # stopping: what is left waits for the next start
            try:
                job()
            except TrelloAuthError:
                raise  # a bad key or token will not heal by itself: exit code 2
            except Exception as error:
                log.exception("%s failed; the worker goes on: %s", name, error)

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
            raise
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
        return outcomes

    def _sync(self, *, force_reread: bool) -> tuple[list[BoardOutcome], CycleFigures]:
        before = self._stats().copy() if self._stats else None
        started = self._clock.monotonic()
        outcomes = self._syncer.sync_all(force_reread=force_reread)
        seconds = self._clock.monotonic() - started
        for outcome in outcomes:
            _log_board(outcome)
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
        self._export_failed = True  # until it succeeds
        try:
            self.export_if_due()
        except Exception:
            self.metrics.exports.labels(result="error").inc()
            raise
        self._export_failed = False

    def export_if_due(self) -> date | None:
        """Export the latest night unless the ledger says it is done; returns the night."""
        now = self._clock.now()
        last = self._ledger.get_meta(LAST_EXPORT_META)
        night = night_due(now, self._export_at, self._settings.zone, last)
        if night is None:
            return None
        started = self._clock.monotonic()
        # Edits and deletions of comments are always looked for before an export.
        _, figures = self._sync(force_reread=True)
        self.metrics.observe(figures, now.timestamp(), cycle=False)
        paths = export_ledger(self._ledger.entries(), self._settings.export_dir)
        self._ledger.set_meta(LAST_EXPORT_META, night.isoformat())
        self.exports.append(night)
        self.metrics.exports.labels(result="ok").inc()
        log.info(
            "nightly export for %s: %d file(s) in %s; %.2f s",
            night.isoformat(),
            len(paths),
            self._settings.export_dir,
            self._clock.monotonic() - started,
            extra={
                "fields": {
                    "event": "export",
                    "night": night.isoformat(),
                    "files": [p.name for p in paths],
                    "folder": str(self._settings.export_dir),
                }
            },
        )
        return night


def _log_board(outcome: BoardOutcome) -> None:
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
    log.log(
        level,
        "board %s; %d Trello request(s); %.2f s",
        describe(outcome),
        outcome.requests,
        outcome.seconds,
        extra={"fields": fields},
    )


def install_signal_handlers(stop: threading.Event) -> Callable[[], None]:
    """SIGINT/SIGTERM: first sets `stop`, second raises StopNow. Returns the undo."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            raise StopNow(f"{name} again: stopped at once; the transaction in progress rolled back")
        stop.set()
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
    restore = install_signal_handlers(stop)
    try:
        owner = new_owner_id()
        with open_app(settings, clock, owner=owner) as app, ExitStack() as stack:
            if app.claims is not None:
                # Renews this worker's board leases while it works (even mid-cycle); a
                # paused worker's leases run out and its boards go to another worker.
                stack.enter_context(Heartbeat(app.claims, stop=threading.Event()))
            trello = app.trello
            worker = Worker(
                settings,
                app.require_syncer(),
                app.ledger,
                clock,
                stop=stop,
                stats=(lambda: trello.stats) if trello is not None else None,
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
            log.info(
                "worker started: %d board(s), a poll every %d s, nightly export at %s %s",
                len(settings.boards),
                settings.poll_interval,
                settings.export_time,
                settings.timezone,
            )
            return worker.run(max_cycles=max_cycles)
    finally:
        restore()
