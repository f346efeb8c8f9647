"""A ledger writer in a process of its own: a long first sync commits its chunks there, in
order, while the syncing process decides the next chunk.

Why a process and not a thread: a commit is mostly SQLite's own work, but Python's
sqlite3 driver lets go of the GIL and takes it back for every row it inserts, so a
thread committing beside a busy planner waits for the GIL thousands of times a chunk
(measured: ten times slower). A second process commits on the machine's second CPU.

What a caller may rely on (`ChunkCommits`, below, is the one caller):

- the commits run in the order they were submitted, each whole or not at all (it is
  the ledger's own `commit`: one transaction with its checkpoint, fenced by the lease);
- `submit` returns once the commit before it is done, or raises that commit's error:
  when it returns, every commit but the one just sent is in the ledger;
- `drain` returns once every commit is done, or raises the error of the first that
  failed (nothing is sent after a failure);
- a commit is stamped with the instant the submitting process gives it (its clock);
- the writer never outlives its parent: it reads its work from a pipe and stops at the
  pipe's end, after the commit at hand. A Ctrl-C or a service stop, sent to the whole
  process group, is the parent's to handle: the writer ignores it and finishes that
  commit;
- a writer that dies (killed, or a crash point of the reliability tests) is one
  LedgerError in the parent, with its exit code; the commits it finished are kept.

The child is `python -m trello_sync.ledger.writer`; parent and child speak pickle over
its stdin and stdout (a private pipe between two processes of the same program). A plan
travels as tuples of its records' fields, which pickle about three times faster than
the records themselves.
"""

from __future__ import annotations

import contextlib
import operator
import pickle
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime
from typing import IO, Any

from trello_sync.clock import SystemClock
from trello_sync.domain.records import (
    AppliedAction,
    CardRecord,
    Entry,
    Plan,
    PostedReply,
    Reply,
    StageMove,
)
from trello_sync.ledger.store import Lease, LedgerError, LedgerStore, LedgerWriterStopped

# The plan's fields that hold records, with each record's type.
_RECORDS: dict[str, type] = {
    "entries": Entry,
    "moves": StageMove,
    "cards": CardRecord,
    "replies": Reply,
    "applied": AppliedAction,
    "posted": PostedReply,
}
_SCALARS = ("checkpoint", "first_synced", "reread_at", "clear_flag")
# Each record's fields as a tuple, in the order its constructor takes them (every record
# has several fields: attrgetter returns a tuple only then).
_GETTERS: dict[type, Callable[[Any], tuple[Any, ...]]] = {
    kind: operator.attrgetter(*(f.name for f in fields(kind))) for kind in _RECORDS.values()
}


def pack_plan(plan: Plan) -> dict[str, Any]:
    """The plan as plain tuples (what `unpack_plan` makes the same plan of)."""
    packed: dict[str, Any] = {
        name: [_GETTERS[kind](record) for record in getattr(plan, name)]
        for name, kind in _RECORDS.items()
    }
    packed.update({name: getattr(plan, name) for name in _SCALARS})
    return packed


def unpack_plan(packed: dict[str, Any]) -> Plan:
    records: dict[str, Any] = {
        name: tuple(kind(*values) for values in packed[name]) for name, kind in _RECORDS.items()
    }
    return Plan(**records, **{name: packed[name] for name in _SCALARS})


class LedgerWriter:
    """The parent's end: a writer process for the ledger at `url`."""

    def __init__(self, url: str) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "trello_sync.ledger.writer"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._to: IO[bytes] = self._proc.stdin
        self._from: IO[bytes] = self._proc.stdout
        self._waiting = False  # an answer is due
        self._failed = False
        self._send(("open", url))

    def submit(self, board_id: str, plan: Plan, lease: Lease | None, now: datetime) -> None:
        self._answer()
        self._send(("commit", board_id, pack_plan(plan), lease, now))

    def drain(self) -> None:
        self._answer()

    def close(self) -> None:
        """Stop the writer once its commit at hand is done (its answer, if any, unread)."""
        with contextlib.suppress(OSError):  # it is gone already
            self._to.close()
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._from.close()

    def _send(self, message: tuple[Any, ...]) -> None:
        if self._failed:
            raise LedgerWriterStopped("the ledger writer failed before: nothing more is sent to it")
        try:
            pickle.dump(message, self._to, protocol=pickle.HIGHEST_PROTOCOL)
            self._to.flush()
        except (BrokenPipeError, OSError):
            self._failed = True
            raise self._stopped() from None
        self._waiting = True

    def _answer(self) -> None:
        if not self._waiting:
            return
        self._waiting = False
        try:
            status, error = pickle.load(self._from)
        except (EOFError, pickle.UnpicklingError, OSError):
            self._failed = True
            raise self._stopped() from None
        if status != "ok":
            self._failed = True
            raise error

    def _stopped(self) -> LedgerWriterStopped:
        code = self._proc.wait()
        return LedgerWriterStopped(
            f"the ledger writer process stopped (exit code {code}); "
            "the chunks it committed before are kept"
        )


