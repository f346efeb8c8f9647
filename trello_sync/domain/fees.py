"""Monthly flat fees: one entry per student, month and fee rule while its condition
holds (e.g. 30 € for each self-funded student with at least one done session that month).

When it is recorded: at the session that first meets the condition in the month, not
when the month closes. The history alone then decides the books: the same comments give
the same fee entries whenever and however often the board is synced (a month "closes"
only on the clock, and stays open to edits for another month anyway, so a fee recorded
at its close would still need reversals). The fee also shows at once, in the reply to
that session, on the month's draft statement and in every export.

Its entry is an ordinary entry of kind `fee`, dated on the session that earned it, at
the rule set's currency; its id is derived from the card, the month and the fee rule
(`fee:<card>:<YYYY-MM>:<rule set's date>:<n>`), so planning it twice is harmless. When an
edit, an undo or a deleted comment leaves the month without enough qualifying sessions,
the fee is reversed like any entry; if the month qualifies again later, a new fee entry
is recorded (`…#2`, `…#3`: an entry is reversed at most once).

A month's fee rules are those of the rule set in force on its first day; the sessions
counted are the month's live done sessions (not defenses) whose entry has the fee's
funding. Pure: the card's entries in, the entries to add out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime

from trello_sync.domain.records import Entry
from trello_sync.domain.rules import EntryKind, MonthlyFee, PayRules, RuleSet, Status
from trello_sync.domain.summary import month_of


def fee_base_id(card_id: str, month: str, rule_set: RuleSet, index: int) -> str:
    """The id of a card's first fee entry of `month` under fee rule `index` of the set."""
    return f"fee:{card_id}:{month}:{rule_set.effective.isoformat()}:{index + 1}"


def _of_base(entry_id: str, base: str) -> bool:
    return entry_id == base or entry_id.startswith(base + "#")


def month_start(month: str) -> date:
    year, number = month.split("-")
    return date(int(year), int(number), 1)


def fee_changes(
    card_entries: Sequence[Entry],
    months: Iterable[str],
    rules: PayRules,
    *,
    cause_action_id: str,
    at: datetime,
) -> list[Entry]:
    """The fee entries and fee reversals that bring one card's `months` in line with
    the fee rules, after an action (`cause_action_id`, at `at`) changed its entries."""
    fee_rules = {month: rules.fees_of_month(month_start(month)) for month in sorted(set(months))}
    if not card_entries or not any(r.monthly_fees for r in fee_rules.values()):
        return []  # rules without fees (the handbook's) cost nothing more per session
    reversed_ids = {e.reverses_entry_id for e in card_entries if e.reverses_entry_id}
    live = [e for e in card_entries if not e.is_reversal and e.entry_id not in reversed_ids]
    changes: list[Entry] = []
    for month, rule_set in fee_rules.items():
        for index, fee in enumerate(rule_set.monthly_fees):
            base = fee_base_id(card_entries[0].card_id, month, rule_set, index)
            qualifying = [e for e in live if _qualifies(e, month, fee)]
            held = [e for e in live if e.is_fee and _of_base(e.entry_id, base)]
            due = len(qualifying) >= fee.min_done_sessions
            if due and not held:
                made = sum(
                    1 for e in card_entries if not e.is_reversal and _of_base(e.entry_id, base)
                )
                entry_id = base if made == 0 else f"{base}#{made + 1}"
                earner = max(qualifying, key=lambda e: (e.recorded_at, e.entry_id))
                changes.append(_fee_entry(earner, entry_id, fee, rule_set, cause_action_id, at))
            elif not due:
                changes += [
                    held_fee.reversed_by(cause_action_id, max(at, held_fee.recorded_at))
                    for held_fee in held
                ]
    return changes


def _qualifies(entry: Entry, month: str, fee: MonthlyFee) -> bool:
    return (
        entry.kind == EntryKind.SESSION
        and entry.status == Status.DONE
        and fee.counts(entry.funding)
        and month_of(entry.session_date) == month
    )


def _fee_entry(
    earner: Entry,
    entry_id: str,
    fee: MonthlyFee,
    rule_set: RuleSet,
    cause_action_id: str,
    at: datetime,
) -> Entry:
    """The fee, dated and named as the session that earned it (student, project, level,
    mentor and funding as that entry kept them)."""
    return replace(
        earner,
        entry_id=entry_id,
        recorded_at=max(at, earner.recorded_at),
        duration_minutes=None,
        note=f"monthly fee, {month_of(earner.session_date)}",
        rate_cents=fee.amount_cents,
        share_percent=100,
        amount_cents=fee.amount_cents,
        currency=rule_set.currency,
        source_action_id=cause_action_id,
        reverses_entry_id=None,
        kind=EntryKind.FEE,
    )
