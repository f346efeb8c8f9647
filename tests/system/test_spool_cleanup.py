"""The temporary file of a first sync, after a `kill -9`: real processes, real signals.

A process that spills a long history to disk and is killed leaves its files behind; the
cleaner removes them, and leaves alone the spools of processes that are still alive:
another process, and the test process itself.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from trello_sync.domain.actions import Action, ActionKind
from trello_sync.spool import ActionSpool, remove_dead_spools

# Spills three actions (memory_limit=1) into the folder given, says so, then holds its
# spool until its standard input closes (or until it is killed).
SPILLER = """
import sys
from datetime import UTC, datetime
from trello_sync.domain.actions import Action, ActionKind
from trello_sync.spool import ActionSpool

spool = ActionSpool(memory_limit=1, directory=sys.argv[1])
spool.add(
    Action(
        id=f"{i:024x}", type="commentCard", kind=ActionKind.COMMENT,
        date=datetime(2026, 3, 1, tzinfo=UTC), board_id="b1", member_id="m1",
        member_username="camille", card_id="c1", text="/session",
    )
    for i in range(3)
)
assert spool.on_disk
print("spilled", flush=True)
sys.stdin.read()
spool.close()
print("closed", flush=True)
"""


class Spiller:
    def __init__(self, folder: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SPILLER, str(folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until it spilled, or died
        assert line == "spilled\n", self.proc.communicate()[1]

    def files(self, folder: Path) -> set[str]:
        return {p.name for p in folder.glob(f"trello-sync-spool-{self.proc.pid}-*")}


@pytest.fixture
def spillers() -> Iterator[list[Spiller]]:
    started: list[Spiller] = []
    yield started
    for spiller in started:  # whatever the test left running
        if spiller.proc.poll() is None:
            spiller.proc.kill()
        spiller.proc.communicate()


def action(i: int) -> Action:
    when = datetime(2026, 3, 1, tzinfo=UTC)
    return Action(f"{i:024x}", "commentCard", ActionKind.COMMENT, when, "b1", "m1", "camille")


def test_a_killed_process_leaves_its_spool_and_the_cleaner_removes_only_that_one(
    tmp_path: Path, spillers: list[Spiller]
) -> None:
    live = Spiller(tmp_path)
    spillers.append(live)
    with ActionSpool(memory_limit=0, directory=str(tmp_path)) as own:  # this process's
        own.add([action(1), action(2)])
        assert own.on_disk
        ours = {p.name for p in tmp_path.iterdir()} - live.files(tmp_path)
        killed = Spiller(tmp_path)
        spillers.append(killed)
        left = killed.files(tmp_path)
        killed.proc.send_signal(signal.SIGKILL)
        assert killed.proc.wait() == -signal.SIGKILL

        assert len(left) == 2 and {Path(n).suffix for n in left} == {".db", ".lock"}
        assert killed.files(tmp_path) == left  # nobody deleted them: kill -9
        kept = live.files(tmp_path)
        assert len(kept) == 2 and len(ours) == 2

        assert remove_dead_spools(str(tmp_path)) == 1
        assert {p.name for p in tmp_path.iterdir()} == kept | ours
        assert [a.id for c in own.chunks(10) for a in c] == [action(1).id, action(2).id]

    # The live process goes on with its spool, and closes it as usual.
    out, err = live.proc.communicate("")
    assert (live.proc.returncode, out) == (0, "closed\n"), err
    assert list(tmp_path.iterdir()) == []


def test_the_next_spool_on_disk_removes_what_a_killed_process_left(
    tmp_path: Path, spillers: list[Spiller]
) -> None:
    killed = Spiller(tmp_path)
    spillers.append(killed)
    killed.proc.kill()
    killed.proc.wait()
    assert len(killed.files(tmp_path)) == 2
    following = Spiller(tmp_path)  # a new first sync, in another process
    spillers.append(following)
    assert killed.files(tmp_path) == set()
    assert {p.name for p in tmp_path.iterdir()} == following.files(tmp_path)
