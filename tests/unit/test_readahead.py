"""read_ahead with real threads: order, the bound, errors where they belong, early stops.

No sleep decides an outcome: the source signals each step on an event, and the test
waits on it (the timeouts only keep a broken build from hanging).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from trello_sync.readahead import ReadAhead, read_ahead

WAIT = 10.0  # seconds: only ever reached if the code under test is broken


class Source:
    """Items 0, 1, 2, … (or up to `n`), recording each time it is asked for the next."""

    def __init__(self, n: int | None = None, *, fail_at: int | None = None) -> None:
        self.n, self.fail_at = n, fail_at
        self.asked = 0
        self.threads: set[str] = set()
        self.cleaned_up = threading.Event()
        self._asked_events: dict[int, threading.Event] = {}
        self._lock = threading.Lock()
        self.hold: dict[int, threading.Event] = {}  # item -> released when set

    def asked_for(self, count: int) -> threading.Event:
        with self._lock:
            event = self._asked_events.setdefault(count, threading.Event())
            if self.asked >= count:
                event.set()
            return event

    def __iter__(self) -> Iterator[int]:
        try:
            i = 0
            while self.n is None or i < self.n:
                with self._lock:
                    self.asked += 1
                    self.threads.add(threading.current_thread().name)
                    for count, event in self._asked_events.items():
                        if self.asked >= count:
                            event.set()
                if i in self.hold:
                    assert self.hold[i].wait(WAIT)
                if i == self.fail_at:
                    raise KeyError(f"item {i} could not be made")
                yield i
                i += 1
        finally:
            self.cleaned_up.set()


def test_every_item_in_order_then_the_thread_ends() -> None:
    source = Source(50)
    with read_ahead(source, ahead=3) as items:
        assert list(items) == list(range(50))
        assert not items.running
    assert source.cleaned_up.is_set()
    assert source.threads == {"read-ahead"}  # the source ran in the background only


@pytest.mark.parametrize("ahead", [1, 2, 5])
def test_never_more_than_ahead_items_beyond_what_was_taken(ahead: int) -> None:
    source = Source()  # endless
    with read_ahead(source, ahead=ahead) as items:
        for taken in range(1, 20):
            assert next(items) == taken - 1
            # Wait until the producer has filled the room the consumer left.
            assert source.asked_for(taken + ahead).wait(WAIT)
            assert source.asked <= taken + ahead
    assert source.asked <= 19 + ahead  # and nothing was asked after the close


def test_an_error_of_the_source_is_raised_where_its_item_was_due() -> None:
    source = Source(fail_at=4)
    items = read_ahead(source, ahead=2)
    assert [next(items) for _ in range(4)] == [0, 1, 2, 3]
    with pytest.raises(KeyError, match="item 4 could not be made") as raised:
        next(items)
    # Its own traceback, from inside the source.
    frames = [frame.name for frame in raised.traceback]
    assert "__iter__" in frames
    assert not items.running and source.cleaned_up.is_set()
    assert source.asked == 5  # not asked again after it failed
    with pytest.raises(StopIteration):
        next(items)


def test_an_error_on_the_first_item_comes_at_the_first_next() -> None:
    items = read_ahead(Source(fail_at=0))
    with pytest.raises(KeyError):
        next(items)
    assert not items.running


def test_closing_early_stops_the_producer_and_asks_nothing_more() -> None:
    source = Source()
    items = read_ahead(source, ahead=2)
    assert next(items) == 0
    assert source.asked_for(3).wait(WAIT)
    items.close()
    assert not items.running  # close() returns once the thread has ended
    assert source.cleaned_up.is_set()
    asked = source.asked
    assert asked == 3
    with pytest.raises(StopIteration):
        next(items)
    assert source.asked == asked


def test_closing_while_an_item_is_being_made_waits_for_it_then_stops() -> None:
    source = Source()
    source.hold[2] = threading.Event()  # item 2 takes a while (a slow request)
    items = read_ahead(source, ahead=2)
    assert next(items) == 0
    assert source.asked_for(3).wait(WAIT)  # the producer is inside item 2
    closer = threading.Thread(target=items.close)
    closer.start()
    source.hold[2].set()  # the request ends
    closer.join(WAIT)
    assert not closer.is_alive() and not items.running
    assert source.asked == 3  # item 2 was finished but nothing after it was asked


def test_leaving_the_with_block_on_an_error_stops_the_producer() -> None:
    source = Source()
    with pytest.raises(RuntimeError, match="the consumer failed"), read_ahead(source) as items:
        next(items)
        raise RuntimeError("the consumer failed")
    assert not items.running and source.cleaned_up.is_set()


def test_an_abandoned_reader_stops_its_producer() -> None:
    source = Source()
    items = read_ahead(source, ahead=2)
    assert next(items) == 0
    thread = items._thread
    del items
    gc.collect()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert source.cleaned_up.is_set()


def test_ahead_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ReadAhead([1], ahead=0)
