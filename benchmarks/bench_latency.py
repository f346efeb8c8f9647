"""4. Reply latency: from a card move or a `/session` comment to the reply being posted.

`trello-sync run` (the worker, in its own process, polling every 5 s, the minimum the
settings allow) against the sandbox with Trello's real limits. If the installed CLI has
no `run` command, `Syncer.sync_all()` is driven every 5 s in a thread instead (the
figure says which). Samples alternate a `/session 1h` comment on an active student and
a move of an active student to "Handed off" (answered with a hand-off summary); between
two samples a random pause of 0–5 s, so that samples fall at every phase of the poll.

Latency = (time the sandbox received the reply's POST) − (the action's date), both read
from the sandbox's own clock (request log and action, millisecond precision).
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.table import Result, secs
from benchmarks.world import (
    MENTOR,
    TIMEZONE,
    Board,
    World,
    child_env,
    log_time,
    new_board,
    percentile,
    product_settings,
    worker_subprocess,
    world,
)
from trello_sync.sandbox import shapes

POLL_S = 5
GOAL_S = POLL_S + 1.0
SAMPLE_TIMEOUT_S = 60.0


def has_run_command() -> bool:
    proc = subprocess.run(
        [sys.executable, "-m", "trello_sync", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
    )
    return proc.returncode == 0


def build(w: World, students: int, now: datetime) -> Board:
    board = new_board(w.state, "Latency board", now - timedelta(days=10))
    for i in range(students):
        at = now - timedelta(days=9, minutes=-i)
        card = w.state.create_card(MENTOR[0], board.lists["En attente"], f"Student {i:02d}", at=at)
        w.state.move_card(MENTOR[0], card["id"], board.lists["Active"], at=at + timedelta(hours=1))
        board.cards.append(card["id"])
    return board


@contextmanager
def worker_process(w: World, board_id: str, tmp: Path) -> Iterator[dict[str, Any]]:
    """`trello-sync run` in a subprocess (started and stopped here, by its pid)."""
    env = child_env(
        TRELLO_API_KEY=w.api_key,
        TRELLO_TOKEN=w.token(),
        TRELLO_SYNC_API_URL=w.url,
        TRELLO_SYNC_BOARDS=board_id,
        TRELLO_SYNC_DATABASE_URL=f"sqlite:///{tmp / 'latency.db'}",
        TRELLO_SYNC_EXPORT_DIR=str(tmp / "exports"),
        TRELLO_SYNC_POLL_INTERVAL=str(POLL_S),
        TRELLO_SYNC_TIMEZONE=TIMEZONE,
        TRELLO_SYNC_MENTORS=MENTOR[0],
    )
    info: dict[str, Any] = {"mode": "trello-sync run (subprocess)"}
    with worker_subprocess(env, tmp, info):
        yield info


@contextmanager
def worker_thread(w: World, board_id: str, tmp: Path) -> Iterator[dict[str, Any]]:
    """Fallback: Syncer.sync_all() every 5 s in a thread of this process."""
    from trello_sync.app import open_app
    from trello_sync.clock import SystemClock

    settings = product_settings(
        w.url, w.api_key, w.token(), [board_id], tmp / "latency.db", poll_interval=POLL_S
    )
    stop = threading.Event()
    errors: list[str] = []

    def loop() -> None:
        with open_app(settings, SystemClock()) as app:
            syncer = app.require_syncer()
            next_run = time.monotonic()
            while not stop.is_set():
                try:
                    syncer.sync_all()
                except Exception as error:  # keep polling, like the worker does
                    errors.append(f"{type(error).__name__}: {error}")
                next_run += POLL_S
                stop.wait(max(next_run - time.monotonic(), 0))

    thread = threading.Thread(target=loop, name="bench-latency-poller", daemon=True)
    thread.start()
    info: dict[str, Any] = {"mode": "Syncer.sync_all() every 5 s in-process (no `run` command)"}
    try:
        yield info
    finally:
        stop.set()
        thread.join(timeout=60)
        info["errors"] = errors[-5:]


def _wait_for_post(w: World, card_id: str, mark: int, timeout: float) -> dict[str, Any] | None:
    path = f"/1/cards/{card_id}/actions/comments"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in w.log_since(mark):
            if entry["method"] == "POST" and entry["path"] == path and entry["status"] == 200:
                return entry
        time.sleep(0.02)
    return None


def _wait_first_cycle(w: World, board_id: str, timeout: float) -> bool:
    """The worker has polled the board at least twice (its first sync is done)."""
    path = f"/1/boards/{board_id}/actions"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        polls = [e for e in w.log_since(0) if e["path"] == path and e["status"] == 200]
        if len(polls) >= 2:
            return True
        time.sleep(0.1)
    return False


def run(quick: bool) -> Result:
    result = Result("latency", "4. Reply latency")
    n = 5 if quick else 20
    rng = random.Random(4)
    samples: list[dict[str, Any]] = []
    with world() as w, tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp_name:
        tmp = Path(tmp_name)
        board = build(w, n + 2, datetime.now(UTC))
        use_cli = has_run_command()
        runner = worker_process if use_cli else worker_thread
        with runner(w, board.board_id, tmp) as info:
            if not _wait_first_cycle(w, board.board_id, timeout=120):
                raise RuntimeError(f"the worker never polled the board: {info}")
            time.sleep(rng.uniform(0, POLL_S))
            cards = list(board.cards)
            for i in range(n):
                kind = "comment" if i % 2 == 0 else "move"
                card_id = cards[i]
                mark = w.mark()
                if kind == "comment":
                    action = w.state.comment(MENTOR[0], card_id, "/session 1h")
                else:
                    w.state.move_card(MENTOR[0], card_id, board.lists["Handed off"])
                    action = w.state.card_actions(card_id, filter="updateCard:idList", limit=1)[0]
                posted = _wait_for_post(w, card_id, mark, SAMPLE_TIMEOUT_S)
                sample: dict[str, Any] = {"kind": kind, "card": card_id}
                if posted is None:
                    sample["latency_s"] = None
                else:
                    acted = shapes.parse_date(action["date"]).timestamp()
                    sample["latency_s"] = log_time(posted) - acted
                samples.append(sample)
                time.sleep(rng.uniform(0, POLL_S))  # a random phase of the poll
        result.data["worker"] = {k: v for k, v in info.items() if k != "pid"}
    result.data["samples"] = samples
    done = [s["latency_s"] for s in samples if s["latency_s"] is not None]
    missing = len(samples) - len(done)
    result.data["poll_interval_s"] = POLL_S
    if not done:
        result.add("reply latency", f"< {GOAL_S:g} s", "no reply was posted", False)
        return result
    median, p95 = percentile(done, 0.5), percentile(done, 0.95)
    by_kind = {
        kind: [s["latency_s"] for s in samples if s["kind"] == kind and s["latency_s"] is not None]
        for kind in ("comment", "move")
    }
    result.data.update(median_s=median, p95_s=p95, max_s=max(done), missing=missing)
    mode = "trello-sync run" if use_cli else "sync_all() loop"
    result.add(
        f"reply latency, median ({len(done)} samples, {mode}, poll {POLL_S} s)",
        f"< {GOAL_S:g} s",
        secs(median),
        median < GOAL_S and not missing,
    )
    result.add(
        "reply latency, 95th percentile",
        f"< {GOAL_S:g} s",
        f"{secs(p95)} (max {secs(max(done))}"
        + (f"; {missing} sample(s) never answered" if missing else "")
        + ")",
        p95 < GOAL_S and not missing,
    )
    result.add(
        "by kind: /session comment · move to Handed off (median)",
        "—",
        " · ".join(f"{secs(percentile(v, 0.5))}" if v else "—" for v in by_kind.values()),
    )
    return result
