"""Run the benchmarks, print the table, write the figures as JSON.

    .venv/bin/python -m benchmarks.run [--quick] [--only NAME[,NAME]] [--json PATH] [--profile]

Every benchmark runs its compared programs side by side, in the same run, against the
product's Trello sandbox over real loopback HTTP, with SQLite file ledgers in a
temporary folder. A benchmark that fails prints its error in its row; the others still
run. The exit code is 0 when every benchmark ran (met goals or not), 1 if one crashed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.table import Result
from benchmarks.world import ROOT

DEFAULT_JSON = ROOT / "benchmarks" / "results" / "latest.json"


def _benchmarks() -> dict[str, tuple[str, Callable[[bool], Result]]]:
    from benchmarks import (
        bench_boards,
        bench_export,
        bench_firstsync,
        bench_idle,
        bench_latency,
        bench_replay,
        bench_webhooks,
    )

    return {
        "idle": ("1. Requests per idle poll", bench_idle.run),
        "boards": ("2. Many boards per token", bench_boards.run),
        "replay": ("3. History replay", bench_replay.run),
        "latency": ("4. Reply latency", bench_latency.run),
        "export": ("5. Export", bench_export.run),
        "firstsync": ("6. First sync", bench_firstsync.run),
        "webhooks": ("7. Webhook latency", bench_webhooks.run),
        "profile": ("Profile of the slowest path", bench_replay.profile),
    }


def machine() -> dict[str, Any]:
    mem_gib = None
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    mem_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    commit = ""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "trello_sync"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        commit += " (+ uncommitted changes in trello_sync/)" if dirty else ""
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "memory_gib": mem_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "commit": commit,
    }


def run_one(name: str, title: str, fn: Callable[[bool], Result], quick: bool) -> Result:
    started = time.perf_counter()
    try:
        result = fn(quick)
    except Exception as error:  # robust: the row says what broke, the others still run
        result = Result(name, title, error=f"{type(error).__name__}: {error}")
        result.data["traceback"] = traceback.format_exc()
        result.add(title, "—", f"error: {result.error}", False)
    result.seconds = time.perf_counter() - started
    return result


def render(results: list[Result], console: Console, quick: bool) -> None:
    table = Table(
        title=f"trello-sync benchmarks ({'--quick' if quick else 'full'})",
        show_lines=False,
        expand=False,
    )
    table.add_column("benchmark", style="bold", no_wrap=True)
    table.add_column("figure")
    table.add_column("goal")
    table.add_column("measured")
    table.add_column("met?", justify="center", no_wrap=True)
    for result in results:
        for index, row in enumerate(result.rows):
            met = {True: "[green]yes[/]", False: "[red]NO[/]", None: "—"}[row.met]
            label = result.title if index == 0 else ""
            table.add_row(label, row.figure, row.goal, row.measured, met)
        table.add_section()
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (CI smoke run)")
    parser.add_argument(
        "--only",
        help="comma-separated: idle,boards,replay,latency,export,firstsync,webhooks,profile",
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where the figures go")
    parser.add_argument(
        "--profile", action="store_true", help="also profile the replay with pyinstrument"
    )
    parser.add_argument(
        "--nagle",
        action="store_true",
        help="keep the stock sandbox's Nagle delay (~44 ms per request; see world.py)",
    )
    args = parser.parse_args(argv)
    if args.nagle:
        os.environ["BENCH_NAGLE"] = "1"
    benchmarks = _benchmarks()
    names = [n for n in benchmarks if n != "profile"] + (["profile"] if args.profile else [])
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in benchmarks]
        if unknown:
            parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    console = Console(width=max(150, Console().width))
    info = machine()
    console.print(
        f"[bold]machine[/]: {info['cpus']} CPUs, {info['memory_gib']} GiB, "
        f"Python {info['python']}, {info['platform']}; commit {info['commit']}"
    )
    results: list[Result] = []
    started = datetime.now(UTC)
    for name in names:
        title, fn = benchmarks[name]
        console.print(f"[dim]running {name}…[/]")
        result = run_one(name, title, fn, args.quick)
        console.print(f"[dim]  {name}: {result.seconds:.1f} s[/]")
        results.append(result)
    render(results, console, args.quick)
    payload = {
        "started": started.isoformat(timespec="seconds"),
        "quick": args.quick,
        "command": " ".join(
            [Path(sys.executable).name, "-m", "benchmarks.run", *(argv or sys.argv[1:])]
        ),
        "machine": info,
        "sandbox_tcp_nodelay": not args.nagle,
        "benchmarks": {r.name: r.to_json() for r in results},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    console.print(f"figures written to {args.json}")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
