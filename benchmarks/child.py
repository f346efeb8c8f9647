"""Measured programs, each in its own process so that its peak memory is its own.

    python -m benchmarks.child replay --api URL --board ID --db PATH [--profile OUT]
    python -m benchmarks.child floor  --api URL --board ID
    python -m benchmarks.child slices --api URL --board ID
    python -m benchmarks.child export --db PATH --out DIR

The key and token come from TRELLO_API_KEY / TRELLO_TOKEN. The last stdout line is one
JSON object with the figures. Peak memory is this process's high-water resident set
(`VmHWM` in /proc/self/status: the interpreter and its imports included; `rss_start_mb`
is the same figure just before the measured call, so the difference is what the call
itself added). Not `ru_maxrss`: on Linux a child started by fork/vfork + exec inherits
the parent's peak there, and the parent holds the sandbox (gigabytes at 1M actions).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.world import peak_rss_mb


def replay(args: argparse.Namespace) -> dict[str, Any]:
    """The product's first sync of one board: open_app + Syncer.sync_all()."""
    from sqlalchemy import func, select

    from trello_sync.app import open_app
    from trello_sync.clock import SystemClock
    from trello_sync.ledger.schema import applied_actions, entries
    from trello_sync.settings import load_settings

    db = Path(args.db)
    settings = load_settings(
        api_url=args.api,
        boards=[args.board],
        database_url=f"sqlite:///{db}",
        export_dir=db.parent / "exports",
        timezone=args.timezone,
        mentors=[args.mentor],
        # The replay alone: no reply is due for a history (none in the last 0 days) and
        # no reminder or nudge is planned (they are another benchmark's business).
        reply_history_days=0,
        nudge_days=36500,
        pause_warning_days=36500,
    )
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
    with open_app(settings, SystemClock()) as app:
        syncer = app.require_syncer()
        assert app.trello is not None
        rss_start = peak_rss_mb()
        started = time.perf_counter()
        if profiler is not None:
            profiler.start()
        outcomes = syncer.sync_all()
        if profiler is not None:
            profiler.stop()
        seconds = time.perf_counter() - started
        rss_peak = peak_rss_mb()
        stats = app.trello.stats
        with app.ledger.engine.connect() as conn:
            n_entries = conn.execute(select(func.count()).select_from(entries)).scalar_one()
            n_applied = conn.execute(select(func.count()).select_from(applied_actions)).scalar_one()
    outcome = outcomes[0]
    result: dict[str, Any] = {
        "seconds": seconds,
        "rss_start_mb": rss_start,
        "rss_peak_mb": rss_peak,
        "fetched": outcome.fetched,
        "applied": outcome.applied,
        "entries": outcome.entries,
        "moves": outcome.moves,
        "replies_planned": outcome.replies_planned,
        "problem": outcome.problem,
        "ledger_entries": n_entries,
        "ledger_applied": n_applied,
        "requests": stats.requests,
        "rate_limited": stats.rate_limited,
        "paced": stats.paced,
        "slept_s": stats.slept_s,
        "db_mb": db.stat().st_size / 2**20 if db.exists() else 0.0,
    }
    if profiler is not None:
        out = Path(args.profile)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".txt").write_text(
            profiler.output_text(unicode=True, color=False, show_all=False)
        )
        out.with_suffix(".html").write_text(profiler.output_html())
        result["hotspots"] = _hotspots(profiler, seconds)
    return result


def _hotspots(profiler: Any, total: float, top: int = 12) -> dict[str, list[dict[str, Any]]]:
    """Two views of the call tree.

    `hot_path`: product frames (and the library calls they make) taking 3 %–90 % of the
    measured time, by inclusive time; `self`: functions by self time, biggest first.
    """
    root = profiler.last_session.root_frame()
    own: dict[tuple[str, str], float] = {}
    hot: dict[tuple[str, str], float] = {}

    def name_of(frame: Any) -> str:
        name = frame.function or "?"
        return f"{frame.class_name}.{name}" if frame.class_name else name

    def walk(frame: Any, parent_is_product: bool, parent_where: str) -> None:
        if frame.is_synthetic:  # "[self]" leaves: already in their parent's total_self_time
            return
        where = f"{frame.file_path_short or ''}:{frame.line_no or ''}"
        product = "trello_sync" in (frame.file_path or "")
        key = (name_of(frame), where)
        own[key] = own.get(key, 0.0) + frame.total_self_time
        share = frame.time / total if total else 0.0
        if 0.03 <= share < 0.9 and (product or parent_is_product):
            label = key if product else (name_of(frame), f"called from {parent_where}")
            hot[label] = hot.get(label, 0.0) + frame.time
        for child in frame.children:
            walk(child, product, where)

    if root is not None:
        walk(root, False, "")

    def ranked(table: dict[tuple[str, str], float], limit: int) -> list[dict[str, Any]]:
        items = sorted(table.items(), key=lambda item: item[1], reverse=True)[:limit]
        return [
            {
                "function": function,
                "where": where,
                "seconds": round(seconds, 3),
                "pct": round(100 * seconds / total, 1) if total else 0.0,
            }
            for (function, where), seconds in items
        ]

    return {"hot_path": ranked(hot, 2 * top), "self": ranked(own, top)}


