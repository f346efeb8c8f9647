"""5. Export: ledger.csv, ledger.jsonl and the monthly statements for 1,000,000 entries.

The ledger is a real SQLite file with the product's schema (`open_ledger` migrates it).
Its first entries go through the product's own `commit` (the format every value is
stored in is then the product's), the rest are bulk-inserted with `sqlite3` in that
same format, and a sample is read back through `SqlLedger.entries()` and compared with
what was generated. The export runs in its own process: `export_ledger(ledger.entries(),
out)`, then the journals (`write_journals`), as `trello-sync export --offline` does. Two
sizes, so that "streamed, not built in memory" shows as a peak that does not grow with
the ledger.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.table import Result, mb, secs
from benchmarks.world import child_env, run_child

QUICK_SIZES = [5_000, 25_000]
FULL_SIZES = [100_000, 1_000_000]
COLUMNS = (
    "entry_id, recorded_at, board_id, card_id, student, project, level, status, session_date, "
    "duration_minutes, note, rate_cents, share_percent, amount_cents, currency, mentor, "
    "source_action_id, reverses_entry_id"
)
PROJECTS = (
    ("Learn how to learn", 1),
    ("Build a Python web app", 2),
    ("Launch your own restaurant review site", 3),
    (None, 2),
)
STATUSES = (("done", 100, 85), ("noshow", 50, 8), ("late", 50, 4), ("cancel", 0, 3))
RATES = {1: 3000, 2: 3500, 3: 4000}


def generate(n: int, seed: int = 5) -> Iterator[Any]:
    """`Entry` objects over four years: 3 boards, 600 students (~80 a month), 2 mentors, 2 %
    reversals."""
    from trello_sync.domain.records import Entry
    from trello_sync.domain.rules import Status

    rng = random.Random(seed)
    start = datetime(2023, 1, 2, 8, tzinfo=UTC)
    step = timedelta(days=4 * 365) / n
    boards = [f"{0x6500000000 + b:024x}" for b in range(3)]
    cards = [(boards[c % 3], f"{0x6600000000 + c:024x}", f"Student {c:03d}") for c in range(600)]
    weights = [w for *_, w in STATUSES]
    recent: list[Any] = []
    for i in range(n):
        recorded = start + step * i
        action = f"{int(recorded.timestamp()):08x}{i:016x}"
        # Students come and go: about 80 of the 600 are seen in any one month.
        around = i * len(cards) // n + rng.randrange(-40, 40)
        board_id, card_id, student = cards[min(max(around, 0), len(cards) - 1)]
        project, level = PROJECTS[int(card_id[-3:], 16) % len(PROJECTS)]
        if recent and rng.random() < 0.02:
            original = recent.pop(rng.randrange(len(recent)))
            yield replace(
                original,
                entry_id=original.entry_id + "~rev",
                recorded_at=recorded,
                amount_cents=-original.amount_cents,
                source_action_id=action,
                reverses_entry_id=original.entry_id,
            )
            continue
        status, share, _ = rng.choices(STATUSES, weights)[0]
        rate = RATES[level]
        entry = Entry(
            entry_id=action,
            recorded_at=recorded,
            board_id=board_id,
            card_id=card_id,
            student=student,
            project=project,
            level=level,
            status=Status(status),
            session_date=(recorded - timedelta(days=rng.randrange(2))).date(),
            duration_minutes=rng.choice((None, 45, 60, 90)),
            note=rng.choice(("", "good progress", "worked on the API, next: tests")),
            rate_cents=rate,
            share_percent=share,
            amount_cents=rate * share // 100,
            currency="EUR",
            mentor=rng.choice(("camille_mentor", "dominique_mentor")),
            source_action_id=action,
        )
        recent.append(entry)
        if len(recent) > 200:
            recent.pop(0)
        yield entry


def _sql_value(value: Any) -> Any:
    # The product's SQLite formats (ledger/schema.py): UTC text with microseconds, ISO dates.
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def build_ledger(db: Path, n: int) -> dict[str, Any]:
    from trello_sync.clock import SystemClock
    from trello_sync.domain.records import Entry, Plan
    from trello_sync.ledger.open import open_ledger

    started = time.perf_counter()
    entries = generate(n)
    through_product = [next(entries) for _ in range(min(n, 1000))]
    ledger = open_ledger(f"sqlite:///{db}", clock=SystemClock())
    try:
        by_board: dict[str, list[Entry]] = {}
        for entry in through_product:
            by_board.setdefault(entry.board_id, []).append(entry)
        for board_id, items in by_board.items():
            ledger.commit(board_id, Plan(entries=tuple(items)))
    finally:
        ledger.close()
    names = [c.strip() for c in COLUMNS.split(",")]
    conn = sqlite3.connect(db)
    try:
        stored = conn.execute("SELECT recorded_at, session_date FROM entries LIMIT 1").fetchone()
        expected = (
            _sql_value(through_product[0].recorded_at),
            _sql_value(through_product[0].session_date),
        )
        if stored and tuple(stored) != expected and through_product[0].entry_id:
            row = conn.execute(
                "SELECT recorded_at, session_date FROM entries WHERE entry_id = ?",
                (through_product[0].entry_id,),
            ).fetchone()
            if tuple(row) != expected:
                raise RuntimeError(f"stored format {row} differs from the bulk format {expected}")
        conn.execute("PRAGMA synchronous=OFF")
        placeholders = ", ".join("?" for _ in names)
        with conn:
            conn.executemany(
                f"INSERT INTO entries ({COLUMNS}) VALUES ({placeholders})",
                (tuple(_sql_value(getattr(e, c)) for c in names) for e in entries),
            )
    finally:
        conn.close()
    _check_round_trip(db, n)
    return {"build_s": time.perf_counter() - started, "db_mb": db.stat().st_size / 2**20}


def _check_round_trip(db: Path, n: int) -> None:
    """A sample read back through the product equals what was generated."""
    from trello_sync.clock import SystemClock
    from trello_sync.ledger.open import open_ledger

    wanted = {}
    for index, entry in enumerate(generate(n)):
        if index % max(n // 50, 1) == 0 or index == n - 1:
            wanted[entry.entry_id] = entry
    ledger = open_ledger(f"sqlite:///{db}", clock=SystemClock())
    try:
        count = 0
        for entry in ledger.entries():
            count += 1
            if entry.entry_id in wanted and wanted.pop(entry.entry_id) != entry:
                raise RuntimeError(f"entry {entry.entry_id} does not read back as written")
    finally:
        ledger.close()
    if count != n or wanted:
        raise RuntimeError(f"{count} entries read back of {n}; {len(wanted)} sample(s) missing")


def run(quick: bool) -> Result:
    result = Result("export", "5. Export")
    sizes = QUICK_SIZES if quick else FULL_SIZES
    result.data["sizes"] = {}
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp_name:
        tmp = Path(tmp_name)
        for n in sizes:
            try:
                db = tmp / f"export-{n}.db"
                built = build_ledger(db, n)
                out = tmp / f"out-{n}"
                measured = run_child(
                    ["export", "--db", str(db), "--out", str(out)],
                    child_env(),
                    timeout=3600,
                    cwd=tmp,
                )
                if measured["csv_rows"] != n:
                    raise RuntimeError(f"ledger.csv has {measured['csv_rows']} rows, not {n}")
                result.data["sizes"][n] = {**built, **measured}
                db.unlink()
            except Exception as error:
                result.add(
                    f"export, {n:,} entries", "—", f"error: {type(error).__name__}: {error}", False
                )
    figures = result.data["sizes"]
    for n, f in figures.items():
        total_mb = sum(f["bytes"].values()) / 2**20
        result.add(
            f"export, {n:,} entries: time",
            "—",
            f"{secs(f['seconds'])} ({n / f['seconds']:,.0f} entries/s; "
            f"{f['statements']} statements, {total_mb:,.0f} MB of CSV + JSONL)",
        )
        journal_mb = sum(f["journal_bytes"].values()) / 2**20
        result.add(
            f"journals, {n:,} entries: time",
            "—",
            f"{secs(f['journal_seconds'])} ({n / f['journal_seconds']:,.0f} entries/s; "
            f"{journal_mb:,.0f} MB of ledger.beancount + ledger.journal)",
        )
    if len(figures) >= 2:
        small, big = sorted(figures)[0], sorted(figures)[-1]
        grow_small = figures[small]["rss_peak_mb"] - figures[small]["rss_start_mb"]
        grow_big = figures[big]["rss_peak_mb"] - figures[big]["rss_start_mb"]
        flat = grow_big <= 1.2 * grow_small + 10
        result.add(
            f"export peak memory, {small:,} → {big:,} entries",
            "streamed: flat as the ledger grows",
            f"{mb(figures[small]['rss_peak_mb'])} → {mb(figures[big]['rss_peak_mb'])} "
            f"(+{mb(grow_small)} → +{mb(grow_big)} during the export)",
            flat,
        )
    return result
