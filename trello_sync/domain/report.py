"""The monthly report, as data: per student, per level, the cap, and what needs a look.

Sessions and amounts are the month summary's (domain/summary.py): net of reversals, and
in the currencies the month's entries were paid in, whatever today's rules say.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from trello_sync.domain.records import CardRecord, Entry, StageMove
from trello_sync.domain.rules import Funding
from trello_sync.domain.stages import PIPELINE_STAGES, Stage
from trello_sync.domain.summary import (
    CardKey,
    LevelKey,
    MonthSummary,
    Tally,
    card_key,
    level_key,
)

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
    tally: Tally = field(default_factory=Tally)  # this student's entries of the month
    flags: list[str] = field(default_factory=list)
    funding: Funding = Funding.UNSET  # as the latest entry was priced

    @property
    def sessions(self) -> int:
        return self.tally.sessions

    @property
    def defenses(self) -> int:
        return self.tally.defenses_done


@dataclass
class Report:
    month: str
    # The currencies the month's entries were paid in (sorted); today's rules' currency
    # for a month without entries.
    currencies: tuple[str, ...]
    students: list[StudentLine]
    per_level: dict[int, Tally]
    total: Tally
    active: int
    cap: int

    @property
    def hours_per_week(self) -> int:
        return self.active * HOURS_PER_STUDENT_WEEK

    @property
    def flagged(self) -> list[StudentLine]:
        return [s for s in self.students if s.flags]

    @property
    def shows_funding(self) -> bool:
        """Whether any student of the month was priced with a funding."""
        return any(s.funding != Funding.UNSET for s in self.students)

    @property
    def has_defenses(self) -> bool:
        return any(self.total.defenses.values())

    @property
    def has_fees(self) -> bool:
        return self.total.fees != 0


def build_report(
    month: str,
    cards: Iterable[CardRecord],
    moves: Iterable[StageMove],
    entries: Iterable[Entry],
    cap: int,
    currency: str,
) -> Report:
    """`currency`: the currency of today's rules, shown for a month that has no entries."""
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
    summary: MonthSummary[CardKey | LevelKey] = MonthSummary(month, _report_groups)
    for entry in entries:
        key = (entry.board_id, entry.card_id)
        line = lines.get(key)
        if line is None:
            line = lines[key] = StudentLine(
                entry.board_id, entry.card_id, entry.student, None, entry.project, entry.level
            )
        # The latest entry's project, level and funding are what was actually paid.
        line.project, line.level = entry.project or line.project, entry.level
        line.funding = Funding(entry.funding)
        summary.add(entry)
    for (board_id, card_id), line in lines.items():
        line.tally = summary.group(CardKey(board_id, card_id))
        if line.project is None:
            line.flags.append("no project")
        if line.stage is Stage.DELETED:
            line.flags.append("card deleted")
        if line.stage is Stage.UNMAPPED:
            line.flags.append("on a list that maps to no stage")
    shown = [
        line
        for line in lines.values()
        if line.stage in PIPELINE_STAGES
        or line.sessions
        or any(line.tally.cents.values())
        or line.flags
    ]
    shown.sort(key=lambda s: (_stage_order(s.stage), s.student.casefold(), s.card_id))
    per_level = {key.level: tally for key, tally in summary.items() if isinstance(key, LevelKey)}
    return Report(
        month=month,
        currencies=summary.total.currencies or (currency,),
        students=shown,
        per_level=dict(sorted(per_level.items())),
        total=summary.total,
        active=sum(1 for line in lines.values() if line.stage is Stage.ACTIVE),
        cap=cap,
    )


def _report_groups(entry: Entry) -> tuple[CardKey, LevelKey]:
    return card_key(entry), level_key(entry)


def _stage_order(stage: Stage | None) -> int:
    order = [*PIPELINE_STAGES, Stage.UNMAPPED, Stage.ARCHIVED, Stage.MOVED_AWAY, Stage.DELETED]
    return order.index(stage) if stage in order else len(order)
