"""The charts, written as inline SVG by this module (no charting library).

Every chart is one `<svg>` with a viewBox and width 100% (it scales with the page), an
aria-label, a text legend, and one element per mark with class "mark …" and a `<title>`
child saying what it shows. Series differ by a fill texture as well as a colour (SVG
patterns), so a chart still reads in grey on a black-and-white printer.

Same input, same bytes: ids come from the caller's prefix and the data (never random),
coordinates are printed with at most two decimals, and every text goes through `esc`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from trello_sync.domain.documents import DayCount, MonthBar, StageDay
from trello_sync.domain.rules import Status
from trello_sync.domain.stages import Stage
from trello_sync.render.labels import Labels

SVG_NS = "http://www.w3.org/2000/svg"
WIDTH = 720
FONT = 12  # px in the viewBox; the charts are scaled as a whole
_TEXT_FILL = "#1b1f24"
_MUTED = "#5b6470"
_GRID = "#d7dce2"

# Characters XML 1.0 refuses (control characters, lone surrogates, U+FFFE/U+FFFF): a card
# name holding one would make the SVG unreadable, so each becomes U+FFFD.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def esc(text: str) -> str:
    """Text safe inside an element or a double- or single-quoted attribute."""
    text = _NOT_XML.sub("\ufffd", text)
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def num(value: float) -> str:
    """A coordinate: at most two decimals, no trailing zeros, never `-0`."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# --- textures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fill:
    """A series' look: a colour, a texture drawn over it, and the ink of the texture."""

    colour: str
    texture: str  # one of _TEXTURES
    ink: str = "#ffffff"


_TEXTURES: dict[str, str] = {
    "solid": "",
    "diagonal": '<path d="M-2,2 l4,-4 M0,8 l8,-8 M6,10 l4,-4" stroke="{ink}" stroke-width="1.6"/>',
    "back": '<path d="M-2,6 l4,4 M0,0 l8,8 M6,-2 l4,4" stroke="{ink}" stroke-width="1.6"/>',
    "dots": '<circle cx="4" cy="4" r="1.7" fill="{ink}"/>',
    "cross": '<path d="M0,4 h8 M4,0 v8" stroke="{ink}" stroke-width="1.4"/>',
    "horizontal": '<path d="M0,2 h8 M0,6 h8" stroke="{ink}" stroke-width="1.2"/>',
    "vertical": '<path d="M2,0 v8 M6,0 v8" stroke="{ink}" stroke-width="1.2"/>',
    "checks": '<path d="M0,0 h4 v4 h-4 Z M4,4 h4 v4 h-4 Z" fill="{ink}" fill-opacity="0.55"/>',
}

# Okabe–Ito colours (told apart with the common colour-vision deficiencies), each with its
# own texture: series i of a chart takes entry i.
SERIES: tuple[Fill, ...] = (
    Fill("#0072B2", "solid"),
    Fill("#E69F00", "diagonal"),
    Fill("#009E73", "dots"),
    Fill("#CC79A7", "cross"),
    Fill("#56B4E9", "horizontal", "#1b1f24"),
    Fill("#D55E00", "back"),
    Fill("#F0E442", "vertical", "#1b1f24"),
    Fill("#6b6b6b", "checks"),
)

STATUS_FILLS: dict[Status, Fill] = {
    Status.DONE: Fill("#009E73", "solid"),
    Status.NOSHOW: Fill("#E69F00", "diagonal"),
    Status.LATE: Fill("#D55E00", "cross"),
    Status.CANCEL: Fill("#8a8f98", "dots"),
}

STAGE_FILLS: dict[Stage, Fill] = {
    Stage.WAITING: Fill("#E69F00", "dots"),
    Stage.ACTIVE: Fill("#0072B2", "solid"),
    Stage.PAUSED: Fill("#CC79A7", "diagonal"),
    Stage.HANDED_OFF: Fill("#009E73", "cross"),
}

