"""The ledger store on SQLAlchemy Core: one class for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    Table,
    and_,
    case,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, StatementError

from trello_sync.clock import Clock
from trello_sync.crash import crash_point
from trello_sync.domain.actions import format_instant
from trello_sync.domain.documents import DocumentRequest, IssuedDocument, Payment
from trello_sync.domain.ids import ReplyKind
from trello_sync.domain.records import (
    BoardView,
    CardRecord,
    CardState,
    Checkpoint,
    Entry,
    Plan,
    PostedReply,
    StageMove,
)
from trello_sync.ledger import documents as books
from trello_sync.ledger import leases, reads, schema
from trello_sync.ledger.bulk import SqliteBulkInsert
from trello_sync.ledger.rows import (
    board_of,
    entry_of,
    move_of,
    move_row,
    row_of,
)
from trello_sync.ledger.schema import (
    applied_actions,
    boards,
    cards,
    entries,
    meta,
    replies,
    stage_moves,
    write_transaction,
)
from trello_sync.ledger.store import (
    BoardRecord,
    Lease,
    LedgerConflict,
    LedgerError,
    OutboxReply,
    ReplyStatus,
)

PENDING, ATTEMPTED, POSTED, FAILED = (
    ReplyStatus.PENDING,
    ReplyStatus.ATTEMPTED,
    ReplyStatus.POSTED,
    ReplyStatus.FAILED,
)
FAILURE_MAX = 500  # characters of a failed reply's reason kept
IN_CHUNK = reads.IN_LIST_MAX
STREAM_ROWS = 500  # rows fetched at a time when streaming entries


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), IN_CHUNK):
        yield items[start : start + IN_CHUNK]


def _originals_first(new: Iterable[Entry]) -> list[Entry]:
    """Originals before reversals, so that a reversal's foreign key finds its target."""
    return sorted(new, key=lambda e: e.reverses_entry_id is not None)


def _first_line(error: BaseException) -> str:
    orig = getattr(error, "orig", None) or error
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


