"""Rendering the report as rich tables (the data is built in domain/report.py).

One amount column per currency of the month: amounts in two currencies are never added.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from trello_sync.domain.report import Report
from trello_sync.domain.summary import Tally


def render_report(report: Report, console: Console) -> None:
    amounts = [f"Amount ({currency})" for currency in report.currencies]
    students = Table(title=f"Students — {report.month}", title_justify="left")
    for column in ("Student", "Stage", "Project"):
        students.add_column(column)
    for column in ("Level", "Sessions", *amounts):
        students.add_column(column, justify="right")
    for line in report.students:
        students.add_row(
            line.student + (" ⚠" if line.flags else ""),
            line.stage.value if line.stage else "—",
            line.project or "(none)",
            str(line.level),
            str(line.sessions),
            *_amounts(line.tally, report.currencies),
        )
    console.print(students)

    levels = Table(title="Per level", title_justify="left")
    for column in ("Level", "Sessions", *amounts):
        levels.add_column(column, justify="right")
    for level, tally in report.per_level.items():
        levels.add_row(str(level), str(tally.sessions), *_amounts(tally, report.currencies))
    total = report.total
    levels.add_row("Total", str(total.sessions), *_amounts(total, report.currencies), style="bold")
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


def _amounts(tally: Tally, currencies: tuple[str, ...]) -> list[str]:
    return [tally.amount(currency).decimal() for currency in currencies]