_WITHIN_CAP = Fill("#0072B2", "solid")
_OVER_CAP = Fill("#D55E00", "diagonal")


def _pattern(pattern_id: str, fill: Fill) -> str:
    marks = _TEXTURES[fill.texture].format(ink=fill.ink)
    return (
        f'<pattern id="{esc(pattern_id)}" patternUnits="userSpaceOnUse" width="8" height="8">'
        f'<rect width="8" height="8" fill="{fill.colour}"/>{marks}</pattern>'
    )


def _defs(patterns: Sequence[tuple[str, Fill]]) -> str:
    return "<defs>" + "".join(_pattern(pid, fill) for pid, fill in patterns) + "</defs>"


def _ref(pattern_id: str) -> str:
    return f"url(#{esc(pattern_id)})"


def _safe_id(text: str) -> str:
    """An id part made of the data (a level, a status): letters, digits and dashes only."""
    return re.sub(r"[^A-Za-z0-9-]", "-", text)


# --- pieces shared by the charts -------------------------------------------------------


def _open(height: float, label: str, kind: str) -> str:
    return (
        f'<svg xmlns="{SVG_NS}" class="chart chart-{kind}" viewBox="0 0 {WIDTH} {num(height)}" '
        f'width="100%" role="img" aria-label="{esc(label)}" font-size="{FONT}" '
        f'font-family="system-ui, -apple-system, &quot;Segoe UI&quot;, Roboto, sans-serif">'
    )


def _title(text: str) -> str:
    return f"<title>{esc(text)}</title>"


def _text(
    x: float,
    y: float,
    text: str,
    *,
    anchor: str = "start",
    fill: str = _TEXT_FILL,
    **attrs: str,
) -> str:
    # `class_` stands for `class`, `font_size` for `font-size`.
    extra = "".join(
        f' {name.rstrip("_").replace("_", "-")}="{esc(v)}"' for name, v in attrs.items()
    )
    return (
        f'<text x="{num(x)}" y="{num(y)}" text-anchor="{anchor}" fill="{esc(fill)}"{extra}>'
        f"{esc(text)}</text>"
    )


def _text_width(text: str, size: float = FONT) -> float:
    """A fixed estimate (no font metrics here): wide enough for the system fonts."""
    return len(text) * size * 0.58


@dataclass(frozen=True)
class _Swatch:
    text: str
    fill: str  # a paint: `url(#…)` or a colour
    line: bool = False  # a dashed line instead of a square (the cap)


def _legend(items: Sequence[_Swatch], y: float) -> tuple[str, float]:
    """A row of swatches with their text, wrapped to the chart's width; returns the markup
    and the height it takes."""
    parts = ['<g class="legend">']
    x, row_y, left, right = 12.0, y, 12.0, WIDTH - 12.0
    for item in items:
        width = 22 + _text_width(item.text) + 18
        if x > left and x + width > right:
            x, row_y = left, row_y + 20
        if item.line:
            parts.append(
                f'<line x1="{num(x)}" y1="{num(row_y - 4)}" x2="{num(x + 16)}" '
                f'y2="{num(row_y - 4)}" stroke="{item.fill}" stroke-width="2" '
                'stroke-dasharray="4 3"/>'
            )
        else:
            parts.append(
                f'<rect x="{num(x)}" y="{num(row_y - 11)}" width="14" height="14" rx="2" '
                f'fill="{item.fill}" stroke="{_TEXT_FILL}" stroke-width="0.6"/>'
            )
        parts.append(_text(x + 21, row_y, item.text))
        x += width
    parts.append("</g>")
    return "".join(parts), row_y - y + 20


def _nice_step(span: float, ticks: int, minimum: int) -> int:
    """The grid step: 1, 2 or 5 times a power of ten, at least `minimum`, giving about
    `ticks` lines over `span`."""
    raw = max(span / ticks, minimum)
    magnitude = 1
    while magnitude * 10 <= raw:
        magnitude *= 10
    for multiple in (1, 2, 5, 10):
        if multiple * magnitude >= raw:
            return multiple * magnitude
    return 10 * magnitude  # not reached: 10 * magnitude > raw by construction


