"""`check` as a list of pure checks: facts in, findings out; a fact whose reading fails
or a check that crashes is one problem line, and everything else is still reported."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

import trello_sync.checkup as checkup
from trello_sync.cli import main
from trello_sync.clock import FakeClock
from trello_sync.domain.checks import (
    CHECKS,
    BoardSeen,
    CheckFacts,
    ConfigFacts,
    ExportFolder,
    Finding,
    Kind,
    LedgerFacts,
    ListSeen,
    SlackFacts,
    TrelloFacts,
    Unavailable,
    boards,
    credentials,
    default_mentor,
    error_line,
    export_folder,
    ledger_state,
    note,
    pay_rules_in_force,
    problem,
    run_checks,
    slack_webhook,
)
from trello_sync.domain.pay_toml import rules_from_mapping
from trello_sync.domain.records import Entry
from trello_sync.domain.stages import StageMap
from trello_sync.settings import load_settings
from trello_sync.trello.port import BoardSnapshot, TrelloNotFound, TrelloUnavailable

STAGES = StageMap.from_config({"waiting": ["Waiting"], "active": ["Active", "En cours"]})
SHARES = {"done": 100, "noshow": 50, "late": 50, "cancel": 0}
RULES = rules_from_mapping(
    [
        {"effective": "2000-01-01", "currency": "EUR", "rates": {"1": "30.00"}, "shares": SHARES},
        {"effective": "2027-01-01", "currency": "EUR", "rates": {"1": "32.50"}, "shares": SHARES},
    ]
)
CONFIG = ConfigFacts(
    boards=("b1",),
    mentors=(),
    stages=STAGES,
    rules=RULES,
    today=date(2026, 11, 28),
    boards_setting="TRELLO_SYNC_BOARDS",
    mentors_setting="TRELLO_SYNC_MENTORS",
)
LEDGER = LedgerFacts(
    setting="TRELLO_SYNC_DATABASE_URL",
    shown="/books/ledger.db",
    readable_version=7,
    schema_version=7,
    entries=(),
)
LISTS = (ListSeen("Waiting", False), ListSeen("En cours", False), ListSeen("Notes", False))
BOARD = BoardSeen(ref="b1", name="Mentoring", lists=LISTS, cards=12, members=("Camille",))
FACTS = CheckFacts(
    config=CONFIG,
    ledger=LEDGER,
    export_folder=ExportFolder(None),
    trello=TrelloFacts(owner="camille", boards=(BOARD,)),
)
KEY, TOKEN = "k" * 32, "t" * 64


def lines(findings: list[Finding], kind: Kind) -> list[str]:
    return [f.line for f in findings if f.kind is kind]


def entry(entry_id: str, amount: int, reverses: str | None = None) -> Entry:
    return Entry(
        entry_id=entry_id,
        recorded_at=datetime(2026, 11, 2, tzinfo=UTC),
        board_id="b1",
        card_id="c1",
        student="Lea",
        project=None,
        level=1,
        status="done",
        session_date=date(2026, 11, 2),
        duration_minutes=None,
        note="",
        rate_cents=3000,
        share_percent=100,
        amount_cents=amount,
        currency="EUR",
        mentor="camille",
        source_action_id=f"a-{entry_id}",
        reverses_entry_id=reverses,
    )


# --- each check: facts in, findings out ----------------------------------------------------


def test_all_good_is_notes_only_in_the_printed_order():
    findings = run_checks(FACTS)
    assert lines(findings, Kind.PROBLEM) == []
    assert lines(findings, Kind.NOTE) == [
        "ledger: OK (/books/ledger.db)",
        "credentials: OK, the token belongs to @camille",
        "mentors: the token's owner @camille (TRELLO_SYNC_MENTORS is empty)",
        "board 'Mentoring': list 'Notes' maps to no stage: its cards are ignored",
        "board 'Mentoring': OK (12 cards)",
        "pay rules in force: L1 30.00 EUR",
    ]


def test_no_board_configured_is_a_problem_naming_the_setting():
    facts = replace(FACTS, config=replace(CONFIG, boards=()))
    assert lines(run_checks(facts), Kind.PROBLEM) == ["TRELLO_SYNC_BOARDS: no board configured"]


@pytest.mark.parametrize(
    ("ledger", "expected"),
    [
        (
            replace(LEDGER, location_problem="cannot write the ledger /x (/: Permission denied)"),
            problem(
                "TRELLO_SYNC_DATABASE_URL", "cannot write the ledger /x (/: Permission denied)"
            ),
        ),
        (
            replace(LEDGER, exists=False, schema_version=None, entries=None),
            note("ledger", "/books/ledger.db does not exist yet; the first sync creates it"),
        ),
        (
            replace(LEDGER, schema_version=9, entries=None),
            problem(
                "TRELLO_SYNC_DATABASE_URL",
                "the ledger was written by a newer trello-sync (schema 9); upgrade trello-sync",
            ),
        ),
        (
            replace(LEDGER, schema_version=5, entries=None),
            note("ledger", "schema 5; the next sync brings it up to 7"),
        ),
        (
            Unavailable("TRELLO_SYNC_DATABASE_URL", "cannot open the ledger db (refused)"),
            problem("TRELLO_SYNC_DATABASE_URL", "cannot open the ledger db (refused)"),
        ),
    ],
)
def test_the_ledger_as_it_is(ledger: LedgerFacts | Unavailable, expected: Finding):
    assert ledger_state(replace(FACTS, ledger=ledger)) == [expected]


def test_the_ledger_entries_are_checked_for_integrity():
    entries = (entry("e1", 3000), entry("e2", -3000, "e1"), entry("e3", -1500, "e1"))
    found = ledger_state(replace(FACTS, ledger=replace(LEDGER, entries=entries)))
    assert [f.line for f in found] == [
        "ledger: entry e1 is reversed twice",
        "ledger: entry e3 does not cancel e1",
    ]
    assert {f.kind for f in found} == {Kind.PROBLEM}
    fine = ledger_state(replace(FACTS, ledger=replace(LEDGER, entries=entries[:2])))
    assert fine == [note("ledger", "OK (/books/ledger.db)")]


def test_an_export_folder_that_cannot_be_written():
    line = "TRELLO_SYNC_EXPORT_DIR: cannot write to /sys/x (/sys: Permission denied)"
    assert export_folder(replace(FACTS, export_folder=ExportFolder(line))) == [problem("", line)]
    assert export_folder(FACTS) == []


def test_credentials_that_do_not_work_hide_every_trello_finding():
    rejected = Unavailable("", "Trello rejected the token (TRELLO_TOKEN): invalid token")
    facts = replace(FACTS, trello=rejected)
    assert credentials(facts) == [rejected.finding()]
    assert default_mentor(facts) == [] and boards(facts) == []
    found = run_checks(facts)
    assert lines(found, Kind.PROBLEM) == ["Trello rejected the token (TRELLO_TOKEN): invalid token"]


def test_mentors_who_are_not_members_of_a_board():
    config = replace(CONFIG, mentors=("camille", "Léa_X"))
    facts = replace(FACTS, config=config)
    assert default_mentor(facts) == []
    assert boards(facts) == [
        note("board 'Mentoring'", "list 'Notes' maps to no stage: its cards are ignored"),
        problem("board 'Mentoring'", "mentor 'Léa_X' is not a member of this board"),
    ]
    member = replace(BOARD, members=("camille", "lea_x"))  # names are compared folded
    facts = replace(facts, trello=TrelloFacts("camille", (member,)))
    assert lines(boards(facts), Kind.PROBLEM) == []


def test_a_board_with_no_open_active_list():
    closed = (ListSeen("Waiting", False), ListSeen("Active", True))
    board = replace(BOARD, lists=closed)
    found = boards(replace(FACTS, trello=TrelloFacts("camille", (board,))))
    assert [f.kind for f in found] == [Kind.PROBLEM]
    assert found[0].line.startswith("board 'Mentoring': no open list maps to the active stage")


def test_boards_in_their_order_then_the_trello_failure_that_stopped_the_reading():
    other = replace(BOARD, ref="b3", name="Other", lists=(ListSeen("Notes", False),))
    trello = TrelloFacts(
        "camille",
        (
            Unavailable("TRELLO_SYNC_BOARDS", "board 'nosuch' was not found"),
            BOARD,
            other,
        ),
        stopped=Unavailable("Trello", "Trello unavailable: GET /boards/b4 failed"),
    )
    found = run_checks(replace(FACTS, trello=trello))
    assert lines(found, Kind.PROBLEM) == [
        "TRELLO_SYNC_BOARDS: board 'nosuch' was not found",
        "board 'Other': no open list maps to the active stage: every session would be "
        "refused (name a list 'Active' or add an alias under [stages])",
        "Trello: Trello unavailable: GET /boards/b4 failed",
    ]
    assert "board 'Mentoring': OK (12 cards)" in lines(found, Kind.NOTE)
    assert not any(line.startswith("board 'Other': OK") for line in lines(found, Kind.NOTE))


@pytest.mark.parametrize(
    ("today", "rates"), [(date(2026, 12, 31), "L1 30.00 EUR"), (date(2027, 1, 1), "L1 32.50 EUR")]
)
def test_the_pay_rules_in_force_on_the_day_given(today: date, rates: str):
    facts = replace(FACTS, config=replace(CONFIG, today=today))
    assert pay_rules_in_force(facts) == [note("pay rules in force", rates)]


def test_an_unreadable_setting_fact_is_one_problem_and_the_rest_still_report():
    facts = replace(FACTS, config=Unavailable("reading the settings", "ValueError: bad zone"))
    found = run_checks(facts)
    assert lines(found, Kind.PROBLEM) == ["reading the settings: ValueError: bad zone"]
    assert lines(found, Kind.NOTE) == [
        "ledger: OK (/books/ledger.db)",
        "credentials: OK, the token belongs to @camille",
    ]


def test_a_check_that_crashes_is_one_problem_and_the_others_still_run():
    def broken(facts: CheckFacts) -> list[Finding]:
        raise KeyError("lists")

    crashes: list[tuple[str, Exception]] = []
    checks = (CHECKS[0], broken, *CHECKS[1:])
    found = run_checks(FACTS, checks, on_crash=lambda name, error: crashes.append((name, error)))
    assert lines(found, Kind.PROBLEM) == ["check broken: KeyError: 'lists'"]
    assert lines(found, Kind.NOTE) == lines(run_checks(FACTS), Kind.NOTE)
    assert [(name, type(error)) for name, error in crashes] == [("broken", KeyError)]


def test_an_error_is_one_shortened_line():
    assert error_line(OSError("disk\nfull  now")) == "OSError: disk full now"
    assert error_line(RuntimeError()) == "RuntimeError"
    long = error_line(ValueError("x" * 1000))
    assert len(long) == 300 and long.endswith("…") and "\n" not in long


# --- the command: facts gathered, one fact failing ----------------------------------------


class StubTrello:
    """What `check` reads from Trello; each board's answers set by the test."""

    def __init__(self, boards: dict[str, Any]) -> None:
        self.boards = boards
        self.asked: list[str] = []

    def me(self) -> dict[str, Any]:
        return {"id": "m1", "username": "camille"}

    def board(self, ref: str) -> dict[str, Any]:
        self.asked.append(ref)
        answer = self.boards[ref]
        if isinstance(answer, Exception):
            raise answer
        return {"id": f"id-{ref}", "name": f"Board {ref}"}

    def board_snapshot(self, board_id: str) -> BoardSnapshot:
        lists = self.boards[board_id.removeprefix("id-")]
        return BoardSnapshot(board={}, lists=lists, cards=[{"id": "c1"}])

    def board_members(self, board_id: str) -> list[dict[str, Any]]:
        return [{"username": "camille"}]

    def close(self) -> None:
        pass


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    for name in list(os.environ):
        if name.upper().startswith("TRELLO"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRELLO_API_KEY", KEY)
    monkeypatch.setenv("TRELLO_TOKEN", TOKEN)
    monkeypatch.setenv("TRELLO_SYNC_BOARDS", "b1,b2,b3")
    monkeypatch.setenv("TRELLO_SYNC_TIMEZONE", "Europe/Paris")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield tmp_path
    root.handlers[:], root.level = handlers, level  # main() sets up logging for itself


ACTIVE = [{"name": "Active", "closed": False}]


def run_check(monkeypatch: pytest.MonkeyPatch, trello: StubTrello) -> int:
    monkeypatch.setattr(checkup, "make_trello", lambda settings, clock: trello)
    clock = FakeClock(datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
    return checkup.check(load_settings(), clock)


def test_a_fact_whose_reading_raises_is_one_problem_and_the_other_facts_report(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    def export_dir_problem(folder: Path) -> str | None:
        raise PermissionError(f"no access (key {KEY}, token {TOKEN})")

    monkeypatch.setattr(checkup, "export_dir_problem", export_dir_problem)
    trello = StubTrello({"b1": ACTIVE, "b2": ACTIVE, "b3": ACTIVE})
    assert run_check(monkeypatch, trello) == 2
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        "problem: reading the export folder: PermissionError: no access (key [redacted], "
        "token [redacted])"
    ]
    assert KEY not in out + err and TOKEN not in out + err
    assert out.splitlines() == [
        f"ledger: {env / 'trello-sync.db'} does not exist yet; the first sync creates it",
        "credentials: OK, the token belongs to @camille",
        "mentors: the token's owner @camille (TRELLO_SYNC_MENTORS is empty)",
        "board 'Board b1': OK (1 cards)",
        "board 'Board b2': OK (1 cards)",
        "board 'Board b3': OK (1 cards)",
        "pay rules in force: L1 30.00, L2 35.00, L3 40.00 EUR",
        "slack: TRELLO_SYNC_SLACK_WEBHOOK_URL is not set: nothing is posted to Slack",
    ]


def test_a_board_whose_answer_breaks_the_reading_leaves_the_other_boards_read(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    trello = StubTrello({"b1": ACTIVE, "b2": [{"closed": False, "name": None}, 42], "b3": ACTIVE})
    assert run_check(monkeypatch, trello) == 2
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        "problem: reading board 'b2': AttributeError: 'int' object has no attribute 'get'"
    ]
    assert "board 'Board b1': OK (1 cards)" in out and "board 'Board b3': OK (1 cards)" in out
    assert trello.asked == ["b1", "b2", "b3"]


def test_trello_failing_part_way_stops_the_boards_after_it_as_before(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    trello = StubTrello(
        {"b1": TrelloNotFound("gone"), "b2": TrelloUnavailable("Trello unavailable"), "b3": ACTIVE}
    )
    assert run_check(monkeypatch, trello) == 2
    _, err = capsys.readouterr()
    assert err.splitlines() == [
        "problem: TRELLO_SYNC_BOARDS: board 'b1' was not found, or this token cannot see it",
        "problem: Trello: Trello unavailable",
    ]
    assert trello.asked == ["b1", "b2"]  # each board after it would wait out the retries


def test_the_traceback_of_a_failed_reading_only_under_debug(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    def export_dir_problem(folder: Path) -> str | None:
        raise RuntimeError(f"token {TOKEN}")

    monkeypatch.setattr(checkup, "export_dir_problem", export_dir_problem)
    stub = StubTrello({"b1": ACTIVE, "b2": ACTIVE, "b3": ACTIVE})
    monkeypatch.setattr(checkup, "make_trello", lambda settings, clock: stub)
    assert main(["check"]) == 2
    quiet = capsys.readouterr().err
    assert "Traceback" not in quiet
    assert "problem: reading the export folder: RuntimeError: token [redacted]" in quiet
    assert main(["--debug", "check"]) == 2
    loud = capsys.readouterr().err
    assert "Traceback" in loud and "in export_dir_problem" in loud
    assert TOKEN not in quiet + loud


# --- the Slack webhook ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slack", "expected"),
    [
        (None, []),  # not asked
        (
            SlackFacts("TRELLO_SYNC_SLACK_WEBHOOK_URL", None),
            [note("slack", "TRELLO_SYNC_SLACK_WEBHOOK_URL is not set: nothing is posted to Slack")],
        ),
        (
            SlackFacts("TRELLO_SYNC_SLACK_WEBHOOK_URL", "https://hooks.slack.com/…"),
            [
                note(
                    "slack",
                    "TRELLO_SYNC_SLACK_WEBHOOK_URL is set and well formed "
                    "(https://hooks.slack.com/…); check posts nothing",
                )
            ],
        ),
        (
            SlackFacts("TRELLO_SYNC_SLACK_WEBHOOK_URL", None, "has no host"),
            [problem("TRELLO_SYNC_SLACK_WEBHOOK_URL", "the webhook URL has no host")],
        ),
    ],
)
def test_the_slack_webhook_is_judged_without_posting(slack, expected):
    assert slack_webhook(replace(FACTS, slack=slack)) == expected


def test_check_names_the_webhooks_host_only(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    hook = "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/cccccccccccccccccccccccc"
    monkeypatch.setenv("TRELLO_SYNC_SLACK_WEBHOOK_URL", hook)
    assert run_check(monkeypatch, StubTrello({"b1": ACTIVE, "b2": ACTIVE, "b3": ACTIVE})) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == (
        "slack: TRELLO_SYNC_SLACK_WEBHOOK_URL is set and well formed "
        "(https://hooks.slack.com/…); check posts nothing"
    )
    assert "cccccccc" not in out + err and "/services/" not in out + err
