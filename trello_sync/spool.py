"""A cycle's actions, de-duplicated by id and read back oldest first, in chunks.

Trello pages a board's history newest first and the planner needs it oldest first, so a
first sync must see every page before it plans anything. Held as decoded JSON, a history
of a million actions costs gigabytes; held here it costs a bounded amount of memory: up
to `memory_limit` parsed actions stay in a dict, past that they move to a temporary
SQLite file (deleted on close), which sorts them on disk when they are read back.

A process killed during a first sync cannot delete its file (28 MB per 100,000 actions),
so every spool on disk holds an exclusive `flock` on a sibling lock file for its whole
life, and `remove_dead_spools` deletes the files whose lock nobody holds: the kernel
drops a lock when its holder dies, whatever its PID becomes, so a live spool (of this
process or of another worker on the machine) is never touched. The lock is on a sibling
file, not on the database, so that SQLite's own (POSIX) locks on it are left alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import sys
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, NamedTuple

from trello_sync.domain.actions import Action, ActionKind, action_order
from trello_sync.domain.cycle import is_command
from trello_sync.domain.replies import carries_marker

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_COLUMNS = (
    "id, type, kind, date_us, board_id, member_id, member_username, card_id, card_name, "
    "list_id, list_name, text, edited_us"
)
_Row = tuple[Any, ...]
_KINDS = {kind.value: kind for kind in ActionKind}
IN_LIST_MAX = 500  # ids per IN (...) list: under SQLite's bound-parameter limit
# A spool on disk is two files: trello-sync-spool-<pid>-<random>.db and the .lock beside
# it. The PID is there for a person reading the temp folder; liveness is the lock.
SPOOL_PREFIX = "trello-sync-spool-"
_DB, _LOCK = ".db", ".lock"


def _micros(when: datetime) -> int:
    return (when - _EPOCH) // _MICROSECOND


def _instant(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _intern(text: str | None) -> str | None:
    # Card, list, board and member ids repeat on every action: one copy each.
    return sys.intern(text) if text is not None else None


def _row(action: Action) -> _Row:
    return (
        action.id,
        action.type,
        action.kind.value,
        _micros(action.date),
        action.board_id,
        action.member_id,
        action.member_username,
        action.card_id,
        action.card_name,
        action.list_id,
        action.list_name,
        action.text,
        _micros(action.edited_at) if action.edited_at else None,
    )


def _action(row: _Row) -> Action:
    edited = row[12]
    return Action(
        id=row[0],
        type=sys.intern(row[1]),
        kind=_KINDS[row[2]],
        date=_instant(row[3]),
        board_id=sys.intern(row[4]),
        member_id=sys.intern(row[5]),
        member_username=sys.intern(row[6]),
        card_id=_intern(row[7]),
        card_name=_intern(row[8]),
        list_id=_intern(row[9]),
        list_name=_intern(row[10]),
        text=row[11],
        edited_at=_instant(edited) if edited is not None else None,
    )


class SpoolError(RuntimeError):
    """The temporary file of a long history could not be written or read (a full disk,
    a TMPDIR that is not writable): the board's cycle stops; what it committed stays."""


