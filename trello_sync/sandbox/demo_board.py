"""A realistic mentor's board with five weeks of backdated history, for the demo and tests.

Every date is relative to `today` (so the demo is always current), at local daytime hours
in `tz`, and nothing happens on `today` itself or later. Every status command falls on a
day its card was in "Active".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from trello_sync.sandbox.server import SandboxServer
from trello_sync.sandbox.shapes import NotFound
from trello_sync.sandbox.state import SandboxState

MENTOR = ("camille_mentor", "Camille Martin")
STUDENT = ("alice_student", "Alice Nguyen")
LISTS = ("En attente", "Active", "En pause", "Handed off", "Notes")
PROJECT_LABELS = {
    "Learn how to learn": "green",
    "Integrate a Wordpress theme for a client": "yellow",
    "Launch your own restaurant review site": "orange",
    "Enhance an existing project": "red",
    "Build a Python web app": "blue",
    "Level 3": "purple",
}


@dataclass(frozen=True)
class DemoBoard:
    board_id: str
    short_link: str
    api_key: str
    mentor_token: str
    student_token: str
    mentor_username: str
    student_username: str
    card_ids: Mapping[str, str] = field(default_factory=dict)  # student name → card id
    list_ids: Mapping[str, str] = field(default_factory=dict)  # list name → list id
    readonly_token: str = ""  # the mentor's, with scope "read" (setup must refuse it)


class _Script:
    """Writes the history: `day` counts days before today, times are local."""

    def __init__(self, state: SandboxState, today: date, tz: tzinfo) -> None:
        self.state, self.today, self.tz = state, today, tz
        self.mentor = MENTOR[0]
        self.lists: dict[str, str] = {}
        self.cards: dict[str, str] = {}

    def at(self, day: int, hour: int, minute: int = 0) -> datetime:
        local = datetime.combine(self.today - timedelta(days=day), time(hour, minute), self.tz)
        return local.astimezone(UTC)

    def date(self, day: int, fmt: str = "%Y-%m-%d") -> str:
        return (self.today - timedelta(days=day)).strftime(fmt)

    def card(
        self, name: str, day: int, hour: int, desc: str = "", labels: tuple[str, ...] = ()
    ) -> None:
        card = self.state.create_card(
            self.mentor, self.lists["En attente"], name, desc=desc, at=self.at(day, hour)
        )
        self.cards[name] = card["id"]
        for label in labels:
            self.state.add_label(self.mentor, card["id"], label, at=self.at(day, hour, 1))

    def project_field(self, name: str, project: str, day: int, hour: int) -> None:
        self.state.set_custom_field(
            self.mentor, self.cards[name], "Project", project, at=self.at(day, hour, 2)
        )

    def move(self, name: str, list_name: str, day: int, hour: int, minute: int = 0) -> None:
        self.state.move_card(
            self.mentor, self.cards[name], self.lists[list_name], at=self.at(day, hour, minute)
        )

    def say(self, name: str, text: str, day: int, hour: int, minute: int = 0, by: str = "") -> Any:
        when = self.at(day, hour, minute)
        return self.state.comment(by or self.mentor, self.cards[name], text, at=when)


def _member(state: SandboxState, username: str, full_name: str) -> str:
    try:
        return str(state.member(username)["id"])
    except NotFound:
        return str(state.add_member(username, full_name)["id"])


def build_demo_board(state: SandboxState, *, today: date, tz: tzinfo) -> DemoBoard:
    """Builds the board in `state`: members, tokens (the mentor's, read-write and read-only,
    the student's), lists, labels, field, cards, history."""
    _member(state, *MENTOR)
    _member(state, *STUDENT)
    mentor_token = state.add_token(MENTOR[0])
    student_token = state.add_token(STUDENT[0])
    s = _Script(state, today, tz)
    board = state.create_board(s.mentor, "Mentorat — Camille Martin", at=s.at(36, 9))
    for index, list_name in enumerate(LISTS):
        s.lists[list_name] = state.create_list(
            s.mentor, board["id"], list_name, at=s.at(36, 9, index + 1)
        )["id"]
    for label, color in PROJECT_LABELS.items():
        state.create_label(s.mentor, board["id"], label, color, at=s.at(36, 9, 10))
    state.create_custom_field(s.mentor, board["id"], "Project", "text", at=s.at(36, 9, 11))
    state.add_board_member(s.mentor, board["id"], STUDENT[0], at=s.at(36, 9, 15))
    note = state.create_card(
        s.mentor,
        s.lists["Notes"],
        "Mentoring checklist",
        desc="Weekly: one session of about 1 h per student. Max 20 students at once.",
        at=s.at(36, 9, 30),
    )
    s.cards["Mentoring checklist"] = note["id"]

    # Alice (the student who is a board member): project from the custom field.
    s.card("Alice Nguyen", 35, 9)
    s.project_field("Alice Nguyen", "Build a Python web app", 35, 9)
    s.move("Alice Nguyen", "Active", 34, 10)
    s.say("Alice Nguyen", "/session 1h first session, environment set up", 33, 18)
    s.say("Alice Nguyen", "Merci pour la session !", 33, 19, by=STUDENT[0])
    s.say("Alice Nguyen", "/session", 26, 18)
    s.say("Alice Nguyen", "/session", 20, 21, by=STUDENT[0])  # a student may not log
    s.say("Alice Nguyen", "/session 45m", 19, 18)
    s.say("Alice Nguyen", "/session", 12, 18)
    s.say("Alice Nguyen", "/session yesterday 1h good progress", 5, 9)

    # Bruno: project from a label; one no-show.
    s.card("Bruno Leroy", 34, 9, labels=("Learn how to learn",))
    s.move("Bruno Leroy", "Active", 33, 11)
    s.say("Bruno Leroy", "/session", 32, 14)
    s.say("Bruno Leroy", "/noshow no answer on the call", 25, 14)
    s.say("Bruno Leroy", "Rescheduled for next week.", 24, 10)
    s.say("Bruno Leroy", "/session 45m", 18, 14)
    s.say("Bruno Leroy", "/session", 11, 14)
    s.say("Bruno Leroy", "/session", 4, 14)

    # Chloé: project from the description; one late cancellation; then paused.
    desc = "Parcours Intégrateur Web\nProject: Integrate a Wordpress theme for a client\n"
    s.card("Chloé Bernard", 33, 10, desc=desc)
    s.move("Chloé Bernard", "Active", 32, 10)
    s.say("Chloé Bernard", "/session", 31, 17)
    s.say("Chloé Bernard", "/late cancelled two hours before", 24, 17)
    s.say("Chloé Bernard", "/session 1h", 17, 17)
    s.move("Chloé Bernard", "En pause", 10, 9)
    s.say("Chloé Bernard", "On holiday for two weeks, back afterwards.", 10, 9, 5)

    # David: a level 3 project (custom field), a session logged the next day, handed off.
    s.card("David Moreau", 35, 11)
    s.project_field("David Moreau", "Launch your own restaurant review site", 35, 11)
    s.move("David Moreau", "Active", 34, 11)
    s.say("David Moreau", "/session", 33, 15)
    s.say("David Moreau", "/session", 26, 15)
    s.say("David Moreau", f"/session {s.date(19)} 45m", 18, 9)
    s.say("David Moreau", "/session", 12, 15)
    s.move("David Moreau", "Handed off", 8, 10)
    s.say("David Moreau", "Handing off: David moves to another track.", 8, 10, 5)

    # Emma: a level 3 project (label); a cancellation; a /session on the wrong card, undone.
    s.card("Emma Petit", 30, 9, labels=("Enhance an existing project",))
    s.move("Emma Petit", "Active", 29, 10)
    s.say("Emma Petit", "/session", 28, 16)
    s.say("Emma Petit", "/cancel student was sick", 21, 16)
    s.say("Emma Petit", "/session", 14, 16)
    s.say("Emma Petit", "/session", 7, 16)
    s.say("Emma Petit", "/undo wrong card, that was Farid", 7, 16, 3)

    # Farid: an unknown project in the description (default level); a typo in a command.
    s.card("Farid Haddad", 28, 10, desc="Project: Space Invaders in Rust\n")
    s.move("Farid Haddad", "Active", 27, 10)
    s.say("Farid Haddad", "/session", 26, 11)
    s.say("Farid Haddad", "/sesion", 19, 11)
    s.say("Farid Haddad", "/session", 19, 11, 2)
    s.say("Farid Haddad", "/session", 7, 16, 6)
    s.say("Farid Haddad", f"/session {s.date(3, '%d/%m')} 1h", 2, 9)

    # Gaëlle: no project at all (default level, flagged in reports).
    s.card("Gaëlle Roux", 21, 9, desc="Prefers sessions in the evening.")
    s.move("Gaëlle Roux", "Active", 20, 9)
    s.say("Gaëlle Roux", "/session", 15, 13)
    s.say("Gaëlle Roux", "/session", 8, 13)

    # Hugo: a level 2 project (custom field) with a "Level 3" label that overrides it.
    s.card("Hugo Lambert", 25, 9, labels=("Level 3",))
    s.project_field("Hugo Lambert", "Build an API with Django REST framework", 25, 9)
    s.move("Hugo Lambert", "Active", 24, 9)
    s.say("Hugo Lambert", "/session", 23, 12)
    s.say("Hugo Lambert", "/session", 16, 12)
    s.say("Hugo Lambert", "/session 45m", 9, 12)
    s.say("Hugo Lambert", "/session", 2, 12)

    # Inès: just arrived, still waiting.
    s.card("Inès Garnier", 3, 10, desc="Project: Learn how to learn\n")
    s.say("Inès Garnier", "First meeting planned for next week.", 3, 10, 10)

    # Last, so that every random draw before it (links, tokens) is as it was without it.
    readonly_token = state.add_token(MENTOR[0], scope="read")
    return DemoBoard(
        board_id=board["id"],
        short_link=board["shortLink"],
        api_key=state.api_key,
        mentor_token=mentor_token,
        student_token=student_token,
        mentor_username=MENTOR[0],
        student_username=STUDENT[0],
        card_ids=dict(s.cards),
        list_ids=dict(s.lists),
        readonly_token=readonly_token,
    )


def local_zone() -> tzinfo:
    """TRELLO_SYNC_TIMEZONE, else TZ, else the machine's zone (/etc/localtime), else UTC."""
    for name in (os.environ.get("TRELLO_SYNC_TIMEZONE"), os.environ.get("TZ")):
        if name:
            try:
                return ZoneInfo(name.lstrip(":"))
            except (ZoneInfoNotFoundError, ValueError):
                continue
    try:
        target = str(Path("/etc/localtime").resolve())
        if "zoneinfo/" in target:
            return ZoneInfo(target.split("zoneinfo/", 1)[1])
    except (OSError, ZoneInfoNotFoundError, ValueError):
        pass
    return datetime.now().astimezone().tzinfo or UTC


def serve_demo(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    today: date | None = None,
    tz: tzinfo | None = None,
    **server_options: Any,
) -> tuple[SandboxServer, DemoBoard]:
    """A started sandbox serving a fresh demo board (stop the server when done)."""
    state = SandboxState()
    zone = tz or local_zone()
    demo = build_demo_board(state, today=today or state.now().astimezone(zone).date(), tz=zone)
    server = SandboxServer(state, host, port, **server_options)
    return server.start(), demo