class SqlLedger:
    """`LedgerStore` on SQLite or PostgreSQL. Build it with `open_ledger(url)`."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        # A crash point for tests: called inside commit(), after the entries are written
        # and before the checkpoint is. Replace it to raise or to os._exit().
        # A named crash point: the crash tests kill the process inside the commit, and the
        # transaction must leave nothing behind.
        self._on_mid_commit: Callable[[], None] = partial(crash_point, "mid_commit")

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def migrate(self) -> None:
        with self._errors():
            schema.migrate(self._engine, self._clock.now())

    def schema_version(self) -> int:
        with self._errors(), self._engine.connect() as conn:
            return schema.current_version(conn)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> SqlLedger:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- plumbing ------------------------------------------------------------------------
    @contextmanager
    def _errors(self) -> Iterator[None]:
        """A database failure becomes one line (never SQL, parameters or a password)."""
        try:
            yield
        except StatementError as error:
            raise LedgerError(f"ledger database error: {_first_line(error)}") from error

    @contextmanager
    def _write(self, isolation_level: str | None = None) -> Iterator[Connection]:
        with self._errors(), write_transaction(self._engine, isolation_level) as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        # One snapshot, so that several SELECTs see one state of the ledger (SQLite's
        # transactions are serializable already; PostgreSQL's default is not).
        with self._errors(), self._engine.connect() as conn:
            if self.dialect == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def _insert_ignore(self, conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
        """Insert rows, skipping any whose key already exists (first write wins)."""
        if not rows:
            return
        conn.execute(dialect_insert(self.dialect, table).on_conflict_do_nothing(), rows)

    def _insert_records(
        self, conn: Connection, table: Table, records: Sequence[Any], *, ignore: bool
    ) -> None:
        """Insert records whose fields are exactly the table's columns (with `ignore`,
        skipping any whose key exists). On SQLite straight to the driver's executemany
        (see ledger/bulk.py); on PostgreSQL through SQLAlchemy, whose multi-row INSERTs are fast."""
        if not records:
            return
        if self.dialect == "sqlite":
            bulk = SqliteBulkInsert.of(table, conn.dialect, ignore)
            conn.exec_driver_sql(bulk.sql, bulk.rows(records))
            return
        rows = [row_of(record) for record in records]
        if ignore:
            conn.execute(postgresql.insert(table).on_conflict_do_nothing(), rows)
        else:
            conn.execute(table.insert(), rows)

    def _ensure_board(self, conn: Connection, board_id: str) -> None:
        self._insert_ignore(conn, boards, [{"board_id": board_id, "ref": board_id, "name": ""}])

    # --- boards --------------------------------------------------------------------------
    def board_for_ref(self, ref: str) -> BoardRecord | None:
        with self._read() as conn:
            rows = list(
                conn.execute(
                    select(boards).where(or_(boards.c.ref == ref, boards.c.board_id == ref))
                )
            )
        # A ref names its board before an id that happens to be equal to it.
        rows.sort(key=lambda row: row.ref != ref)
        return board_of(rows[0]) if rows else None

    def remember_board(self, ref: str, board_id: str, name: str) -> None:
        with self._write() as conn:
            # The ref now names this board: another row holding it falls back to its id.
            conn.execute(
                update(boards)
                .where(boards.c.ref == ref, boards.c.board_id != board_id)
                .values(ref=boards.c.board_id)
            )
            self._ensure_board(conn, board_id)
            conn.execute(
                update(boards).where(boards.c.board_id == board_id).values(ref=ref, name=name)
            )

    def boards(self) -> list[BoardRecord]:
        with self._read() as conn:
            rows = conn.execute(select(boards).order_by(boards.c.board_id)).all()
        return [board_of(row) for row in rows]

    def flag_board(self, board_id: str, reason: str | None) -> None:
        with self._write() as conn:
            self._ensure_board(conn, board_id)
            conn.execute(update(boards).where(boards.c.board_id == board_id).values(flag=reason))

    # --- the planner's view and the one commit ------------------------------------------
    def board_view(self, board_id: str) -> BoardView:
        return self._board_view(board_id, outline=False, comments_since=None)

    def board_outline(self, board_id: str, comments_since: datetime | None) -> BoardView:
        return self._board_view(board_id, outline=True, comments_since=comments_since)

    def card_states(self, board_id: str, card_ids: Iterable[str]) -> dict[str, CardState]:
        with self._read() as conn:
            return reads.card_states(conn, board_id, card_ids)

    def _board_view(
        self, board_id: str, *, outline: bool, comments_since: datetime | None
    ) -> BoardView:
        with self._read() as conn:
            return reads.board_view(conn, board_id, outline, comments_since)

    def applied_versions(self, board_id: str, action_ids: Iterable[str]) -> set[tuple[str, str]]:
        ids = sorted(set(action_ids))
        found: set[tuple[str, str]] = set()
        table = applied_actions
        with self._read() as conn:
            for chunk in _chunks(ids):
                query = select(table.c.action_id, table.c.version).where(
                    table.c.board_id == board_id, table.c.action_id.in_(chunk)
                )
                found.update((row.action_id, row.version) for row in conn.execute(query))
        return found

    def url_for_another_process(self) -> str | None:
        url = self._engine.url
        in_memory = url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
        if url.get_backend_name() == "sqlite" and in_memory:
            return None
        return url.render_as_string(hide_password=False)

    def now(self) -> datetime:
        return self._clock.now()

    def commit(self, board_id: str, plan: Plan, lease: Lease | None = None) -> None:
        _check_board(board_id, plan)
        now = self._clock.now()
        try:
            with self._write() as conn:
                if lease is not None:
                    leases.check(conn, lease, now)
                self._write_entries(conn, plan.entries)
                self._insert_moves(conn, plan.moves)
                self._insert_records(conn, cards, plan.cards, ignore=True)
                self._insert_records(conn, applied_actions, plan.applied, ignore=True)
                reply_rows = [
                    {**row_of(r), "status": PENDING, "created_at": now, "attempts": 0}
                    for r in plan.replies
                ]
                self._insert_ignore(conn, replies, reply_rows)
                for posted in plan.posted:
                    _set_posted(conn, posted, now)
                self._on_mid_commit()
                if plan.checkpoint is not None:
                    self._ensure_board(conn, board_id)
                    _advance_checkpoint(conn, board_id, plan.checkpoint)
                self._write_board_notes(conn, board_id, plan)
        except LedgerError as error:
            # A unique or foreign key violation the checks below did not foresee is still
            # a conflict with what the ledger holds: the whole plan was rolled back.
            if isinstance(error.__cause__, IntegrityError):
                raise LedgerConflict(
                    f"board {board_id}: the plan conflicts with the ledger "
                    f"({_first_line(error.__cause__)}); nothing was written"
                ) from error.__cause__
            raise

    def _write_entries(self, conn: Connection, new: Sequence[Entry]) -> None:
        if not new or self._insert_all_new(conn, new):
            return
        stored = {e.entry_id: e for e in self._select_entries(conn, [e.entry_id for e in new])}
        to_insert: dict[str, Entry] = {}
        for entry in new:
            known = stored.get(entry.entry_id) or to_insert.get(entry.entry_id)
            if known is None:
                to_insert[entry.entry_id] = entry
            elif known != entry:
                differ = [
                    f.name
                    for f in fields(Entry)
                    if getattr(known, f.name) != getattr(entry, f.name)
                ]
                raise LedgerConflict(
                    f"entry {entry.entry_id} already exists with different "
                    f"{', '.join(differ)}; nothing of this commit was written"
                )
        self._check_reversals(conn, list(to_insert.values()))
        self._insert_records(conn, entries, _originals_first(to_insert.values()), ignore=False)

    def _insert_all_new(self, conn: Connection, new: Sequence[Entry]) -> bool:
        """The common case, tried first under a savepoint: every entry new, no target
        reversed twice (the keys and the unique reversal say so). When the ledger holds
        one already, only this try is undone, and the careful path tells a repeat of the
        same entry (skipped) from a conflict (refused)."""
        try:
            with conn.begin_nested():
                self._insert_records(conn, entries, _originals_first(new), ignore=False)
        except IntegrityError:
            return False
        return True

    def _insert_moves(self, conn: Connection, moves: Sequence[StageMove]) -> None:
        if self.dialect == "sqlite":
            # A stage is a StrEnum: the driver stores its text, which is its value.
            self._insert_records(conn, stage_moves, moves, ignore=True)
        else:
            self._insert_ignore(conn, stage_moves, [move_row(m) for m in moves])

    def _check_reversals(self, conn: Connection, new: Sequence[Entry]) -> None:
        by_target: dict[str, str] = {}
        for entry in new:
            target = entry.reverses_entry_id
            if target is None:
                continue
            if target in by_target:
                raise _reversed_twice(target, by_target[target], entry.entry_id)
            by_target[target] = entry.entry_id
        targets = sorted(by_target)
        for chunk in _chunks(targets):
            query = select(entries.c.entry_id, entries.c.reverses_entry_id).where(
                entries.c.reverses_entry_id.in_(chunk)
            )
            for row in conn.execute(query):
                raise _reversed_twice(
                    row.reverses_entry_id, row.entry_id, by_target[row.reverses_entry_id]
                )

    def _select_entries(self, conn: Connection, ids: Sequence[str]) -> list[Entry]:
        found: list[Entry] = []
        for chunk in _chunks(sorted(set(ids))):
            rows = conn.execute(select(entries).where(entries.c.entry_id.in_(chunk)))
            found.extend(map(entry_of, rows))
        return found

    # --- the outbox ------------------------------------------------------------------------
    def replies(self, board_id: str | None = None, status: str | None = None) -> list[OutboxReply]:
        query = select(replies).order_by(replies.c.created_at, replies.c.reply_id)
        if board_id is not None:
            query = query.where(replies.c.board_id == board_id)
        if status is not None:
            query = query.where(replies.c.status == status)
        with self._read() as conn:
            return [_outbox_reply(row._asdict()) for row in conn.execute(query)]

    def mark_attempted(
        self,
        reply_id: str,
        at: datetime,
        lease: Lease | None = None,
        seen: OutboxReply | None = None,
    ) -> bool:
        """Record an attempt. With `seen` (the row as the caller read it), only if the row
        is still exactly that: a compare-and-set, so that of two processes looking at the
        same pending reply only one goes on to POST it. Returns whether it was recorded."""
        with self._write() as conn:
            if lease is not None:
                leases.check(conn, lease, self._clock.now())
            query = update(replies).where(replies.c.reply_id == reply_id)
            if seen is not None:
                query = query.where(
                    and_(
                        replies.c.status == seen.status,
                        replies.c.attempts == seen.attempts,
                    )
                )
            result = conn.execute(
                query.values(
                    # A reply already posted stays posted: the attempt is only counted.
                    status=case((replies.c.status == POSTED, POSTED), else_=ATTEMPTED),
                    attempted_at=at,
                    attempts=replies.c.attempts + 1,
                )
            )
            return bool(result.rowcount == 1)

    def mark_posted(self, reply_id: str, comment_id: str, at: datetime) -> None:
        with self._write() as conn:
            _set_posted(conn, PostedReply(reply_id, comment_id), at)

    def mark_failed(self, reply_id: str, reason: str, lease: Lease | None = None) -> None:
        with self._write() as conn:
            if lease is not None:
                leases.check(conn, lease, self._clock.now())
            conn.execute(
                update(replies)
                .where(replies.c.reply_id == reply_id, replies.c.status != POSTED)
                .values(status=FAILED, failure=reason[:FAILURE_MAX])
            )

    # --- several workers ------------------------------------------------------------------
    def claim_boards(
        self, owner: str, keys: Iterable[str], lease_seconds: float, limit: int | None = None
    ) -> list[Lease]:
        with self._write() as conn:
            return leases.claim(conn, owner, keys, lease_seconds, self._clock.now(), limit)

    def renew_leases(self, held: Iterable[Lease], lease_seconds: float) -> list[Lease]:
        with self._write() as conn:
            return leases.renew(conn, held, lease_seconds, self._clock.now())

    def release_leases(self, owner: str, keys: Iterable[str] | None = None) -> None:
        with self._write() as conn:
            leases.release(conn, owner, keys)

    def live_owners(self) -> set[str]:
        with self._read() as conn:
            return leases.live_owners(conn, self._clock.now())

    # --- numbered documents and payments (ledger/documents.py) ----------------------------
    def issue_document(
        self, request: DocumentRequest, *, prefix: str, at: datetime
    ) -> IssuedDocument:
        return books.issue_document(self._write, request, prefix, at)

    def documents(
        self, mentor: str | None = None, month: str | None = None
    ) -> list[IssuedDocument]:
        with self._read() as conn:
            return books.select_documents(conn, mentor, month)

    def record_payment(self, payment: Payment) -> None:
        books.record_payment(self._write, payment)

    def payments(self, mentor: str | None = None, month: str | None = None) -> list[Payment]:
        with self._read() as conn:
            return books.select_payments(conn, mentor, month)

    # --- reading for exports, reports, checks ----------------------------------------------
    def entries(self, board_id: str | None = None) -> Iterator[Entry]:
        query = select(entries).order_by(entries.c.recorded_at, entries.c.entry_id)
        if board_id is not None:
            query = query.where(entries.c.board_id == board_id)
        with self._errors(), self._engine.connect() as conn:
            # yield_per streams (a server-side cursor on PostgreSQL): memory stays flat.
            result = conn.execution_options(yield_per=STREAM_ROWS).execute(query)
            for row in result:
                yield entry_of(row)

    def entries_by_session_date(self) -> Iterator[Entry]:
        query = select(entries).order_by(
            entries.c.session_date, entries.c.recorded_at, entries.c.entry_id
        )
        with self._errors(), self._engine.connect() as conn:
            result = conn.execution_options(yield_per=STREAM_ROWS).execute(query)
            for row in result:
                yield entry_of(row)

    def moves(self, board_id: str | None = None) -> list[StageMove]:
        query = select(stage_moves).order_by(
            stage_moves.c.at, stage_moves.c.board_id, stage_moves.c.source_action_id
        )
        with self._read() as conn:
            return [move_of(row) for row in conn.execute(_for_board(query, stage_moves, board_id))]

    def cards(self, board_id: str | None = None) -> list[CardRecord]:
        query = select(cards).order_by(cards.c.board_id, cards.c.card_id)
        with self._read() as conn:
            rows = conn.execute(_for_board(query, cards, board_id))
            return [CardRecord(**row._asdict()) for row in rows]

    def get_meta(self, key: str) -> str | None:
        with self._read() as conn:
            value = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as conn:
            self._upsert_meta(conn, key, value)

    def swap_meta(self, key: str, expected: str | None, value: str) -> bool:
        # Both statements are atomic on their own on both backends: an INSERT that the
        # primary key lets through once, an UPDATE that PostgreSQL re-checks against
        # the committed row after waiting for a concurrent writer's lock. RETURNING says
        # whether a row was written (psycopg gives no rowcount for ON CONFLICT).
        with self._write() as conn:
            if expected is None:
                insert = dialect_insert(self.dialect, meta).values(key=key, value=value)
                statement = insert.on_conflict_do_nothing(index_elements=["key"])
            else:
                statement = (
                    update(meta)
                    .where(meta.c.key == key, meta.c.value == expected)
                    .values(value=value)
                )
            return conn.execute(statement.returning(meta.c.key)).first() is not None

    def _upsert_meta(self, conn: Connection, key: str, value: str) -> None:
        upsert = dialect_insert(self.dialect, meta).values(key=key, value=value)
        conn.execute(upsert.on_conflict_do_update(index_elements=["key"], set_={"value": value}))

    def _write_board_notes(self, conn: Connection, board_id: str, plan: Plan) -> None:
        """The plan's notes on the board, in the plan's own transaction."""
        if plan.first_synced is not None:
            key = reads.FIRST_SYNC_META + board_id
            first = dialect_insert(self.dialect, meta).values(
                key=key, value=format_instant(plan.first_synced)
            )
            conn.execute(first.on_conflict_do_nothing(index_elements=["key"]))  # set once
        if plan.reread_at is not None:
            self._upsert_meta(conn, reads.REREAD_META + board_id, format_instant(plan.reread_at))
        if plan.clear_flag:
            conn.execute(update(boards).where(boards.c.board_id == board_id).values(flag=None))


def _outbox_reply(row: dict[str, Any]) -> OutboxReply:
    return OutboxReply(
        **{**row, "kind": ReplyKind(row["kind"]), "status": ReplyStatus(row["status"])}
    )


def dialect_insert(dialect: str, table: Table) -> Any:
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def _for_board(query: Select[Any], table: Table, board_id: str | None) -> Select[Any]:
    return query if board_id is None else query.where(table.c.board_id == board_id)


def _set_posted(conn: Connection, posted: PostedReply, at: datetime) -> None:
    conn.execute(
        update(replies)
        .where(replies.c.reply_id == posted.reply_id, replies.c.status != POSTED)
        .values(status=POSTED, comment_id=posted.comment_id, posted_at=at)
    )


def _advance_checkpoint(conn: Connection, board_id: str, checkpoint: Checkpoint) -> None:
    """Move the checkpoint forward by (at, action_id); never back. One atomic UPDATE."""
    at, action_id = boards.c.checkpoint_at, boards.c.checkpoint_action_id
    conn.execute(
        update(boards)
        .where(
            boards.c.board_id == board_id,
            or_(
                at.is_(None),
                at < checkpoint.at,
                and_(at == checkpoint.at, action_id < checkpoint.action_id),
            ),
        )
        .values(checkpoint_action_id=checkpoint.action_id, checkpoint_at=checkpoint.at)
    )


def _check_board(board_id: str, plan: Plan) -> None:
    """A plan is one board's: a record of another board is a bug, refused before writing."""
    records: list[Any] = [*plan.entries, *plan.moves, *plan.cards, *plan.replies, *plan.applied]
    strays = sorted({r.board_id for r in records if r.board_id != board_id})
    if strays:
        raise LedgerError(f"a plan for board {board_id} holds records of {', '.join(strays)}")


def _reversed_twice(target: str, first: str, second: str) -> LedgerConflict:
    return LedgerConflict(
        f"entry {second} reverses entry {target}, already reversed by {first}; "
        "nothing of this commit was written"
    )
