"""The platform's 2020 rules end to end: the real HTTP client against the sandbox over
real HTTP, into a real SQLite ledger, with the shipped example
config/examples/platform-2020.toml.

A board in June 2020 whose history crosses 1 June: fundings said by a label, a
custom field and a description line, defenses, a funding change mid-month and an undo
that takes the month's fee away. Its books must come out entry by entry as the matrix
says, with the replies and exports that say so. Then `check` and `sync` with rules that
cannot price every session: one line per problem, and nothing written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from journal_tools import check_exported_journals
from platform_rules import PLATFORM_2020, platform_2020_raw
from sandbox_board import MENTOR, BoardEnv, _board

from trello_sync import commands
from trello_sync.app import open_app
from trello_sync.clock import FakeClock
from trello_sync.domain.money import format_cents
from trello_sync.ledger.open import open_ledger
from trello_sync.settings import load_settings

START = datetime(2020, 6, 12, 14, 0, tzinfo=UTC)


def at(day: str, hour: int = 16) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00+00:00")


@pytest.fixture
def june_2020(tmp_path: Path) -> Iterator[tuple[BoardEnv, FakeClock]]:
    clock = FakeClock(START)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    for board in _board(
        tmp_path, url, seed=2020, base=START, clock=clock.now, monotonic=clock.monotonic
    ):
        yield board, clock


def sync(board: BoardEnv, clock: FakeClock) -> None:
    settings = load_settings(
        api_url=board.server.url,
        api_key=board.state.api_key,
        token=board.mentor_token,
        boards=[board.board_id],
        database_url=board.ledger_url,
        export_dir=board.folder / "exports",
        timezone="Europe/Paris",
        mentors=[MENTOR],
        reply_history_days=60,
        pay_rules=platform_2020_raw(),
    )
    with open_app(settings, clock) as app:
        outcomes = app.require_syncer().sync_all()
        assert not [o.problem for o in outcomes if o.problem]
        clock.advance(60)
        assert commands.export(app, board.folder / "exports") == 0


def student(board: BoardEnv, name: str, project: str, desc: str = "") -> str:
    card = board.state.create_card(
        MENTOR,
        board.lists["Waiting"],
        name,
        desc=f"Project: {project}\n{desc}".strip(),
        at=at("2020-05-04"),
    )
    board.cards[name] = str(card["id"])
    board.state.move_card(MENTOR, card["id"], board.lists["Active"], at=at("2020-05-05"))
    return str(card["id"])


def comment(board: BoardEnv, name: str, text: str, day: str) -> None:
    board.state.comment(MENTOR, board.cards[name], text, at=at(day))


def books(board: BoardEnv) -> list[tuple[str, str, str, str, str, str]]:
    with open_ledger(board.ledger_url) as ledger:
        return [
            (
                e.student,
                str(e.kind),
                str(e.status),
                str(e.funding),
                e.session_date.isoformat(),
                f"{e.amount_cents / 100:.2f}",
            )
            for e in ledger.entries()
        ]


def test_a_history_across_1_june_2020_priced_by_the_shipped_example(
    june_2020: tuple[BoardEnv, FakeClock],
) -> None:
    board, clock = june_2020
    state, board_id = board.state, board.board_id
    self_funded = state.create_label(MENTOR, board_id, "Funding: self", "green")
    funded = state.create_label(MENTOR, board_id, "Funding: funded", "blue")
    level_5 = state.create_label(MENTOR, board_id, "Level 5", "red")
    field = state.create_custom_field(
        MENTOR, board_id, "Financement", "list", options=["Financé", "Autofinancé"]
    )
    lea = student(board, "Lea", "Build a Python web app")
    state.add_label(MENTOR, lea, self_funded["id"])
    max_ = student(board, "Max", "Enhance an existing project")
    state.set_custom_field(MENTOR, max_, field["id"], "Financé", at=at("2020-05-05"))
    student(board, "Zoe", "Learn how to learn")
    noe = student(board, "Noe", "Build a Python web app", desc="Funding: autofinancé")
    state.add_label(MENTOR, noe, level_5["id"])
    for name, text, day in (
        ("Lea", "/session", "2020-05-26"),
        ("Lea", "/noshow", "2020-05-28"),
        ("Max", "/late", "2020-05-29"),
        ("Max", "/soutenance", "2020-05-30"),
        ("Lea", "/session 2020-05-31", "2020-06-01"),
        ("Lea", "/session 1h", "2020-06-02"),
        ("Max", "/session", "2020-06-03"),
        ("Max", "/late", "2020-06-04"),
        ("Zoe", "/session", "2020-06-04"),
        ("Zoe", "/noshow", "2020-06-05"),
        ("Noe", "/session", "2020-06-08"),
        ("Lea", "/defense noshow", "2020-06-09"),
        ("Lea", "/noshow", "2020-06-10"),
    ):
        comment(board, name, text, day)
    sync(board, clock)
    first = books(board)
    assert first == [
        ("Lea", "session", "done", "self", "2020-05-26", "35.00"),
        ("Lea", "session", "noshow", "self", "2020-05-28", "17.50"),
        ("Max", "session", "late", "funded", "2020-05-29", "20.00"),
        ("Max", "defense", "done", "funded", "2020-05-30", "40.00"),
        ("Lea", "session", "done", "self", "2020-05-31", "35.00"),
        ("Lea", "session", "done", "self", "2020-06-02", "17.50"),
        ("Lea", "fee", "done", "self", "2020-06-02", "30.00"),
        ("Max", "session", "done", "funded", "2020-06-03", "40.00"),
        ("Max", "session", "late", "funded", "2020-06-04", "0.00"),
        ("Zoe", "session", "done", "unset", "2020-06-04", "30.00"),
        ("Zoe", "session", "noshow", "unset", "2020-06-05", "15.00"),
        ("Noe", "session", "done", "self", "2020-06-08", "25.00"),
        ("Noe", "fee", "done", "self", "2020-06-08", "30.00"),
        ("Lea", "defense", "noshow", "self", "2020-06-09", "17.50"),
        ("Lea", "session", "noshow", "self", "2020-06-10", "8.75"),
    ]
    (fee_reply,) = board.comments_with("Monthly fee for 2020-06 recorded")[:1]
    assert fee_reply["data"]["card"]["id"] == lea
    assert "· self-funded · 17.50 EUR (50% of 35.00 EUR)" in fee_reply["data"]["text"]

    # Mid-month, Lea becomes funded and Max self-funded; Noe's only session is undone.
    clock.set(datetime(2020, 6, 20, 14, 0, tzinfo=UTC))
    state.remove_label(MENTOR, lea, self_funded["id"])
    state.add_label(MENTOR, lea, funded["id"])
    state.set_custom_field(MENTOR, max_, field["id"], "Autofinancé", at=at("2020-06-15"))
    comment(board, "Lea", "/session", "2020-06-16")
    comment(board, "Noe", "/undo", "2020-06-17")
    comment(board, "Max", "/session", "2020-06-18")
    sync(board, clock)
    assert books(board) == [
        *first,
        ("Lea", "session", "done", "funded", "2020-06-16", "35.00"),
        ("Noe", "session", "done", "self", "2020-06-08", "-25.00"),
        ("Noe", "fee", "done", "self", "2020-06-08", "-30.00"),
        ("Max", "session", "done", "self", "2020-06-18", "20.00"),
        ("Max", "fee", "done", "self", "2020-06-18", "30.00"),
    ]
    (undone,) = board.comments_with("Undone: the session of 2020-06-08")
    assert (
        "The monthly fee for 2020-06 (30.00 EUR) is reversed (-30.00 EUR)"
        in (undone["data"]["text"])
    )
    with open_ledger(board.ledger_url) as ledger:
        assert {r.status for r in ledger.replies()} == {"posted"}

    exports = board.folder / "exports"
    ledger_rows = list(csv.DictReader(io.StringIO((exports / "ledger.csv").read_text())))
    assert list(ledger_rows[0])[-3:] == ["reverses_entry_id", "funding", "kind"]
    assert sum(row["kind"] == "fee" for row in ledger_rows) == 4
    statement = list(csv.reader(io.StringIO((exports / "statement-2020-06.csv").read_text())))
    by_row = {(row[2], row[3]): row for row in statement[1:]}
    # Lea's fee and Max's stand; Noe's was recorded, then reversed.
    assert by_row[("fee", "")][6] == "2" and by_row[("fee", "")][10] == "60.00"
    assert by_row[("defense", "")][7] == "1" and by_row[("defense", "")][10] == "17.50"
    june = sum(int(row[5].replace(".", "")) for row in books(board) if row[4] >= "2020-06")
    assert by_row[("total", "")][10] == format_cents(june) == "243.75"
    # The journals: the tools accept them, each month's income is the statement's.
    journal = check_exported_journals(exports, "Assets:Receivable:Client")
    fees = [e for e in journal if getattr(e, "meta", {}).get("kind") == "fee"]
    assert len(fees) == 4 and {e.meta["funding"] for e in fees} == {"self"}


def test_check_names_each_problem_of_the_pay_rules_and_sync_refuses_them(board: BoardEnv):
    (board.folder / "trello-sync.toml").write_text(
        'mentors = ["camille"]\n'
        "[[pay_rules]]\n"
        'effective = "2000-01-01"\n'
        'rates = { 1 = "30.00", 2 = "35.00", 3 = "40.00" }\n'
        "shares = { done = 100, noshow = 50, late = 50, cancel = 0 }\n"
        "[[pay_rules]]\n"
        'effective = "2020-06-01"\n'
        'rates = { 1 = "30.00", 2 = "35.00", 3 = "40.00" }\n'
        "[pay_rules.shares.funded]\n"
        "session = { done = 100, noshow = 50, late = 0, cancel = 0 }\n"
        "defense = { done = 100, noshow = 150, late = 0, cancel = 0 }\n"
    )
    checked = board.cli("check")
    assert checked.returncode == 2, checked.stderr
    problems = [line for line in checked.stderr.splitlines() if "pay_rules" in line]
    assert problems == [
        "problem: pay_rules: pay rules from 2020-06-01: the share for funded defense noshow "
        "is 150 %, outside 0–100 %",
        "problem: pay_rules: pay rules from 2020-06-01: no share for sessions of self-funded "
        "students (self) (missing: done, noshow, late, cancel)",
        "problem: pay_rules: pay rules from 2020-06-01: no share for defenses of self-funded "
        "students (self) (missing: done, noshow, late, cancel)",
        "problem: pay_rules: pay rules from 2020-06-01: no share for sessions of students "
        "with no funding (unset) (missing: done, noshow, late, cancel)",
        "problem: pay_rules: pay rules from 2020-06-01: no share for defenses of students "
        "with no funding (unset) (missing: done, noshow, late, cancel)",
    ]
    assert "credentials: OK" in checked.stdout  # the other checks still ran
    for command in ("sync", "run"):
        refused = board.cli(command, "--once") if command == "run" else board.cli(command)
        assert refused.returncode == 2, refused.stderr
        (line,) = refused.stderr.strip().splitlines()
        assert line.startswith("trello-sync: error: configuration: pay rules from 2020-06-01: ")
        assert line.endswith("(and 4 more problem(s): `trello-sync check` lists each)")
    assert not board.ledger_created()


def test_check_shows_the_example_rules_in_force(board: BoardEnv):
    checked = board.cli("check", env={"TRELLO_SYNC_CONFIG": str(PLATFORM_2020)})
    assert checked.returncode == 0, checked.stderr
    assert (
        "pay rules in force: L1 30.00, L2 35.00, L3 40.00, L4 45.00, L5 50.00, L6 55.00 EUR; "
        "monthly fee 30.00 per self-funded student with 1+ done session(s)"
    ) in checked.stdout
