"""`trello-sync setup` as a person uses it: the real CLI in a pseudo-terminal (pexpect),
keystrokes in, the screen read back, against the demo's sandbox over real HTTP; then
the files it wrote, and `check` and `sync` run on them as the mentor would next."""

from __future__ import annotations

import re
import sys
import tomllib

import pexpect
from setup_sandbox import PROGRAM, SetupWorld, mode, world

__all__ = ["world"]

_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\]8;[^\x1b]*\x1b\\")


class Terminal:
    """`trello-sync setup` in a pseudo-terminal; `screen` is everything it showed."""

    def __init__(self, world: SetupWorld, *args: str) -> None:
        env = {**world.env, "COLUMNS": "160", "TERM": "xterm"}
        env.pop("NO_COLOR", None)  # the real thing, colours and all: the screen is cleaned
        self.child = pexpect.spawn(
            sys.executable,
            [*PROGRAM[1:], "setup", *args],
            cwd=str(world.folder),
            env=env,
            encoding="utf-8",
            timeout=60,
            dimensions=(60, 160),
        )
        self._seen: list[str] = []

    def answer(self, question: str, keys: str) -> None:
        self.child.expect(question)
        self._seen.append(self.child.before + self.child.after)
        self.child.sendline(keys)

    def interrupt_at(self, question: str) -> None:
        self.child.expect(question)
        self._seen.append(self.child.before + self.child.after)
        self.child.sendintr()

    def finish(self) -> int:
        self.child.expect(pexpect.EOF, timeout=120)
        self._seen.append(self.child.before)
        self.child.close()
        return int(self.child.exitstatus if self.child.exitstatus is not None else -1)

    @property
    def screen(self) -> str:
        return _ESCAPES.sub("", "".join(self._seen)).replace("\r\n", "\n")


def test_a_person_reaches_a_synced_board_by_following_the_prompts(world: SetupWorld):
    demo = world.demo
    term = Terminal(world)
    term.answer("API key:", demo.api_key)
    term.answer(r"Token \(not shown as you paste it\):", demo.mentor_token)
    term.answer("Boards to sync", "1")
    term.answer(r"Run the first sync once setup is written\?", "y")
    term.answer(r"Go ahead\?", "")
    assert term.finish() == 0, term.screen

    screen = term.screen
    assert "https://trello.com/power-ups/admin" in screen
    authorize = (
        "https://trello.com/1/authorize?expiration=never&scope=read,write"
        f"&response_type=token&name=trello-sync&key={demo.api_key}"
    )
    assert authorize in screen
    assert demo.mentor_token not in screen  # read without echo, never shown after
    assert "Token of Camille Martin (@camille_mentor): read, write; expires never." in screen
    assert re.search(r"1\s*│\s*Mentorat — Camille Martin\s*│\s*10\s*│", screen)
    assert re.search(r"Notes\s*│\s*none", screen)
    assert "credentials: OK, the token belongs to @camille_mentor" in screen
    assert "first sync: whole history replayed" in screen

    assert tomllib.loads(world.config.read_text())["boards"] == [demo.short_link]
    assert mode(world.secrets_dir / "TRELLO_TOKEN") == 0o600
    assert demo.mentor_token not in world.config.read_text()
    check = world.run("check")
    assert check.returncode == 0, check.stderr
    synced = world.run("sync")
    assert synced.returncode == 0 and "no change" in synced.stdout, synced.stderr


def test_a_new_board_in_french_with_labels_asked_for_at_the_prompts(world: SetupWorld):
    demo = world.demo
    term = Terminal(world)
    term.answer("API key:", demo.api_key)
    term.answer("Token", demo.mentor_token)
    term.answer("Boards to sync", "7")  # not a number shown: asked again
    term.answer("Boards to sync", "n")
    term.answer("Name of the new board", "")  # the default, "Mentoring"
    term.answer(r"Names of the stage lists", "fr")
    term.answer(r"Create a label for each project", "y")
    term.answer(r"Run the first sync", "n")
    term.answer(r"Go ahead\?", "y")
    assert term.finish() == 0, term.screen

    assert "'7' is not one of the numbers shown, nor n" in term.screen
    state = world.server.state
    board = state.board(tomllib.loads(world.config.read_text())["boards"][0])
    assert board["name"] == "Mentoring"
    assert [x["name"] for x in state.board_lists(board["id"])] == [
        "En attente",
        "En cours",
        "En pause",
        "Passé la main",
    ]
    assert len(state.board_labels(board["id"], 1000)) == 4
    assert "trello-sync sync      the first sync" in term.screen
    assert world.run("check").returncode == 0
    synced = world.run("sync")
    assert synced.returncode == 0, synced.stderr


def test_ctrl_c_at_a_question_writes_nothing(world: SetupWorld):
    demo = world.demo
    term = Terminal(world)
    term.answer("API key:", demo.api_key)
    term.interrupt_at("Token")
    assert term.finish() == 130
    assert "interrupted: nothing was written" in term.screen

    boards_before = world.board_names()
    term = Terminal(world)
    term.answer("API key:", demo.api_key)
    term.answer("Token", demo.mentor_token)
    term.answer("Boards to sync", "n")
    term.answer("Name of the new board", "Mentoring")
    term.answer(r"Names of the stage lists", "en")
    term.answer(r"Create a label for each project", "y")
    term.answer(r"Run the first sync", "y")
    term.interrupt_at(r"Go ahead\?")  # the last question: everything is planned by now
    assert term.finish() == 130
    assert world.written() == []
    assert world.board_names() == boards_before


def test_a_read_only_token_is_refused_at_the_terminal(world: SetupWorld):
    term = Terminal(world, "--key", world.demo.api_key)
    term.answer("Token", world.demo.readonly_token)
    assert term.finish() == 2
    assert "Token of Camille Martin (@camille_mentor): read; expires never." in term.screen
    assert "this token is read-only" in term.screen
    assert world.demo.readonly_token not in term.screen
    assert world.written() == []
