"""2. Many boards per token: one idle sync of 1,000 boards under the real per-token limit.

Set-up (not measured): 1,000 quiet boards, each with a student in Active; a first sync of
them all with the sandbox's limits lifted and the client's pacing off (3 requests a
board). Then, with the sandbox back at Trello's limits (100 / 10 s per token, 300 per
key), each program gets a fresh token (its own window):

- as is: `Syncer.sync_all()` through `open_app` (the product batches the polls of
  known boards ten to a `/1/batch` request, paced by its client at 90 requests / 10 s;
  before that it sent one actions request per board);
- prototype: the same polls, 10 boards per `GET /1/batch` request, sent through the
  product's own transport (`HttpService`: same pacing, retries and auth header). Only
  the polling requests: the per-board ledger work of an idle board is the same in both
  and is given separately (as-is wall time minus its pacing waits, per board).

"Every board polled within 60 s" is read from the sandbox's request log: the time of
each board's poll request, from the first to the last.

The comma probe: `/1/batch` splits `urls` on commas, and the product's action filter is
a comma-separated list. The probe sends one board's feed through /batch three ways and
compares each answer with a plain GET of the same route.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from benchmarks.table import Result, secs
from benchmarks.world import (
    MENTOR,
    REAL_KEY_LIMIT,
    REAL_TOKEN_LIMIT,
    World,
    bulk_comments,
    log_time,
    new_board,
    product_settings,
    world,
)

BATCH_ROUTES = 10
GOAL_S = 60.0


def build_boards(w: World, n: int, now: datetime) -> list[str]:
    ids = []
    comments = []
    for i in range(n):
        at = now - timedelta(days=3, minutes=i)
        board = new_board(w.state, f"Mentor board {i:04d}", at)
        card = w.state.create_card(
            MENTOR[0], board.lists["En attente"], f"Student {i:04d}", at=at + timedelta(minutes=1)
        )
        w.state.move_card(MENTOR[0], card["id"], board.lists["Active"], at=at + timedelta(hours=1))
        comments.append((MENTOR[0], card["id"], "/session 1h", at + timedelta(days=1)))
        ids.append(board.board_id)
    bulk_comments(w.state, comments)
    return ids


def first_sync(w: World, boards: list[str], db: Path) -> float:
    """Every board's first sync, limits lifted (set-up, not a measured figure)."""
    from trello_sync.clock import SystemClock
    from trello_sync.ledger.open import open_ledger
    from trello_sync.sync import Syncer
    from trello_sync.trello.client import HttpTrello
    from trello_sync.trello.http import PacingPolicy

    w.set_limits(10**9, 10**9)
    settings = product_settings(w.url, w.api_key, w.token(), boards, db)
    clock = SystemClock()
    started = time.perf_counter()
    ledger = open_ledger(settings.database_url, clock=clock)
    trello = HttpTrello(
        w.url,
        w.api_key,
        w.token(),
        clock=clock,
        pacing=PacingPolicy(max_requests=10**6, follow_headers=False),
    )
    try:
        outcomes = Syncer(settings, trello, ledger, clock).sync_all()
    finally:
        trello.close()
        ledger.close()
        w.set_limits(REAL_TOKEN_LIMIT, REAL_KEY_LIMIT)
        w.fresh_windows()
    problems = [o.problem for o in outcomes if o.problem]
    if problems:
        raise RuntimeError(f"{len(problems)} board(s) failed their first sync: {problems[0]}")
    return time.perf_counter() - started


def _poll_times(log: list[dict[str, Any]], boards: list[str]) -> dict[str, float]:
    """The first successful poll of each board, from the request log (plain or batch)."""
    wanted = set(boards)
    times: dict[str, float] = {}
    for entry in log:
        if entry["status"] != 200:
            continue
        path = entry["path"]
        if path.startswith("/1/boards/") and path.endswith("/actions"):
            targets = [path.split("/")[3]]
        elif path == "/1/batch":
            targets = [u.split("/")[2] for u in entry["query"].get("urls", "").split(",")]
        else:
            continue
        for board_id in targets:
            if board_id in wanted and board_id not in times:
                times[board_id] = log_time(entry)
    return times


