"""Lifecycle stages, and the mapping from a list's name to its stage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from trello_sync.domain.text import fold


class Stage(StrEnum):
    WAITING = "waiting"
    ACTIVE = "active"
    PAUSED = "paused"
    HANDED_OFF = "handed_off"
    # Not lists of the pipeline: where a card goes when it leaves it.
    UNMAPPED = "unmapped"  # on a list that maps to no stage
    ARCHIVED = "archived"
    MOVED_AWAY = "moved_away"  # moved to another board
    DELETED = "deleted"


PIPELINE_STAGES: tuple[Stage, ...] = (
    Stage.WAITING,
    Stage.ACTIVE,
    Stage.PAUSED,
    Stage.HANDED_OFF,
)


@dataclass(frozen=True)
class StageMap:
    """Aliases per stage, folded once."""

    aliases: Mapping[str, Stage]

    @classmethod
    def from_config(cls, aliases: Mapping[str, Sequence[str]]) -> StageMap:
        folded: dict[str, Stage] = {}
        for stage_name, names in aliases.items():
            stage = Stage(stage_name)
            if stage not in PIPELINE_STAGES:
                raise ValueError(f"unknown stage {stage_name!r}")
            for name in [stage_name, *names]:
                key = fold(name)
                if key in folded and folded[key] != stage:
                    raise ValueError(f"list name {name!r} is an alias of two stages")
                folded[key] = stage
        return cls(folded)

    def stage_of(self, list_name: str | None) -> Stage:
        if list_name is None:
            return Stage.UNMAPPED
        return self.aliases.get(fold(list_name), Stage.UNMAPPED)
