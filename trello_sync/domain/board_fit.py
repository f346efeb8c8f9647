"""How well a board fits the service: which list is which stage, what is missing.

Pure: given a board's lists, cards, labels and custom fields (Trello's JSON) and the
configured stage names and project table, says which open list maps to which stage,
which stages have no list, which lists map to none, which students have no project,
and which of the pay table's projects (and, when the pay rules price by funding, which
fundings) have no label yet. `trello-sync setup` shows it
and offers to fix what can be fixed on the board (a list per missing stage, a label per
project: labels work on free boards, custom fields are a paid Trello feature).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from trello_sync.domain.funding import label_funding
from trello_sync.domain.projects import ProjectTable, resolve_project
from trello_sync.domain.rules import Funding
from trello_sync.domain.stages import PIPELINE_STAGES, Stage, StageMap
from trello_sync.domain.text import fold


class Lang(StrEnum):
    EN = "en"
    FR = "fr"


# The list a new board gets for each stage, and the one setup creates for a missing
# stage; each name is one of the shipped aliases of its stage (trello_sync/defaults.toml).
STAGE_LIST_NAMES: Mapping[Lang, Mapping[Stage, str]] = {
    Lang.EN: {
        Stage.WAITING: "Waiting",
        Stage.ACTIVE: "Active",
        Stage.PAUSED: "Paused",
        Stage.HANDED_OFF: "Handed off",
    },
    Lang.FR: {
        Stage.WAITING: "En attente",
        Stage.ACTIVE: "En cours",
        Stage.PAUSED: "En pause",
        Stage.HANDED_OFF: "Passé la main",
    },
}

# Trello's label colours, in the order setup gives them to new project labels.
LABEL_COLORS = ("green", "yellow", "orange", "red", "purple", "blue", "sky", "lime", "pink")


# The labels that say a card's funding, when the pay rules price by it.
FUNDING_LABEL_NAMES: Mapping[Lang, Mapping[Funding, str]] = {
    Lang.EN: {Funding.FUNDED: "Funding: funded", Funding.SELF: "Funding: self"},
    Lang.FR: {Funding.FUNDED: "Financement: financé", Funding.SELF: "Financement: autofinancé"},
}


def lang_of_locale(locale_name: str | None) -> Lang:
    """French for a French locale (fr, fr_FR.UTF-8, fr-CA…), English otherwise."""
    return Lang.FR if (locale_name or "").lower().startswith("fr") else Lang.EN


@dataclass(frozen=True)
class ListFit:
    name: str
    stage: Stage | None  # None: the list maps to no stage (its cards are not students)


@dataclass(frozen=True)
class BoardFit:
    lists: tuple[ListFit, ...]  # open lists, in board order
    missing_stages: tuple[Stage, ...]  # pipeline stages no open list maps to
    students_without_project: tuple[str, ...]  # names of open cards on stage lists
    labels_to_create: tuple[str, ...]  # the project table's projects with no label
    # The fundings no label says yet, when the pay rules price by funding (else none).
    fundings_without_label: tuple[Funding, ...] = ()

    @property
    def unmapped_lists(self) -> tuple[str, ...]:
        return tuple(fit.name for fit in self.lists if fit.stage is None)

    def lists_to_create(self, lang: Lang) -> tuple[str, ...]:
        return tuple(STAGE_LIST_NAMES[lang][stage] for stage in self.missing_stages)

    def funding_labels_to_create(self, lang: Lang) -> tuple[str, ...]:
        return tuple(FUNDING_LABEL_NAMES[lang][f] for f in self.fundings_without_label)


def fit_board(
    *,
    lists: Sequence[Mapping[str, Any]],
    cards: Sequence[Mapping[str, Any]],
    labels: Sequence[Mapping[str, Any]],
    custom_fields: Sequence[Mapping[str, Any]],
    stage_map: StageMap,
    projects: ProjectTable,
    by_funding: bool = False,
) -> BoardFit:
    open_lists = sorted(
        (lst for lst in lists if not lst.get("closed")), key=lambda lst: float(lst.get("pos") or 0)
    )
    fits = tuple(_list_fit(stage_map, str(lst.get("name") or "")) for lst in open_lists)
    mapped = {fit.stage for fit in fits}
    stage_lists = {
        str(lst.get("id")) for lst, fit in zip(open_lists, fits, strict=True) if fit.stage
    }
    without_project = tuple(
        str(card.get("name") or "")
        for card in cards
        if not card.get("closed")
        and str(card.get("idList")) in stage_lists
        and resolve_project(card, custom_fields, projects).flagged
    )
    label_names = {fold(str(label.get("name") or "")) for label in labels}
    labelled = {label_funding(str(label.get("name") or "")) for label in labels}
    return BoardFit(
        lists=fits,
        missing_stages=tuple(s for s in PIPELINE_STAGES if s not in mapped),
        students_without_project=without_project,
        labels_to_create=tuple(
            name for key, name in projects.names.items() if key not in label_names
        ),
        fundings_without_label=tuple(
            f for f in (Funding.FUNDED, Funding.SELF) if by_funding and f not in labelled
        ),
    )


def _list_fit(stage_map: StageMap, name: str) -> ListFit:
    stage = stage_map.stage_of(name)
    return ListFit(name, stage if stage in PIPELINE_STAGES else None)


def label_color(index: int) -> str:
    return LABEL_COLORS[index % len(LABEL_COLORS)]