def _figures(log: list[dict[str, Any]], boards: list[str], started_at: float) -> dict[str, Any]:
    times = _poll_times(log, boards)
    first, last = (min(times.values()), max(times.values())) if times else (0.0, 0.0)
    return {
        "requests": len(log),
        "rate_limited_429": sum(1 for e in log if e["status"] == 429),
        "boards_polled": len(times),
        "poll_span_s": last - first,
        "last_poll_after_s": last - started_at,
        "polled_within_60s": sum(1 for t in times.values() if t - first <= GOAL_S),
    }


def as_is(w: World, boards: list[str], db: Path) -> dict[str, Any]:
    from trello_sync.app import open_app
    from trello_sync.clock import SystemClock

    settings = product_settings(w.url, w.api_key, w.token(), boards, db)
    with open_app(settings, SystemClock()) as app:
        syncer = app.require_syncer()
        assert app.trello is not None
        mark = w.mark()
        started_at = time.time()
        started = time.perf_counter()
        outcomes = syncer.sync_all()
        seconds = time.perf_counter() - started
        stats = app.trello.stats
    figures = _figures(w.log_since(mark), boards, started_at)
    figures.update(
        seconds=seconds,
        problems=sum(1 for o in outcomes if o.problem),
        paced=stats.paced,
        slept_s=stats.slept_s,
        client_429=stats.rate_limited,
        per_board_work_ms=1000 * (seconds - stats.slept_s) / max(len(boards), 1),
    )
    return figures


def _since(db: Path, overlap_s: int) -> dict[str, str]:
    from trello_sync.domain.actions import format_instant
    from trello_sync.ledger.open import open_ledger

    ledger = open_ledger(f"sqlite:///{db}")
    try:
        return {
            b.board_id: format_instant(b.checkpoint.at - timedelta(seconds=overlap_s))
            for b in ledger.boards()
            if b.checkpoint is not None
        }
    finally:
        ledger.close()


def _route(board_id: str, params: dict[str, str]) -> str:
    # urlencode percent-encodes the commas of the filter (%2C): see the probe.
    return f"/boards/{board_id}/actions?{urlencode(params)}"


def batched(w: World, boards: list[str], db: Path) -> dict[str, Any]:
    """Prototype: the idle polls, 10 boards per /1/batch, through the product's transport."""
    from trello_sync.clock import SystemClock
    from trello_sync.settings import shipped_defaults
    from trello_sync.trello.http import HttpService
    from trello_sync.trello.port import ACTION_FILTER

    overlap = shipped_defaults()["overlap_seconds"]
    since = _since(db, overlap)
    http = HttpService(w.url, w.api_key, w.token(), clock=SystemClock())
    mark = w.mark()
    started_at = time.time()
    started = time.perf_counter()
    actions = full_pages = failed_items = 0
    try:
        for start in range(0, len(boards), BATCH_ROUTES):
            group = boards[start : start + BATCH_ROUTES]
            routes = [
                _route(b, {"filter": ACTION_FILTER, "since": since[b], "limit": "1000"})
                for b in group
            ]
            answer = http.request("GET", f"{w.url}/batch", params={"urls": ",".join(routes)})
            for item in answer.json():
                if isinstance(item, dict) and set(item) == {"200"}:
                    actions += len(item["200"])
                    full_pages += len(item["200"]) >= 1000  # would need the paged fetch
                else:
                    failed_items += 1  # would be read alone, as board_snapshot does
        seconds = time.perf_counter() - started
        stats = http.stats
    finally:
        http.close()
    figures = _figures(w.log_since(mark), boards, started_at)
    figures.update(
        seconds=seconds,
        actions_in_overlap=actions,
        boards_needing_paged_fetch=full_pages,
        failed_items=failed_items,
        paced=stats.paced,
        slept_s=stats.slept_s,
        client_429=stats.rate_limited,
    )
    return figures


