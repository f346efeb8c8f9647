"""The comment commands a mentor writes on a card: `/session 28/11 45m good progress`."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import TypeAlias, TypeVar

from trello_sync.domain.rules import EntryKind, Status

USAGE = (
    "Usage: /session, /noshow, /late or /cancel [date] [duration] [note], one command per "
    "comment — date: today, yesterday, 28/11, 28.11, 28/11/2026, 28/11/26, 2026-11-28 or "
    "2026/11/28 (default today; without a year, the nearest such day); duration: 45m, 90min, "
    "1h, 1h30, 1.5h or 2h 45m (at most 10h). /undo reverses the latest entry on this card."
)
# What a refused /defense says (the general usage above is the one every other refusal
# has always shown, word for word).
DEFENSE_USAGE = (
    "Usage: /defense (or /soutenance) [noshow|late|cancel] [date] [duration] [note], one "
    "command per comment — the date and the duration as for /session (default today, a "
    "done defense)."
)

STATUS_COMMANDS: dict[str, Status] = {
    "session": Status.DONE,
    "noshow": Status.NOSHOW,
    "late": Status.LATE,
    "cancel": Status.CANCEL,
}

# A defense is logged done unless its first word says otherwise: `/defense noshow 28/11`.
DEFENSE_COMMANDS = frozenset({"defense", "defence", "soutenance"})
DEFENSE_STATUS_WORDS: dict[str, Status] = {
    "done": Status.DONE,
    "noshow": Status.NOSHOW,
    "late": Status.LATE,
    "cancel": Status.CANCEL,
}

KNOWN_COMMANDS = frozenset({*STATUS_COMMANDS, *DEFENSE_COMMANDS, "undo"})

MAX_MINUTES = 600
# Trello allows 16,384 characters in a comment; a note is copied into every entry and reply.
MAX_NOTE_CHARS = 2000
# A reason quotes at most this much of a word: anyone can type a 16,000-character word.
_QUOTED_CHARS = 24
# A date written with its year further than this from the day it is written is a typo.
_MAX_DAYS_AWAY = 366

_DATE_WORDS: dict[str, int] = {  # casefolded word -> days from today
    "today": 0,
    "aujourd'hui": 0,
    "aujourd’hui": 0,
    "aujourdhui": 0,
    "yesterday": -1,
    "hier": -1,
    "tomorrow": 1,
    "demain": 1,
}
# Every digit run is bounded, so int() never meets a long run a person typed, and ASCII only:
# "٤٥m" is refused rather than read as 45 minutes.
_ISO = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_YEAR_FIRST = re.compile(r"([0-9]{4})/([0-9]{1,2})/([0-9]{1,2})")
_DAY_FIRST = re.compile(r"([0-9]{1,2})([/.])([0-9]{1,2})(?:\2([0-9]{4}|[0-9]{2}))?")
_MINUTES = re.compile(r"([0-9]{1,4})(?:m|mn|min)", re.I | re.A)
_HOURS = re.compile(r"([0-9]{1,3})h(?:([0-9]{1,2})(?:m|mn|min)?)?", re.I | re.A)
_DECIMAL_HOURS = re.compile(r"([0-9]{1,2})[.,]([0-9]{1,2})h", re.I | re.A)
# "today," or "28.11." still mean the date: trailing punctuation is not part of the word.
_TRAILING_PUNCTUATION = ".,;:!"
_SIGNS = "+-−–"
_DECIMAL_SEPARATORS = ".,"


@dataclass(frozen=True)
class SessionCommand:
    status: Status
    session_date: date
    duration_minutes: int | None
    note: str
    kind: EntryKind = EntryKind.SESSION  # a /session-like command, or a /defense


@dataclass(frozen=True)
class UndoCommand:
    note: str


@dataclass(frozen=True)
class InvalidCommand:
    reason: str
    usage: str = USAGE  # the usage the refusal shows


Command = SessionCommand | UndoCommand | InvalidCommand


def looks_like_command(text: str) -> bool:
    """The one test of whether a comment is a command: its text starts with "/" (after
    blanks). A command may still be refused; anything else is chatter, never a reply."""
    return text.lstrip().startswith("/")


def parse_command(text: str, today: date) -> Command | None:
    """None when the comment is not a command (plain chatter).

    Never raises, whatever the text: anyone who can comment on the board can type anything,
    and a word that looks like a date or a duration is understood or refused, never guessed.
    """
    if not looks_like_command(text):
        return None
    first_line, _, rest_lines = text.strip().partition("\n")
    words = first_line.split()
    name = words[0][1:].casefold()
    if name not in KNOWN_COMMANDS:
        return InvalidCommand(f"unknown command {_quote(words[0])}")
    if _names_a_command_on_a_later_line(rest_lines):
        return InvalidCommand("one command per comment: write the other one in its own comment")
    if name == "undo":
        return _with_note(UndoCommand(""), words[1:], rest_lines)
    if name in DEFENSE_COMMANDS:
        return _parse_defense(words, rest_lines, today)
    return _parse_status_command(STATUS_COMMANDS[name], words, rest_lines, today)


def _parse_defense(words: list[str], rest_lines: str, today: date) -> Command:
    """`/defense [noshow|late|cancel] [date] [duration] [note]`: a done defense unless its
    first word names another status; then the date, duration and note of /session."""
    status = Status.DONE
    if len(words) > 1 and words[1].casefold() in DEFENSE_STATUS_WORDS:
        status = DEFENSE_STATUS_WORDS[words[1].casefold()]
        words = [words[0], *words[2:]]
    parsed = _parse_status_command(status, words, rest_lines, today)
    if isinstance(parsed, InvalidCommand):
        return replace(parsed, usage=DEFENSE_USAGE)
    return replace(parsed, kind=EntryKind.DEFENSE)


@dataclass(frozen=True)
class _Duration:
    minutes: int
    whole_hours: bool  # "2h": may be followed by its minutes, "2h 45m"
    minutes_under_an_hour: bool  # "45m": may follow whole hours


# What a word before the note is: a date, a duration, the reason it is refused (it looks like
# a date or a duration but is none), or None when it is the note's first word.
_Word: TypeAlias = date | _Duration | str | None


def _parse_status_command(
    status: Status, words: list[str], rest_lines: str, today: date
) -> SessionCommand | InvalidCommand:
    session_date: date | None = None
    duration: int | None = None
    duration_words: list[str] = []
    hours_await_minutes = False
    index = 1
    while index < len(words):
        word = words[index]
        read = _read_word(word, today)
        if read is None:
            break
        if isinstance(read, str):
            if session_date is not None and duration is not None and not hours_await_minutes:
                break  # both given: a number now starts the note ("3 exercises")
            return InvalidCommand(read)
        if isinstance(read, _Duration):
            if duration is None:
                duration, duration_words = read.minutes, [word]
            elif hours_await_minutes and read.minutes_under_an_hour:
                duration, duration_words = duration + read.minutes, [*duration_words, word]
            else:
                return InvalidCommand(f"a second duration {_quote(word)}: give one duration")
            hours_await_minutes = read.whole_hours and len(duration_words) == 1
        else:
            if session_date is not None:
                return InvalidCommand(f"a second date {_quote(word)}: give one date")
            session_date, hours_await_minutes = read, False
        index += 1
    if duration is not None and not 1 <= duration <= MAX_MINUTES:
        return InvalidCommand(_implausible(" ".join(duration_words)))
    command = SessionCommand(status, session_date or today, duration, "")
    return _with_note(command, words[index:], rest_lines)


_Noted = TypeVar("_Noted", SessionCommand, UndoCommand)


def _with_note(command: _Noted, words: list[str], rest_lines: str) -> _Noted | InvalidCommand:
    note = _note(words, rest_lines)
    if len(note) > MAX_NOTE_CHARS:
        return InvalidCommand(f"the note is longer than {MAX_NOTE_CHARS:,} characters")
    # Most commands carry no note: the command as it is (a first sync meets many).
    return replace(command, note=note) if note else command


def _note(words: list[str], rest_lines: str) -> str:
    rest = rest_lines.strip()
    if not words:
        return rest
    said = " ".join(words)
    return f"{said}\n{rest}" if rest else said


def _names_a_command_on_a_later_line(rest_lines: str) -> bool:
    """A later line such as `/noshow 28/11` would otherwise become the note of the first."""
    for line in rest_lines.splitlines():
        head = line.lstrip()
        if head.startswith("/") and head.split(maxsplit=1)[0][1:].casefold() in KNOWN_COMMANDS:
            return True
    return False


def _read_word(word: str, today: date) -> _Word:
    bare = word.rstrip(_TRAILING_PUNCTUATION)
    when = _parse_date(bare, today)
    if when is not None:
        return when
    length = _parse_duration(bare)
    if length is not None:
        return length
    if not _looks_numeric(bare):
        return None
    if bare[0] in _SIGNS and isinstance(_parse_duration(bare[1:]), _Duration):
        return _implausible(bare)
    return f"{_quote(bare)} is not a date or a duration I understand"


def _looks_numeric(word: str) -> bool:
    """Led by a digit (of any script), or by a sign or decimal separator then a digit."""
    if word[:1].isdecimal():
        return True
    return word[:1] in _SIGNS + _DECIMAL_SEPARATORS and word[1:2].isdecimal()


def _implausible(duration: str) -> str:
    return f"duration {_quote(duration)} is not a plausible session length (1m to 10h)"


def _parse_date(word: str, today: date) -> date | str | None:
    """A date, an error message for a malformed date, or None if the word is no date."""
    offset = _DATE_WORDS.get(word.casefold()) if len(word) <= 12 else None
    if offset is not None:
        try:
            return today + timedelta(days=offset)
        except OverflowError:
            return f"{_quote(word)} is not a valid date"
    year_first = _ISO.fullmatch(word) or _YEAR_FIRST.fullmatch(word)
    if year_first:
        year, month, day = (int(group) for group in year_first.groups())
        return _explicit_date(year, month, day, word, today)
    day_first = _DAY_FIRST.fullmatch(word)
    if day_first is None:
        return None
    day, month, year_digits = int(day_first[1]), int(day_first[3]), day_first[4]
    if year_digits is None:
        return _nearest_date(month, day, word, today)
    year = int(year_digits) if len(year_digits) == 4 else _nearest_year(int(year_digits), today)
    return _explicit_date(year, month, day, word, today)


def _nearest_year(two_digits: int, today: date) -> int:
    """The year ending in these two digits nearest to today's: in 2026, 26 is 2026, 99 is 1999."""
    century = today.year // 100 * 100
    years = (century - 100 + two_digits, century + two_digits, century + 100 + two_digits)
    return min(years, key=lambda year: (abs(year - today.year), year))


