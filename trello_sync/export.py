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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from trello_sync.crash import crash_point
from trello_sync.domain.actions import format_instant
from trello_sync.domain.money import format_cents
from trello_sync.domain.records import Entry
from trello_sync.domain.rules import EntryKind, Status
from trello_sync.domain.summary import MonthSummary, Tally, month_of

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
    # Added later, at the end, so the columns before keep their order.
    "funding",
    "kind",
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
        "funding": str(entry.funding),  # funded, self or unset (never empty)
        "kind": str(entry.kind),  # session, defense or fee
    }


# A statement's row: (mentor, row kind, currency, key), the key being the student's card
# id for a "student" row, the level for a "level" row, "" for the month's "defense",
# "fee" and "total" rows.
_RowKey = tuple[str, str, str, str]
_ROW_ORDER = {"student": 0, "level": 1, "defense": 2, "fee": 3, "total": 4}


def _statement_rows(entry: Entry) -> tuple[_RowKey, ...]:
    """The rows an entry counts in: its student's, its level's and the month's total, all
    of its mentor and its currency (two currencies are never added); a defense also in
    the month's defenses, a monthly fee in the month's fees."""
    mentor, currency = entry.mentor, entry.currency
    rows: tuple[_RowKey, ...] = (
        (mentor, "student", currency, entry.card_id),
        (mentor, "level", currency, str(entry.level)),
        (mentor, "total", currency, ""),
    )
    if entry.kind == EntryKind.DEFENSE:
        rows += ((mentor, "defense", currency, ""),)
    elif entry.kind == EntryKind.FEE:
        rows += ((mentor, "fee", currency, ""),)
    return rows


@dataclass
class _Label:
    """What a student row shows besides the counts and the amount."""

    name: str = ""  # the student's name as the ledger first recorded it
    project: str = ""
    level: int = 0  # the latest entry's


@dataclass
class _Month:
    summary: MonthSummary[_RowKey]
    labels: dict[_RowKey, _Label] = field(default_factory=dict)  # student rows only


@dataclass
class Statements:
    """month → its summary (domain/summary.py), by statement row. Small: kept in memory
    while the entries stream past."""

    lines: dict[str, _Month] = field(default_factory=dict)

    def add(self, entry: Entry) -> None:
        month = month_of(entry.session_date)
        held = self.lines.get(month)
        if held is None:
            held = self.lines[month] = _Month(MonthSummary(month, _statement_rows))
        # The summary nets a reversal: -1 of its status, and its (opposite) amount.
        held.summary.add(entry)
        student_row = _statement_rows(entry)[0]
        label = held.labels.setdefault(student_row, _Label())
        label.name = label.name or entry.student
        label.project = label.project or (entry.project or "")
        label.level = entry.level

    def rows(self, month: str) -> Iterator[list[str]]:
        held = self.lines.get(month)
        if held is None:
            return
        labels = held.labels

        def order(row: _RowKey) -> tuple[str, int, str, str, str]:
            mentor, kind, currency, key = row
            name = labels[row].name if kind == "student" else ""
            return (mentor, _ROW_ORDER[kind], currency, name, key)

        for row in sorted(held.summary.keys(), key=order):
            mentor, kind, currency, key = row
            tally = held.summary.group(row)
            label = labels.get(row, _Label())
            level = str(label.level) if kind == "student" else key  # "" for the total
            yield [
                month,
                csv_text(mentor),
                kind,
                csv_text(label.name),
                csv_text(label.project),
                level,
                *_counts(kind, tally),
                tally.amount(currency).decimal(),
                currency,
            ]


def _counts(kind: str, tally: Tally) -> list[str]:
    """The sessions, noshow, late and cancel columns: of the sessions; on the "defense"
    row, of the defenses; on the "fee" row, the number of fees (under sessions)."""
    if kind == "fee":
        return [str(tally.fees), "0", "0", "0"]
    count = tally.defense_count if kind == "defense" else tally.count
    return [
        str(count(status)) for status in (Status.DONE, Status.NOSHOW, Status.LATE, Status.CANCEL)
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
