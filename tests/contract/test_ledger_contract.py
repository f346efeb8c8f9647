"""The ledger store contract: every backend must pass every test here."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import DBAPIError

from trello_sync.clock import FakeClock
from trello_sync.domain.ids import ReplyKind
from trello_sync.domain.records import (
    AppliedAction,
    CardRecord,
    CardState,
    Checkpoint,
    Entry,
    Plan,
    PostedReply,
    Reply,
    StageMove,
)
from trello_sync.domain.stages import Stage
from trello_sync.ledger import schema
from trello_sync.ledger.open import open_ledger
from trello_sync.ledger.sql import SqlLedger
from trello_sync.ledger.store import LedgerConflict, LedgerError

BOARD = "board1"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def entry(entry_id: str, **changes: object) -> Entry:
    base = Entry(
        entry_id=entry_id,
        recorded_at=at(60),
        board_id=BOARD,
        card_id="cardA",
        student="Alice Martin",
        project="Launch your own restaurant review site",
        level=3,
        status="done",
        session_date=date(2026, 11, 2),
        duration_minutes=45,
        note="chapter 2",
        rate_cents=4000,
        share_percent=100,
        amount_cents=4000,
        currency="EUR",
        mentor="mentor1",
        source_action_id=f"act-{entry_id}",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def reversal(entry_id: str, of: Entry, **changes: object) -> Entry:
    return replace(
        of,
        entry_id=entry_id,
        amount_cents=-of.amount_cents,
        reverses_entry_id=of.entry_id,
        source_action_id=f"act-{entry_id}",
        **changes,  # type: ignore[arg-type]
    )


def sample_plan() -> Plan:
    card = CardRecord(BOARD, "cardA", "Alice Martin", "Enhance an existing project", 3, "act-c")
    moves = (
        StageMove(BOARD, "cardA", "act-m2", at(30), Stage.ACTIVE, "l2", "Active"),
        StageMove(BOARD, "cardA", "act-m1", at(0), Stage.WAITING, "l1", "En attente"),
    )
    applied = (
        AppliedAction(BOARD, "act-m1", "", "cardA", "card_in_list", at(0)),
        AppliedAction(BOARD, "act-e1", "", "cardA", "comment", at(60), "/session 45m"),
    )
    reply = Reply(
        "r-e1", BOARD, "cardA", "act-e1", ReplyKind.RECORDED, "Session recorded: 40.00 EUR"
    )
    return Plan(
        entries=(entry("e1", amount_cents=1750, share_percent=50, status="late"),),
        moves=moves,
        cards=(card,),
        replies=(reply,),
        applied=applied,
        checkpoint=Checkpoint("act-e1", at(60)),
    )


def row_counts(ledger: SqlLedger) -> dict[str, int]:
    with ledger.engine.connect() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in schema.metadata.sorted_tables
        }


# --- schema and migrations ------------------------------------------------------------------


def test_migrate_twice_is_harmless(ledger: SqlLedger) -> None:
    ledger.commit(BOARD, sample_plan())
    before = row_counts(ledger)
    ledger.migrate()
    ledger.migrate()
    assert ledger.schema_version() == schema.LATEST_VERSION
    assert row_counts(ledger) == before
    assert before["schema_version"] == len(schema.STEPS)


def test_a_newer_schema_is_refused(ledger: SqlLedger, ledger_url: str) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(
            schema.schema_version.insert().values(version=schema.LATEST_VERSION + 1, applied_at=T0)
        )
    with pytest.raises(LedgerError, match=r"newer trello-sync \(schema \d+\); upgrade"):
        ledger.migrate()
    with pytest.raises(LedgerError, match="newer trello-sync"):
        open_ledger(ledger_url)


def test_the_tables_match_what_the_queries_expect(ledger: SqlLedger) -> None:
    """The frozen DDL and the Table objects cannot drift apart."""
    inspector = inspect(ledger.engine)
    for table in schema.metadata.sorted_tables:
        columns = {column["name"] for column in inspector.get_columns(table.name)}
        assert columns == set(table.columns.keys()), table.name


# --- commit and board_view --------------------------------------------------------------------


def test_commit_writes_everything_and_board_view_reads_it_back(
    ledger: SqlLedger, clock: FakeClock
) -> None:
    plan = sample_plan()
    ledger.commit(BOARD, plan)

    view = ledger.board_view(BOARD)
    assert view.board_id == BOARD
    assert view.checkpoint == Checkpoint("act-e1", at(60))
    moves_in_order = (plan.moves[1], plan.moves[0])
    assert dict(view.cards) == {"cardA": CardState(plan.cards[0], moves_in_order, plan.entries)}
    assert view.cards["cardA"].stage is Stage.ACTIVE
    assert dict(view.comments) == {"act-e1": plan.applied[1]}

    (reply,) = ledger.replies()
    assert (reply.reply_id, reply.status, reply.attempts) == ("r-e1", "pending", 0)
    assert reply.created_at == clock.now()
    assert ledger.applied_versions(BOARD, ["act-m1", "act-e1", "act-x"]) == {
        ("act-m1", ""),
        ("act-e1", ""),
    }
    assert list(ledger.entries()) == list(plan.entries)
    assert ledger.moves(BOARD) == list(moves_in_order)
    assert ledger.cards() == list(plan.cards)
    assert ledger.board_view("other").cards == {}


def test_card_states_are_the_board_views_cards_of_those_ids(ledger: SqlLedger) -> None:
    ledger.commit(BOARD, sample_plan())
    view = ledger.board_view(BOARD)
    assert ledger.card_states(BOARD, ["cardA", "cardA", "unknown"]) == {
        "cardA": view.cards["cardA"]
    }
    assert ledger.card_states("other", ["cardA"]) == {}
    assert ledger.card_states(BOARD, []) == {}


def test_an_outline_holds_each_card_as_its_outline_and_the_recent_comments(
    ledger: SqlLedger,
) -> None:
    # Card A: two sessions, the second edited (a reversal and a correction), an undo.
    base = sample_plan()
    first, second = entry("s1", recorded_at=at(100)), entry("s2", recorded_at=at(200))
    corrected = replace(second, entry_id="s2@v", recorded_at=at(300), source_action_id="s2")
    undo = replace(
        first,
        entry_id="s1~rev",
        recorded_at=at(400),
        amount_cents=-first.amount_cents,
        source_action_id="u1",
        reverses_entry_id="s1",
    )
    old = replace(base.applied[1], action_id="old", at=at(-5000))
    ledger.commit(BOARD, replace(base, applied=(*base.applied, old)))
    ledger.commit(BOARD, Plan(entries=(first, second)))
    ledger.commit(BOARD, Plan(entries=(corrected, undo)))
    view = ledger.board_view(BOARD)
    assert len(view.cards["cardA"].entries) > 2

    outline = ledger.board_outline(BOARD, comments_since=at(-100))
    assert outline.checkpoint == view.checkpoint
    assert not outline.cards
    assert dict(outline.outlines) == {k: card.outline() for k, card in view.cards.items()}
    # The newest entry is the undo's reversal; the latest session, the correction.
    assert outline.outlines["cardA"].newest_entry == undo
    assert outline.outlines["cardA"].latest_session == corrected
    assert dict(outline.comments) == {k: c for k, c in view.comments.items() if k != "old"}
    assert dict(ledger.board_outline(BOARD, comments_since=None).comments) == dict(view.comments)


def test_committing_the_same_plan_twice_adds_nothing(ledger: SqlLedger, clock: FakeClock) -> None:
    plan, first_commit = sample_plan(), clock.now()
    ledger.commit(BOARD, plan)
    ledger.mark_posted("r-e1", "comment-1", clock.now())
    before, view = row_counts(ledger), ledger.board_view(BOARD)
    clock.advance(3600)
    ledger.commit(BOARD, plan)
    assert row_counts(ledger) == before
    assert ledger.board_view(BOARD) == view
    (reply,) = ledger.replies()
    assert (reply.status, reply.comment_id, reply.created_at) == (
        "posted",
        "comment-1",
        first_commit,
    )


def test_first_seen_card_wins(ledger: SqlLedger) -> None:
    ledger.commit(BOARD, sample_plan())
    renamed = CardRecord(BOARD, "cardA", "Someone Else", None, 2, "act-z")
    ledger.commit(BOARD, Plan(cards=(renamed,)))
    assert ledger.cards(BOARD)[0].name == "Alice Martin"


def test_same_entry_id_with_other_content_writes_nothing(ledger: SqlLedger) -> None:
    ledger.commit(BOARD, sample_plan())
    before, view = row_counts(ledger), ledger.board_view(BOARD)
    conflicting = Plan(
        entries=(entry("e2"), entry("e1", amount_cents=4000)),
        moves=(StageMove(BOARD, "cardA", "act-m3", at(90), Stage.PAUSED, "l3", "Paused"),),
        replies=(Reply("r-e2", BOARD, "cardA", "act-e2", ReplyKind.RECORDED, "..."),),
        applied=(AppliedAction(BOARD, "act-e2", "", "cardA", "comment", at(90), "/session"),),
        posted=(PostedReply("r-e1", "comment-9"),),
        checkpoint=Checkpoint("act-e2", at(90)),
    )
    with pytest.raises(LedgerConflict, match=r"entry e1 .*amount_cents"):
        ledger.commit(BOARD, conflicting)
    assert row_counts(ledger) == before
    assert ledger.board_view(BOARD) == view
    assert ledger.replies()[0].status == "pending"


def test_a_failure_mid_commit_writes_nothing(ledger: SqlLedger) -> None:
    def crash() -> None:
        raise RuntimeError("crash point mid_commit")

    ledger._on_mid_commit = crash
    with pytest.raises(RuntimeError):
        ledger.commit(BOARD, sample_plan())
    assert sum(row_counts(ledger).values()) == len(schema.STEPS)
    assert ledger.boards() == []


def test_a_plan_holding_another_boards_records_is_refused(ledger: SqlLedger) -> None:
    with pytest.raises(LedgerError, match="other-board"):
        ledger.commit(BOARD, Plan(entries=(entry("e1", board_id="other-board"),)))


# --- append-only --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE entries SET amount_cents = 0",
        "DELETE FROM entries",
        "UPDATE stage_moves SET stage = 'paused'",
        "DELETE FROM stage_moves",
        "DELETE FROM applied_actions",
    ],
)
def test_the_database_refuses_to_rewrite_history(ledger: SqlLedger, statement: str) -> None:
    ledger.commit(BOARD, sample_plan())
    before = row_counts(ledger)
    with pytest.raises(DBAPIError, match="append-only"), ledger.engine.begin() as conn:
        conn.exec_driver_sql(statement)
    assert row_counts(ledger) == before
    assert [e.amount_cents for e in ledger.entries()] == [1750]


# --- checkpoint ---------------------------------------------------------------------------------


def test_the_checkpoint_never_moves_back(ledger: SqlLedger) -> None:
    ledger.commit(BOARD, Plan(checkpoint=Checkpoint("act-5", at(10))))
    for older in (Checkpoint("act-9", at(9)), Checkpoint("act-4", at(10))):
        ledger.commit(BOARD, Plan(checkpoint=older))
        assert ledger.board_view(BOARD).checkpoint == Checkpoint("act-5", at(10))
    ledger.commit(BOARD, Plan())
    assert ledger.board_view(BOARD).checkpoint == Checkpoint("act-5", at(10))
    ledger.commit(BOARD, Plan(checkpoint=Checkpoint("act-6", at(10))))
    assert ledger.board_view(BOARD).checkpoint == Checkpoint("act-6", at(10))
    ledger.commit(BOARD, Plan(checkpoint=Checkpoint("act-1", at(11))))
    assert ledger.board_view(BOARD).checkpoint == Checkpoint("act-1", at(11))


# --- reversals ----------------------------------------------------------------------------------


def test_an_entry_is_reversed_at_most_once(ledger: SqlLedger) -> None:
    original = entry("e1")
    first = reversal("e1-undo", original, recorded_at=at(61))
    ledger.commit(BOARD, Plan(entries=(first, original)))  # same plan, either order
    assert sum(e.amount_cents for e in ledger.entries()) == 0

    before = row_counts(ledger)
    with pytest.raises(LedgerConflict, match="already reversed by e1-undo"):
        ledger.commit(BOARD, Plan(entries=(reversal("e1-again", original),)))
    other = entry("e2")
    with pytest.raises(LedgerConflict, match="e2"):
        ledger.commit(
            BOARD, Plan(entries=(other, reversal("e2-a", other), reversal("e2-b", other)))
        )
    with pytest.raises(LedgerConflict):  # the reversed entry must exist
        ledger.commit(BOARD, Plan(entries=(reversal("ghost-undo", entry("ghost")),)))
    assert row_counts(ledger) == before


# --- the outbox ---------------------------------------------------------------------------------


def test_outbox_status_transitions(ledger: SqlLedger, clock: FakeClock) -> None:
    reply_a = Reply("r-a", BOARD, "cardA", "act-a", ReplyKind.RECORDED, "a")
    reply_b = Reply("r-b", "board2", "cardB", "act-b", ReplyKind.RECORDED, "b")
    ledger.commit(BOARD, Plan(replies=(reply_a,)))
    ledger.commit("board2", Plan(replies=(reply_b,)))
    clock.advance(60)
    ledger.commit(
        BOARD, Plan(replies=(Reply("r-0", BOARD, "cardA", "act-0", ReplyKind.NUDGE, "0"),))
    )
    assert [r.reply_id for r in ledger.replies()] == ["r-a", "r-b", "r-0"]
    assert [r.reply_id for r in ledger.replies(board_id=BOARD)] == ["r-a", "r-0"]

    ledger.mark_attempted("r-a", at(1))
    ledger.mark_attempted("r-a", at(2))
    attempted = ledger.replies(status="attempted")
    assert [(r.reply_id, r.attempts, r.attempted_at) for r in attempted] == [("r-a", 2, at(2))]

    ledger.mark_posted("r-a", "c-1", at(3))
    ledger.mark_posted("r-a", "c-2", at(4))  # idempotent: the first comment id stays
    ledger.mark_attempted("r-a", at(5))  # never downgrades a posted reply
    (posted,) = ledger.replies(status="posted")
    assert (posted.reply_id, posted.comment_id, posted.posted_at) == ("r-a", "c-1", at(3))

    ledger.commit("board2", Plan(posted=(PostedReply("r-b", "c-b"), PostedReply("nope", "c"))))
    (seen,) = ledger.replies(board_id="board2")
    assert (seen.status, seen.comment_id, seen.posted_at) == ("posted", "c-b", clock.now())
    assert [r.reply_id for r in ledger.replies(status="pending")] == ["r-0"]


def test_a_reply_given_up_keeps_its_reason_and_a_posted_one_stays_posted(
    ledger: SqlLedger,
) -> None:
    ledger.commit(
        BOARD, Plan(replies=(Reply("r-a", BOARD, "cardA", "act-a", ReplyKind.NUDGE, "a"),))
    )
    ledger.commit(
        BOARD, Plan(replies=(Reply("r-b", BOARD, "cardA", "act-b", ReplyKind.NUDGE, "b"),))
    )
    ledger.mark_attempted("r-a", at(1))
    ledger.mark_failed("r-a", "Trello refused it: HTTP 400: " + "x" * 2000)
    (failed,) = ledger.replies(status="failed")
    assert failed.reply_id == "r-a" and failed.attempts == 1
    assert failed.failure is not None and failed.failure.startswith("Trello refused it: HTTP 400")
    assert len(failed.failure) <= 500  # a reason is kept short, whatever Trello said

    ledger.mark_posted("r-b", "c-b", at(2))
    ledger.mark_failed("r-b", "the card is gone")
    (posted,) = ledger.replies(status="posted")
    assert (posted.reply_id, posted.failure) == ("r-b", None)
    # Our own comment seen on the board later wins over a give-up: it is posted.
    ledger.commit(BOARD, Plan(posted=(PostedReply("r-a", "c-a"),)))
    assert {r.reply_id: r.status for r in ledger.replies()} == {"r-a": "posted", "r-b": "posted"}


def test_step_4_keeps_every_reply_of_an_older_ledger(ledger_url: str, clock: FakeClock) -> None:
    """A ledger at schema 3 with replies in every state migrates with its rows intact."""
    from sqlalchemy import insert, text

    engine = open_ledger(ledger_url, clock=clock).engine
    with engine.begin() as conn:  # back to schema 3, as an older trello-sync left it
        for statement in _schema_3_replies(conn.dialect.name):
            conn.execute(text(statement))
        for table in ("payments", "documents"):  # step 5's: not there at schema 3
            conn.execute(text(f"DROP TABLE {table}"))
        for column in ("funding", "kind"):  # step 6's: not there at schema 3
            conn.execute(text(f"ALTER TABLE entries DROP COLUMN {column}"))
        conn.execute(schema.schema_version.delete().where(schema.schema_version.c.version >= 4))
        for status in ("pending", "attempted", "posted"):
            # Only the columns schema 3 has: the insert names no `failure`.
            conn.execute(
                insert(schema.replies).values(
                    reply_id=f"r-{status}",
                    board_id=BOARD,
                    card_id="cardA",
                    source_action_id="act",
                    kind="recorded",
                    text=f"text {status}",
                    status=status,
                    created_at=T0,
                    attempts=0,
                )
            )
    migrated = open_ledger(ledger_url, clock=clock)
    try:
        assert migrated.schema_version() == schema.LATEST_VERSION
        rows = {r.reply_id: (r.status, r.text, r.failure) for r in migrated.replies()}
        assert rows == {
            f"r-{s}": (s, f"text {s}", None) for s in ("pending", "attempted", "posted")
        }
        migrated.mark_failed("r-pending", "the card is gone")
        assert migrated.replies(status="failed")[0].reply_id == "r-pending"
        with pytest.raises(DBAPIError), migrated.engine.begin() as conn:
            conn.execute(text("UPDATE replies SET status = 'lost' WHERE reply_id = 'r-posted'"))
    finally:
        migrated.close()
        engine.dispose()


def _schema_3_replies(dialect: str) -> list[str]:
    """The replies table exactly as schema steps 1 to 3 made it (no `failed`, no reason)."""
    key = 'TEXT COLLATE "C"' if dialect == "postgresql" else "TEXT"
    ts = "TIMESTAMPTZ" if dialect == "postgresql" else "TEXT"
    return [
        "DROP TABLE replies",
        f"""CREATE TABLE replies (
        reply_id {key} PRIMARY KEY,
        board_id {key} NOT NULL,
        card_id {key} NOT NULL,
        source_action_id {key} NOT NULL,
        kind {key} NOT NULL,
        text TEXT NOT NULL,
        status {key} NOT NULL CHECK (status IN ('pending', 'attempted', 'posted')),
        created_at {ts} NOT NULL,
        attempted_at {ts},
        attempts INTEGER NOT NULL DEFAULT 0,
        comment_id {key},
        posted_at {ts})""",
        "CREATE INDEX replies_by_status ON replies (status, created_at, reply_id)",
    ]


# --- reading --------------------------------------------------------------------------------------


def test_entries_come_in_a_deterministic_order(ledger: SqlLedger) -> None:
    paris = timezone(timedelta(hours=1))
    batch = [
        entry("e-b", recorded_at=at(5)),
        entry("e-c", recorded_at=at(5).astimezone(paris)),
        entry("e-a", recorded_at=at(5)),
        entry("e-z", recorded_at=at(4)),
        entry("E-0", recorded_at=at(5), board_id="board2"),
        entry("e-y", recorded_at=at(5) + timedelta(microseconds=1)),
    ]
    ledger.commit(BOARD, Plan(entries=(*batch[:4], batch[5])))
    ledger.commit("board2", Plan(entries=(batch[4],)))
    expected = ["e-z", "E-0", "e-a", "e-b", "e-c", "e-y"]  # bytewise: "E" before "e"
    assert [e.entry_id for e in ledger.entries()] == expected
    assert [e.entry_id for e in ledger.entries(BOARD)] == [i for i in expected if i != "E-0"]


def test_entries_stream_a_snapshot_while_commits_go_on(ledger: SqlLedger) -> None:
    """An export reading the ledger neither blocks the worker nor sees half a commit."""
    ledger.commit(BOARD, Plan(entries=tuple(entry(f"e{i:04d}") for i in range(1200))))
    stream = ledger.entries()
    first = [next(stream) for _ in range(10)]
    ledger.commit(BOARD, Plan(entries=(entry("e9999"),)))
    assert len(first + list(stream)) == 1200
    assert len(list(ledger.entries())) == 1201


def test_amounts_round_trip_as_exact_ints(ledger: SqlLedger) -> None:
    amounts = [1750, -4000, 0, 1, 2**53 + 1, -(2**62)]
    ledger.commit(
        BOARD, Plan(entries=tuple(entry(f"e{i}", amount_cents=a) for i, a in enumerate(amounts)))
    )
    read = {e.entry_id: e.amount_cents for e in ledger.entries()}
    assert [read[f"e{i}"] for i in range(len(amounts))] == amounts
    assert all(type(cents) is int for cents in read.values())


def test_instants_round_trip_as_aware_utc(ledger: SqlLedger) -> None:
    local = datetime(2026, 11, 28, 23, 30, 15, 123456, tzinfo=timezone(timedelta(hours=-5)))
    ledger.commit(
        BOARD,
        Plan(
            entries=(entry("e1", recorded_at=local),),
            moves=(StageMove(BOARD, "cardA", "m1", local, Stage.ACTIVE, None, None),),
            checkpoint=Checkpoint("m1", local),
        ),
    )
    (stored,) = ledger.entries()
    (move,) = ledger.moves()
    checkpoint = ledger.board_view(BOARD).checkpoint
    assert checkpoint is not None
    for instant in (stored.recorded_at, move.at, checkpoint.at):
        assert instant == local
        assert instant.utcoffset() == timedelta(0)
        assert (instant.day, instant.hour, instant.microsecond) == (29, 4, 123456)
    assert stored.session_date == date(2026, 11, 2)
    with pytest.raises(LedgerError):  # a naive instant is ambiguous: refused
        ledger.commit(BOARD, Plan(entries=(entry("e2", recorded_at=datetime(2026, 1, 1)),)))


def test_comments_show_the_latest_version_with_text(ledger: SqlLedger) -> None:
    def comment(action_id: str, version: str, text: str | None) -> AppliedAction:
        return AppliedAction(BOARD, action_id, version, "cardA", "comment", at(1), text)

    edited = [comment("c1", "", "/session"), comment("c1", "2026-11-02T10:00:00.000Z", "/late")]
    deleted = [comment("c2", "", "/noshow"), comment("c2", "2026-11-03T10:00:00.000Z", None)]
    plain = AppliedAction(BOARD, "m1", "", "cardA", "card_in_list", at(1), "not a comment")
    ledger.commit(BOARD, Plan(applied=(*reversed(edited), *deleted, plain)))
    assert dict(ledger.board_view(BOARD).comments) == {"c1": edited[1]}


def test_applied_versions_handles_long_id_lists(ledger: SqlLedger) -> None:
    applied = tuple(
        AppliedAction(BOARD, f"a{i:04d}", v, None, "other", at(1))
        for i in range(1200)
        for v in ("", "v2")
        if i % 3
    )
    ledger.commit(BOARD, Plan(applied=applied))
    found = ledger.applied_versions(BOARD, (f"a{i:04d}" for i in range(1300)))
    assert found == {(a.action_id, a.version) for a in applied}
    assert ledger.applied_versions("board2", ["a0001"]) == set()


def test_boards_and_meta(ledger: SqlLedger) -> None:
    assert ledger.board_for_ref("short1") is None
    ledger.remember_board("short1", BOARD, "Mentoring")
    ledger.commit(BOARD, Plan(checkpoint=Checkpoint("a1", at(1))))
    record = ledger.board_for_ref("short1")
    assert record is not None
    assert (record.board_id, record.name, record.checkpoint) == (
        BOARD,
        "Mentoring",
        Checkpoint("a1", at(1)),
    )
    assert ledger.board_for_ref(BOARD) == record
    ledger.flag_board(BOARD, "shows no cards while 3 students are active")
    ledger.remember_board("short1", BOARD, "Renamed")
    (kept,) = ledger.boards()
    assert (kept.name, kept.flag) == ("Renamed", "shows no cards while 3 students are active")
    ledger.flag_board(BOARD, None)
    assert ledger.boards()[0].flag is None

    assert ledger.get_meta("last_export") is None
    ledger.set_meta("last_export", "2026-11-27")
    ledger.set_meta("last_export", "2026-11-28")
    assert ledger.get_meta("last_export") == "2026-11-28"


def test_swap_meta_writes_only_over_the_value_it_expects(ledger: SqlLedger) -> None:
    assert ledger.swap_meta("slack_summary", None, "v1")  # absent, as expected
    assert not ledger.swap_meta("slack_summary", None, "other")  # not absent any more
    assert not ledger.swap_meta("slack_summary", "v0", "other")
    assert ledger.get_meta("slack_summary") == "v1"
    assert ledger.swap_meta("slack_summary", "v1", "v2")
    assert ledger.get_meta("slack_summary") == "v2"


def swap_race(stores: list[SqlLedger], expected: str | None) -> list[str]:
    """Every store swaps the key `claim` from `expected` at once; who won."""
    gate = threading.Barrier(len(stores))
    won: list[str] = []

    def swap(store: SqlLedger, name: str) -> None:
        gate.wait()
        if store.swap_meta("claim", expected, name):
            won.append(name)

    threads = [
        threading.Thread(target=swap, args=(store, f"worker-{n}")) for n, store in enumerate(stores)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return won


def test_of_workers_swapping_from_the_same_value_exactly_one_wins(
    ledger: SqlLedger, ledger_url: str, clock: FakeClock
) -> None:
    others = [open_ledger(ledger_url, clock=clock) for _ in range(4)]
    try:
        won = swap_race(others, None)  # the key absent: inserted once
        assert len(won) == 1 and ledger.get_meta("claim") == won[0]
        for _ in range(3):  # the key present: updated once
            ledger.set_meta("claim", "free")
            won = swap_race(others, "free")
            assert len(won) == 1 and ledger.get_meta("claim") == won[0]
    finally:
        for store in others:
            store.close()


def test_a_card_without_its_card_row_is_still_shown(ledger: SqlLedger) -> None:
    ledger.commit(BOARD, Plan(entries=(entry("e1"),)))
    state = ledger.board_view(BOARD).cards["cardA"]
    assert (state.card.name, state.card.level, len(state.entries)) == ("Alice Martin", 3, 1)


# --- opening (not per backend) ------------------------------------------------------------------


def test_sqlite_connection_settings(tmp_path: Path) -> None:
    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.db'}")
    with ledger.engine.connect() as conn:
        pragmas = [
            conn.exec_driver_sql(f"PRAGMA {p}").scalar()
            for p in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        ]
    assert pragmas == ["wal", 2, 1, 30_000]

    # A write transaction holds the write lock from its BEGIN, before it writes anything.
    def try_to_write() -> None:
        other = sqlite3.connect(tmp_path / "l.db", timeout=0, isolation_level=None)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()

    ledger._on_mid_commit = try_to_write
    ledger.commit(BOARD, Plan(checkpoint=Checkpoint("a1", T0)))
    ledger.close()


def test_sqlite_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    open_ledger("sqlite:///data/nested/ledger.db").close()
    assert (tmp_path / "data" / "nested" / "ledger.db").is_file()
    memory = open_ledger("sqlite://", clock=FakeClock())
    memory.commit(BOARD, sample_plan())
    assert len(list(memory.entries())) == 1
    memory.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "not a database URL"),
        ("", "not a database URL"),
        ("mysql://user:s3cret@db/ledger", "unsupported ledger database 'mysql'"),
        ("postgresql://user:s3cret@127.0.0.1:1/ledger", "cannot open the ledger .*user:\\*\\*\\*@"),
    ],
)
def test_opening_errors_are_one_line_without_the_password(url: str, message: str) -> None:
    with pytest.raises(LedgerError, match=message) as caught:
        open_ledger(url)
    text = str(caught.value)
    assert "s3cret" not in text
    assert "\n" not in text
