"""What people type in a comment command: understood, or refused with a short reason."""

from __future__ import annotations

from datetime import date

import pytest

from trello_sync.domain.commands import (
    MAX_NOTE_CHARS,
    InvalidCommand,
    SessionCommand,
    UndoCommand,
    parse_command,
)
from trello_sync.domain.rules import Status

TODAY = date(2026, 11, 28)


def session(text: str, today: date = TODAY) -> SessionCommand:
    command = parse_command(text, today)
    assert isinstance(command, SessionCommand), command
    return command


def refusal(text: str, today: date = TODAY) -> str:
    command = parse_command(text, today)
    assert isinstance(command, InvalidCommand), command
    return command.reason


def test_a_5000_digit_duration_is_refused_with_a_short_reason():
    reason = refusal("/session " + "9" * 5000 + "m")
    assert len(reason) < 100 and "…" in reason


@pytest.mark.parametrize("word", ["9" * 5000, "1h" + "3" * 5000, "28/11/" + "2" * 5000, "0" * 40])
def test_long_digit_runs_anywhere_in_a_date_or_duration_are_refused(word):
    assert len(refusal(f"/session {word} note")) < 100


def test_non_ascii_digits_are_refused_not_read_as_numbers():
    assert "understand" in refusal("/session ٤٥m")
    assert "understand" in refusal("/session ２８/１１")


def test_a_day_month_in_the_coming_days_is_this_year_and_so_in_the_future():
    # The planner refuses it as in the future, instead of booking it a year back.
    assert session("/session 2/12 1h", date(2026, 12, 1)).session_date == date(2026, 12, 2)


def test_a_day_month_of_late_december_written_in_january_is_the_december_just_past():
    assert session("/session 28/12", date(2027, 1, 2)).session_date == date(2026, 12, 28)


def test_a_day_month_half_a_year_away_is_the_nearest_one_a_tie_going_to_the_past():
    assert session("/session 28/5", TODAY).session_date == date(2027, 5, 28)  # 181 days on
    assert session("/session 1/6", TODAY).session_date == date(2026, 6, 1)  # 180 days back
    # 183 days either way (2028 is a leap year): the past wins.
    assert session("/session 1/3", date(2027, 8, 31)).session_date == date(2027, 3, 1)
    assert session("/session 1/6", date(2027, 12, 1)).session_date == date(2027, 6, 1)


@pytest.mark.parametrize(
    ("word", "minutes"),
    [
        ("45m", 45),
        ("90min", 90),
        ("45mn", 45),
        ("1h", 60),
        ("1h30", 90),
        ("1h30m", 90),
        ("1H30MIN", 90),
        ("1h05", 65),
        ("1.5h", 90),
        ("1,5h", 90),
        ("0.75h", 45),
        ("2h 45m", 165),
        ("10h", 600),
    ],
)
def test_durations_understood(word, minutes):
    assert session(f"/session {word} good progress").duration_minutes == minutes
    assert session(f"/session {word} good progress").note == "good progress"


