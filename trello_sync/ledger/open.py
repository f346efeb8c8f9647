"""Open the ledger named by a URL: `sqlite:///path.db`, `sqlite://` or `postgresql://…`.

Every failure is a `LedgerError` with one line that shows the URL without its password.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from trello_sync.clock import Clock, SystemClock
from trello_sync.ledger.schema import WRITE_OPTION, schema_version
from trello_sync.ledger.sql import SqlLedger
from trello_sync.ledger.store import LedgerError
from trello_sync.preflight import file_problem, shown

BUSY_TIMEOUT_MS = 30_000  # how long a writer waits for another one's lock on SQLite
CONNECT_TIMEOUT_S = 10  # an unreachable PostgreSQL fails in seconds, not minutes
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EXPECTED = "expected sqlite:///path/to/ledger.db or postgresql://user@host/database"


def open_ledger(url: str, *, clock: Clock | None = None, migrate: bool = True) -> SqlLedger:
    """Connect, bring the schema up to date (unless `migrate` is False: for a look that
    must change nothing), and return the store."""
    engine = create_ledger_engine(url)
    ledger = SqlLedger(engine, clock or SystemClock())
    if not migrate:
        return ledger
    try:
        ledger.migrate()
    except LedgerError as error:
        engine.dispose()
        cause = error.__cause__
        if isinstance(cause, DBAPIError):
            raise LedgerError(f"cannot open the ledger {_safe(engine.url, cause)}") from None
        raise
    except BaseException:
        engine.dispose()
        raise
    return ledger


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite ledger; None for PostgreSQL or an in-memory SQLite."""
    parsed = parse_ledger_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def shown_ledger(url: str) -> str:
    """Where the ledger is, for a message: a SQLite file's absolute path, or the URL
    without its password and options."""
    file = sqlite_file(url)
    if file is not None:
        return shown(file)
    return parse_ledger_url(url).set(query={}).render_as_string(hide_password=True)


def ledger_location_problem(url: str) -> str | None:
    """Why a SQLite ledger cannot be written where the URL says (its folder cannot be
    created or written, or the file is read-only), or None. Creates nothing."""
    file = sqlite_file(url)
    if file is None:
        return None
    problem = file_problem(file)
    return f"cannot write the ledger {shown(file)} ({problem})" if problem else None


def ledger_exists(url: str) -> bool:
    """Whether the ledger was created already (its `schema_version` table is there),
    without creating anything: a missing SQLite file is not opened. An in-memory SQLite
    counts as there (it is new each time, and nothing on disk is at stake)."""
    parsed = parse_ledger_url(url)
    file = sqlite_file(url)
    if parsed.get_backend_name() == "sqlite" and file is None:
        return True
    if file is not None and not file.is_file():
        return False
    engine = create_ledger_engine(url)
    try:
        return bool(inspect(engine).has_table(schema_version.name))
    except DBAPIError as error:
        raise LedgerError(f"cannot open the ledger {_safe(engine.url, error)}") from None
    finally:
        engine.dispose()


def create_ledger_engine(url: str) -> Engine:
    """The engine for a ledger URL, with the connection settings the ledger relies on."""
    parsed = parse_ledger_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(parsed)
        return create_engine(
            parsed, pool_pre_ping=True, connect_args={"connect_timeout": CONNECT_TIMEOUT_S}
        )
    except (ImportError, NoSuchModuleError):
        raise LedgerError(
            f"the driver for {parsed.drivername} is not installed "
            "(PostgreSQL needs: pip install 'trello-sync[postgres]')"
        ) from None


def parse_ledger_url(url: str) -> URL:
    """Check the URL and pick the driver: `postgresql://` means psycopg 3."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError, TypeError):
        # The text itself is not repeated: it may hold a password.
        raise LedgerError(f"the ledger URL is not a database URL ({_EXPECTED})") from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        if "+" not in parsed.drivername or backend == "postgres":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed
    if backend == "sqlite":
        return parsed
    raise LedgerError(f"unsupported ledger database {backend!r} ({_EXPECTED})")


def schema_url(url: str, schema: str) -> str:
    """The same PostgreSQL URL, with its tables in `schema` (tests: one schema each)."""
    if not _SCHEMA_NAME.match(schema):
        raise LedgerError(f"not a plain schema name: {schema!r}")
    parsed = parse_ledger_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise LedgerError("a schema can only be chosen on PostgreSQL")
    with_schema = parsed.update_query_dict({"options": f"-csearch_path={schema}"})
    return with_schema.render_as_string(hide_password=False)


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if database in ("", ":memory:"):
        # One connection shared by everyone: each new one would be a new, empty database.
        kwargs["poolclass"] = StaticPool
    else:
        try:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            # "File exists" alone does not say that a part of the path is a file.
            why = (
                "a part of that path is a file"
                if isinstance(error, FileExistsError | NotADirectoryError)
                else error.strerror
            )
            raise LedgerError(f"cannot create the folder of the ledger {database}: {why}") from None
    engine = create_engine(url, **kwargs)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


CACHE_KIB = 16 * 1024


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy's recipe "Serializable isolation / Savepoints / Transactional DDL":
    # stop pysqlite from issuing BEGIN itself (it skips it before SELECT and DDL), and
    # issue our own in _sqlite_on_begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # WAL: readers (an export) do not block the writer. FULL: a commit that returned
        # survives a power cut. Foreign keys are off by default in SQLite.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # A page cache of 16 MiB (SQLite's default is 2 MiB): the index of entries by
        # card takes an insert on every student's own page, and a long history's first
        # sync touches thousands of them per commit.
        cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # A write takes the lock at BEGIN: a deferred transaction that reads then writes can
    # fail with "database is locked" mid-way, without waiting out busy_timeout.
    write = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _safe(url: URL, error: DBAPIError) -> str:
    """`postgresql+psycopg://user:***@host/db: <the driver's first line>`, password-free."""
    lines = str(error.orig).strip().splitlines()
    reason = lines[0] if lines else type(error.orig).__name__
    if url.password:
        reason = reason.replace(str(url.password), "***")
    shown = url.set(query={}).render_as_string(hide_password=True)
    return f"{shown}: {reason}"
