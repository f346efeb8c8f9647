"""A cycle's actions, de-duplicated by id and read back oldest first, in chunks.

Trello pages a board's history newest first and the planner needs it oldest first, so a
first sync must see every page before it plans anything. Held as decoded JSON, a history
of a million actions costs gigabytes; held here it costs a bounded amount of memory: up
to `memory_limit` parsed actions stay in a dict, past that they move to a temporary
SQLite file (deleted on close), which sorts them on disk when they are read back.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, NamedTuple

from trello_sync.domain.actions import Action, ActionKind, action_order

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_COLUMNS = (
    "id, type, kind, date_us, board_id, member_id, member_username, card_id, card_name, "
    "list_id, list_name, text, edited_us"
)
_Row = tuple[Any, ...]
_KINDS = {kind.value: kind for kind in ActionKind}
IN_LIST_MAX = 500  # ids per IN (...) list: under SQLite's bound-parameter limit


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


class CardKind(NamedTuple):
    """One (card, kind of action) pair of the history: what the emptiness guard reads."""

    card_id: str | None
    kind: ActionKind


class ActionSpool:
    """Add actions in any order (a later copy of an id replaces the earlier one, unless
    added with `replace=False`); read them back sorted by (date, id)."""

    def __init__(self, *, memory_limit: int = 20_000, directory: str | None = None) -> None:
        self._memory: dict[str, Action] = {}
        self._memory_limit = memory_limit
        self._directory = directory
        self._db: sqlite3.Connection | None = None
        self._path: str | None = None
        self._on_disk = 0
        # What the whole history says, kept as it is added (a few small sets).
        self.card_kinds: set[CardKind] = set()
        self.has_commands = False

    # --- writing ----------------------------------------------------------------------
    def add(self, actions: Iterable[Action], *, replace: bool = True) -> None:
        batch: dict[str, Action] = {}
        for action in actions:
            if action.card_id is not None:
                self.card_kinds.add(CardKind(action.card_id, action.kind))
            if action.text is not None and action.text.lstrip()[:1] == "/":
                self.has_commands = True
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
        fd, self._path = tempfile.mkstemp(
            prefix="trello-sync-spool-", suffix=".db", dir=self._directory
        )
        os.close(fd)
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
            raise SpoolError(
                f"could not {doing} the temporary file of a long history in {folder} "
                f"({error}); set TMPDIR to a folder with room"
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

    def __enter__(self) -> ActionSpool:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()