@pytest.mark.parametrize(
    ("word", "day"),
    [
        ("2026-11-28", TODAY),
        ("2026-11-2", date(2026, 11, 2)),
        ("2026/11/20", date(2026, 11, 20)),
        ("28/11", TODAY),
        ("27.11", date(2026, 11, 27)),
        ("27.11.2026", date(2026, 11, 27)),
        ("27/11/2026", date(2026, 11, 27)),
        ("27/11/26", date(2026, 11, 27)),
        ("today", TODAY),
        ("aujourd'hui", TODAY),
        ("aujourd’hui", TODAY),
        ("Yesterday", date(2026, 11, 27)),
        ("hier", date(2026, 11, 27)),
        ("tomorrow", date(2026, 11, 29)),
        ("demain", date(2026, 11, 29)),
        ("yesterday,", date(2026, 11, 27)),
        ("27.11.", date(2026, 11, 27)),
    ],
)
def test_dates_understood(word, day):
    assert session(f"/session {word} 45m").session_date == day


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("/session -5m", "plausible"),
        ("/session +1h", "plausible"),
        ("/session 0m", "plausible"),
        ("/session 0h 0m", "plausible"),
        ("/session 900m", "plausible"),
        ("/session 11h", "plausible"),
        ("/session 1h75", "under 60"),
        ("/session 1.33h", "whole number of minutes"),
        ("/session .5h", "understand"),
        ("/session 45 min", "understand"),
        ("/session 28-11", "understand"),
        ("/session 28/11/202", "understand"),
        ("/session 31/02", "not a valid date"),
        ("/session 2026-02-30", "not a valid date"),
        ("/session 28/11/2019", "more than a year"),
        ("/session today yesterday", "second date"),
        ("/session 28/11 45m 27/11", "second date"),
        ("/session 45m 1h", "second duration"),
        ("/session 2h today 45m", "second duration"),
        ("/session 2h 45m 10m", "second duration"),
        ("/session 1h30 15m", "second duration"),
        ("/session 45m 3 exercises", "understand"),
    ],
)
def test_words_that_look_like_a_date_or_duration_but_are_none_are_refused(text, said):
    reason = refusal(text)
    assert said in reason and len(reason) < 100


def test_digits_in_the_note_are_fine():
    command = session("/session 45m read chapter 3, then 2h of exercises")
    assert command.duration_minutes == 45
    assert command.note == "read chapter 3, then 2h of exercises"


def test_once_the_date_and_the_duration_are_given_the_note_may_start_with_a_number():
    command = session("/session yesterday 45m 3 exercises, 1h of reading")
    assert (command.duration_minutes, command.note) == (45, "3 exercises, 1h of reading")
    two_parts = session("/session today 2h 45m 3 exercises")
    assert (two_parts.duration_minutes, two_parts.note) == (165, "3 exercises")
    # A real second date or duration there is still refused: one of each.
    assert isinstance(parse_command("/session today 45m 1h", TODAY), InvalidCommand)
    # With only one of the two given, a number there is ambiguous: refused, not guessed.
    assert isinstance(parse_command("/session 45m 3 exercises", TODAY), InvalidCommand)


@pytest.mark.parametrize(
    "text",
    [
        "/session 45m\n/noshow",
        "/session 45m good\n  /Late 27/11",
        "/undo\n/session",
        "/noshow\n\n/cancel yesterday",
    ],
)
def test_a_second_command_on_a_later_line_is_refused(text):
    assert "one command per comment" in refusal(text)


def test_a_later_line_starting_with_a_slash_but_no_command_is_note():
    assert session("/session 45m\n/sessions went well").note == "/sessions went well"


def test_a_note_longer_than_2000_characters_is_refused():
    assert session("/session 45m " + "a" * MAX_NOTE_CHARS).note == "a" * MAX_NOTE_CHARS
    reason = refusal("/session 45m " + "a" * (MAX_NOTE_CHARS + 1))
    assert reason == "the note is longer than 2,000 characters"
    assert refusal("/session\n" + "word " * 1000) == reason
    assert isinstance(parse_command("/undo " + "a" * 5000, TODAY), InvalidCommand)


def test_a_16383_character_unknown_command_gives_a_short_reason():
    reason = refusal("/" + "x" * 16383)
    assert reason.startswith("unknown command '/xxx") and len(reason) < 100


def test_quoted_words_show_no_invisible_characters():
    assert refusal("/sess\x00ion") == "unknown command '/sess?ion'"
    assert "\u202e" not in refusal("/session 1h\u202e99")


def test_what_worked_before_still_works():
    assert parse_command("/late 28/11/2026 1h was ill", TODAY) == SessionCommand(
        Status.LATE, TODAY, 60, "was ill"
    )
    assert parse_command("/undo oops", TODAY) == UndoCommand("oops")
    assert parse_command("  /SESSION 45m yesterday", TODAY) == SessionCommand(
        Status.DONE, date(2026, 11, 27), 45, ""
    )
    assert parse_command("thanks for today!", TODAY) is None
