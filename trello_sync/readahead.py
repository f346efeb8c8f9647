"""Read ahead: run an iterator in a background thread, a bounded number of items ahead.

A first sync reads its history slice by slice (one request or a few each) and applies
each slice (planning, committing). Trello's rate limit makes the requests wait; the work
is Python. `read_ahead(slices, ahead=1)` lets the next slice's requests and their waits
happen while the consumer applies the current one.

What a consumer may rely on:

- the items come in the source's order, each once; at most `ahead` items are held
  that the consumer has not taken (plus the one the producer is computing);
- an exception raised by the source is raised in the consumer, by the `next()` that
  would have returned the item the source failed to make (with its own traceback),
  after the items made before it; the source is not asked again after it;
- `close()` (or leaving the `with` block, or dropping the object) stops the producer:
  no item is asked of the source after it, and it returns once the background thread
  has ended (it waits for the item being computed, at most, then closes the source);
- the source runs only in the background thread, from start to close: a source that
  is not safe to share between threads (a generator, an HTTP client) is safe here as
  long as the consumer does not use it too in the meantime.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections import deque
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")

_DONE = object()  # the source ran out


class _Channel(Generic[T]):
    """What the producer and the consumer share (never the ReadAhead itself, so that a
    consumer that drops it lets it be collected, which stops the producer)."""

    def __init__(self, ahead: int) -> None:
        self.ahead = ahead
        self.cond = threading.Condition()
        self.items: deque[T] = deque()
        self.end: object | None = None  # _DONE, or the exception the source raised
        self.stopped = False

    def produce(self, source: Iterable[T]) -> None:
        iterator = iter(source)
        try:
            while True:
                with self.cond:
                    while len(self.items) >= self.ahead and not self.stopped:
                        self.cond.wait()
                    if self.stopped:
                        return
                try:
                    item = next(iterator)
                except StopIteration:
                    self._finish(_DONE)
                    return
                except BaseException as error:  # re-raised in the consumer
                    self._finish(error)
                    return
                with self.cond:
                    if self.stopped:
                        return
                    self.items.append(item)
                    self.cond.notify_all()
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                # A generator's cleanup runs here, in the thread it ran in; an error in
                # it has nobody to go to (the consumer is gone, or has its own error).
                with contextlib.suppress(Exception):
                    close()

    def _finish(self, end: object) -> None:
        with self.cond:
            self.end = end
            self.cond.notify_all()

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.items.clear()
            self.cond.notify_all()


def _stop_and_join(channel: _Channel[T], thread: threading.Thread) -> None:
    channel.stop()
    if thread is not threading.current_thread():
        thread.join()


class ReadAhead(Iterator[T]):
    """The consumer's side of `read_ahead` (an iterator and a context manager)."""

    def __init__(self, source: Iterable[T], *, ahead: int = 1, name: str = "read-ahead") -> None:
        if ahead < 1:
            raise ValueError(f"ahead must be at least 1, not {ahead}")
        self._channel: _Channel[T] = _Channel(ahead)
        self._thread = threading.Thread(
            target=self._channel.produce, args=(source,), name=name, daemon=True
        )
        self._closed = False
        self._finalizer = weakref.finalize(self, _stop_and_join, self._channel, self._thread)
        self._thread.start()

    def __iter__(self) -> ReadAhead[T]:
        return self

    def __next__(self) -> T:
        channel = self._channel
        if self._closed:
            raise StopIteration
        with channel.cond:
            while not channel.items and channel.end is None:
                channel.cond.wait()
            if channel.items:
                item = channel.items.popleft()
                channel.cond.notify_all()
                return item
            end = channel.end
        self.close()
        if isinstance(end, BaseException):
            raise end
        raise StopIteration

    def close(self) -> None:
        """Stop the producer and wait for its thread to end; nothing more is read."""
        self._closed = True
        self._finalizer()

    @property
    def running(self) -> bool:
        """Whether the background thread is still alive (for tests and diagnostics)."""
        return self._thread.is_alive()

    def __enter__(self) -> ReadAhead[T]:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()


def read_ahead(source: Iterable[T], *, ahead: int = 1, name: str = "read-ahead") -> ReadAhead[T]:
    """`source`'s items, computed in a background thread at most `ahead` items ahead of
    the consumer (see the module for what may be relied on). Use it in a `with` block,
    or close it, so that a consumer that stops early stops the producer at once."""
    return ReadAhead(source, ahead=ahead, name=name)
