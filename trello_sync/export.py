"""Exports: the full ledger (CSV, JSON Lines) and monthly statements per mentor.

Atomic (a temporary file in the same folder, fsync, then rename) and deterministic
(same ledger, same bytes): rows in the ledger's (recorded_at, entry_id) order, fixed
columns, no timestamps of the run itself. Entries are streamed, never all in memory;
only the small per-month totals are.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from trello_sync.crash import crash_point
from trello_sync.domain.actions import format_instant
from trello_sync.domain.money import format_cents
from trello_sync.domain.records import Entry
from trello_sync.domain.rules import Status

LEDGER_COLUMNS = (
    "entry_id",
    "recorded_at",
    "board_id",
    "card_id",
    "student",
    "project",
    "level",
    "status",
    "session_date",
    "duration_minutes",
    "note",
    "rate",
    "share",
    "amount",
    "currency",
    "mentor",
    "source_action_id",
    "reverses_entry_id",
)

STATEMENT_COLUMNS = (
    "month",
    "mentor",
    "row",
    "student",
    "project",
    "level",
    "sessions",
    "noshow",
    "late",
    "cancel",
    "amount",
    "currency",
)


# Columns of free text that people on the board write (a card's name, a note): a
# spreadsheet reads a cell that starts with one of these as a formula, so a student
# named "=HYPERLINK(…)" would run one in the accountant's spreadsheet. In the CSV files
# such a cell is written with a leading apostrophe, which spreadsheets show as text
# (OWASP's advice for CSV injection); JSON Lines keep the text exactly as written.
TEXT_COLUMNS = frozenset({"student", "project", "note", "mentor"})
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: str) -> str:
    """A free-text cell as the CSV files write it: never the start of a formula."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def ledger_row(entry: Entry) -> dict[str, str | int | None]:
    return {
        "entry_id": entry.entry_id,
        "recorded_at": format_instant(entry.recorded_at),
        "board_id": entry.board_id,
        "card_id": entry.card_id,
        "student": entry.student,
        "project": entry.project,
        "level": entry.level,
        "status": entry.status,
        "session_date": entry.session_date.isoformat(),
        "duration_minutes": entry.duration_minutes,
        "note": entry.note,
        "rate": format_cents(entry.rate_cents),
        "share": format_cents(entry.share_percent),  # percent/100: 100 → "1.00"
        "amount": format_cents(entry.amount_cents),
        "currency": entry.currency,
        "mentor": entry.mentor,
        "source_action_id": entry.source_action_id,
        "reverses_entry_id": entry.reverses_entry_id,
    }


@dataclass
class _Line:
    name: str = ""  # the student's name as the ledger first recorded it
    project: str = ""
    level: int = 0
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    cents: int = 0


_ROW_ORDER = {"student": 0, "level": 1, "total": 2}


@dataclass
class Statements:
    """month → mentor → (row kind, currency, key) → totals. Small: kept in memory."""

    lines: dict[str, dict[str, dict[tuple[str, str, str], _Line]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(dict))
    )

    def add(self, entry: Entry) -> None:
        month = entry.session_date.strftime("%Y-%m")
        mentor_lines = self.lines[month][entry.mentor]
        # A reversal cancels one of its status: the counts are net, like the amounts.
        sign = -1 if entry.is_reversal else 1
        for kind, key in (("student", entry.card_id), ("level", str(entry.level)), ("total", "")):
            line = mentor_lines.setdefault((kind, entry.currency, key), _Line())
            if kind == "student":
                line.name = line.name or entry.student
                line.project = line.project or (entry.project or "")
            if kind != "total":
                line.level = entry.level
            line.counts[entry.status] += sign
            line.cents += entry.amount_cents

    def rows(self, month: str) -> Iterator[list[str]]:
        for mentor in sorted(self.lines[month]):
            keyed = sorted(
                self.lines[month][mentor].items(),
                key=lambda item: (_ROW_ORDER[item[0][0]], item[0][1], item[1].name, item[0][2]),
            )
            for (kind, currency, _), line in keyed:
                yield [
                    month,
                    csv_text(mentor),
                    kind,
                    csv_text(line.name),
                    csv_text(line.project),
                    str(line.level) if kind != "total" else "",
                    str(line.counts[Status.DONE.value]),
                    str(line.counts[Status.NOSHOW.value]),
                    str(line.counts[Status.LATE.value]),
                    str(line.counts[Status.CANCEL.value]),
                    format_cents(line.cents),
                    currency,
                ]


def _csv_cell(column: str, value: str | int | None) -> str | int:
    if value is None:
        return ""
    return csv_text(value) if column in TEXT_COLUMNS and isinstance(value, str) else value


@contextmanager
def atomic_file(path: Path) -> Iterator[IO[str]]:
    """Write to a temporary file beside `path`, fsync, rename: never a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(out_dir: Path) -> None:
    """A crash while writing leaves `.<name>.*.tmp` beside the real files (never at the
    final path); the next export clears them."""
    if out_dir.is_dir():
        for stale in out_dir.glob(".*.tmp"):
            if stale.name.startswith((".ledger.", ".statement-")):
                stale.unlink(missing_ok=True)


def export_ledger(entries: Iterable[Entry], out_dir: Path) -> list[Path]:
    """Write ledger.csv, ledger.jsonl and statement-YYYY-MM.csv; return the paths."""
    remove_stale_temporaries(out_dir)
    statements = Statements()
    csv_path, jsonl_path = out_dir / "ledger.csv", out_dir / "ledger.jsonl"
    with atomic_file(csv_path) as csv_file, atomic_file(jsonl_path) as jsonl_file:
        writer = csv.writer(csv_file, lineterminator="\n")
        writer.writerow(LEDGER_COLUMNS)
        for count, entry in enumerate(entries, 1):
            row = ledger_row(entry)
            writer.writerow([_csv_cell(c, row[c]) for c in LEDGER_COLUMNS])
            jsonl_file.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
            statements.add(entry)
            if count == 1:
                crash_point("mid_export_write")
    written = [csv_path, jsonl_path]
    for month in sorted(statements.lines):
        path = out_dir / f"statement-{month}.csv"
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(STATEMENT_COLUMNS)
        writer.writerows(statements.rows(month))
        with atomic_file(path) as handle:
            handle.write(buffer.getvalue())
        written.append(path)
    return written
