"""The ledger's tables and their migrations, for SQLite and PostgreSQL.

Tables (one row of each is...):

- ``schema_version`` (version PK, applied_at): a migration step that ran.
- ``boards`` (board_id PK, ref UNIQUE, name, checkpoint_action_id, checkpoint_at, flag):
  a synced board, its checkpoint (the last action applied) and why it was last refused.
- ``cards`` (board_id, card_id PK; name, project, level, first_seen_action_id): a student
  as first seen; never updated, so a card Trello forgets keeps its name and project.
- ``stage_moves`` (board_id, source_action_id PK; card_id, at, stage, list_id, list_name).
- ``applied_actions`` (board_id, action_id, version PK; card_id, kind, at, text): every
  Trello action (version of an edited comment) applied: what makes a re-read harmless.
- ``entries`` (entry_id PK, every field of ``Entry``; money in BIGINT cents;
  ``reverses_entry_id`` UNIQUE and a foreign key: an entry is reversed at most once;
  ``funding`` and ``kind`` since step 6, ``unset`` and ``session`` for older entries).
- ``replies`` (reply_id PK; board_id, card_id, source_action_id, kind, text, status,
  created_at, attempted_at, attempts, comment_id, posted_at, failure): the outbox; a
  reply is pending, attempted, posted, or failed (given up, with the reason).
- ``board_leases`` (board_key PK; owner, fence, expires_at): which worker handles a board.
- ``meta`` (key PK, value): small facts such as the last nightly export.
- ``documents`` (key PK; mentor, month, kind, seq, number, issued_on, due_on, refers_to,
  currency, total_cents, entry_ids, body, created_at): a numbered invoice or correction,
  as issued. ``seq`` is the mentor's continuous sequence (UNIQUE (mentor, seq)), and
  ``number`` (UNIQUE per mentor) the prefix and that sequence; ``entry_ids`` a JSON list.
- ``payments`` (payment_id PK; mentor, month, received_on, amount_cents, currency, method,
  ref, recorded_at, reverses_payment_id): a payment received, or the reversal of one
  (``reverses_payment_id`` UNIQUE and a foreign key: a payment is reversed at most once).

``entries``, ``stage_moves``, ``applied_actions``, ``documents`` and ``payments`` refuse
UPDATE and DELETE in the database itself (triggers), so no code path, and no hand-typed
SQL, rewrites history.

Instants are aware UTC in Python; PostgreSQL keeps TIMESTAMPTZ, SQLite the UTC text
``YYYY-MM-DD HH:MM:SS.ffffff`` (fixed width, so text order is time order). Identifiers
are compared bytewise on both (``COLLATE "C"`` on PostgreSQL), so that every ORDER BY,
and hence every export, is the same on both backends.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    DateTime,
    Dialect,
    Engine,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    insert,
    select,
)
from sqlalchemy.types import TypeDecorator

from trello_sync.ledger.store import LedgerError

# An execution option read by the SQLite `begin` listener (see open.py): a write
# transaction starts with BEGIN IMMEDIATE, so it takes the write lock up front instead of
# failing half-way with "database is locked"; reads keep a plain (deferred) BEGIN.
WRITE_OPTION = "trello_sync_write"


@contextmanager
def write_transaction(engine: Engine, isolation_level: str | None = None) -> Iterator[Connection]:
    """One write transaction: commits on success, rolls back on any exception. An
    `isolation_level` applies on PostgreSQL only (SQLite's writers are serial already)."""
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        if isolation_level is not None and conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level=isolation_level)
        with conn.begin():
            yield conn


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, whatever the backend stores."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            # A naive instant is ambiguous: refuse it rather than guess the zone.
            raise ValueError(f"naive datetime {value!r}: the ledger stores aware instants")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- the tables, as queries see them (the DDL below is what creates them) ---------------

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", UtcDateTime, nullable=False),
)

