"""Property tests: whatever anyone types on the board, the parser answers and never raises."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from trello_sync.domain.commands import (
    MAX_MINUTES,
    MAX_NOTE_CHARS,
    InvalidCommand,
    SessionCommand,
    UndoCommand,
    parse_command,
)
from trello_sync.domain.rules import Status

# No example database: nothing is written into the working tree.
FUZZ = settings(max_examples=300, deadline=None, database=None)

todays = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))

digit_runs = st.integers(min_value=1, max_value=6000).map(lambda n: "9" * n)
grammar_pieces = st.sampled_from(
    [
        "/session",
        "/noshow",
        "/late",
        "/cancel",
        "/undo",
        "/defense",
        "/Soutenance",
        "noshow",
        "/SESSION",
        "/sesion",
        "/",
        "today",
        "yesterday",
        "tomorrow",
        "hier",
        "demain",
        "aujourd'hui",
        "28/11",
        "31/02",
        "29/02",
        "28.11",
        "28.11.2026",
        "28/11/26",
        "2026/11/28",
        "2026-11-28",
        "0000-00-00",
        "9999-12-31",
        "1/1/1",
        "45m",
        "90min",
        "1h",
        "1h30",
        "1h30m",
        "1.5h",
        "1,5h",
        "2h",
        "0m",
        "-5m",
        "+1h",
        "900m",
        "1h75",
        ".5h",
        "h",
        "m",
        "-",
        "…",
        "\x00",
        "\u202e",
        "٤٥m",
        "good",
        "progress",
        "/x",
    ]
)
digit_shapes = st.from_regex(r"[0-9]{1,6}[./:,hm-][0-9]{0,6}[hm]?", fullmatch=True)
tokens = st.one_of(grammar_pieces, digit_runs, digit_shapes, st.text(max_size=8))
separators = st.sampled_from([" ", "  ", "\n", "\t", "\r\n", "\u00a0", ""])


@st.composite
def token_mixtures(draw: st.DrawFn) -> str:
    pieces = draw(st.lists(tokens, max_size=8))
    text = "".join(piece + draw(separators) for piece in pieces)
    prefixes = ["", "/session ", "/undo ", " \n/late ", "/defense ", "/soutenance late "]
    return draw(st.sampled_from(prefixes)) + text


def check_outcome(text: str, today: date) -> None:
    command = parse_command(text, today)
    if not text.lstrip().startswith("/"):
        assert command is None
        return
    assert isinstance(command, SessionCommand | UndoCommand | InvalidCommand)
    if isinstance(command, InvalidCommand):
        assert 0 < len(command.reason) <= 200
    else:
        assert len(command.note) <= MAX_NOTE_CHARS
    if isinstance(command, SessionCommand):
        assert command.duration_minutes is None or 1 <= command.duration_minutes <= MAX_MINUTES
        assert abs((command.session_date - today).days) <= 366


@FUZZ
@given(st.text(), todays)
def test_any_text(text, today):
    check_outcome(text, today)


@FUZZ
@given(st.text(), todays)
def test_any_session_arguments(suffix, today):
    check_outcome("/session " + suffix, today)


@FUZZ
@given(digit_runs, st.sampled_from(["", "m", "h", "h30", "/11", ".11.2026", "min"]), todays)
def test_huge_digit_runs(digits, unit, today):
    check_outcome(f"/session {digits}{unit} note", today)
    check_outcome(f"/session 1h{digits}", today)


@FUZZ
@given(token_mixtures(), todays)
def test_mixtures_of_the_grammar(text, today):
    check_outcome(text, today)


@FUZZ
@given(st.text(min_size=1, max_size=3000), st.integers(min_value=0, max_value=16384))
def test_long_comments(chunk, length):
    text = "/session " + (chunk * (length // len(chunk) + 1))[:length]
    check_outcome(text, date(2026, 11, 28))


def render_minutes(minutes: int, form: int) -> str:
    hours, rest = divmod(minutes, 60)
    if form == 0 or hours == 0:
        return f"{minutes}m"
    if form == 1:
        return f"{hours}h{rest:02d}" if rest else f"{hours}h"
    return f"{hours}h {rest}m" if rest else f"{hours}h"


def render_date(day: date, form: int) -> str:
    return [
        day.isoformat(),
        day.strftime("%d/%m/%Y"),
        day.strftime("%d.%m.%y"),
        day.strftime("%Y/%m/%d"),
        f"{day.day}/{day.month}",
    ][form]


@FUZZ
@given(
    todays,
    st.integers(min_value=-170, max_value=170),
    st.integers(min_value=0, max_value=4),
    st.integers(min_value=1, max_value=MAX_MINUTES),
    st.integers(min_value=0, max_value=2),
    st.text(alphabet="abcdefghij ", max_size=40),
)
def test_well_formed_commands_are_understood(today, offset, date_form, minutes, form, note):
    day = today + timedelta(days=offset)
    text = f"/session {render_date(day, date_form)} {render_minutes(minutes, form)} {note}"
    expected = SessionCommand(Status.DONE, day, minutes, " ".join(note.split()))
    assert parse_command(text, today) == expected