def _explicit_date(year: int, month: int, day: int, word: str, today: date) -> date | str:
    written = _date_or_none(year, month, day)
    if written is None:
        return f"{_quote(word)} is not a valid date"
    if abs((written - today).days) > _MAX_DAYS_AWAY:
        return f"{_quote(word)} is more than a year from today"
    return written


def _nearest_date(month: int, day: int, word: str, today: date) -> date | str:
    """The day and month nearest to today, last year, this year or next; a tie goes to the past.

    "28/12" written on 2 January is the December just past; "2/12" written on 1 December is
    tomorrow, which the planner refuses as in the future rather than booking it a year back.
    """
    years = (today.year - 1, today.year, today.year + 1)
    candidates = [
        found
        for year in years
        if (found := _date_or_none(year, month, day))
        and abs((found - today).days) <= _MAX_DAYS_AWAY  # 29/02 has none in most years
    ]
    if not candidates:
        return f"{_quote(word)} is not a valid date"
    return min(candidates, key=lambda found: (abs((found - today).days), found > today))


def _date_or_none(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _parse_duration(word: str) -> _Duration | str | None:
    """A duration, an error message for a malformed one, or None if the word is no duration."""
    minutes_only = _MINUTES.fullmatch(word)
    if minutes_only:
        minutes = int(minutes_only[1])
        return _Duration(minutes, whole_hours=False, minutes_under_an_hour=minutes < 60)
    hours = _HOURS.fullmatch(word)
    if hours:
        whole = int(hours[1]) * 60
        if hours[2] is None:
            return _Duration(whole, whole_hours=True, minutes_under_an_hour=False)
        if int(hours[2]) >= 60:
            return f"{_quote(word)}: the minutes after the hours must be under 60"
        return _Duration(whole + int(hours[2]), whole_hours=False, minutes_under_an_hour=False)
    decimal = _DECIMAL_HOURS.fullmatch(word)
    if decimal:
        # Integer arithmetic: 1.5h is 90 minutes, 0.75h is 45, 1.33h is no whole minute.
        sixtieths, scale = int(decimal[2]) * 60, 10 ** len(decimal[2])
        if sixtieths % scale:
            return f"{_quote(word)} is not a whole number of minutes"
        minutes = int(decimal[1]) * 60 + sixtieths // scale
        return _Duration(minutes, whole_hours=False, minutes_under_an_hour=False)
    return None


def _quote(word: str) -> str:
    """A word of the comment as a reason quotes it: short, and with no invisible characters."""
    shown = "".join(c if c.isprintable() else "?" for c in word[:_QUOTED_CHARS])
    return repr(f"{shown}…" if len(word) > _QUOTED_CHARS else shown)