def _lock_new_spool(directory: str | None) -> tuple[int, str]:
    """A new spool's lock file, created and locked: (its descriptor, the spool's path
    without its suffix)."""
    while True:
        fd, lock_path = tempfile.mkstemp(
            prefix=f"{SPOOL_PREFIX}{os.getpid()}-", suffix=_LOCK, dir=directory
        )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            # Until the lock is taken, a cleaner may take it, judge the file dead and
            # delete it: then the path is gone (or another file), and we start again.
            if os.path.samestat(os.fstat(fd), os.stat(lock_path)):
                return fd, lock_path[: -len(_LOCK)]
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def remove_dead_spools(directory: str | None = None) -> int:
    """Delete the spool files of processes that died (`kill -9`, a crash, a power cut)
    in `directory` (default: the temp folder); returns how many spools were removed.

    A spool is dead when the lock on its `.lock` file can be taken without waiting: its
    owner holds that lock from the file's creation until it has deleted both files.
    Never raises: a temp folder that is missing or unreadable has nothing to clean."""
    try:
        folder = directory or tempfile.gettempdir()
        with os.scandir(folder) as entries:
            names = [entry.name for entry in entries if entry.name.startswith(SPOOL_PREFIX)]
    except OSError as error:
        log.debug("no dead spools looked for in %s: %s", directory or "the temp folder", error)
        return 0
    stems = {
        name[: -len(suffix)] for name in names for suffix in (_DB, _LOCK) if name.endswith(suffix)
    }
    removed = 0
    for stem in sorted(stems):
        try:
            removed += _remove_if_dead(os.path.join(folder, stem))
        except OSError as error:  # another user's file, a folder gone read-only: leave it
            log.debug("spool %s left alone: %s", stem, error)
    if removed:
        log.info(
            "removed %d temporary file(s) of a long history left in %s by a process that died",
            removed,
            folder,
        )
    return removed


def _remove_if_dead(stem: str) -> int:
    lock_path = stem + _LOCK
    # Created if missing (a database whose lock file is gone has no owner): an owner
    # never takes an existing name, so this cannot stand in for a live spool's lock.
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # held: its process is alive
        try:
            if not os.path.samestat(os.fstat(fd), os.stat(lock_path)):
                return 0  # another cleaner removed it meanwhile
        except FileNotFoundError:
            return 0
        removed = 0
        with contextlib.suppress(FileNotFoundError):
            os.unlink(stem + _DB)
            removed = 1
        # The lock file last, while its lock is held: the order an owner deletes them in.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_path)
        return removed
    finally:
        os.close(fd)


class CardKind(NamedTuple):
    """One (card, kind of action) pair of the history: what the emptiness guard reads."""

    card_id: str | None
    kind: ActionKind


# Past this many actions, a window moves from memory to a temporary file: about 60 MB of
# parsed actions at most in memory.
MEMORY_LIMIT = 50_000


