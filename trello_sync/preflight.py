"""Can trello-sync write where it is told to? Asked before anything is created, so that a
bad folder is one line naming its setting (exit code 2), not a traceback half-way.

Each check tries for real (a temporary file, created and deleted at once): permission
bits say nothing to root, nor about a read-only mount; and it leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

EXPORT_SETTING = "TRELLO_SYNC_EXPORT_DIR"


def shown(path: Path) -> str:
    """The path as a person can find it: absolute (a relative default depends on the
    folder the command started in), symbolic links left as written."""
    return str(path.absolute())


def folder_problem(folder: Path) -> str | None:
    """Why files cannot be written into `folder` (created with its parents if missing),
    in a few words; None when they can. Creates nothing that stays."""
    existing = folder
    while not existing.exists() and not existing.is_symlink():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        return f"{shown(existing)} is not a folder"
    try:
        handle, probe = tempfile.mkstemp(prefix=".trello-sync-probe-", dir=existing)
    except OSError as error:
        return f"{shown(existing)}: {error.strerror or error}"
    os.close(handle)
    os.unlink(probe)
    return None


def file_problem(path: Path) -> str | None:
    """Why `path` cannot be opened for writing (or created, with its folders), or None.
    An existing file is opened, not changed."""
    if path.is_dir():
        return f"{shown(path)} is a folder, not a file"
    if path.exists():
        try:
            os.close(os.open(path, os.O_RDWR))
        except OSError as error:
            return f"{shown(path)}: {error.strerror or error}"
    # The folder too: SQLite writes its -wal and -shm files beside the ledger.
    return folder_problem(path.parent)


def export_dir_problem(folder: Path, setting: str = EXPORT_SETTING) -> str | None:
    """`TRELLO_SYNC_EXPORT_DIR: cannot write to … (why)`, or None when the exports can be
    written there. Call it before anything else is done: at the start of a command or a
    worker, and `check` reports it."""
    problem = folder_problem(folder)
    if problem is None:
        return None
    return f"{setting}: cannot write to {shown(folder)} ({problem})"