def _ceil_to(value: int, step: int) -> int:
    return -(-value // step) * step


def _floor_to(value: int, step: int) -> int:
    return (value // step) * step


@dataclass(frozen=True)
class _Scale:
    """A vertical axis: values lo..hi drawn from y=bottom up to y=top."""

    lo: int
    hi: int
    top: float
    bottom: float

    def y(self, value: float) -> float:
        span = self.hi - self.lo or 1
        return self.bottom - (value - self.lo) / span * (self.bottom - self.top)


def _grid(scale: _Scale, step: int, left: float, right: float, label: Callable[[int], str]) -> str:
    """Horizontal grid lines with their values at the left (`label` formats a value)."""
    parts = ['<g class="axis">']
    value = scale.lo
    while value <= scale.hi:
        y = scale.y(value)
        colour = _TEXT_FILL if value == 0 else _GRID
        parts.append(
            f'<line x1="{num(left)}" y1="{num(y)}" x2="{num(right)}" y2="{num(y)}" '
            f'stroke="{colour}" stroke-width="{1 if value == 0 else 0.8}"/>'
        )
        parts.append(
            _text(left - 6, y + 4, label(value), anchor="end", fill=_MUTED, font_size="11")
        )
        value += step
    parts.append("</g>")
    return "".join(parts)


def _no_data(y: float, labels: Labels) -> str:
    return _text(WIDTH / 2, y, labels["chart.no_data"], anchor="middle", class_="no-data")


# --- earnings: stacked bars per level, one group per month ---------------------------------


def earnings_chart(
    bars: Sequence[MonthBar], currency: str, labels: Labels, *, id_prefix: str = "earnings"
) -> str:
    """Net earnings per month, stacked by level (a negative month stacks down from 0)."""
    levels = sorted({level for bar in bars for level in bar.cents_by_level})
    fills = {level: SERIES[i % len(SERIES)] for i, level in enumerate(levels)}
    pid = {level: f"{id_prefix}-level-{_safe_id(str(level))}" for level in levels}

    legend, legend_height = _legend(
        [_Swatch(labels.level(level), _ref(pid[level])) for level in levels], 20
    )
    top, left, right = 16 + legend_height + 12, 78.0, WIDTH - 12.0
    height = top + 220 + 46
    bottom = top + 220

    ups = [sum(c for c in b.cents_by_level.values() if c > 0) for b in bars]
    downs = [sum(c for c in b.cents_by_level.values() if c < 0) for b in bars]
    hi, lo = max([0, *ups]), min([0, *downs])
    if hi == lo == 0:
        hi = 10_000  # an empty year still gets an axis (0 to 100 units)
    step = _nice_step(hi - lo, 5, 100)
    scale = _Scale(_floor_to(lo, step), _ceil_to(hi, step), top, bottom)

    parts = [
        _open(height, labels["chart.earnings"], "earnings"),
        _defs([(pid[level], fills[level]) for level in levels]),
        legend,
        _grid(scale, step, left, right, lambda v: labels.amount(v, currency, whole=True)),
    ]
    if not bars:
        parts.append(_no_data((top + bottom) / 2, labels))
    band = (right - left) / max(len(bars), 1)
    bar_width = min(band * 0.62, 56)
    for i, bar in enumerate(bars):
        x = left + i * band + (band - bar_width) / 2
        parts.append(_month_group(bar, x, bar_width, scale, pid, currency, labels))
        centre = left + i * band + band / 2
        parts.append(_text(centre, bottom + 16, labels.month_short(bar.month), anchor="middle"))
        if i == 0 or bar.month.endswith("-01"):
            year = bar.month.partition("-")[0]
            parts.append(_text(centre, bottom + 31, year, anchor="middle", fill=_MUTED))
    parts.append("</svg>")
    return "".join(parts)


def _month_group(
    bar: MonthBar,
    x: float,
    width: float,
    scale: _Scale,
    pid: Mapping[int, str],
    currency: str,
    labels: Labels,
) -> str:
    month = labels.month(bar.month)
    total = labels.amount(bar.total_cents, currency)
    parts = [
        f'<g class="mark month" data-month="{esc(bar.month)}" data-cents="{bar.total_cents}">',
        _title(labels.fmt("title.month", month=month, amount=total)),
    ]
    up = down = 0
    for level in sorted(bar.cents_by_level):
        cents = bar.cents_by_level[level]
        if cents == 0:
            continue
        if cents > 0:
            y0, y1 = scale.y(up + cents), scale.y(up)
            up += cents
        else:
            y0, y1 = scale.y(down), scale.y(down + cents)
            down += cents
        amount = labels.amount(cents, currency)
        parts.append(
            f'<rect class="mark segment" data-level="{level}" data-cents="{cents}" '
            f'x="{num(x)}" y="{num(y0)}" width="{num(width)}" height="{num(max(y1 - y0, 0.5))}" '
            f'fill="{_ref(pid[level])}" stroke="#ffffff" stroke-width="1">'
            + _title(labels.fmt("title.segment", month=month, level=level, amount=amount))
            + "</rect>"
        )
    if bar.total_cents != 0:
        # The bar's total over it, to the unit: read on paper, where titles do not show.
        y = scale.y(up) - 5 if bar.total_cents > 0 else scale.y(down) + 14
        short = labels.amount(bar.total_cents, currency, whole=True)
        parts.append(
            _text(x + width / 2, y, short, anchor="middle", font_size="10.5", class_="value")
        )
    parts.append("</g>")
    return "".join(parts)


# --- the month's sessions by status: one horizontal bar per status -----------------------------


def status_chart(counts: Mapping[Status, int], labels: Labels, *, id_prefix: str = "status") -> str:
    """Net session counts per status, in Status order, each bar labelled with its name."""
    statuses = [status for status in Status if status in counts]
    pid = {status: f"{id_prefix}-{status.value}" for status in statuses}
    names = {status: labels.status(status) for status in statuses}
    label_width = max([_text_width(n) for n in names.values()] + [60]) + 24
    left, right, top, row = min(label_width, 260), WIDTH - 56.0, 12.0, 36.0
    bottom = top + row * max(len(statuses), 1)
    height = bottom + 28

    hi = max([1, *counts.values()])
    step = _nice_step(hi, 5, 1)
    top_value = _ceil_to(hi, step)

    def x_of(value: float) -> float:
        return left + max(value, 0) / top_value * (right - left)

    parts = [
        _open(height, labels["chart.status"], "status"),
        _defs([(pid[s], STATUS_FILLS[s]) for s in statuses]),
        '<g class="axis">',
    ]
    for value in range(0, top_value + 1, step):
        x = x_of(value)
        parts.append(
            f'<line x1="{num(x)}" y1="{num(top)}" x2="{num(x)}" y2="{num(bottom)}" '
            f'stroke="{_TEXT_FILL if value == 0 else _GRID}" stroke-width="0.8"/>'
        )
        parts.append(_text(x, bottom + 18, labels.number(value), anchor="middle", fill=_MUTED))
    parts.append("</g>")
    if not statuses:
        parts.append(_no_data((top + bottom) / 2, labels))
    parts.append('<g class="legend">')
    for i, status in enumerate(statuses):
        y = top + i * row + row / 2 + 4
        parts.append(_text(left - 10, y, names[status], anchor="end"))
    parts.append("</g>")
    for i, status in enumerate(statuses):
        count = counts[status]
        y = top + i * row + 7
        width = x_of(count) - left
        parts.append(
            f'<rect class="mark status" data-status="{status.value}" data-count="{count}" '
            f'x="{num(left)}" y="{num(y)}" width="{num(width)}" height="{num(row - 14)}" '
            f'fill="{_ref(pid[status])}" stroke="{_TEXT_FILL}" stroke-width="0.6">'
            + _title(labels.fmt("title.status", status=names[status], count=count))
            + "</rect>"
        )
        parts.append(_text(left + width + 6, y + (row - 14) / 2 + 4, labels.number(count)))
    parts.append("</svg>")
    return "".join(parts)


# --- active students per day, against the cap ------------------------------------------------


def active_chart(
    days: Sequence[DayCount], cap: int, labels: Labels, *, id_prefix: str = "active"
) -> str:
    """One bar per day; days above the cap change texture; the cap is a dashed line."""
    within, over = f"{id_prefix}-within", f"{id_prefix}-over"
    legend, legend_height = _legend(
        [
            _Swatch(labels["legend.active"], _ref(within)),
            _Swatch(labels["legend.over_cap"], _ref(over)),
            _Swatch(labels.fmt("legend.cap", cap=cap), _TEXT_FILL, line=True),
        ],
        20,
    )
    top, left, right = 16 + legend_height + 14, 48.0, WIDTH - 84.0
    bottom = top + 190
    height = bottom + 30

    hi = max([1, cap, *(d.count for d in days)])
    step = _nice_step(hi, 5, 1)
    scale = _Scale(0, _ceil_to(hi, step), top, bottom)

    parts = [
        _open(height, labels["chart.active"], "active"),
        _defs([(within, _WITHIN_CAP), (over, _OVER_CAP)]),
        legend,
        _grid(scale, step, left, right, labels.number),
    ]
    if not days:
        parts.append(_no_data((top + bottom) / 2, labels))
    band = (right - left) / max(len(days), 1)
    bar_width = max(band * 0.7, 1)
    shown = _day_ticks(days)
    for i, day in enumerate(days):
        x = left + i * band + (band - bar_width) / 2
        y = scale.y(max(day.count, 0))
        paint = _ref(over if day.count > cap else within)
        title = labels.fmt("title.day", day=labels.date(day.day), count=day.count)
        parts.append(
            f'<rect class="mark day" data-day="{day.day.isoformat()}" data-count="{day.count}" '
            f'x="{num(x)}" y="{num(y)}" width="{num(bar_width)}" height="{num(bottom - y)}" '
            f'fill="{paint}">' + _title(title) + "</rect>"
        )
        if i in shown:
            parts.append(_text(x + bar_width / 2, bottom + 16, str(day.day.day), anchor="middle"))
    cap_y = scale.y(cap)
    parts.append(
        f'<line class="mark cap" data-cap="{cap}" x1="{num(left)}" y1="{num(cap_y)}" '
        f'x2="{num(right)}" y2="{num(cap_y)}" stroke="{_TEXT_FILL}" stroke-width="2" '
        f'stroke-dasharray="6 4">' + _title(labels.fmt("title.cap", cap=cap)) + "</line>"
    )
    parts.append(_text(right + 6, cap_y + 4, labels.fmt("cap_label", cap=cap), font_weight="600"))
    parts.append("</svg>")
    return "".join(parts)


def _day_ticks(days: Sequence[DayCount]) -> set[int]:
    """Which days get their number under the axis: all of a short range, else the first,
    every fifth and the last (a month's 31 numbers would touch)."""
    if len(days) <= 16:
        return set(range(len(days)))
    shown = {0, len(days) - 1}
    shown.update(i for i, d in enumerate(days) if d.day.day % 5 == 0)
    # The last day's number would run into the fifth before it (30 next to 31).
    if len(days) - 2 in shown and len(days) - 2 != 0:
        shown.discard(len(days) - 2)
    return shown


# --- cumulative flow: stacked areas of the pipeline stages, one per stage ---------------------


# Bottom to top: the stage cards end in first, so the bands keep their order as they grow.
_CFD_ORDER: tuple[Stage, ...] = (Stage.HANDED_OFF, Stage.PAUSED, Stage.ACTIVE, Stage.WAITING)


def cumulative_flow_chart(
    days: Sequence[StageDay], labels: Labels, *, id_prefix: str = "cfd"
) -> str:
    """How many cards were in each pipeline stage at the end of each day, stacked."""
    pid = {stage: f"{id_prefix}-{stage.value}" for stage in _CFD_ORDER}
    legend, legend_height = _legend(
        [_Swatch(labels.stage(s), _ref(pid[s])) for s in reversed(_CFD_ORDER)], 20
    )
    top, left, right = 16 + legend_height + 12, 48.0, WIDTH - 14.0
    bottom = top + 220
    height = bottom + 30

    def count(day: StageDay, stage: Stage) -> int:
        return max(day.counts.get(stage, 0), 0)

    hi = max([1, *(sum(count(d, s) for s in _CFD_ORDER) for d in days)])
    step = _nice_step(hi, 5, 1)
    scale = _Scale(0, _ceil_to(hi, step), top, bottom)
    xs = _day_xs(len(days), left, right)

    parts = [
        _open(height, labels["chart.cfd"], "cfd"),
        _defs([(pid[s], STAGE_FILLS[s]) for s in _CFD_ORDER]),
        legend,
        _grid(scale, step, left, right, labels.number),
    ]
    if not days:
        parts.append(_no_data((top + bottom) / 2, labels))
    # A single day is drawn as a band across the whole width.
    series = list(days) if len(days) != 1 else [days[0], days[0]]
    base = [0] * len(series)
    for stage in _CFD_ORDER:
        values = [count(d, stage) for d in series]
        upper = [b + v for b, v in zip(base, values, strict=True)]
        if series:
            parts.append(_area(stage, xs, base, upper, scale, pid[stage], values, days, labels))
        base = upper
    parts.append(_month_ticks(days, xs, bottom, labels))
    parts.append("</svg>")
    return "".join(parts)


def _day_xs(count: int, left: float, right: float) -> list[float]:
    if count == 1:
        return [left, right]
    return [left + i * (right - left) / max(count - 1, 1) for i in range(count)]


def _area(
    stage: Stage,
    xs: Sequence[float],
    lower: Sequence[int],
    upper: Sequence[int],
    scale: _Scale,
    pattern_id: str,
    values: Sequence[int],
    days: Sequence[StageDay],
    labels: Labels,
) -> str:
    top_edge = [f"{num(x)},{num(scale.y(v))}" for x, v in zip(xs, upper, strict=True)]
    low_edge = [f"{num(x)},{num(scale.y(v))}" for x, v in zip(xs, lower, strict=True)]
    path = "M" + " L".join(top_edge + low_edge[::-1]) + " Z"
    title = labels.fmt(
        "title.stage",
        stage=labels.stage(stage),
        last=values[-1],
        day=labels.date(days[-1].day),
        low=min(values),
        high=max(values),
    )
    return (
        f'<path class="mark stage" data-stage="{stage.value}" data-last="{values[-1]}" '
        f'd="{path}" fill="{_ref(pattern_id)}" stroke="#ffffff" stroke-width="1">'
        + _title(title)
        + "</path>"
    )


def _month_ticks(
    days: Sequence[StageDay], xs: Sequence[float], bottom: float, labels: Labels
) -> str:
    """A tick and a short date at each first of a month; the ends if there is none."""
    marks = [i for i, d in enumerate(days) if d.day.day == 1]
    if len(days) > 1 and not marks:
        marks = [0, len(days) - 1]
    parts = ['<g class="axis">']
    for i in marks:
        x = xs[i]
        day: date = days[i].day
        parts.append(
            f'<line x1="{num(x)}" y1="{num(bottom)}" x2="{num(x)}" y2="{num(bottom + 5)}" '
            f'stroke="{_TEXT_FILL}"/>'
        )
        anchor = "start" if i == 0 else "end" if i == len(days) - 1 else "middle"
        parts.append(_text(x, bottom + 18, labels.day_month(day), anchor=anchor))
    parts.append("</g>")
    return "".join(parts)
