"""6. First sync: a board's whole history, at Trello's rate limit and with it lifted.

For each size (100,000 actions and 1,000,000; quick: 10,000), on one sandbox, each
program in its own process with a fresh token and fresh rate-limit windows, side by side:

- floor: plain `requests` paging the feed newest first (`limit=1000`,
  `before=<oldest id>`), decoding each page and keeping nothing; on a 429 it waits 0.5 s
  and asks again. The fewest requests any client can make, at the full 100 / 10 s.
- slices: the product's own history reading, as a first sync will use it:
  `HttpTrello.board_history_slices` (time slices, oldest first; the client's pacing and
  retries) in a read-ahead thread two slices ahead, every action parsed with
  `parse_action` in the consumer; nothing planned or stored.
- trello-sync: `open_app` + `Syncer.sync_all()` into a fresh SQLite file, as it is.

Twice: at the sandbox's real limit (100 requests / 10 s per token, 300 per key), then
with the limits lifted. Ratios are to the floor of the same run.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.bench_replay import _feed_reads, _room_for, floor_once, replay_once
from benchmarks.table import Result, mb, secs
from benchmarks.world import (
    REAL_KEY_LIMIT,
    REAL_TOKEN_LIMIT,
    World,
    child_env,
    history_board,
    peak_rss_mb,
    run_child,
    verify_feed,
    world,
)

QUICK_SIZES = [10_000]
FULL_SIZES = [100_000, 1_000_000]
LIMIT_GOAL = 1.2  # at the rate limit: ≤ 1.2 × the floor
FREE_GOAL = (2.0, 1.0)  # limits lifted: ≤ 2 × the floor + 1 s
FREE_GOAL_UP_TO = 100_000  # ... for histories up to this size (the goal is set at 100k)
ONE_MILLION_GOAL_S = 120.0
MEMORY_GOAL_MB = 300.0
LIFTED = 10**9
MODES = (("at the limit", REAL_TOKEN_LIMIT, REAL_KEY_LIMIT), ("limits lifted", LIFTED, LIFTED))


def slices_once(w: World, board_id: str, tmp: Path) -> dict[str, Any]:
    w.fresh_windows()
    env = child_env(TRELLO_API_KEY=w.api_key, TRELLO_TOKEN=w.token())
    mark = w.mark()
    result = run_child(["slices", "--api", w.url, "--board", board_id], env, 3600, tmp)
    pages, repeated = _feed_reads(w.log_since(mark), board_id)
    result["feed_pages"], result["pages_fetched_twice"] = pages, repeated
    return result


def run(quick: bool, sizes: list[int] | None = None) -> Result:
    result = Result("firstsync", "6. First sync")
    sizes = sizes or (QUICK_SIZES if quick else FULL_SIZES)
    result.data["sizes"] = {}
    per_action_kb: float | None = None
    with world() as w, tempfile.TemporaryDirectory(prefix="bench-firstsync-") as tmp_name:
        tmp = Path(tmp_name)
        end = datetime.now(UTC) - timedelta(days=20)
        for index, n in enumerate(sizes):
            label = f"{n:,} actions"
            reason = _room_for(n, per_action_kb)
            if reason:
                result.add(f"first sync, {label}", "—", f"not run: {reason}", False)
                continue
            try:
                rss_before = peak_rss_mb()
                started = time.perf_counter()
                board = history_board(w.state, n, end=end, seed=n)
                data: dict[str, Any] = {"build_s": time.perf_counter() - started}
                if index == 0:
                    verify_feed(w.state, board.board_id)
                for mode, token_limit, key_limit in MODES:
                    w.set_limits(token_limit, key_limit)
                    data[mode] = {
                        "floor": floor_once(w, board.board_id, tmp),
                        "slices": slices_once(w, board.board_id, tmp),
                        "trello_sync": replay_once(
                            w, board.board_id, tmp, f"{n}-{mode.replace(' ', '-')}"
                        ),
                    }
                w.set_limits(REAL_TOKEN_LIMIT, REAL_KEY_LIMIT)
                result.data["sizes"][n] = data
                ours = data[MODES[0][0]]["trello_sync"]
                sandbox_kb = max(peak_rss_mb() - rss_before, 0) * 1024 / n
                client_kb = (ours["rss_peak_mb"] - ours["rss_start_mb"]) * 1024 / n
                per_action_kb = max(per_action_kb or 0.0, sandbox_kb + client_kb)
            except Exception as error:
                result.add(f"first sync, {label}", "—", f"error: {type(error).__name__}", False)
                result.data.setdefault("errors", {})[n] = f"{type(error).__name__}: {error}"
                continue
            _rows(result, n, data)
    result.data["note"] = (
        "floor = plain requests, before=<oldest id>, 0.5 s wait on a 429; slices = "
        "HttpTrello.board_history_slices + read_ahead(2) + parse_action; trello-sync = "
        "open_app + Syncer.sync_all(); peak = VmHWM of each child process"
    )
    return result


def _rows(result: Result, n: int, data: dict[str, Any]) -> None:
    label = f"{n:,} actions"
    for mode, _, _ in MODES:
        runs = data[mode]
        floor, sliced, ours = runs["floor"], runs["slices"], runs["trello_sync"]
        if ours.get("problem"):
            result.add(f"{label}, {mode}", "—", f"board problem: {ours['problem']}", False)
            continue
        ratio = ours["seconds"] / floor["seconds"]
        slice_ratio = sliced["seconds"] / floor["seconds"]
        if mode == MODES[0][0]:
            goal = f"≤ {LIMIT_GOAL:g}× floor"
            met = ratio <= LIMIT_GOAL
        elif n <= FREE_GOAL_UP_TO:
            factor, extra = FREE_GOAL
            goal = f"≤ {factor:g}× floor + {extra:g} s"
            met = ours["seconds"] <= factor * floor["seconds"] + extra
        else:  # no goal: the figure shows how the work grows with the ledger
            goal, met = "—", None
        result.add(
            f"{label}, {mode}: first sync vs floor",
            goal,
            f"trello-sync {secs(ours['seconds'])} ({ours['requests']} req) vs floor "
            f"{secs(floor['seconds'])} ({floor['pages']} pages) = {ratio:.2f}×; slices "
            f"{secs(sliced['seconds'])} ({sliced['requests']} req) = {slice_ratio:.2f}×",
            met,
        )
        if n == 1_000_000 and mode == MODES[0][0]:
            result.add(
                f"{label}, {mode}: wall time",
                f"< {ONE_MILLION_GOAL_S:.0f} s",
                secs(ours["seconds"]),
                ours["seconds"] < ONE_MILLION_GOAL_S,
            )
        result.add(
            f"{label}, {mode}: peak memory",
            f"< {MEMORY_GOAL_MB:.0f} MB at 1M",
            f"trello-sync {mb(ours['rss_peak_mb'])} "
            f"(+{mb(ours['rss_peak_mb'] - ours['rss_start_mb'])}); "
            f"slices {mb(sliced['rss_peak_mb'])} (biggest slice {sliced['biggest_slice']:,}); "
            f"floor {mb(floor['rss_peak_mb'])}",
            ours["rss_peak_mb"] < MEMORY_GOAL_MB if n == 1_000_000 else None,
        )
        twice = ours["pages_fetched_twice"] + sliced["pages_fetched_twice"]
        result.add(
            f"{label}, {mode}: pages fetched twice",
            "0",
            f"trello-sync {ours['pages_fetched_twice']} of {ours['feed_pages']}; slices "
            f"{sliced['pages_fetched_twice']} of {sliced['feed_pages']} "
            f"({sliced['slices']} slices); 429s: trello-sync {ours['rate_limited']}, "
            f"slices {sliced['rate_limited']}, floor {floor['rate_limited']}",
            twice == 0,
        )
