"""The files setup writes: the configuration (no secret in it) and the secrets folder.

The configuration keeps every setting a user already wrote in it (pay rules, projects,
list names) and sets `boards`, `mentors` and `timezone`. The key and the token go in
their own files, one per secret as Docker and systemd credentials are laid out: the
folder readable by its owner only (0700), each file 0600. Each file is written whole to
a temporary file beside it, then renamed over the old one, so a crash leaves the old
file or the new one, never half of either.
"""

from __future__ import annotations

import difflib
import os
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from trello_sync.settings import SECRET_ENV

CONFIG_HEADER = (
    "# trello-sync's configuration, written by `trello-sync setup`.\n"
    "# Every other setting keeps its default (trello_sync/defaults.toml; README\n"
    '# "Configuration"). The API key and the token are not here: they are in the\n'
    "# secrets folder setup named.\n"
)


@dataclass(frozen=True)
class ConfigChange:
    path: Path
    old_text: str | None  # None: there is no file yet
    new_text: str

    @property
    def exists(self) -> bool:
        return self.old_text is not None

    def diff(self) -> str:
        """What would change, as a unified diff (the whole file for a new one)."""
        old = (self.old_text or "").splitlines(keepends=True)
        new = self.new_text.splitlines(keepends=True)
        lines = difflib.unified_diff(old, new, f"{self.path} (now)", f"{self.path} (setup)")
        return "".join(lines) or "(no change)\n"


def planned_config(
    path: Path, *, boards: Sequence[str], mentors: Sequence[str], timezone: str
) -> ConfigChange:
    """The configuration setup would write at `path`, merged into what is there.

    A file that is not valid TOML is replaced whole (only with --force; the diff shows
    it)."""
    old_text = path.read_text("utf-8") if path.exists() else None
    kept: dict[str, Any] = {}
    if old_text is not None:
        try:
            kept = tomllib.loads(old_text)
        except tomllib.TOMLDecodeError:
            kept = {}
    chosen = {"boards": list(boards), "mentors": list(mentors), "timezone": timezone}
    data = {**chosen, **{k: v for k, v in kept.items() if k not in chosen}}
    return ConfigChange(path, old_text, CONFIG_HEADER + "\n" + tomli_w.dumps(data))


def write_config(change: ConfigChange) -> None:
    _write_atomically(change.path, change.new_text.encode("utf-8"), mode=0o644)


def write_secrets(folder: Path, secrets: Mapping[str, str]) -> list[Path]:
    """`folder/TRELLO_API_KEY` and `folder/TRELLO_TOKEN` (names from SECRET_ENV)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)  # mkdir's mode is cut by the umask, and an old folder kept its own
    written = []
    for field_name, value in secrets.items():
        path = folder / SECRET_ENV[field_name]
        _write_atomically(path, value.encode("utf-8") + b"\n", mode=0o600)
        written.append(path)
    return written


def _write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file 0600 before a byte is in it: a secret is never readable
    # by others, not even for a moment.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def folder_problem(folder: Path, flag: str) -> str | None:
    """Why files cannot be written in `folder` (made if missing), or None: found before
    anything is created on the board."""
    probe = folder.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return f"{flag}: {probe} is not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{flag}: {probe} cannot be written"
    return None
