"""The action spool: every action once, oldest first, in memory or spilled to disk."""

from __future__ import annotations

import fcntl
import logging
import os
import random
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from trello_sync.domain.actions import Action, ActionKind, action_order
from trello_sync.spool import ActionSpool, CardKind, SpoolError, remove_dead_spools

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def make(i: int, *, text: str | None = "/session", edited: bool = False) -> Action:
    # Some share a date (the id breaks the tie); ids are not in date order.
    return Action(
        id=f"{(7919 * i) % 10007:08x}{i:016x}",
        type="commentCard",
        kind=ActionKind.COMMENT,
        date=T0 + timedelta(seconds=i // 2, microseconds=123),
        board_id="b1",
        member_id="m1",
        member_username="camille",
        card_id=f"card{i % 4}",
        card_name="Alice",
        list_id=None,
        list_name=None,
        text=text,
        edited_at=T0 + timedelta(days=1, milliseconds=5) if edited else None,
    )


def read_all(spool: ActionSpool, size: int) -> list[Action]:
    chunks = list(spool.chunks(size))
    assert all(1 <= len(chunk) <= size for chunk in chunks)
    return [action for chunk in chunks for action in chunk]


@pytest.mark.parametrize("memory_limit", [0, 5, 1000])
@pytest.mark.parametrize("size", [1, 7, 500])
def test_every_action_once_oldest_first_in_memory_or_on_disk(
    memory_limit: int, size: int, tmp_path: Path
) -> None:
    actions = [make(i, edited=i % 5 == 0) for i in range(60)]
    shuffled = actions[:]
    random.Random(4).shuffle(shuffled)
    with ActionSpool(memory_limit=memory_limit, directory=str(tmp_path)) as spool:
        for start in range(0, 60, 11):  # pages of 11, in no particular order
            spool.add(shuffled[start : start + 11])
        assert spool.on_disk == (memory_limit < 60)
        assert len(spool) == 60
        got = read_all(spool, size)
    assert got == sorted(actions, key=action_order)  # every field survives the round trip
    assert os.listdir(tmp_path) == []  # the spill file is gone with the spool


@pytest.mark.parametrize("memory_limit", [0, 1000])
def test_a_later_copy_replaces_an_earlier_one_unless_told_to_keep_it(memory_limit: int) -> None:
    first = [make(i) for i in range(10)]
    edited = replace(first[3], text="/session 2h", edited_at=T0 + timedelta(days=2))
    other = replace(first[4], text="/noshow")
    with ActionSpool(memory_limit=memory_limit) as spool:
        spool.add(first)
        spool.add([edited, edited])  # a boundary read twice
        spool.add([other, make(10)], replace=False)
        assert len(spool) == 11
        got = {a.id: a for a in read_all(spool, 4)}
        assert spool.versions([first[3].id, first[4].id, "unknown"]) == {
            first[3].id: edited.version,
            first[4].id: "",
        }
    assert got[first[3].id] == edited
    assert got[first[4].id] == first[4]  # kept: added with replace=False
    assert len(got) == 11


def test_spilling_keeps_what_memory_held() -> None:
    with ActionSpool(memory_limit=3) as spool:
        spool.add([make(0), make(1)])
        assert not spool.on_disk
        spool.add([make(2), make(3)])
        assert spool.on_disk and len(spool) == 4
        spool.add([make(1), make(4)])  # one already there
        assert len(spool) == 5
        assert [a.id for a in read_all(spool, 2)] == [
            a.id for a in sorted(map(make, range(5)), key=action_order)
        ]


def test_what_the_whole_history_says_is_kept_as_it_is_added() -> None:
    with ActionSpool(memory_limit=0) as spool:
        spool.add([make(1, text="Notes"), make(2, text=None)])
        assert not spool.has_commands
        spool.add([make(3, text="  /undo")])
        assert spool.has_commands
        assert spool.card_kinds == {
            CardKind("card1", ActionKind.COMMENT),
            CardKind("card2", ActionKind.COMMENT),
            CardKind("card3", ActionKind.COMMENT),
        }


def test_an_empty_spool_has_no_chunks_and_a_bad_size_is_refused() -> None:
    with ActionSpool() as spool:
        assert list(spool.chunks(10)) == []
        with pytest.raises(ValueError, match="at least 1"):
            list(spool.chunks(0))


def test_a_folder_it_cannot_write_is_one_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    with ActionSpool(memory_limit=1, directory=str(missing)) as spool:
        spool.add([make(0)])
        with pytest.raises(SpoolError, match=r"could not create the temporary file .* TMPDIR") as e:
            spool.add([make(1), make(2)])
    assert "(No such file or directory)" in str(e.value)
    assert str(e.value).count(str(missing)) == 1  # short enough to be read whole


# --- the files of dead processes -----------------------------------------------------------
def lock_is_free(path: Path) -> bool:
    with open(path) as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


def test_a_spool_on_disk_holds_the_lock_beside_its_file_until_closed(tmp_path: Path) -> None:
    with ActionSpool(memory_limit=0, directory=str(tmp_path)) as spool:
        spool.add([make(0), make(1)])
        names = sorted(p.name for p in tmp_path.iterdir())
        assert len(names) == 2
        db, lock = names
        stem = db.removesuffix(".db")
        assert stem.startswith(f"trello-sync-spool-{os.getpid()}-")
        assert lock == f"{stem}.lock"
        assert not lock_is_free(tmp_path / lock)  # even from another open file of ours
        assert remove_dead_spools(str(tmp_path)) == 0
        assert sorted(p.name for p in tmp_path.iterdir()) == names
        assert len(read_all(spool, 10)) == 2  # SQLite's own locking untouched
    assert os.listdir(tmp_path) == []


def leftovers(folder: Path) -> None:
    """What dead processes left, named with a live PID (ours): the name decides nothing."""
    stem = f"trello-sync-spool-{os.getpid()}-"
    (folder / f"{stem}both.db").write_bytes(b"x" * 1000)
    (folder / f"{stem}both.lock").write_bytes(b"")
    (folder / f"{stem}nolock.db").write_bytes(b"x")  # its lock file deleted by hand
    (folder / f"{stem}nodb.lock").write_bytes(b"")  # died before creating its database


def test_the_files_whose_lock_nobody_holds_are_removed(tmp_path: Path) -> None:
    leftovers(tmp_path)
    others = ["notes.db", "trello-sync-spool-readme.txt", "trello-sync.db"]
    for name in others:
        (tmp_path / name).write_text("not a spool")
    assert remove_dead_spools(str(tmp_path)) == 2  # two databases (and three lock files)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(others)
    assert remove_dead_spools(str(tmp_path)) == 0


def test_a_new_spool_on_disk_first_removes_the_dead_ones(tmp_path: Path) -> None:
    leftovers(tmp_path)
    with ActionSpool(memory_limit=0, directory=str(tmp_path)) as spool:
        spool.add([make(0)])
        assert len(os.listdir(tmp_path)) == 2  # its own two files only
    assert os.listdir(tmp_path) == []


def test_a_temp_folder_missing_or_unreadable_is_nothing_to_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="trello_sync.spool")
    missing = tmp_path / "gone"
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    assert remove_dead_spools(str(missing)) == 0
    assert remove_dead_spools(str(a_file)) == 0
    monkeypatch.setattr(tempfile, "tempdir", str(missing))  # TMPDIR, as Python settled it
    assert remove_dead_spools() == 0
    monkeypatch.undo()

    # Unreadable: root reads through a mode 000 folder, so the refusal is simulated.
    def refuse(path: str) -> None:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(os, "scandir", refuse)
    assert remove_dead_spools(str(tmp_path)) == 0
    said = [r for r in caplog.records if r.name == "trello_sync.spool"]
    assert len(said) == 4 and {r.levelno for r in said} == {logging.DEBUG}
