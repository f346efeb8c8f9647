"""The hand-written SVG charts (render/svg.py): well-formed XML, one mark with a <title>
per month / status / day / stage, textures as well as colours, every text escaped, and
the same bytes for the same input."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from trello_sync.domain.documents import DayCount, MonthBar, StageDay
from trello_sync.domain.rules import Status
from trello_sync.domain.stages import PIPELINE_STAGES, Stage
from trello_sync.render.labels import EN, Labels, labels_for
from trello_sync.render.svg import (
    active_chart,
    cumulative_flow_chart,
    earnings_chart,
    esc,
    status_chart,
)

NS = {"svg": "http://www.w3.org/2000/svg"}
FR = labels_for("fr")
ENGLISH = labels_for("en")
HOSTILE = "<script>alert(1)</script> \"quoted\" 'single' & 🚀"


def months(count: int = 12) -> list[str]:
    year, month, out = 2025, 4, []
    for _ in range(count):
        out.append(f"{year}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def year_of_bars() -> list[MonthBar]:
    bars = [MonthBar(m, {1: 7000 + 100 * i, 2: 24500}) for i, m in enumerate(months())]
    bars[4] = MonthBar(bars[4].month, {})  # a month without earnings
    bars[7] = MonthBar(bars[7].month, {1: -3500, 2: 4900})  # a reversal larger than level 1
    return bars


def march_days() -> list[DayCount]:
    return [DayCount(date(2026, 3, d), (d * 3) % 11) for d in range(1, 32)]


def flow_days() -> list[StageDay]:
    start = date(2025, 12, 16)
    return [
        StageDay(
            start + timedelta(days=i),
            {Stage.WAITING: 2 + i % 3, Stage.ACTIVE: 5, Stage.PAUSED: i // 45, Stage.HANDED_OFF: i},
        )
        for i in range(90)
    ]


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def marks(root: ET.Element, kind: str) -> list[ET.Element]:
    return [
        element
        for element in root.iter()
        if {"mark", kind} <= set(element.get("class", "").split())
    ]


def title_of(element: ET.Element) -> str:
    title = element.find("svg:title", NS)
    assert title is not None, f"{element.tag} {element.attrib} has no <title>"
    assert title.text
    return title.text


def all_charts(labels: Labels) -> list[str]:
    return [
        earnings_chart(year_of_bars(), "EUR", labels),
        status_chart({Status.DONE: 12, Status.NOSHOW: 2, Status.LATE: 1, Status.CANCEL: 0}, labels),
        active_chart(march_days(), 8, labels),
        cumulative_flow_chart(flow_days(), labels),
    ]


@pytest.mark.parametrize("labels", [FR, ENGLISH], ids=["fr", "en"])
def test_every_chart_is_an_accessible_scalable_svg(labels: Labels) -> None:
    for svg in all_charts(labels):
        root = parse(svg)
        assert root.get("viewBox", "").startswith("0 0 ")
        assert root.get("width") == "100%"
        assert root.get("role") == "img"
        assert root.get("aria-label")
        # a text legend and patterns: series differ by texture, not by colour alone
        assert root.find("svg:defs/svg:pattern", NS) is not None
        assert root.find(".//svg:g[@class='legend']/svg:text", NS) is not None
        # every mark says what it shows
        everything = [e for e in root.iter() if "mark" in e.get("class", "").split()]
        assert everything
        for element in everything:
            title_of(element)


def test_earnings_one_group_per_month_one_segment_per_level() -> None:
    bars = year_of_bars()
    root = parse(earnings_chart(bars, "EUR", ENGLISH))
    groups = marks(root, "month")
    assert [g.get("data-month") for g in groups] == [b.month for b in bars]
    assert all(g.tag == "{http://www.w3.org/2000/svg}g" for g in groups)
    assert [int(g.get("data-cents", "")) for g in groups] == [b.total_cents for b in bars]
    march = groups[-1]
    segments = marks(march, "segment")
    assert [s.get("data-level") for s in segments] == ["1", "2"]
    assert title_of(segments[1]) == "March 2026, level 2: 245.00\u00a0EUR"
    assert marks(groups[4], "segment") == []  # nothing to stack, yet the month is there
    assert title_of(groups[4]).endswith("0.00\u00a0EUR")
    negative = marks(groups[7], "segment")
    assert {s.get("data-cents") for s in negative} == {"-3500", "4900"}
    # fills point at the level's pattern, defined in the same SVG
    ids = {p.get("id") for p in root.iterfind("svg:defs/svg:pattern", NS)}
    assert {s.get("fill") for s in segments} == {f"url(#{i})" for i in ids}


def test_earnings_titles_in_french() -> None:
    root = parse(earnings_chart(year_of_bars(), "EUR", FR))
    segment = marks(marks(root, "month")[-1], "segment")[0]
    assert title_of(segment) == "mars 2026, niveau 1\u00a0: 81,00\u00a0€"
    assert "Niveau 2" in "".join(root.itertext())


def test_status_one_bar_per_status_in_status_order() -> None:
    counts = {Status.CANCEL: 3, Status.DONE: 12, Status.LATE: 0, Status.NOSHOW: 2}
    root = parse(status_chart(counts, FR))
    bars = marks(root, "status")
    assert [b.get("data-status") for b in bars] == ["done", "noshow", "late", "cancel"]
    assert [title_of(b) for b in bars] == [
        "Séance réalisée\u00a0: 12",
        "Absence\u00a0: 2",
        "Annulation tardive\u00a0: 0",
        "Annulation\u00a0: 3",
    ]
    fills = {b.get("fill") for b in bars}
    assert len(fills) == 4  # one texture per status


def test_active_one_bar_per_day_and_a_dashed_labelled_cap() -> None:
    days = march_days()
    root = parse(active_chart(days, 8, ENGLISH))
    bars = marks(root, "day")
    assert [b.get("data-day") for b in bars] == [d.day.isoformat() for d in days]
    assert title_of(bars[4]) == "5 March 2026 — active students: 4"
    over = {b.get("fill") for b in bars if int(b.get("data-count", "0")) > 8}
    within = {b.get("fill") for b in bars if int(b.get("data-count", "0")) <= 8}
    assert len(over) == len(within) == 1 and over != within
    (cap,) = marks(root, "cap")
    assert cap.get("stroke-dasharray")
    assert title_of(cap) == "Recommended cap: 8 active students"
    assert "cap 8" in "".join(root.itertext())


def test_cumulative_flow_one_area_per_pipeline_stage() -> None:
    days = flow_days()
    root = parse(cumulative_flow_chart(days, FR))
    areas = marks(root, "stage")
    assert sorted(a.get("data-stage", "") for a in areas) == sorted(
        s.value for s in PIPELINE_STAGES
    )
    active = next(a for a in areas if a.get("data-stage") == "active")
    assert title_of(active).startswith("En cours\u00a0: 5 le 15 mars 2026")
    assert all(a.get("d", "").startswith("M") for a in areas)
    legend = "".join(
        t for g in root.iterfind(".//svg:g[@class='legend']", NS) for t in g.itertext()
    )
    for stage in ("En attente", "En cours", "En pause", "Transmis"):
        assert stage in legend


def test_empty_inputs_still_make_valid_charts() -> None:
    for svg in (
        earnings_chart([], "EUR", FR),
        status_chart({}, FR),
        active_chart([], 8, FR),
        cumulative_flow_chart([], FR),
        cumulative_flow_chart(flow_days()[:1], FR),
    ):
        root = parse(svg)
        assert root.get("aria-label")
    assert "Aucune donnée" in earnings_chart([], "EUR", FR)
    (cap,) = marks(parse(active_chart([], 8, FR)), "cap")
    title_of(cap)


def test_every_text_is_escaped() -> None:
    hostile = Labels(
        "en",
        {
            **EN,
            "level": HOSTILE + " {level}",
            "chart.earnings": HOSTILE,
            "status.done": HOSTILE,
            "stage.active": HOSTILE,
            "legend.active": HOSTILE,
        },
    )
    charts = [
        earnings_chart(year_of_bars(), "<EUR&>", hostile),
        status_chart({Status.DONE: 1}, hostile),
        active_chart(march_days(), 8, hostile),
        cumulative_flow_chart(flow_days(), hostile),
    ]
    for svg in charts:
        assert "<script" not in svg
        root = parse(svg)  # a stray quote or & would break the XML
        assert not list(root.iter("{http://www.w3.org/2000/svg}script"))
        assert not list(root.iter("script"))
        assert HOSTILE in "".join(root.itertext())  # shown as text, whole
    assert parse(charts[0]).get("aria-label") == HOSTILE


def test_control_characters_do_not_break_the_xml() -> None:
    assert esc("a\x00b\x1fc") == "a\ufffdb\ufffdc"
    assert esc("<&>\"'") == "&lt;&amp;&gt;&quot;&#39;"
    labels = Labels("en", {**EN, "status.done": "bad\x07name"})
    parse(status_chart({Status.DONE: 1}, labels))


def test_same_input_same_bytes() -> None:
    assert all_charts(FR) == all_charts(FR)
    prefixed = earnings_chart(year_of_bars(), "EUR", FR, id_prefix="d1-earnings")
    assert 'id="d1-earnings-level-1"' in prefixed
    assert 'id="earnings-level-1"' not in prefixed
    # no float noise in coordinates: at most two decimals
    for svg in all_charts(ENGLISH):
        for number in re.findall(r'(?:x|y|width|height)="(-?[\d.]+)"', svg):
            assert len(number.partition(".")[2]) <= 2
