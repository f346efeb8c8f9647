"""The mentor's dashboard as one self-contained HTML page, made for a screen.

The flow metrics are printed with their definitions: a number such as "cycle time" is
only useful when the reader knows what clock it was read on (here, paused time counts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from trello_sync.domain.documents import Dashboard, FlowMetrics, StudentRow
from trello_sync.domain.money import Money
from trello_sync.domain.stages import PIPELINE_STAGES
from trello_sync.render.figures import flow_figure, month_figures
from trello_sync.render.labels import Labels, labels_for
from trello_sync.render.templating import render_template


@dataclass(frozen=True)
class Kpi:
    kind: str
    label: str
    value: str
    note: str = ""
    over: bool = False


@dataclass(frozen=True)
class StudentView:
    student: str
    stage: str
    stage_key: str
    project: str
    level: int
    sessions: str
    amount: str
    cents: int
    flags: tuple[str, ...]


@dataclass(frozen=True)
class StageTimeView:
    student: str
    days: tuple[str, ...]  # one per pipeline stage, "—" when never there


@dataclass(frozen=True)
class Metric:
    kind: str
    term: str
    value: str
    detail: str  # the range, under the value
    definition: str


@dataclass(frozen=True)
class LookView:
    student: str
    reason: str


def render_dashboard(dashboard: Dashboard) -> str:
    t = labels_for(dashboard.language)
    return render_template(
        "dashboard.html.j2",
        lang=t.language,
        t=t,
        title=f"{t['dashboard']} — {t.month(dashboard.month)}",
        as_of=t.fmt("as_of", date=t.date(dashboard.today)),
        kpis=_kpis(dashboard, t),
        looks=tuple(
            LookView(student, "; ".join(t.flag(reason) for reason in reasons))
            for student, reasons in dashboard.needs_a_look
        ),
        students=tuple(_student(row, t) for row in dashboard.students),
        stages=tuple(t.stage(stage) for stage in PIPELINE_STAGES),
        stage_times=tuple(_stage_time(row, t) for row in dashboard.students),
        figures=(
            *month_figures(dashboard.charts, t, "dash"),
            flow_figure(dashboard.cumulative_flow, t, "dash"),
        ),
        metrics=_metrics(dashboard.flow, t),
        throughput=tuple(
            (t.month_short(month), month, t.number(count))
            for month, count in dashboard.flow.throughput
        ),
    )


def _kpis(dashboard: Dashboard, t: Labels) -> tuple[Kpi, ...]:
    totals = dashboard.totals or (Money(0, dashboard.charts.earnings_currency),)
    over = dashboard.active > dashboard.cap
    cap_note = t.fmt("kpi.of_cap", cap=dashboard.cap)
    return (
        Kpi(
            "active",
            t["kpi.active"],
            f"{t.number(dashboard.active)} / {t.number(dashboard.cap)}",
            f"{cap_note} — {t['kpi.over_cap']}" if over else cap_note,
            over,
        ),
        Kpi("earnings", t["kpi.earnings"], " + ".join(t.money(m) for m in totals)),
        Kpi("sessions", t["kpi.sessions"], t.number(sum(s.sessions for s in dashboard.students))),
        Kpi("look", t["kpi.look"], t.number(len(dashboard.needs_a_look))),
    )


def _student(row: StudentRow, t: Labels) -> StudentView:
    return StudentView(
        student=row.student,
        stage=t.stage(row.stage),
        stage_key=row.stage.value if row.stage else "none",
        project=row.project or t["no_project"],
        level=row.level,
        sessions=t.number(row.sessions),
        amount=t.money(row.amount),
        cents=row.amount.cents,
        flags=tuple(t.flag(flag) for flag in row.flags),
    )


def _stage_time(row: StudentRow, t: Labels) -> StageTimeView:
    return StageTimeView(
        row.student,
        tuple(
            t.days(row.days_in_stage[stage]) if stage in row.days_in_stage else "—"
            for stage in PIPELINE_STAGES
        ),
    )


def _metrics(flow: FlowMetrics, t: Labels) -> tuple[Metric, ...]:
    handed_off = sum(count for _, count in flow.throughput)
    cycle, cycle_range = _spread(flow.cycle_days, t)
    age, age_range = _spread(flow.active_ages, t)
    return (
        Metric("wip", t["flow.wip"], t.number(flow.work_in_progress), "", t["flow.wip.def"]),
        Metric("cycle", t["flow.cycle"], cycle, cycle_range, t["flow.cycle.def"]),
        Metric("age", t["flow.age"], age, age_range, t["flow.age.def"]),
        Metric(
            "throughput", t["flow.throughput"], t.students(handed_off), "", t["flow.throughput.def"]
        ),
    )


def _spread(days: Sequence[int], t: Labels) -> tuple[str, str]:
    """The median of a set of durations, and their range with how many there are."""
    if not days:
        return t["flow.none"], ""
    return (
        t.fmt("flow.median", median=t.days(median(days))),
        t.fmt(
            "flow.range",
            low=t.days(min(days)),
            high=t.days(max(days)),
            count=t.students(len(days)),
        ),
    )
