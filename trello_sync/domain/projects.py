"""Which project a student works on, and at which level they are paid.

Order of precedence (SPEC "The board"): a custom field named "Project", then a label
whose name is a known project, then a line `Project: …` in the card's description.
A label or custom field "Level N" overrides the level. No project: the default level,
and the card is flagged in reports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trello_sync.domain.text import fold, storable

# At most three ASCII digits: int() never meets a long digit run typed on the board, and the
# white space around "level" is in one place only, so that a long blank field matches in
# linear time.
_LEVEL = re.compile(r"^\s*(?:(?:level|niveau)\s*)?([0-9]{1,3})\s*$", re.I)
_LEVEL_LABEL = re.compile(r"^\s*(?:level|niveau)\s*([0-9]{1,3})\s*$", re.I)
_PROJECT_KEYS = ("project", "projet")
# A project name read from a card is cut to this length rather than refused: the card keeps
# its level and its entries, and a 16,000-character name cannot bloat every one of them.
MAX_PROJECT_CHARS = 200


@dataclass(frozen=True)
class ProjectTable:
    """Known projects and their level; every other project is at the default level."""

    levels: Mapping[str, int]  # folded project name -> level
    names: Mapping[str, str]  # folded project name -> name as written in the config
    default_level: int
    known_levels: frozenset[int]

    @classmethod
    def from_config(
        cls, projects: Mapping[str, int], default_level: int, known_levels: Sequence[int]
    ) -> ProjectTable:
        levels = {fold(name): level for name, level in projects.items()}
        names = {fold(name): name for name in projects}
        known = frozenset(known_levels)
        for name, level in projects.items():
            if level not in known:
                raise ValueError(f"project {name!r} has level {level}, which has no rate")
        if default_level not in known:
            raise ValueError(f"default level {default_level} has no rate")
        return cls(levels, names, default_level, known)

    def level_of(self, project: str) -> int:
        return self.levels.get(fold(project), self.default_level)

    def canonical(self, project: str) -> str:
        return self.names.get(fold(project), project.strip())

    def is_known(self, project: str) -> bool:
        return fold(project) in self.levels


@dataclass(frozen=True)
class ProjectLevel:
    project: str | None
    level: int
    project_source: str  # "custom_field", "label", "description" or "none"
    level_overridden: bool = False

    @property
    def flagged(self) -> bool:
        return self.project is None


def _field_text(item: Mapping[str, Any], field: Mapping[str, Any]) -> str | None:
    if item.get("idValue"):
        for option in field.get("options") or []:
            if option.get("id") == item["idValue"]:
                text = (option.get("value") or {}).get("text")
                return str(text) if text else None
        return None
    value = item.get("value") or {}
    for key in ("text", "number"):
        if value.get(key) not in (None, ""):
            return str(value[key])
    return None


def custom_field_texts(
    card: Mapping[str, Any], fields: Sequence[Mapping[str, Any]]
) -> dict[str, str]:
    """The card's custom-field values as text, by folded field name."""
    by_id = {f.get("id"): f for f in fields}
    found: dict[str, str] = {}
    for item in card.get("customFieldItems") or []:
        field = by_id.get(item.get("idCustomField"))
        if field is None:
            continue
        text = _field_text(item, field)
        if text:
            found[fold(str(field.get("name", "")))] = text
    return found


def resolve_project(
    card: Mapping[str, Any],
    custom_fields: Sequence[Mapping[str, Any]],
    table: ProjectTable,
) -> ProjectLevel:
    """The project and level of a card, from its Trello JSON (labels, desc, field items)."""
    fields = custom_field_texts(card, custom_fields)
    labels = [str(label.get("name") or "") for label in card.get("labels") or []]

    project: str | None = None
    source = "none"
    if fields.get("project") or fields.get("projet"):
        written = fields.get("project") or fields["projet"]
        project, source = table.canonical(_capped(written)), "custom_field"
    else:
        for label in labels:
            if table.is_known(label):
                project, source = table.canonical(label), "label"
                break
        else:
            described = _description_project(str(card.get("desc") or ""))
            if described:
                project, source = table.canonical(_capped(described)), "description"

    level = table.level_of(project) if project else table.default_level
    override = _level_override(fields, labels, table)
    if override is not None:
        return ProjectLevel(project, override, source, level_overridden=True)
    return ProjectLevel(project, level, source)


def _capped(name: str) -> str:
    return storable(name.strip()[:MAX_PROJECT_CHARS].rstrip())


def _description_project(description: str) -> str | None:
    """The value of the first line `Project: …` (or `Projet: …`), in one pass over the lines.

    A key with nothing after it takes the next non-blank line, as "Project:" then the name on
    the line below has always been read.
    """
    lines = iter(description.split("\n"))
    for line in lines:
        value = _project_line_value(line)
        if value is None:
            continue
        if not value:
            value = next((below.strip() for below in lines if below.strip()), "")
        return value or None
    return None


def _project_line_value(line: str) -> str | None:
    """The stripped text after `Project:` on this line, or None if it is no such line."""
    head = line.lstrip()
    for key in _PROJECT_KEYS:
        if head[: len(key)].lower() == key:
            rest = head[len(key) :].lstrip()
            if rest.startswith(":"):
                return rest[1:].strip()
    return None


def _level_override(
    fields: Mapping[str, str], labels: Sequence[str], table: ProjectTable
) -> int | None:
    candidates: list[str] = []
    for name in ("level", "niveau"):
        if name in fields:
            candidates.append(fields[name])
    candidates += [label for label in labels if _LEVEL_LABEL.match(label)]
    for text in candidates:
        match = _LEVEL.match(text)
        if match and int(match.group(1)) in table.known_levels:
            return int(match.group(1))
    return None
