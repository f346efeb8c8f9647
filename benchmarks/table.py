"""What a benchmark returns: rows for the table (figure, goal, measured, met) and raw data."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Row:
    figure: str
    goal: str
    measured: str
    met: bool | None = None  # None: a figure with no goal of its own (context)


@dataclass
class Result:
    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    def add(self, figure: str, goal: str, measured: str, met: bool | None = None) -> None:
        self.rows.append(Row(figure, goal, measured, met))

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "rows": [asdict(r) for r in self.rows],
            "data": self.data,
            "error": self.error,
            "seconds": round(self.seconds, 2),
        }


def mb(value: float) -> str:
    return f"{value:,.0f} MB"


def secs(value: float) -> str:
    return f"{value:,.2f} s" if value < 100 else f"{value:,.0f} s"