def comma_probe(w: World, board_id: str) -> dict[str, Any]:
    """How the sandbox's /1/batch treats a comma inside a route's query."""
    import requests

    from trello_sync.trello.port import ACTION_FILTER

    token = w.token()
    session = requests.Session()
    session.headers["Authorization"] = (
        f'OAuth oauth_consumer_key="{w.api_key}", oauth_token="{token}"'
    )
    plain = session.get(
        f"{w.url}/boards/{board_id}/actions",
        params={"filter": ACTION_FILTER, "limit": "1000"},
        timeout=30,
    ).json()
    expected = sorted(a["id"] for a in plain)
    wanted_types = set(ACTION_FILTER.split(","))
    raw = f"/boards/{board_id}/actions?filter={ACTION_FILTER}&limit=1000"
    variants = {
        "raw commas": raw,
        "commas as %2C": _route(board_id, {"filter": ACTION_FILTER, "limit": "1000"}),
        "filter=all, filtered by the client": _route(board_id, {"filter": "all", "limit": "1000"}),
    }
    report: dict[str, Any] = {"expected_actions": len(expected)}
    for name, route in variants.items():
        for routes in (1, BATCH_ROUTES):
            resp = session.get(
                f"{w.url}/batch", params={"urls": ",".join([route] * routes)}, timeout=30
            )
            outcome: dict[str, Any] = {"status": resp.status_code}
            if resp.status_code == 200:
                items = resp.json()
                outcome["items"] = len(items)
                outcome["error_items"] = sum(1 for i in items if set(i) != {"200"})
                first = items[0].get("200") if items and isinstance(items[0], dict) else None
                if isinstance(first, list):
                    if name.startswith("filter=all"):
                        first = [a for a in first if a["type"] in wanted_types]
                    outcome["first_item_actions"] = len(first)
                    outcome["correct"] = (
                        sorted(a["id"] for a in first) == expected
                        and outcome["items"] == routes
                        and outcome["error_items"] == 0
                    )
                else:
                    outcome["correct"] = False
            else:
                outcome["body"] = resp.text[:80]
                outcome["correct"] = False
            report[f"{name}, {routes} route(s)"] = outcome
    return report


def run(quick: bool) -> Result:
    n = 100 if quick else 1000
    result = Result("boards", "2. Many boards per token")
    with world() as w, tempfile.TemporaryDirectory(prefix="bench-boards-") as tmp:
        db = Path(tmp) / "boards.db"
        started = time.perf_counter()
        boards = build_boards(w, n, datetime.now(UTC))
        result.data["build_s"] = time.perf_counter() - started
        result.data["first_sync_s"] = first_sync(w, boards, db)
        try:
            result.data["comma_probe"] = probe = comma_probe(w, boards[0])
        except Exception as error:
            probe = {}
            result.data["comma_probe_error"] = f"{type(error).__name__}: {error}"
        w.fresh_windows()  # the set-up's requests leave the key's window
        a = result.data["as_is"] = as_is(w, boards, db)
        w.fresh_windows()
        b = result.data["batched"] = batched(w, boards, db)

    def summary(f: dict[str, Any]) -> str:
        return (
            f"{f['requests']:,} requests, {secs(f['seconds'])}, {f['rate_limited_429']}× 429; "
            f"{f['boards_polled']:,} boards polled over {secs(f['poll_span_s'])}"
        )

    def met(f: dict[str, Any]) -> bool:
        return bool(
            f["boards_polled"] == n and f["poll_span_s"] <= GOAL_S and f["rate_limited_429"] == 0
        )

    goal = f"all {n:,} polled within 60 s, no 429"
    result.add(f"{n:,} boards, idle sync, as is (the product)", goal, summary(a), met(a))
    result.add(
        f"{n:,} boards, prototype /1/batch × {BATCH_ROUTES} (benchmark code)",
        goal,
        summary(b),
        met(b),
    )
    result.add(
        f"set-up: first sync of {n:,} small boards (limits lifted, not paced)",
        "—",
        f"{secs(result.data['first_sync_s'])} "
        f"({1000 * result.data['first_sync_s'] / n:.0f} ms per board)",
    )
    result.add(
        "idle board, ledger work per board (as is, pacing excluded)",
        "—",
        f"{a['per_board_work_ms']:.1f} ms",
    )
    if probe:

        def verdict(name: str) -> str:
            one, ten = probe[f"{name}, 1 route(s)"], probe[f"{name}, {BATCH_ROUTES} route(s)"]

            def word(o: dict[str, Any]) -> str:
                if o["correct"]:
                    return "right"
                if o["status"] != 200:
                    return f"HTTP {o['status']}"
                got = o.get("first_item_actions", "?")
                return f"WRONG ({got} actions, {o['error_items']} error items)"

            return f"{word(one)} / {word(ten)}"

        result.add(
            "comma in a batch route's filter (1 / 10 routes)",
            "answer = plain GET",
            "; ".join(
                f"{name}: {verdict(name)}"
                for name in ("raw commas", "commas as %2C", "filter=all, filtered by the client")
            ),
            probe["commas as %2C, 1 route(s)"]["correct"],
        )
    return result