boards = Table(
    "boards",
    metadata,
    Column("board_id", Text, primary_key=True),
    Column("ref", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("checkpoint_action_id", Text),
    Column("checkpoint_at", UtcDateTime),
    Column("flag", Text),
)

cards = Table(
    "cards",
    metadata,
    Column("board_id", Text, primary_key=True),
    Column("card_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("project", Text),
    Column("level", Integer, nullable=False),
    Column("first_seen_action_id", Text, nullable=False),
)

stage_moves = Table(
    "stage_moves",
    metadata,
    Column("board_id", Text, primary_key=True),
    Column("source_action_id", Text, primary_key=True),
    Column("card_id", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("stage", Text, nullable=False),
    Column("list_id", Text),
    Column("list_name", Text),
)

applied_actions = Table(
    "applied_actions",
    metadata,
    Column("board_id", Text, primary_key=True),
    Column("action_id", Text, primary_key=True),
    Column("version", Text, primary_key=True),
    Column("card_id", Text),
    Column("kind", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("text", Text),
)

# Column names are exactly the fields of records.Entry (the store maps them one to one).
entries = Table(
    "entries",
    metadata,
    Column("entry_id", Text, primary_key=True),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("board_id", Text, nullable=False),
    Column("card_id", Text, nullable=False),
    Column("student", Text, nullable=False),
    Column("project", Text),
    Column("level", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("session_date", Date, nullable=False),
    Column("duration_minutes", Integer),
    Column("note", Text, nullable=False),
    Column("rate_cents", BigInteger, nullable=False),
    Column("share_percent", Integer, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("mentor", Text, nullable=False),
    Column("source_action_id", Text, nullable=False),
    Column("reverses_entry_id", Text, unique=True),
    Column("funding", Text, nullable=False),  # since step 6
    Column("kind", Text, nullable=False),  # since step 6
)

# Column names are exactly the fields of store.OutboxReply.
replies = Table(
    "replies",
    metadata,
    Column("reply_id", Text, primary_key=True),
    Column("board_id", Text, nullable=False),
    Column("card_id", Text, nullable=False),
    Column("source_action_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("attempted_at", UtcDateTime),
    Column("attempts", Integer, nullable=False),
    Column("comment_id", Text),
    Column("posted_at", UtcDateTime),
    Column("failure", Text),
)

# Which worker handles a board, until when; `fence` grows each time the board changes
# hands, so a worker whose lease ran out cannot commit over its successor.
board_leases = Table(
    "board_leases",
    metadata,
    Column("board_key", Text, primary_key=True),
    Column("owner", Text, nullable=False),
    Column("fence", Integer, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)

meta = Table(
    "meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

# Column names are the fields of domain.documents.IssuedDocument (entry_ids as JSON text).
documents = Table(
    "documents",
    metadata,
    Column("key", Text, primary_key=True),
    Column("mentor", Text, nullable=False),
    Column("month", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("number", Text, nullable=False),
    Column("issued_on", Date, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("refers_to", Text),
    Column("currency", Text, nullable=False),
    Column("total_cents", BigInteger, nullable=False),
    Column("entry_ids", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# Column names are exactly the fields of domain.documents.Payment.
payments = Table(
    "payments",
    metadata,
    Column("payment_id", Text, primary_key=True),
    Column("mentor", Text, nullable=False),
    Column("month", Text, nullable=False),
    Column("received_on", Date, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("method", Text, nullable=False),
    Column("ref", Text, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("reverses_payment_id", Text, unique=True),
)


# --- migrations -------------------------------------------------------------------------
# Each step's DDL is frozen text: once released it never changes (a database that ran it
# must stay equal to one that runs it later). A change to a table is a new step. Type
# placeholders: {key} identifiers, {text} free text, {ts} instants, {date}, {cents}.

_TYPES: Mapping[str, Mapping[str, str]] = {
    "sqlite": {"key": "TEXT", "text": "TEXT", "ts": "TEXT", "date": "TEXT", "cents": "INTEGER"},
    "postgresql": {
        "key": 'TEXT COLLATE "C"',
        "text": "TEXT",
        "ts": "TIMESTAMPTZ",
        "date": "DATE",
        "cents": "BIGINT",
    },
}

_BOOTSTRAP = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    applied_at {ts} NOT NULL)"""

_V1_TABLES = [
    """CREATE TABLE boards (
        board_id {key} PRIMARY KEY,
        ref {key} NOT NULL UNIQUE,
        name {text} NOT NULL,
        checkpoint_action_id {key},
        checkpoint_at {ts},
        flag {text})""",
    """CREATE TABLE cards (
        board_id {key} NOT NULL,
        card_id {key} NOT NULL,
        name {text} NOT NULL,
        project {text},
        level INTEGER NOT NULL,
        first_seen_action_id {key} NOT NULL,
        PRIMARY KEY (board_id, card_id))""",
    """CREATE TABLE stage_moves (
        board_id {key} NOT NULL,
        source_action_id {key} NOT NULL,
        card_id {key} NOT NULL,
        at {ts} NOT NULL,
        stage {key} NOT NULL,
        list_id {key},
        list_name {text},
        PRIMARY KEY (board_id, source_action_id))""",
    "CREATE INDEX stage_moves_by_card ON stage_moves (board_id, card_id, at)",
    """CREATE TABLE applied_actions (
        board_id {key} NOT NULL,
        action_id {key} NOT NULL,
        version {key} NOT NULL,
        card_id {key},
        kind {key} NOT NULL,
        at {ts} NOT NULL,
        text {text},
        PRIMARY KEY (board_id, action_id, version))""",
    """CREATE TABLE entries (
        entry_id {key} PRIMARY KEY,
        recorded_at {ts} NOT NULL,
        board_id {key} NOT NULL,
        card_id {key} NOT NULL,
        student {text} NOT NULL,
        project {text},
        level INTEGER NOT NULL,
        status {key} NOT NULL,
        session_date {date} NOT NULL,
        duration_minutes INTEGER,
        note {text} NOT NULL,
        rate_cents {cents} NOT NULL,
        share_percent INTEGER NOT NULL,
        amount_cents {cents} NOT NULL,
        currency {key} NOT NULL,
        mentor {key} NOT NULL,
        source_action_id {key} NOT NULL,
        reverses_entry_id {key} UNIQUE REFERENCES entries (entry_id))""",
    "CREATE INDEX entries_in_order ON entries (recorded_at, entry_id)",
    "CREATE INDEX entries_by_card ON entries (board_id, card_id)",
    """CREATE TABLE replies (
        reply_id {key} PRIMARY KEY,
        board_id {key} NOT NULL,
        card_id {key} NOT NULL,
        source_action_id {key} NOT NULL,
        kind {key} NOT NULL,
        text {text} NOT NULL,
        status {key} NOT NULL CHECK (status IN ('pending', 'attempted', 'posted')),
        created_at {ts} NOT NULL,
        attempted_at {ts},
        attempts INTEGER NOT NULL DEFAULT 0,
        comment_id {key},
        posted_at {ts})""",
    "CREATE INDEX replies_by_status ON replies (status, created_at, reply_id)",
    "CREATE TABLE meta (key {key} PRIMARY KEY, value {text} NOT NULL)",
]

APPEND_ONLY_TABLES = ("entries", "stage_moves", "applied_actions")  # since step 1


def _append_only_triggers(dialect: str, tables: Sequence[str]) -> list[str]:
    """The triggers that refuse UPDATE and DELETE (and, on PostgreSQL, TRUNCATE) on
    `tables`; PostgreSQL's call the function step 1 creates."""
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END"
            for table in tables
            for verb in ("UPDATE", "DELETE")
        ]
    statements: list[str] = []
    for table in tables:
        statements += [
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION trello_sync_append_only()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION trello_sync_append_only()",
        ]
    return statements


def _v1_append_only(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return _append_only_triggers(dialect, APPEND_ONLY_TABLES)
    # No '%' anywhere: psycopg would read it as a placeholder.
    function = """CREATE FUNCTION trello_sync_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION USING
                MESSAGE = TG_TABLE_NAME || ' are append-only',
                ERRCODE = 'restrict_violation';
        END $$"""
    return [function, *_append_only_triggers(dialect, APPEND_ONLY_TABLES)]


@dataclass(frozen=True)
class Step:
    version: int
    description: str
    ddl: Mapping[str, Sequence[str]]  # dialect name -> statements, run in order


def _render(statements: Sequence[str], dialect: str) -> list[str]:
    return [statement.format(**_TYPES[dialect]) for statement in statements]


_V2_LEASES = [
    """CREATE TABLE board_leases (
        board_key {key} PRIMARY KEY,
        owner {key} NOT NULL,
        fence INTEGER NOT NULL,
        expires_at {ts} NOT NULL)""",
]

# Per card, newest first: an outline of a board (ledger/reads.py) picks two entries per
# card from the end of this index instead of ranking every entry of the board.
_V3_ENTRIES_BY_CARD = [
    "DROP INDEX entries_by_card",
    "CREATE INDEX entries_by_card ON entries "
    "(board_id, card_id, recorded_at, source_action_id, entry_id)",
]

# A reply Trello refuses as it is (too long, a 4xx) or whose card is gone is given up:
# status `failed`, with the reason, instead of being tried again for ever. SQLite cannot
# change a CHECK constraint in place, so its table is rebuilt, rows and index as before.
_V4_REPLY_COLUMNS = (
    "reply_id, board_id, card_id, source_action_id, kind, text, status, created_at, "
    "attempted_at, attempts, comment_id, posted_at"
)
_V4_FAILED_REPLIES: Mapping[str, Sequence[str]] = {
    "sqlite": [
        """CREATE TABLE replies_v4 (
        reply_id {key} PRIMARY KEY,
        board_id {key} NOT NULL,
        card_id {key} NOT NULL,
        source_action_id {key} NOT NULL,
        kind {key} NOT NULL,
        text {text} NOT NULL,
        status {key} NOT NULL CHECK (status IN ('pending', 'attempted', 'posted', 'failed')),
        created_at {ts} NOT NULL,
        attempted_at {ts},
        attempts INTEGER NOT NULL DEFAULT 0,
        comment_id {key},
        posted_at {ts},
        failure {text})""",
        f"INSERT INTO replies_v4 ({_V4_REPLY_COLUMNS}) SELECT {_V4_REPLY_COLUMNS} FROM replies",
        "DROP TABLE replies",
        "ALTER TABLE replies_v4 RENAME TO replies",
        "CREATE INDEX replies_by_status ON replies (status, created_at, reply_id)",
    ],
    "postgresql": [
        "ALTER TABLE replies DROP CONSTRAINT replies_status_check",
        "ALTER TABLE replies ADD CONSTRAINT replies_status_check "
        "CHECK (status IN ('pending', 'attempted', 'posted', 'failed'))",
        "ALTER TABLE replies ADD COLUMN failure {text}",
    ],
}

# Numbered documents and payments received. A document's number is decided once, in the
# transaction that inserts it: UNIQUE (mentor, seq) and UNIQUE (mentor, number) make a
# second writer with the same number fail instead of issuing it twice (see
# ledger/documents.py). Each mentor is a seller of their own, with their own sequence:
# two mentors may both have an invoice F-0001.
_V5_DOCUMENTS_AND_PAYMENTS = [
    """CREATE TABLE documents (
        key {key} PRIMARY KEY,
        mentor {key} NOT NULL,
        month {key} NOT NULL,
        kind {key} NOT NULL,
        seq INTEGER NOT NULL CHECK (seq > 0),
        number {key} NOT NULL,
        issued_on {date} NOT NULL,
        due_on {date} NOT NULL,
        refers_to {key},
        currency {key} NOT NULL,
        total_cents {cents} NOT NULL,
        entry_ids {text} NOT NULL,
        body {text} NOT NULL,
        created_at {ts} NOT NULL,
        UNIQUE (mentor, seq),
        UNIQUE (mentor, number))""",
    "CREATE INDEX documents_by_month ON documents (mentor, month, seq)",
    """CREATE TABLE payments (
        payment_id {key} PRIMARY KEY,
        mentor {key} NOT NULL,
        month {key} NOT NULL,
        received_on {date} NOT NULL,
        amount_cents {cents} NOT NULL,
        currency {key} NOT NULL,
        method {key} NOT NULL,
        ref {text} NOT NULL,
        recorded_at {ts} NOT NULL,
        reverses_payment_id {key} UNIQUE REFERENCES payments (payment_id))""",
    "CREATE INDEX payments_in_order ON payments (received_on, recorded_at, payment_id)",
    "CREATE INDEX payments_by_month ON payments (mentor, month)",
]
_V5_APPEND_ONLY = ("documents", "payments")

# Each entry keeps the student's funding it was priced with and what it pays for (a
# session, a defense, a monthly fee). Entries written before are sessions of a card with
# no funding, which is exactly how they were priced: the defaults fill them in. Adding a
# column with a default rewrites no row and fires no trigger, on either backend.
_V6_FUNDING_AND_KIND = [
    "ALTER TABLE entries ADD COLUMN funding {key} NOT NULL DEFAULT 'unset'",
    "ALTER TABLE entries ADD COLUMN kind {key} NOT NULL DEFAULT 'session'",
]

STEPS: tuple[Step, ...] = (
    Step(
        1,
        "boards, cards, stage moves, applied actions, entries, replies, meta",
        {dialect: _render(_V1_TABLES, dialect) + _v1_append_only(dialect) for dialect in _TYPES},
    ),
    Step(
        2,
        "board leases, so that several workers share one ledger",
        {dialect: _render(_V2_LEASES, dialect) for dialect in _TYPES},
    ),
    Step(
        3,
        "entries by card in time order, for outlines of long ledgers",
        {dialect: _render(_V3_ENTRIES_BY_CARD, dialect) for dialect in _TYPES},
    ),
    Step(
        4,
        "replies given up (status failed, with the reason)",
        {dialect: _render(_V4_FAILED_REPLIES[dialect], dialect) for dialect in _TYPES},
    ),
    Step(
        5,
        "numbered documents and payments received, append-only",
        {
            dialect: _render(_V5_DOCUMENTS_AND_PAYMENTS, dialect)
            + _append_only_triggers(dialect, _V5_APPEND_ONLY)
            for dialect in _TYPES
        },
    ),
    Step(
        6,
        "each entry's funding and kind (session, defense, monthly fee)",
        {dialect: _render(_V6_FUNDING_AND_KIND, dialect) for dialect in _TYPES},
    ),
)
LATEST_VERSION = STEPS[-1].version


def current_version(conn: Connection) -> int:
    return int(
        conn.execute(select(func.coalesce(func.max(schema_version.c.version), 0))).scalar_one()
    )


def _check_not_newer(version: int) -> None:
    if version > LATEST_VERSION:
        raise LedgerError(
            f"the ledger was written by a newer trello-sync (schema {version}); upgrade trello-sync"
        )


def _serialize(conn: Connection) -> None:
    """Let one process at a time migrate. SQLite's BEGIN IMMEDIATE already does it."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "SELECT pg_advisory_xact_lock(hashtext('trello-sync migrate ' || current_schema()))"
        )


def migrate(engine: Engine, now: datetime) -> int:
    """Apply the missing steps, each with its schema_version row in one transaction.

    Idempotent; refuses a ledger written by a newer version. Returns the version reached.
    """
    dialect = engine.dialect.name
    if dialect not in _TYPES:
        raise LedgerError(f"unsupported ledger database {dialect!r}")
    with write_transaction(engine) as conn:
        _serialize(conn)
        conn.exec_driver_sql(_BOOTSTRAP.format(**_TYPES[dialect]))
        version = current_version(conn)
    _check_not_newer(version)
    for step in STEPS:
        if step.version <= version:
            continue
        with write_transaction(engine) as conn:
            _serialize(conn)
            # Re-read under the lock: another worker may have run this step meanwhile.
            version = current_version(conn)
            _check_not_newer(version)
            if step.version <= version:
                continue
            for statement in step.ddl[dialect]:
                conn.exec_driver_sql(statement)
            conn.execute(insert(schema_version).values(version=step.version, applied_at=now))
            version = step.version
    return version