class ActionSpool:
    """Add actions in any order (a later copy of an id replaces the earlier one, unless
    added with `replace=False`); read them back sorted by (date, id)."""

    def __init__(self, *, memory_limit: int = MEMORY_LIMIT, directory: str | None = None) -> None:
        self._memory: dict[str, Action] = {}
        self._memory_limit = memory_limit
        self._directory = directory
        self._db: sqlite3.Connection | None = None
        self._path: str | None = None
        self._lock: tuple[int, str] | None = None  # the lock file's descriptor and path
        self._on_disk = 0
        # What the whole history says, kept as it is added (a few small sets).
        self.card_kinds: set[CardKind] = set()
        self.has_commands = False
        self.has_markers = False  # a comment carrying a reply marker: whose is it?

    # --- writing ----------------------------------------------------------------------
    def add(self, actions: Iterable[Action], *, replace: bool = True) -> None:
        batch: dict[str, Action] = {}
        for action in actions:
            if action.card_id is not None:
                self.card_kinds.add(CardKind(action.card_id, action.kind))
            if is_command(action):
                self.has_commands = True
            if carries_marker(action.text):
                self.has_markers = True
            if replace or action.id not in batch:
                batch[action.id] = action
        if self._db is None:
            if replace:
                self._memory.update(batch)
            else:
                for action_id, action in batch.items():
                    self._memory.setdefault(action_id, action)
            if len(self._memory) > self._memory_limit:
                with self._disk_errors("create"):
                    self._spill()
            return
        with self._disk_errors("write"):
            self._store(batch, replace=replace)

    def _store(self, batch: dict[str, Action], *, replace: bool) -> None:
        assert self._db is not None
        known = 0
        ids = list(batch)
        for start in range(0, len(ids), IN_LIST_MAX):
            part = ids[start : start + IN_LIST_MAX]
            marks = ",".join("?" * len(part))
            known += self._db.execute(
                f"SELECT count(*) FROM spool WHERE id IN ({marks})", part
            ).fetchone()[0]
        with self._db:
            self._db.executemany(
                f"INSERT OR {'REPLACE' if replace else 'IGNORE'} INTO spool ({_COLUMNS})"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [_row(action) for action in batch.values()],
            )
        self._on_disk += len(batch) - known

    def _spill(self) -> None:
        remove_dead_spools(self._directory)  # the room they take may be needed now
        fd, stem = _lock_new_spool(self._directory)
        self._lock = (fd, stem + _LOCK)
        self._path = stem + _DB
        # Private, as mkstemp makes its files: it holds the comments of the history.
        os.close(os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600))
        # Scratch data, rebuilt from Trello if lost: no journal, no fsync.
        self._db = sqlite3.connect(self._path)
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-8000;"
            "CREATE TABLE spool (id TEXT PRIMARY KEY, type TEXT, kind TEXT, date_us INTEGER,"
            " board_id TEXT, member_id TEXT, member_username TEXT, card_id TEXT,"
            " card_name TEXT, list_id TEXT, list_name TEXT, text TEXT, edited_us INTEGER)"
        )
        memory, self._memory = self._memory, {}
        self.add(memory.values())

    # --- reading ----------------------------------------------------------------------
    def __len__(self) -> int:
        return self._on_disk if self._db is not None else len(self._memory)

    @property
    def on_disk(self) -> bool:
        return self._db is not None

    def versions(self, action_ids: Iterable[str]) -> dict[str, str]:
        """The version held of each of these ids that the spool holds."""
        wanted = list(dict.fromkeys(action_ids))
        if self._db is None:
            return {i: self._memory[i].version for i in wanted if i in self._memory}
        with self._disk_errors("read"):
            return self._versions_on_disk(wanted)

    def _versions_on_disk(self, wanted: list[str]) -> dict[str, str]:
        assert self._db is not None
        found: dict[str, str] = {}
        for start in range(0, len(wanted), IN_LIST_MAX):
            part = wanted[start : start + IN_LIST_MAX]
            marks = ",".join("?" * len(part))
            query = f"SELECT {_COLUMNS} FROM spool WHERE id IN ({marks})"
            for row in self._db.execute(query, part):
                found[row[0]] = _action(row).version
        return found

    def chunks(self, size: int) -> Iterator[list[Action]]:
        """Every action once, oldest first by (date, id), `size` at a time."""
        if size < 1:
            raise ValueError(f"chunk size must be at least 1, not {size}")
        if self._db is None:
            ordered = sorted(self._memory.values(), key=action_order)
            for start in range(0, len(ordered), size):
                yield ordered[start : start + size]
            return
        with self._disk_errors("read"):
            cursor = self._db.execute(f"SELECT {_COLUMNS} FROM spool ORDER BY date_us, id")
        while True:
            with self._disk_errors("read"):
                rows = cursor.fetchmany(size)
            if not rows:
                return
            yield [_action(row) for row in rows]

    @contextlib.contextmanager
    def _disk_errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except (sqlite3.Error, OSError) as error:
            folder = self._directory or tempfile.gettempdir()
            # The folder is named already: not again inside the OSError's file name.
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            raise SpoolError(
                f"could not {doing} the temporary file of a long history in {folder} "
                f"({reason}); set TMPDIR to a folder with room"
            ) from error

    # --- life -------------------------------------------------------------------------
    def close(self) -> None:
        self._memory = {}
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)
            self._path = None
        if self._lock is not None:
            # The lock goes last, once both files are gone.
            fd, lock_path = self._lock
            self._lock = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock_path)
            os.close(fd)

    def __enter__(self) -> ActionSpool:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()
