"""7. Webhook latency: from a `/session` comment, or an edit of one, to its reply posted,
with webhooks on and a 60 s poll interval.

`trello-sync run` in a subprocess with its webhook receiver on a local port
(TRELLO_SYNC_WEBHOOK_LISTEN and TRELLO_SYNC_WEBHOOK_URL), the sandbox at Trello's real
rate limits registering the webhook (HEAD probe included) and delivering each action,
comment edit and deletion, signed, from its delivery thread. The poll interval is 60 s,
so a reply within a few seconds can only come from a delivery.

Samples: a `/session 1h` comment on an active student, then (after its reply) the same
comment edited to `/session 30m`, answered with a reversal, a new entry and a corrected
reply; a random pause of 0–2 s between samples. Latency = (time the sandbox received the
reply's POST) − (the comment's date, or for an edit its `dateLastEdited`), both on the
sandbox's clock. Goal: the 95th percentile of each under 2 s (Trello's own automation
answers in about a minute).
"""

from __future__ import annotations

import random
import socket
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.bench_latency import _wait_first_cycle, _wait_for_post, build
from benchmarks.table import Result, secs
from benchmarks.world import (
    MENTOR,
    TIMEZONE,
    World,
    child_env,
    log_time,
    percentile,
    worker_subprocess,
    world,
)
from trello_sync.sandbox import shapes

POLL_S = 60
GOAL_S = 2.0
SAMPLE_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def hooked_worker(w: World, board_id: str, tmp: Path) -> Iterator[dict[str, Any]]:
    """`trello-sync run` with its webhook receiver (started and stopped here, by its pid)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/trello"
    token = w.token()
    env = child_env(
        TRELLO_API_KEY=w.api_key,
        TRELLO_TOKEN=token,
        TRELLO_API_SECRET=w.state.api_secret,
        TRELLO_SYNC_API_URL=w.url,
        TRELLO_SYNC_BOARDS=board_id,
        TRELLO_SYNC_DATABASE_URL=f"sqlite:///{tmp / 'webhooks.db'}",
        TRELLO_SYNC_EXPORT_DIR=str(tmp / "exports"),
        TRELLO_SYNC_POLL_INTERVAL=str(POLL_S),
        TRELLO_SYNC_TIMEZONE=TIMEZONE,
        TRELLO_SYNC_MENTORS=MENTOR[0],
        TRELLO_SYNC_WEBHOOK_LISTEN=f"127.0.0.1:{port}",
        TRELLO_SYNC_WEBHOOK_URL=url,
    )
    info: dict[str, Any] = {"token": token, "url": url, "ledger": tmp / "webhooks.db"}
    with worker_subprocess(env, tmp, info):
        yield info


def _wait_registered(w: World, token: str, url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(h["callbackURL"] == url and h["active"] for h in w.server.webhooks.listed(token)):
            return True
        time.sleep(0.05)
    return False


def _reversals(ledger: Path) -> int:
    with sqlite3.connect(ledger) as conn:
        row = conn.execute("SELECT count(*) FROM entries WHERE reverses_entry_id IS NOT NULL")
        return int(row.fetchone()[0])


def run(quick: bool) -> Result:
    result = Result("webhooks", "7. Webhook latency")
    n = 5 if quick else 20
    rng = random.Random(7)
    samples: list[dict[str, Any]] = []
    with world() as w, tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp_name:
        tmp = Path(tmp_name)
        board = build(w, n + 2, datetime.now(UTC))
        with hooked_worker(w, board.board_id, tmp) as info:
            if not _wait_first_cycle(w, board.board_id, timeout=120):
                raise RuntimeError(f"the worker never polled the board: {info}")
            if not _wait_registered(w, info["token"], info["url"], timeout=60):
                raise RuntimeError(f"the worker registered no webhook: {info}")
            started = time.monotonic()
            for i in range(n):
                card_id = board.cards[i]
                mark = w.mark()
                comment = w.state.comment(MENTOR[0], card_id, "/session 1h")
                posted = _wait_for_post(w, card_id, mark, SAMPLE_TIMEOUT_S)
                acted = shapes.parse_date(comment["date"]).timestamp()
                samples.append(
                    {"kind": "comment", "latency_s": log_time(posted) - acted if posted else None}
                )
                time.sleep(rng.uniform(0, 2))
                mark = w.mark()
                edited = w.state.edit_comment(MENTOR[0], comment["id"], "/session 30m")
                posted = _wait_for_post(w, card_id, mark, SAMPLE_TIMEOUT_S)
                acted = shapes.parse_date(edited["data"]["dateLastEdited"]).timestamp()
                samples.append(
                    {"kind": "edit", "latency_s": log_time(posted) - acted if posted else None}
                )
                time.sleep(rng.uniform(0, 2))
            within_one_poll = time.monotonic() - started < POLL_S
            reversals = _reversals(info["ledger"])
        result.data["worker"] = {k: str(v) for k, v in info.items() if k != "token"}
    result.data.update(samples=samples, poll_interval_s=POLL_S, reversals=reversals)
    for kind, label in (("comment", "/session comment"), ("edit", "edited command")):
        done = [s["latency_s"] for s in samples if s["kind"] == kind and s["latency_s"]]
        missing = sum(1 for s in samples if s["kind"] == kind) - len(done)
        if not done:
            result.add(f"{label} → reply", f"< {GOAL_S:g} s", "no reply was posted", False)
            continue
        median, p95 = percentile(done, 0.5), percentile(done, 0.95)
        result.data[kind] = {"median_s": median, "p95_s": p95, "max_s": max(done)}
        result.add(
            f"{label} → reply, median / 95th percentile ({len(done)} samples, poll {POLL_S} s)",
            f"p95 < {GOAL_S:g} s",
            f"{secs(median)} / {secs(p95)} (max {secs(max(done))})"
            + (f"; {missing} never answered" if missing else ""),
            p95 < GOAL_S and not missing,
        )
    result.add(
        "edits reversed in the ledger",
        f"{n}",
        f"{reversals}" + ("" if within_one_poll else " (the run outlasted one poll interval)"),
        reversals == n,
    )
    return result
