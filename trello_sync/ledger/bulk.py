"""Bulk inserts on SQLite straight to the driver's executemany.

A long first sync commits hundreds of thousands of rows; SQLAlchemy compiling and
binding each row one by one was most of its commit time (benchmarks/). Here a table's
INSERT is built once and each value goes through the bind processor SQLAlchemy itself
would apply to its column, or a quicker one proved to write exactly the same text when
it is built. PostgreSQL keeps SQLAlchemy's own path (its multi-row INSERTs are fast).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, ClassVar

from sqlalchemy import Date, Dialect, Table

from trello_sync.ledger import schema
from trello_sync.ledger.store import LedgerError


class SqliteBulkInsert:
    """One table's INSERT (or INSERT … ON CONFLICT DO NOTHING) for records whose fields
    are its columns, sent to the driver's executemany as tuples.

    Each value goes through the bind processor SQLAlchemy itself would apply to its
    column (UtcDateTime's UTC check and text form, Date's text form), so the rows stored
    are the same; what is saved is SQLAlchemy compiling and binding every row one by one,
    which was most of a long first sync's commit time (benchmarks/)."""

    _cache: ClassVar[dict[tuple[str, str, bool], SqliteBulkInsert]] = {}

    def __init__(self, table: Table, dialect: Dialect, ignore: bool) -> None:
        names = [column.name for column in table.columns]
        marks = ", ".join("?" for _ in names)  # SQLite's qmark parameters
        quoted = ", ".join(f'"{name}"' for name in names)
        conflict = " ON CONFLICT DO NOTHING" if ignore else ""
        self.sql = f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks}){conflict}'
        self._get = operator.attrgetter(*names)
        self._processors: list[tuple[int, Callable[[Any], Any]]] = []
        for index, column in enumerate(table.columns):
            processor: Callable[[Any], Any] | None = column.type.dialect_impl(
                dialect
            ).bind_processor(dialect)
            if processor is None:
                continue
            quick = _QUICK_TEXT.get(type(column.type)) if dialect.name == "sqlite" else None
            if quick is not None and _same_text(quick, processor, type(column.type)):
                processor = quick
            self._processors.append((index, processor))

    @classmethod
    def of(cls, table: Table, dialect: Dialect, ignore: bool) -> SqliteBulkInsert:
        key = (table.name, dialect.name, ignore)
        bulk = cls._cache.get(key)
        if bulk is None:
            bulk = cls._cache[key] = cls(table, dialect, ignore)
        return bulk

    def rows(self, records: Sequence[Any]) -> list[tuple[Any, ...]]:
        get, processors = self._get, self._processors
        if not processors:
            return [get(record) for record in records]
        rows: list[tuple[Any, ...]] = []
        try:
            for record in records:
                row = list(get(record))
                for index, processor in processors:
                    row[index] = processor(row[index])
                rows.append(tuple(row))
        except (ValueError, TypeError) as error:  # e.g. a naive instant: refused
            raise LedgerError(f"ledger database error: {error}") from error
        return rows


def _utc_text(value: datetime | None) -> str | None:
    """UtcDateTime's text on SQLite, as its bind processor writes it (checked against it
    when a SqliteBulkInsert is built), in one C call instead of a tz check, a conversion and a
    %-format of seven fields."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: the ledger stores aware instants")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _date_text(value: date | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, date) or isinstance(value, datetime):
        raise TypeError(f"not a date: {value!r}")
    return value.isoformat()


_QUICK_TEXT: dict[type, Callable[[Any], Any]] = {
    schema.UtcDateTime: _utc_text,
    Date: _date_text,
}
_SAMPLE_INSTANTS = (
    datetime(2026, 11, 28, 9, 15, 0, tzinfo=UTC),
    datetime(2026, 3, 29, 2, 30, 0, 123456, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
)
_SAMPLE_DATES = (date(2026, 11, 28), date(999, 1, 2))


def _same_text(quick: Callable[[Any], Any], slow: Callable[[Any], Any], kind: type) -> bool:
    """Whether the quick form writes exactly what SQLAlchemy's processor writes."""
    samples = _SAMPLE_INSTANTS if kind is schema.UtcDateTime else _SAMPLE_DATES
    try:
        return all(quick(value) == slow(value) for value in (None, *samples))
    except (ValueError, TypeError, OverflowError):
        return False
