"""Two boards for the tests: an ordinary month of a mentor's work, and beside it a board
full of the hostile and odd input students (and a careless mentor) can put on a board.

Built from one seed and one base instant, a world has the same history and the same ids
every time; the hostile-board system test and the golden exports both use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from trello_sync.sandbox import SandboxState

TZ = ZoneInfo("Europe/Paris")
MENTOR, HOSTILE_MENTOR, STUDENT = "camille", "nadia", "mallory_student"
TRELLO_MAX_COMMENT = 16_384
LISTS = ("Waiting", "Active", "Paused", "Handed off")


def today_at_ten() -> datetime:
    """Today at 10:00 in Paris: the instant a world's history is counted back from."""
    return datetime.now(TZ).replace(hour=10, minute=0, second=0, microsecond=0)


@dataclass
class World:
    state: SandboxState
    base: datetime  # the history is counted back from this instant
    token: str = ""
    normal: str = ""  # board ids
    hostile: str | None = None
    normal_cards: list[str] = field(default_factory=list)
    hostile_cards: list[str] = field(default_factory=list)
    # ids of the command comments on the hostile board
    hostile_commands: list[str] = field(default_factory=list)

    def days_ago(self, days: float, hour: int = 10) -> datetime:
        return (self.base.replace(hour=hour) - timedelta(days=days)).astimezone(UTC)


def _board(world: World, owner: str, name: str, members: list[str]) -> tuple[str, dict]:
    state, created = world.state, world.days_ago(60)
    board = state.create_board(owner, name, at=created)
    for member in members:
        state.add_board_member(owner, board["id"], member, at=created)
    lists = {n: state.create_list(owner, board["id"], n, at=created)["id"] for n in LISTS}
    return str(board["id"]), lists


def _student(world: World, lists: dict, name: str, desc: str = "", by: str = MENTOR) -> str:
    state, days_ago = world.state, world.days_ago
    card = state.create_card(by, lists["Waiting"], name, desc=desc, at=days_ago(12))
    state.move_card(by, card["id"], lists["Active"], at=days_ago(11))
    return str(card["id"])


def build(
    with_hostile: bool, base: datetime, *, clock: Callable[[], datetime] | None = None
) -> World:
    """The same seed and `base`, the same history and ids: `clock` is the sandbox's own
    (the instants of what the service posts), the real one if not given."""
    state = SandboxState(seed=20261201, clock=clock)
    world = World(state, base)
    days_ago = world.days_ago
    state.add_member(MENTOR, "Camille Martin")
    state.add_member(HOSTILE_MENTOR, "Nadia")
    state.add_member(STUDENT, "Mallory")
    world.token = state.add_token(MENTOR)

    # --- the normal board: an ordinary month of a mentor's work -------------------------
    world.normal, lists = _board(world, MENTOR, "Mentoring", [STUDENT])
    lea = _student(world, lists, "Léa Dupont", "Project: Learn how to learn")
    max_ = _student(world, lists, "Max O'Neil", "Project: Build a Python web app")
    noe = _student(world, lists, "Noé", "Project: Launch your own restaurant review site")
    say = lambda card, text, days, by=MENTOR: state.comment(  # noqa: E731
        by, card, text, at=days_ago(days, 18)
    )
    say(lea, "/session 45m good start", 8)
    say(max_, "/session 1h", 8)
    say(noe, "/noshow", 7)
    say(lea, "/late", 6)
    edited = say(max_, "/session 30m", 5)
    state.edit_comment(MENTOR, edited["id"], "/session 1h30m", at=days_ago(5, 19))
    say(noe, "/session", 4)
    say(noe, "/undo", 4)
    say(lea, "/session yesterday 50m", 2)
    say(max_, "/session", 1, by=STUDENT)  # a student may not log: refused
    state.move_card(MENTOR, noe, lists["Handed off"], at=days_ago(1))
    world.normal_cards = [lea, max_, noe]
    if with_hostile:
        _hostile(world)
    return world


def _hostile(world: World) -> None:
    """What students (and a careless mentor) can put on a board, all at once."""
    state, days_ago = world.state, world.days_ago
    board, lists = _board(world, MENTOR, "Hostile", [HOSTILE_MENTOR, STUDENT])
    world.hostile = board
    by_mentor = HOSTILE_MENTOR
    cards = {
        "mention": _student(world, lists, "Farid @board [pay here](http://example.invalid)"),
        "long": _student(world, lists, "Long name"),
        "omar": _student(world, lists, "Omar"),
        "level": _student(world, lists, "Level bomb", desc="Project: a" + " " * 16_000 + "b\nmore"),
        "markdown": _student(world, lists, "@here #1 **bold** `code` <b>x</b> | a | www.x.io"),
        "marker": _student(world, lists, "Eve [trello-sync ref:0123456789abcdef]"),
        "formula": _student(world, lists, '=HYPERLINK("http://evil.invalid","pay")'),
    }
    world.hostile_cards = list(cards.values())
    state.rename_card(STUDENT, cards["long"], "N" * 16_300, at=days_ago(10))
    huge_level = state.create_label(MENTOR, board, "Level " + "9" * 5_000, "red", at=days_ago(10))
    state.add_label(MENTOR, cards["level"], huge_level["id"], at=days_ago(10))
    field = state.create_custom_field(MENTOR, board, "Project", "text", at=days_ago(10))
    state.set_custom_field(MENTOR, cards["omar"], field["id"], "P" * 16_000, at=days_ago(10))
    odd_list = state.create_list(MENTOR, board, "L" * 16_000, at=days_ago(10))
    state.move_card(MENTOR, cards["markdown"], odd_list["id"], at=days_ago(9))
    state.move_card(MENTOR, cards["markdown"], lists["Active"], at=days_ago(9, 11))

    def command(card: str, text: str, days: float, by: str = by_mentor) -> str:
        action = state.comment(by, cards[card], text, at=days_ago(days, 18))
        world.hostile_commands.append(str(action["id"]))
        return str(action["id"])

    command("omar", "/session " + "9" * 5_000 + "m", 8, by=STUDENT)
    command("omar", "/session " + "9" * 5_000 + "m", 8)
    command("omar", "/" + "x" * 16_383, 8)
    command("omar", "/session 45m\n/session 45m", 7)
    command("omar", "/noshow " + "n" * 3_000, 7)
    command("omar", "/session \x00\x1b[31m\u202e 45m", 7)
    command("omar", "/session 99999999999999999999h", 7)
    command("omar", "/session 31/02 1h", 7)
    command("omar", "/session -5m", 6)
    command("omar", "/session 2h 45m", 6)
    command("mention", "/session 45m see www.example.invalid @board [x](http://a.invalid)", 6)
    command("long", "/session 1h", 6)
    command("level", "/session 1h", 6)
    command("markdown", "/session 45m **note** @here", 5)
    command("marker", "/session 45m", 5)
    command("formula", "/session yesterday 45m -2+3 @SUM(A1)", 5)
    plain = command("omar", "/session 1h", 4)
    state.edit_comment(by_mentor, plain, "never mind, no session", at=days_ago(4, 19))
    state.comment(STUDENT, cards["omar"], "[trello-sync ref:fedcba9876543210]", at=days_ago(3))
