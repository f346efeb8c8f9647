"""Rendering the report as rich tables (the data is built in domain/report.py)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from trello_sync.domain.money import format_cents
from trello_sync.domain.report import Report


def render_report(report: Report, console: Console) -> None:
    cur = report.currency
    students = Table(title=f"Students — {report.month}", title_justify="left")
    for column in ("Student", "Stage", "Project"):
        students.add_column(column)
    for column in ("Level", "Sessions", f"Amount ({cur})"):
        students.add_column(column, justify="right")
    for line in report.students:
        students.add_row(
            line.student + (" ⚠" if line.flags else ""),
            line.stage.value if line.stage else "—",
            line.project or "(none)",
            str(line.level),
            str(line.sessions),
            format_cents(line.amount_cents),
        )
    console.print(students)

    levels = Table(title="Per level", title_justify="left")
    for column in ("Level", "Sessions", f"Amount ({cur})"):
        levels.add_column(column, justify="right")
    for level, (sessions, cents) in report.per_level.items():
        levels.add_row(str(level), str(sessions), format_cents(cents))
    levels.add_row(
        "Total", str(report.total_sessions), format_cents(report.total_cents), style="bold"
    )
    console.print(levels)

    over = " — above the recommended maximum" if report.active > report.cap else ""
    console.print(
        f"Active students: {report.active} / {report.cap}{over} "
        f"(about {report.hours_per_week} h of sessions a week)"
    )
    if report.flagged:
        console.print("Needs a look:")
        for line in report.flagged:
            console.print(f"  • {line.student}: {', '.join(line.flags)}")
