"""Rendering the report as rich tables (the data is built in domain/report.py).

One amount column per currency of the month: amounts in two currencies are never added.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from trello_sync.domain.replies import FUNDING_SHOWN
from trello_sync.domain.report import Report
from trello_sync.domain.summary import Tally


def render_report(report: Report, console: Console) -> None:
    """Funding, defenses and monthly fees have columns only in a month that has them."""
    amounts = [f"Amount ({currency})" for currency in report.currencies]
    counted = _counted_columns(report)
    students = Table(title=f"Students — {report.month}", title_justify="left")
    for column in ("Student", "Stage", "Project", *(["Funding"] if report.shows_funding else [])):
        students.add_column(column)
    for column in ("Level", *counted, *amounts):
        students.add_column(column, justify="right")
    for line in report.students:
        funding = [FUNDING_SHOWN.get(line.funding, "—")] if report.shows_funding else []
        students.add_row(
            line.student + (" ⚠" if line.flags else ""),
            line.stage.value if line.stage else "—",
            line.project or "(none)",
            *funding,
            str(line.level),
            *_counts(line.tally, report),
            *_amounts(line.tally, report.currencies),
        )
    console.print(students)

    levels = Table(title="Per level", title_justify="left")
    for column in ("Level", *counted, *amounts):
        levels.add_column(column, justify="right")
    for level, tally in report.per_level.items():
        levels.add_row(str(level), *_counts(tally, report), *_amounts(tally, report.currencies))
    total = report.total
    levels.add_row(
        "Total", *_counts(total, report), *_amounts(total, report.currencies), style="bold"
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


def _counted_columns(report: Report) -> list[str]:
    return [
        "Sessions",
        *(["Defenses"] if report.has_defenses else []),
        *(["Monthly fees"] if report.has_fees else []),
    ]


def _counts(tally: Tally, report: Report) -> list[str]:
    """Done sessions, and (when the month has any) done defenses and monthly fees."""
    counts = [str(tally.sessions)]
    if report.has_defenses:
        counts.append(str(tally.defenses_done))
    if report.has_fees:
        counts.append(str(tally.fees))
    return counts


def _amounts(tally: Tally, currencies: tuple[str, ...]) -> list[str]:
    return [tally.amount(currency).decimal() for currency in currencies]
