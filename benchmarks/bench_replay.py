"""3. History replay: the first sync of one board of 10k / 100k / 1M actions, beside the floor.

For each size, on one sandbox with Trello's real limits (100 / 10 s per token), each
program in its own process, each with a fresh token:

- floor: plain `requests` paging the board's feed (`filter=<the product's>`,
  `limit=1000`, `before=<oldest id>`), decoding each page and keeping nothing; on a 429
  it waits 0.5 s and asks again (the least a client can do);
- trello-sync: `open_app` + `Syncer.sync_all()` into a fresh SQLite file: fetch, plan,
  one commit (no reply is due: `reply_history_days=0`, reminders off).

Wall time is what a user waits; "active" time leaves out the waits imposed by the rate
limit (the product's own pacing and 429 back-off, the floor's 429 waits), so that the
ratio of the two shows the product's own overhead. Peak memory is the child process's
`ru_maxrss`. "Pages fetched twice" counts repeated (filter, since, before) feed reads in
the sandbox's request log during the replay.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.table import Result, mb, secs
from benchmarks.world import (
    MENTOR,
    ROOT,
    TIMEZONE,
    World,
    available_mb,
    child_env,
    history_board,
    peak_rss_mb,
    run_child,
    verify_feed,
    world,
)

QUICK_SIZES = [10_000]
FULL_SIZES = [10_000, 100_000, 1_000_000]
RATIO_GOAL = 2.0
ONE_MILLION_GOAL_S = 120.0
MEMORY_GOAL_MB = 300.0
RESULTS = ROOT / "benchmarks" / "results"


def _feed_reads(log: list[dict[str, Any]], board_id: str) -> tuple[int, int]:
    path = f"/1/boards/{board_id}/actions"
    keys = [
        (e["query"].get("filter"), e["query"].get("since"), e["query"].get("before"))
        for e in log
        if e["path"] == path and e["method"] == "GET" and e["status"] == 200
    ]
    repeated = sum(count - 1 for count in Counter(keys).values() if count > 1)
    return len(keys), repeated


def replay_once(
    w: World,
    board_id: str,
    tmp: Path,
    label: str,
    profile: Path | None = None,
) -> dict[str, Any]:
    w.fresh_windows()
    env = child_env(TRELLO_API_KEY=w.api_key, TRELLO_TOKEN=w.token())
    args = [
        "replay",
        "--api",
        w.url,
        "--board",
        board_id,
        "--db",
        str(tmp / f"replay-{label}.db"),
        "--timezone",
        TIMEZONE,
        "--mentor",
        MENTOR[0],
    ]
    if profile is not None:
        args += ["--profile", str(profile)]
    mark = w.mark()
    result = run_child(args, env, timeout=3600, cwd=tmp)
    pages, repeated = _feed_reads(w.log_since(mark), board_id)
    result["feed_pages"] = pages
    result["pages_fetched_twice"] = repeated
    return result


def floor_once(w: World, board_id: str, tmp: Path) -> dict[str, Any]:
    w.fresh_windows()
    env = child_env(TRELLO_API_KEY=w.api_key, TRELLO_TOKEN=w.token())
    return run_child(["floor", "--api", w.url, "--board", board_id], env, timeout=3600, cwd=tmp)


def _room_for(n: int, per_action_kb: float | None) -> str | None:
    """Why a size cannot be built and replayed on this machine, or None."""
    if per_action_kb is None:
        return None
    need_mb = n * per_action_kb / 1024 * 1.3
    have_mb = available_mb()
    if need_mb > have_mb:
        return (
            f"needs ~{need_mb:,.0f} MB (sandbox + replay at {per_action_kb:.1f} KB/action "
            f"measured at the smaller sizes), {have_mb:,.0f} MB available"
        )
    return None


def run(quick: bool) -> Result:
    result = Result("replay", "3. History replay")
    sizes = QUICK_SIZES if quick else FULL_SIZES
    result.data["sizes"] = {}
    per_action_kb: float | None = None
    with world() as w, tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp_name:
        tmp = Path(tmp_name)
        end = datetime.now(UTC) - timedelta(days=20)
        for index, n in enumerate(sizes):
            label = f"{n:,} actions"
            try:
                reason = _room_for(n, per_action_kb)
                if reason:
                    result.add(f"first sync, {label}", "—", f"not run: {reason}", False)
                    continue
                data: dict[str, Any] = {}
                rss_before = peak_rss_mb()
                started = time.perf_counter()
                board = history_board(w.state, n, end=end, seed=n)
                data["build_s"] = time.perf_counter() - started
                data["sandbox_rss_peak_mb"] = peak_rss_mb()
                if index == 0:
                    verify_feed(w.state, board.board_id)
                    data["indexed_feed_verified"] = True
                data["floor"] = floor_once(w, board.board_id, tmp)
                data["trello_sync"] = replay_once(w, board.board_id, tmp, str(n))
                # The next poll, on the same ledger, in a new process: nothing new.
                data["idle_after"] = replay_once(w, board.board_id, tmp, str(n))
                result.data["sizes"][n] = data
                sandbox_kb = max(peak_rss_mb() - rss_before, 0) * 1024 / n
                client_kb = (
                    (data["trello_sync"]["rss_peak_mb"] - data["trello_sync"]["rss_start_mb"])
                    * 1024
                    / n
                )
                per_action_kb = max(per_action_kb or 0.0, sandbox_kb + client_kb)
            except Exception as error:
                result.add(
                    f"first sync, {label}", "—", f"error: {type(error).__name__}: {error}", False
                )
                continue
            _rows(result, n, data)
    result.data["note"] = (
        "active = wall time minus the waits imposed by the rate limit "
        "(pacing and 429 back-off); peak = child process ru_maxrss"
    )
    return result


def _rows(result: Result, n: int, data: dict[str, Any]) -> None:
    ours, floor = data["trello_sync"], data["floor"]
    label = f"{n:,} actions"
    if ours.get("problem"):
        result.add(f"first sync, {label}", "—", f"board problem: {ours['problem']}", False)
        return
    ratio = ours["seconds"] / floor["seconds"]
    active = ours["seconds"] - ours["slept_s"]
    floor_active = floor["seconds"] - floor["slept_s"]
    active_ratio = active / floor_active if floor_active > 0 else float("nan")
    rate = n / ours["seconds"]
    result.add(
        f"first sync, {label}: time vs floor",
        f"≤ {RATIO_GOAL:g}× floor",
        f"{secs(ours['seconds'])} vs {secs(floor['seconds'])} = {ratio:.1f}× "
        f"({rate:,.0f} actions/s); active {secs(active)} vs {secs(floor_active)} "
        f"= {active_ratio:.1f}×",
        ratio <= RATIO_GOAL,
    )
    if n == 1_000_000:
        result.add(
            "first sync, 1,000,000 actions: wall time",
            f"< {ONE_MILLION_GOAL_S:.0f} s",
            secs(ours["seconds"]),
            ours["seconds"] < ONE_MILLION_GOAL_S,
        )
    peak, start = ours["rss_peak_mb"], ours["rss_start_mb"]
    goal = f"flat; < {MEMORY_GOAL_MB:.0f} MB at 1M"
    met = peak < MEMORY_GOAL_MB if n == 1_000_000 else None
    result.add(
        f"first sync, {label}: peak memory",
        goal,
        f"{mb(peak)} (+{mb(peak - start)} during the sync; floor {mb(floor['rss_peak_mb'])})",
        met,
    )
    idle = data.get("idle_after")
    if idle is not None:
        result.add(
            f"the next (idle) poll after {label}",
            "1 request",
            f"{idle['requests']} request(s), {secs(idle['seconds'])}, "
            f"peak {mb(idle['rss_peak_mb'])}",
            idle["requests"] == 1 and idle["applied"] == 0,
        )
    result.add(
        f"first sync, {label}: pages fetched twice",
        "0",
        f"{ours['pages_fetched_twice']} of {ours['feed_pages']} pages; "
        f"{ours['requests']} requests, {ours['rate_limited']}× 429, "
        f"{ours['paced']} pacing waits ({secs(ours['slept_s'])})",
        ours["pages_fetched_twice"] == 0,
    )


def profile(quick: bool) -> Result:
    """pyinstrument over the replay (the slowest path), in the child process."""
    n = 10_000 if quick else 100_000
    result = Result("profile", f"Profile: first sync of {n:,} actions")
    with world() as w, tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp_name:
        tmp = Path(tmp_name)
        board = history_board(w.state, n, end=datetime.now(UTC) - timedelta(days=20), seed=n)
        out = RESULTS / f"profile-replay-{n}"
        data = replay_once(w, board.board_id, tmp, "profile", profile=out)
    result.data = data
    result.add(
        "profiled sync (pyinstrument, 1 ms interval)",
        "—",
        f"{secs(data['seconds'])}; {data['requests']} requests, pacing waits "
        f"{secs(data['slept_s'])}; report {out.with_suffix('.txt').relative_to(ROOT)}",
    )
    spots = data.get("hotspots", {})
    for spot in spots.get("hot_path", [])[:14]:
        result.add(
            f"{spot['function']} ({spot['where']})",
            "—",
            f"{spot['seconds']:.2f} s incl. ({spot['pct']}%)",
        )
    for spot in spots.get("self", [])[:5]:
        result.add(
            f"self: {spot['function']} ({spot['where']})",
            "—",
            f"{spot['seconds']:.2f} s self ({spot['pct']}%)",
        )
    return result
