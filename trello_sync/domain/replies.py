"""The service's comments on cards: derived ids, the marker, and the texts."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date

from trello_sync.domain.commands import USAGE
from trello_sync.domain.money import Money
from trello_sync.domain.records import Entry, Reply

# The marker lets a restarted service see which replies Trello already shows, and makes
# sure the service never reads its own comment as a command.
MARKER_PATTERN = re.compile(r"\[trello-sync ref:([0-9a-f]{16})\]")


def reply_id_for(board_id: str, source: str, kind: str) -> str:
    """Derived from (board, source action, kind): planning the same reply twice is a no-op."""
    digest = hashlib.sha256(f"{board_id}|{source}|{kind}".encode()).hexdigest()
    return digest[:16]


def marker(reply_id: str) -> str:
    return f"[trello-sync ref:{reply_id}]"


def find_marker(text: str) -> str | None:
    match = MARKER_PATTERN.search(text)
    return match.group(1) if match else None


def make_reply(board_id: str, card_id: str, source: str, kind: str, body: str) -> Reply:
    reply_id = reply_id_for(board_id, source, kind)
    text = f"🤖 {body}\n\n{marker(reply_id)}"
    return Reply(reply_id, board_id, card_id, source.split("@", 1)[0], kind, text)


def _level(entry: Entry) -> str:
    project = entry.project or "no project set"
    return f"Level {entry.level} ({project})"


@dataclass(frozen=True)
class MonthTotals:
    month: str  # YYYY-MM
    sessions: int
    total: Money


STATUS_WORDS = {
    "done": "Session",
    "noshow": "No-show",
    "late": "Late cancellation",
    "cancel": "Cancellation",
}


def recorded_text(entry: Entry, totals: MonthTotals, corrected: bool = False) -> str:
    duration = f", {entry.duration_minutes} min" if entry.duration_minutes else ""
    verb = "corrected and recorded" if corrected else "recorded"
    flag = "" if entry.project else "\n⚠ No project on this card: paid at the default level."
    return (
        f"{STATUS_WORDS[entry.status]} {verb}: {entry.session_date.isoformat()}{duration} · "
        f"{_level(entry)} · {entry.amount} ({entry.share_percent}% of "
        f"{Money(entry.rate_cents, entry.currency)}).\n"
        f"{entry.student}, {totals.month}: {totals.sessions} session(s), {totals.total}."
        f"{flag}"
    )


def refused_text(reason: str, with_usage: bool = True) -> str:
    usage = f"\n{USAGE}" if with_usage else ""
    return f"Nothing recorded: {reason}.{usage}"


def undone_text(reversal: Entry, original: Entry) -> str:
    return (
        f"Undone: the {STATUS_WORDS[original.status].lower()} of "
        f"{original.session_date.isoformat()} ({original.amount}) is reversed "
        f"({reversal.amount})."
    )


def deleted_text(reversal: Entry, original: Entry) -> str:
    return (
        f"The comment that logged the {STATUS_WORDS[original.status].lower()} of "
        f"{original.session_date.isoformat()} was deleted: the entry is reversed "
        f"({reversal.amount})."
    )


def handoff_text(
    student: str, first_active: date | None, handed_off: date, sessions: int, total: Money
) -> str:
    since = first_active.isoformat() if first_active else "(never active)"
    return (
        f"Mentorship summary for {student}: {since} → {handed_off.isoformat()}, "
        f"{sessions} session(s), {total} in all."
    )


def cap_warning_text(count: int, cap: int) -> str:
    return (
        f"Heads-up: {count} active students, above the recommended maximum of {cap} "
        f"(about {count} h of sessions a week)."
    )
