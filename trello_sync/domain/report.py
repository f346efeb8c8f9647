"""The monthly report, as data: per student, per level, the cap, and what needs a look."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from trello_sync.domain.records import CardRecord, Entry, StageMove
from trello_sync.domain.rules import Status
from trello_sync.domain.stages import PIPELINE_STAGES, Stage

# The handbook: plan about one hour per student per week.
HOURS_PER_STUDENT_WEEK = 1


@dataclass
class StudentLine:
    board_id: str
    card_id: str
    student: str
    stage: Stage | None
    project: str | None
    level: int
    sessions: int = 0
    amount_cents: int = 0
    flags: list[str] = field(default_factory=list)


@dataclass
class Report:
    month: str
    currency: str
    students: list[StudentLine]
    per_level: dict[int, tuple[int, int]]  # level -> (sessions, cents)
    total_sessions: int
    total_cents: int
    active: int
    cap: int

    @property
    def hours_per_week(self) -> int:
        return self.active * HOURS_PER_STUDENT_WEEK

    @property
    def flagged(self) -> list[StudentLine]:
        return [s for s in self.students if s.flags]


def build_report(
    month: str,
    cards: Iterable[CardRecord],
    moves: Iterable[StageMove],
    entries: Iterable[Entry],
    cap: int,
    currency: str,
) -> Report:
    latest: dict[tuple[str, str], StageMove] = {}
    for move in moves:
        key = (move.board_id, move.card_id)
        if key not in latest or (move.at, move.source_action_id) >= (
            latest[key].at,
            latest[key].source_action_id,
        ):
            latest[key] = move
    lines: dict[tuple[str, str], StudentLine] = {}
    for card in cards:
        key = (card.board_id, card.card_id)
        stage = latest[key].stage if key in latest else None
        lines[key] = StudentLine(
            card.board_id, card.card_id, card.name, stage, card.project, card.level
        )
    per_level: dict[int, tuple[int, int]] = {}
    for entry in entries:
        key = (entry.board_id, entry.card_id)
        line = lines.get(key)
        if line is None:
            line = lines[key] = StudentLine(
                entry.board_id, entry.card_id, entry.student, None, entry.project, entry.level
            )
        # The latest entry's project and level are what was actually paid.
        line.project, line.level = entry.project or line.project, entry.level
        if entry.session_date.strftime("%Y-%m") != month or entry.currency != currency:
            continue
        done = 1 if entry.status == Status.DONE.value else 0
        done = -done if entry.is_reversal else done
        line.sessions += done
        line.amount_cents += entry.amount_cents
        sessions, cents = per_level.get(entry.level, (0, 0))
        per_level[entry.level] = (sessions + done, cents + entry.amount_cents)
    for line in lines.values():
        if line.project is None:
            line.flags.append("no project")
        if line.stage is Stage.DELETED:
            line.flags.append("card deleted")
        if line.stage is Stage.UNMAPPED:
            line.flags.append("on a list that maps to no stage")
    shown = [
        line
        for line in lines.values()
        if line.stage in PIPELINE_STAGES or line.amount_cents or line.sessions or line.flags
    ]
    shown.sort(key=lambda s: (_stage_order(s.stage), s.student.casefold(), s.card_id))
    return Report(
        month=month,
        currency=currency,
        students=shown,
        per_level=dict(sorted(per_level.items())),
        total_sessions=sum(s for s, _ in per_level.values()),
        total_cents=sum(c for _, c in per_level.values()),
        active=sum(1 for line in lines.values() if line.stage is Stage.ACTIVE),
        cap=cap,
    )


def _stage_order(stage: Stage | None) -> int:
    order = [*PIPELINE_STAGES, Stage.UNMAPPED, Stage.ARCHIVED, Stage.MOVED_AWAY, Stage.DELETED]
    return order.index(stage) if stage in order else len(order)
