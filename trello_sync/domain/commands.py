"""The comment commands a mentor writes on a card: `/session 28/11 45m good progress`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from trello_sync.domain.rules import Status

USAGE = (
    "Usage: /session, /noshow, /late or /cancel [date] [duration] [note] — "
    "date: 2026-11-28, 28/11, 28/11/2026, today or yesterday (default today); "
    "duration: 45m or 1h. /undo reverses the latest entry on this card."
)

STATUS_COMMANDS: dict[str, Status] = {
    "session": Status.DONE,
    "noshow": Status.NOSHOW,
    "late": Status.LATE,
    "cancel": Status.CANCEL,
}

_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DAY_MONTH = re.compile(r"^(\d{1,2})/(\d{1,2})(?:/(\d{4}))?$")
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)(?:m|min))?$")


@dataclass(frozen=True)
class SessionCommand:
    status: Status
    session_date: date
    duration_minutes: int | None
    note: str


@dataclass(frozen=True)
class UndoCommand:
    note: str


@dataclass(frozen=True)
class InvalidCommand:
    reason: str


Command = SessionCommand | UndoCommand | InvalidCommand


def looks_like_command(text: str) -> bool:
    return text.lstrip().startswith("/")


def parse_command(text: str, today: date) -> Command | None:
    """None when the comment is not a command (plain chatter)."""
    if not looks_like_command(text):
        return None
    first_line, _, rest_lines = text.strip().partition("\n")
    words = first_line.split()
    name = words[0][1:].casefold()
    if name == "undo":
        return UndoCommand(_note(words[1:], rest_lines))
    status = STATUS_COMMANDS.get(name)
    if status is None:
        return InvalidCommand(f"unknown command {words[0]!r}")

    session_date: date | None = None
    duration: int | None = None
    index = 1
    while index < len(words):
        word = words[index]
        if session_date is None:
            parsed = _parse_date(word, today)
            if isinstance(parsed, str):
                return InvalidCommand(parsed)
            if parsed is not None:
                session_date = parsed
                index += 1
                continue
        if duration is None:
            minutes = _parse_duration(word)
            if minutes is not None:
                if not 1 <= minutes <= 600:
                    return InvalidCommand(f"duration {word!r} is not a plausible session length")
                duration = minutes
                index += 1
                continue
        break
    return SessionCommand(
        status=status,
        session_date=session_date or today,
        duration_minutes=duration,
        note=_note(words[index:], rest_lines),
    )


def _note(words: list[str], rest_lines: str) -> str:
    return "\n".join(part for part in (" ".join(words), rest_lines.strip()) if part)


def _parse_date(word: str, today: date) -> date | str | None:
    """A date, an error message for a malformed date, or None if the word is no date."""
    lowered = word.casefold()
    if lowered in ("today", "aujourd'hui", "aujourdhui"):
        return today
    if lowered in ("yesterday", "hier"):
        return today - timedelta(days=1)
    iso = _ISO.match(word)
    if iso:
        year, month, day = (int(g) for g in iso.groups())
        return _make_date(year, month, day, word)
    day_month = _DAY_MONTH.match(word)
    if day_month:
        day, month = int(day_month.group(1)), int(day_month.group(2))
        if day_month.group(3):
            return _make_date(int(day_month.group(3)), month, day, word)
        candidate = _make_date(today.year, month, day, word)
        # "28/12" written on 2 January means the December just past.
        if isinstance(candidate, date) and candidate > today:
            return _make_date(today.year - 1, month, day, word)
        return candidate
    return None


def _make_date(year: int, month: int, day: int, word: str) -> date | str:
    try:
        return date(year, month, day)
    except ValueError:
        return f"{word!r} is not a valid date"


def _parse_duration(word: str) -> int | None:
    match = _DURATION.match(word.casefold())
    if not match or not any(match.groups()):
        return None
    hours, minutes = match.groups()
    return int(hours or 0) * 60 + int(minutes or 0)
