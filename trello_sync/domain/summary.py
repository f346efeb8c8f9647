"""One month's summary of ledger entries: what the replies, the report and the statements
add up, with one set of rules.

- Counts are per status and net: a reversal (it carries the status of the entry it
  cancels) counts -1 of that status, so a session logged then undone counts 0.
  Sessions, defenses and monthly fees are counted apart (a defense is no session, a fee
  no status of its own); the amount adds them all.
- Amounts are integer cents per currency and net: a reversal carries the opposite
  amount, so adding every entry is what is owed. Two currencies are never added together.
- An entry belongs to the month of its session's date (a reversal keeps that date), and
  to every group that the reader's `groups` function names for it (its card, its level,
  its mentor and currency, …); the whole month is `total`.

Summaries are small (one tally per group) and are fed one entry at a time, so that a
reader can stream the ledger through them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, ItemsView, Iterable, KeysView
from dataclasses import dataclass, field
from datetime import date
from typing import Generic, TypeVar

from trello_sync.domain.money import Money
from trello_sync.domain.records import Entry
from trello_sync.domain.rules import EntryKind, Status

K = TypeVar("K", bound=Hashable)


def month_of(day: date) -> str:
    """`YYYY-MM`: the month a session's date falls in."""
    return f"{day.year:04d}-{day.month:02d}"


@dataclass(slots=True)
class Tally:
    """Net counts per status and net cents per currency of some entries."""

    counts: dict[str, int] = field(default_factory=dict)  # status -> net count of sessions
    cents: dict[str, int] = field(default_factory=dict)  # currency -> net cents
    defenses: dict[str, int] = field(default_factory=dict)  # status -> net count of defenses
    fees: int = 0  # net count of monthly fees

    def add(self, entry: Entry) -> None:
        sign = -1 if entry.is_reversal else 1
        kind = entry.kind
        if kind == EntryKind.SESSION:
            self.counts[entry.status] = self.counts.get(entry.status, 0) + sign
        elif kind == EntryKind.DEFENSE:
            self.defenses[entry.status] = self.defenses.get(entry.status, 0) + sign
        else:
            self.fees += sign
        self.cents[entry.currency] = self.cents.get(entry.currency, 0) + entry.amount_cents

    def count(self, status: Status | str) -> int:
        """Net sessions (not defenses) of this status."""
        return self.counts.get(str(status), 0)

    def defense_count(self, status: Status | str) -> int:
        return self.defenses.get(str(status), 0)

    @property
    def defenses_done(self) -> int:
        return self.defense_count(Status.DONE)

    @property
    def entries(self) -> int:
        """Net count of every entry: sessions of each status, defenses and fees."""
        return sum(self.counts.values()) + sum(self.defenses.values()) + self.fees

    @property
    def sessions(self) -> int:
        """Sessions that took place (no-shows and cancellations are not sessions)."""
        return self.count(Status.DONE)

    @property
    def currencies(self) -> tuple[str, ...]:
        """Every currency an entry was paid in, sorted; one whose amounts net to zero too."""
        return tuple(sorted(self.cents))

    def amount(self, currency: str) -> Money:
        """The net amount in `currency`: zero when no entry was paid in it."""
        return Money(self.cents.get(currency, 0), currency)


class MonthSummary(Generic[K]):
    """The entries of one month: `total`, and a tally per group key.

    `groups(entry)` names the keys an entry is added under (none by default). Entries of
    another month are left out, so that the whole ledger can be fed through it."""

    __slots__ = ("_by", "_groups", "month", "total")

    def __init__(self, month: str, groups: Callable[[Entry], Iterable[K]] | None = None) -> None:
        self.month = month
        self.total = Tally()
        self._groups = groups
        self._by: dict[K, Tally] = {}

    @classmethod
    def of(
        cls,
        month: str,
        entries: Iterable[Entry],
        groups: Callable[[Entry], Iterable[K]] | None = None,
    ) -> MonthSummary[K]:
        summary = cls(month, groups)
        for entry in entries:
            summary.add(entry)
        return summary

    def add(self, entry: Entry) -> bool:
        """Add `entry` if it is of this month; whether it was."""
        if month_of(entry.session_date) != self.month:
            return False
        self.total.add(entry)
        if self._groups is not None:
            for key in self._groups(entry):
                tally = self._by.get(key)
                if tally is None:
                    tally = self._by[key] = Tally()
                tally.add(entry)
        return True

    def group(self, key: K) -> Tally:
        """The tally of one group: an empty one when no entry of the month is in it (a
        fresh one each time, not kept)."""
        tally = self._by.get(key)
        return Tally() if tally is None else tally

    def keys(self) -> KeysView[K]:
        """The groups that hold entries, in the order of their first entry."""
        return self._by.keys()

    def items(self) -> ItemsView[K, Tally]:
        return self._by.items()

    def __contains__(self, key: object) -> bool:
        return key in self._by


@dataclass(frozen=True, slots=True)
class CardKey:
    """Group by student: a card of a board."""

    board_id: str
    card_id: str


@dataclass(frozen=True, slots=True)
class LevelKey:
    """Group by project level."""

    level: int


def card_key(entry: Entry) -> CardKey:
    return CardKey(entry.board_id, entry.card_id)


def level_key(entry: Entry) -> LevelKey:
    return LevelKey(entry.level)
