"""Health and Prometheus metrics for the worker, served on an optional local HTTP port.

`/healthz` answers 200 while the last successful cycle (every board synced) is at most
three poll intervals old, else 503 saying why: a supervisor or a load balancer can act
on it without reading logs. `/metrics` is the Prometheus text format of a registry that
belongs to one worker (never the process-wide default), so tests never collide.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from trello_sync.clock import Clock

# A healthy worker finishes a cycle every poll interval; three missed in a row is news.
HEALTHY_INTERVALS = 3
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


@dataclass(frozen=True)
class CycleFigures:
    """What one poll cycle did, as the worker measured it."""

    seconds: float
    ok: bool  # every board synced
    applied: int = 0
    entries: int = 0
    replies_posted: int = 0
    replies_given_up: int = 0  # refused by Trello as they are, or their card is gone
    board_problems: int = 0
    requests_by_status: Mapping[str, int] | None = None  # "200", "429", "error", …
    rate_limited: int = 0


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.cycles = Counter(
            "trello_sync_cycles", "Poll cycles run, by result.", ["result"], registry=r
        )
        self.applied = Counter(
            "trello_sync_actions_applied", "Trello actions applied to the ledger.", registry=r
        )
        self.entries = Counter("trello_sync_entries", "Ledger entries recorded.", registry=r)
        self.replies = Counter("trello_sync_replies_posted", "Replies posted on cards.", registry=r)
        self.replies_given_up = Counter(
            "trello_sync_replies_given_up",
            "Replies given up: Trello refused them as they are, or their card is gone.",
            registry=r,
        )
        self.board_problems = Counter(
            "trello_sync_board_problems", "Board cycles that recorded nothing.", registry=r
        )
        self.requests = Counter(
            "trello_sync_trello_requests",
            "Requests sent to Trello, by HTTP status ('error': no answer).",
            ["status"],
            registry=r,
        )
        self.rate_limited = Counter(
            "trello_sync_trello_rate_limited", "429 answers from Trello.", registry=r
        )
        self.duration = Histogram(
            "trello_sync_cycle_duration_seconds",
            "Time taken by a poll cycle.",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.last_success = Gauge(
            "trello_sync_last_success_timestamp_seconds",
            "Unix time of the last cycle in which every board synced.",
            registry=r,
        )
        self.exports = Counter(
            "trello_sync_exports", "Nightly exports, by result.", ["result"], registry=r
        )
        self.slack_messages = Counter(
            "trello_sync_slack_messages",
            "Slack messages (kind: summary or alert), by result: ok, error (not delivered, "
            "tried again), unknown (sent, its answer lost: never sent again).",
            ["kind", "result"],
            registry=r,
        )
        self.slack_errors = Counter(
            "trello_sync_slack_errors",
            "Slack's answers that were not a success, by error (Slack's code, or "
            "rate_limited, unavailable, network, other).",
            ["error"],
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "trello_sync_webhook_deliveries",
            "Webhook deliveries answered, by result: ok, ignored (a board not watched), "
            "unsigned (401), unreadable, stopping (503). A body over 1 MB is refused (413) "
            "by the server before it is read, and not counted.",
            ["result"],
            registry=r,
        )
        self.webhook_cycles = Counter(
            "trello_sync_webhook_cycles",
            "Board cycles a webhook delivery woke between two polls.",
            registry=r,
        )
        for result in ("ok", "problem", "error"):
            self.cycles.labels(result=result)
        for result in ("ok", "error"):
            self.exports.labels(result=result)

    def observe(self, figures: CycleFigures, finished_at: float, *, cycle: bool = True) -> None:
        """Count what a sync did; `cycle=False` for the sync that comes before an export."""
        if cycle:
            self.cycles.labels(result="ok" if figures.ok else "problem").inc()
            self.duration.observe(figures.seconds)
        self.applied.inc(figures.applied)
        self.entries.inc(figures.entries)
        self.replies.inc(figures.replies_posted)
        self.replies_given_up.inc(figures.replies_given_up)
        self.board_problems.inc(figures.board_problems)
        for status, count in (figures.requests_by_status or {}).items():
            self.requests.labels(status=status).inc(count)
        self.rate_limited.inc(figures.rate_limited)
        if figures.ok:
            self.last_success.set(finished_at)

    def text(self) -> bytes:
        return generate_latest(self.registry)


class Health:
    """The worker's liveness, read by the HTTP thread: every access under one lock."""

    def __init__(self, clock: Clock, poll_interval: float) -> None:
        self._clock = clock
        self._limit = HEALTHY_INTERVALS * poll_interval
        self._lock = threading.Lock()
        self._started = clock.monotonic()
        self._last_success: float | None = None
        self._last_problem = ""

    def cycle_done(self, ok: bool, problem: str = "") -> None:
        with self._lock:
            if ok:
                self._last_success = self._clock.monotonic()
                self._last_problem = ""
            else:
                self._last_problem = problem

    def check(self) -> tuple[bool, str]:
        with self._lock:
            now = self._clock.monotonic()
            why = f"; last cycle: {self._last_problem}" if self._last_problem else ""
            if self._last_success is None:
                age = now - self._started
                if age <= self._limit:
                    return True, "ok: starting, no cycle finished yet"
                return False, f"no successful cycle in the {age:.0f} s since start{why}"
            age = now - self._last_success
            if age <= self._limit:
                return True, "ok"
            return False, (
                f"last successful cycle {age:.0f} s ago, more than "
                f"{HEALTHY_INTERVALS} poll intervals ({self._limit:.0f} s){why}"
            )


class MetricsServer:
    """`/healthz` and `/metrics` on a daemon thread; `port=0` picks a free port."""

    def __init__(self, metrics: WorkerMetrics, health: Health, host: str, port: int) -> None:
        self._httpd = _Server((host, port), _Handler)
        self._httpd.metrics = metrics
        self._httpd.health = health
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="trello-sync-metrics", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MetricsServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    metrics: WorkerMetrics
    health: Health


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            healthy, text = self.server.health.check()
            self._send(200 if healthy else 503, (text + "\n").encode(), "text/plain")
        elif path == "/metrics":
            self._send(200, self.server.metrics.text(), CONTENT_TYPE_LATEST)
        else:
            self._send(404, b"not found: try /healthz or /metrics\n", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # Scrapes every few seconds would drown the worker's own log lines.
        pass