class ChunkCommits:
    """Where a first sync's chunks are committed: in this process until `aside_after`
    actions are (a short history never starts a writer), then in a writer process when
    the ledger can be opened by another one (a file or a server, not an in-memory
    database). Same order, same transactions, either way."""

    def __init__(
        self,
        ledger: LedgerStore,
        lease: Lease | None,
        now: Callable[[], datetime],
        aside_after: int,
    ) -> None:
        self._ledger, self._lease, self._now = ledger, lease, now
        self._aside_after = aside_after
        self._url = ledger.url_for_another_process()
        self._writer: LedgerWriter | None = None

    def commit(self, board_id: str, plan: Plan, actions_so_far: int) -> None:
        """Commit (or submit) this plan; when it returns, every earlier one is in the
        ledger (the ledger reads of the next chunk rely on it)."""
        if self._writer is not None:
            self._writer.submit(board_id, plan, self._lease, self._now())
            return
        self._ledger.commit(board_id, plan, lease=self._lease)
        if self._url is not None and actions_so_far >= self._aside_after:
            # Started now, it gets ready while the next chunk is decided.
            self._writer = LedgerWriter(self._url)

    def drain(self) -> None:
        """Every commit submitted is in the ledger (or the first failure is raised)."""
        if self._writer is not None:
            self._writer.drain()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


@contextmanager
def chunk_commits(
    ledger: LedgerStore, lease: Lease | None, now: Callable[[], datetime], aside_after: int
) -> Iterator[ChunkCommits]:
    """ChunkCommits, drained on the way out of a block that did not fail (so that its
    errors are raised there), its writer stopped in any case."""
    commits = ChunkCommits(ledger, lease, now, aside_after)
    try:
        yield commits
        commits.drain()
    finally:
        commits.close()


# --- the child ------------------------------------------------------------------------


class _GivenClock(SystemClock):
    """The ledger's clock in the writer: the instant the parent stamped the commit with
    (durations and waits as the system's clock has them)."""

    def __init__(self) -> None:
        super().__init__()
        self.at: datetime | None = None

    def now(self) -> datetime:
        assert self.at is not None, "a commit brings its instant"
        return self.at


def _portable(error: BaseException) -> BaseException:
    """The error as the parent can receive it: itself when it pickles, else one line."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return LedgerError(f"ledger writer: {type(error).__name__}: {error}")
    return error


def serve(inbox: IO[bytes], outbox: IO[bytes]) -> None:
    """Open the ledger, then commit each plan received, answering each message."""
    from trello_sync.ledger.open import open_ledger

    clock = _GivenClock()
    ledger = None
    try:
        while True:
            try:
                message = pickle.load(inbox)
            except EOFError:
                return
            try:
                if message[0] == "open":
                    ledger = open_ledger(message[1], clock=clock, migrate=False)
                else:
                    _, board_id, packed, lease, clock.at = message
                    assert ledger is not None, "opened first"
                    ledger.commit(board_id, unpack_plan(packed), lease)
                answer: tuple[str, BaseException | None] = ("ok", None)
            except Exception as error:
                answer = ("error", _portable(error))
            pickle.dump(answer, outbox, protocol=pickle.HIGHEST_PROTOCOL)
            outbox.flush()
    finally:
        if ledger is not None:
            ledger.close()


def main() -> None:
    # The parent decides when to stop; the commit at hand is finished either way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    inbox, outbox = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but answers on the pipe
    serve(inbox, outbox)


if __name__ == "__main__":
    main()
