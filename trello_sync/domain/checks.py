"""Checks: plain functions from data to a list of problems (run by `check` and the tests)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from trello_sync.domain.records import Entry
from trello_sync.domain.stages import Stage, StageMap


def list_mapping(
    lists: Sequence[Mapping[str, Any]], stages: StageMap
) -> tuple[list[str], list[str]]:
    """(problems, notes) about how a board's open lists map to stages."""
    problems: list[str] = []
    notes: list[str] = []
    mapped: set[Stage] = set()
    for item in lists:
        if item.get("closed"):
            continue
        name = str(item.get("name") or "")
        stage = stages.stage_of(name)
        if stage is Stage.UNMAPPED:
            notes.append(f"list {name!r} maps to no stage: its cards are ignored")
        else:
            mapped.add(stage)
    if Stage.ACTIVE not in mapped:
        problems.append(
            "no open list maps to the active stage: every session would be refused "
            "(name a list 'Active' or add an alias under [stages])"
        )
    return problems, notes


def ledger_problems(entries: Iterable[Entry]) -> list[str]:
    """Integrity of the append-only ledger: reversals point at entries and cancel them."""
    by_id: dict[str, Entry] = {}
    reversals: list[Entry] = []
    problems: list[str] = []
    for entry in entries:
        if entry.entry_id in by_id:
            problems.append(f"entry {entry.entry_id} appears twice")
        by_id[entry.entry_id] = entry
        if entry.is_reversal:
            reversals.append(entry)
    reversed_ids: set[str] = set()
    for reversal in reversals:
        target_id = reversal.reverses_entry_id or ""
        target = by_id.get(target_id)
        if target is None:
            problems.append(f"entry {reversal.entry_id} reverses unknown entry {target_id}")
            continue
        if target_id in reversed_ids:
            problems.append(f"entry {target_id} is reversed twice")
        reversed_ids.add(target_id)
        if reversal.amount_cents != -target.amount_cents or reversal.currency != target.currency:
            problems.append(f"entry {reversal.entry_id} does not cancel {target_id}")
    return problems
