"""Helpers to run the planner over several polls without a database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from board_script import BOARD_ID

from trello_sync.domain.actions import Action, action_order
from trello_sync.domain.planner import BoardFacts, CardFacts, PlannerConfig, plan
from trello_sync.domain.projects import ProjectLevel, ProjectTable
from trello_sync.domain.records import BoardView, Checkpoint, Plan
from trello_sync.domain.rules import PayRules, RuleSet, Status
from trello_sync.domain.stages import StageMap
from trello_sync.domain.views import apply_plan

HANDBOOK_PROJECTS = {
    "Learn how to learn": 1,
    "Integrate a Wordpress theme for a client": 1,
    "Launch your own restaurant review site": 3,
    "Enhance an existing project": 3,
}
SHARES = {Status.DONE: 100, Status.NOSHOW: 50, Status.LATE: 50, Status.CANCEL: 0}
RULES = PayRules.of(
    [RuleSet(datetime(2000, 1, 1).date(), "EUR", {1: 3000, 2: 3500, 3: 4000}, SHARES)]
)
TABLE = ProjectTable.from_config(HANDBOOK_PROJECTS, 2, [1, 2, 3])
STAGES = StageMap.from_config(
    {
        "waiting": ["En attente"],
        "active": ["En cours"],
        "paused": ["En pause"],
        "handed_off": ["Handed off", "Passé la main"],
    }
)


def config(**changes: object) -> PlannerConfig:
    base = PlannerConfig(
        stage_map=STAGES,
        rules=RULES,
        default_level=2,
        mentors=frozenset({"camille"}),
        tz=ZoneInfo("Europe/Paris"),
        cap=20,
        reply_since=None,
        # The board scripts' mentor owns the token: the service posts as them.
        service_member_id="m-camille",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def facts(projects: Mapping[str, str | None], cards: Mapping[str, str]) -> BoardFacts:
    """projects: student -> project name (None: no project); cards: student -> card id."""
    out = {}
    for student, card_id in cards.items():
        project = projects.get(student)
        level = TABLE.level_of(project) if project else 2
        out[card_id] = CardFacts(
            student, ProjectLevel(project, level, "label" if project else "none")
        )
    return BoardFacts(cards=out, present_cards=frozenset(cards.values()))


def apply(view: BoardView, result: Plan) -> BoardView:
    return apply_plan(view, result)


def run_polls(
    polls: Sequence[Sequence[Action]], board_facts: BoardFacts, cfg: PlannerConfig | None = None
) -> tuple[BoardView, list[Plan]]:
    view = BoardView(BOARD_ID)
    plans = []
    for actions in polls:
        result = plan(actions, view, board_facts, cfg or config())
        if actions:  # the checkpoint at the poll's newest action, as the cycle sets it
            newest = max(actions, key=action_order)
            result = replace(result, checkpoint=Checkpoint(newest.id, newest.date))
        plans.append(result)
        view = apply(view, result)
    return view, plans


def now() -> datetime:
    return datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
