"""The charts a document shows, each with its caption, ready for a template."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from trello_sync.domain.documents import StageDay, StatementCharts
from trello_sync.render import svg
from trello_sync.render.labels import Labels


@dataclass(frozen=True)
class Figure:
    kind: str  # "earnings", "status", "active", "cfd": the figure's class on the page
    caption: str
    svg: Markup  # written and escaped by svg.py


def month_figures(charts: StatementCharts, labels: Labels, prefix: str) -> tuple[Figure, ...]:
    """The three charts of a month: earnings over 12 months, sessions by status, active
    students per day. `prefix` keeps the pattern ids of two documents on one page apart."""
    return (
        Figure(
            "earnings",
            labels["chart.earnings"],
            Markup(
                svg.earnings_chart(
                    charts.earnings,
                    charts.earnings_currency,
                    labels,
                    id_prefix=f"{prefix}-earnings",
                )
            ),
        ),
        Figure(
            "status",
            labels["chart.status"],
            Markup(
                svg.status_chart(charts.sessions_by_status, labels, id_prefix=f"{prefix}-status")
            ),
        ),
        Figure(
            "active",
            labels["chart.active"],
            Markup(
                svg.active_chart(
                    charts.active_per_day, charts.cap, labels, id_prefix=f"{prefix}-active"
                )
            ),
        ),
    )


def flow_figure(days: Sequence[StageDay], labels: Labels, prefix: str) -> Figure:
    return Figure(
        "cfd",
        labels["chart.cfd"],
        Markup(svg.cumulative_flow_chart(days, labels, id_prefix=f"{prefix}-cfd")),
    )