def floor(args: argparse.Namespace) -> dict[str, Any]:
    """The bare cost: page the same feed with plain `requests`, decode, keep nothing."""
    import requests

    from trello_sync.trello.port import ACTION_FILTER

    key, token = os.environ["TRELLO_API_KEY"], os.environ["TRELLO_TOKEN"]
    session = requests.Session()
    session.headers["Authorization"] = f'OAuth oauth_consumer_key="{key}", oauth_token="{token}"'
    url = f"{args.api}/boards/{args.board}/actions"
    rss_start = peak_rss_mb()
    started = time.perf_counter()
    before: str | None = None
    pages = actions = limited = 0
    waited = 0.0
    while True:
        params = {"filter": ACTION_FILTER, "limit": "1000"}
        if before:
            params["before"] = before
        resp = session.get(url, params=params, timeout=(5, 120))
        if resp.status_code == 429:  # the sandbox's real per-token limit: wait a little
            limited += 1
            time.sleep(0.5)
            waited += 0.5
            continue
        resp.raise_for_status()
        page = resp.json()
        pages += 1
        actions += len(page)
        if len(page) < 1000:
            break
        before = min(item["id"] for item in page)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "pages": pages,
        "actions": actions,
        "rate_limited": limited,
        "slept_s": waited,
        "rss_start_mb": rss_start,
        "rss_peak_mb": peak_rss_mb(),
    }


def slices(args: argparse.Namespace) -> dict[str, Any]:
    """The product's own history reading: HttpTrello.board_history_slices (time slices,
    the client's pacing and retries) in a read-ahead thread two slices ahead, each action
    parsed by parse_action in the consumer; nothing planned or stored."""
    from trello_sync.clock import SystemClock
    from trello_sync.domain.actions import parse_action
    from trello_sync.readahead import read_ahead
    from trello_sync.trello.client import HttpTrello

    key, token = os.environ["TRELLO_API_KEY"], os.environ["TRELLO_TOKEN"]
    client = HttpTrello(args.api, key, token, clock=SystemClock())
    rss_start = peak_rss_mb()
    started = time.perf_counter()
    actions = count = biggest = 0
    with client, read_ahead(client.board_history_slices(args.board), ahead=2) as pieces:
        for piece in pieces:
            count += 1
            biggest = max(biggest, len(piece))
            actions += len([parse_action(item) for item in piece])
        seconds = time.perf_counter() - started
        stats = client.stats
    return {
        "seconds": seconds,
        "slices": count,
        "biggest_slice": biggest,
        "actions": actions,
        "requests": stats.requests,
        "rate_limited": stats.rate_limited,
        "paced": stats.paced,
        "slept_s": stats.slept_s,
        "rss_start_mb": rss_start,
        "rss_peak_mb": peak_rss_mb(),
    }


def export(args: argparse.Namespace) -> dict[str, Any]:
    """export_ledger over the ledger's streamed entries, then the two journals, as the
    CLI does (its receipts.csv and dashboard read the payments and this month only)."""
    from trello_sync.clock import SystemClock
    from trello_sync.export import export_ledger
    from trello_sync.journals import write_journals
    from trello_sync.ledger.open import open_ledger
    from trello_sync.settings import load_settings

    out = Path(args.out)
    ledger = open_ledger(f"sqlite:///{args.db}", clock=SystemClock())
    try:
        rss_start = peak_rss_mb()
        started = time.perf_counter()
        paths = export_ledger(ledger.entries(), out)
        seconds = time.perf_counter() - started
        journals_started = time.perf_counter()
        journals = write_journals(ledger, load_settings(), out)
        journal_seconds = time.perf_counter() - journals_started
        rss_peak = peak_rss_mb()
    finally:
        ledger.close()
    with open(out / "ledger.csv", "rb") as handle:
        rows = sum(1 for _ in handle) - 1
    return {
        "seconds": seconds,
        "journal_seconds": journal_seconds,
        "journal_bytes": {p.name: p.stat().st_size for p in journals},
        "rss_start_mb": rss_start,
        "rss_peak_mb": rss_peak,
        "files": len(paths),
        "statements": sum(1 for p in paths if p.name.startswith("statement-")),
        "csv_rows": rows,
        "bytes": {p.name: p.stat().st_size for p in paths[:2]},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.child")
    sub = parser.add_subparsers(dest="what", required=True)
    r = sub.add_parser("replay")
    r.add_argument("--api", required=True)
    r.add_argument("--board", required=True)
    r.add_argument("--db", required=True)
    r.add_argument("--timezone", default="Europe/Paris")
    r.add_argument("--mentor", default="camille_mentor")
    r.add_argument("--profile")
    f = sub.add_parser("floor")
    f.add_argument("--api", required=True)
    f.add_argument("--board", required=True)
    s = sub.add_parser("slices")
    s.add_argument("--api", required=True)
    s.add_argument("--board", required=True)
    e = sub.add_parser("export")
    e.add_argument("--db", required=True)
    e.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    programs = {"replay": replay, "floor": floor, "slices": slices, "export": export}
    result = programs[args.what](args)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
