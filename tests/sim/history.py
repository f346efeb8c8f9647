"""A board's history, decided by one seed: steps of operations on the sandbox.

The history is generated up front from `random.Random(seed)` as plain data (cards and
comments by label, never by id), so that the faulty run and the fault-free replay apply
exactly the same operations at exactly the same instants to two sandboxes of their own.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Europe/Paris")
MENTOR = "camille"
STUDENT = "lea_student"
STAGE_LISTS = ("Waiting", "Active", "Paused", "Handed off")
UNMAPPED = "Notes"
LISTS = (*STAGE_LISTS, UNMAPPED)
PROJECTS = (
    "Learn how to learn",
    "Build a Python web app",
    "Launch your own restaurant review site",
    "Enhance an existing project",
    None,
)
NAMES = ("Lea", "Max", "Noe", "Zoe", "Ugo", "Ana", "Eli", "Ines", "Jon", "Kim", "Luc", "Mia")
CHATTER = ("great progress today", "see you next week", "sent the slides", "👍 nice work")
FAKE_MARKER = "[trello-sync ref:0123456789abcdef]"
# The longest gap between two steps' instants must leave room for the faulty run's lease
# waits; the shortest is longer than every wait the runner allows itself (see runner.py).
GAP_MINUTES = (6, 7, 10, 30, 90, 240, 600, 1440)
# The whole history stays within this many days, so that every command gets its reply
# (reply_history_days = 14) and no time-driven reminder (14 days) ever comes due: those
# depend on the clock, not on the history, and have their own tests.
MAX_SPAN_DAYS = 10
# With the platform's 2020 rules (config/examples/platform-2020.toml): how a card says
# its funding ("" says nothing), drawn for each created card and each funding change.
FUNDINGS = ("funded", "self", "self", "")


@dataclass(frozen=True)
class Op:
    kind: str  # create, move, comment, edit, delete_comment, archive, unarchive,
    # delete_card, away, project, funding
    card: str = ""  # card label
    target: str = ""  # list name (create, move), comment label (edit, delete_comment)
    text: str = ""  # comment text; project for create/project, funding for funding
    by: str = MENTOR
    label: str = ""  # a new comment's label
    funding: str = ""  # a created card's funding ("" = none)

    def __str__(self) -> str:
        parts = [self.kind, self.card, self.target, repr(self.text) if self.text else ""]
        if self.funding:
            parts.append(f"funding {self.funding}")
        if self.by != MENTOR:
            parts.append(f"by {self.by}")
        if self.label:
            parts.append(f"as {self.label}")
        return " ".join(p for p in parts if p)


@dataclass(frozen=True)
class Step:
    at: datetime  # the first operation's instant (UTC); the others follow `spacing` apart
    spacing: timedelta
    ops: tuple[Op, ...]
    sync: bool  # the service runs until quiet after this step
    # Instants recorded by a run on the real clock (the subprocess runs), replayed as is.
    times: tuple[datetime, ...] = ()
    synced_at: datetime | None = None

    def op_at(self, index: int) -> datetime:
        return self.times[index] if self.times else self.at + self.spacing * index

    @property
    def sync_at(self) -> datetime:
        if self.synced_at is not None:
            return self.synced_at
        return self.op_at(len(self.ops)) + timedelta(seconds=30)


@dataclass(frozen=True)
class Scenario:
    seed: int
    start: datetime
    steps: tuple[Step, ...]
    page_size: int  # the actions feed's page size the service asks for
    lease: int  # TRELLO_SYNC_REPLY_LEASE, seconds
    cap: int  # max_students: the cap warning comes into play
    platform_rules: bool = False  # priced by config/examples/platform-2020.toml

    def describe(self) -> str:
        rules = ", the platform's 2020 rules" if self.platform_rules else ""
        lines = [
            f"seed {self.seed}: start {self.start.isoformat()}, page size {self.page_size}, "
            f"reply lease {self.lease} s, cap {self.cap}{rules}"
        ]
        for n, step in enumerate(self.steps):
            sync = " → sync" if step.sync else ""
            lines.append(f"  step {n} at {step.at.isoformat()}{sync}")
            lines.extend(f"    {op}" for op in step.ops)
        return "\n".join(lines)


@dataclass
class _Card:
    list: str
    closed: bool = False
    gone: bool = False  # deleted or moved to another board


@dataclass
class _Comment:
    card: str
    by: str
    gone: bool = False


@dataclass
class _Model:
    """What the generator knows of the board, to choose operations that make sense."""

    cards: dict[str, _Card] = field(default_factory=dict)
    comments: dict[str, _Comment] = field(default_factory=dict)
    next_card: int = 0
    next_comment: int = 0

    def open_cards(self) -> list[str]:
        return [k for k, c in self.cards.items() if not c.gone and not c.closed]

    def closed_cards(self) -> list[str]:
        return [k for k, c in self.cards.items() if not c.gone and c.closed]

    def live_comments(self) -> list[str]:
        return [k for k, c in self.comments.items() if not c.gone and not self.cards[c.card].gone]


def command_text(rng: random.Random, day: date) -> str:
    """A command of every kind, valid or not, as a mentor would type it."""
    back = day - timedelta(days=rng.randint(1, 3))
    return rng.choice(
        [
            "/session",
            "/session",
            "/session 45m",
            "/session 1h good progress",
            "/session yesterday 30m",
            f"/session {back.isoformat()} 1h",
            f"/session {day.strftime('%d/%m')}",
            "/noshow",
            "/late",
            "/cancel",
            "/undo",
            "/undo",
            "/sesion",  # unknown command
            "/session 31/02",  # no such date
            "/session 900m",  # not a plausible length
            f"/session {(day + timedelta(days=2)).isoformat()}",  # in the future
            f"/session quoted {FAKE_MARKER}",  # looks like the service's own comment
        ]
    )


def make_scenario(seed: int) -> Scenario:
    rng = random.Random(seed)
    day0 = datetime(2026, 1, 1, tzinfo=TZ) + timedelta(days=rng.randint(0, 364))
    start = (day0 + timedelta(hours=rng.randint(7, 20), minutes=rng.randint(0, 59))).astimezone(UTC)
    model = _Model()
    steps: list[Step] = []
    at = start
    for n in range(rng.randint(3, 8)):
        spacing = rng.choice(
            [timedelta(0), timedelta(milliseconds=1), timedelta(seconds=1), timedelta(seconds=20)]
        )
        count = rng.randint(3, 6) if n == 0 else rng.randint(1, 4)
        ops: list[Op] = []
        for i in range(count):
            day = (at + spacing * i).astimezone(TZ).date()
            ops.append(_next_op(rng, model, day, first_step=n == 0))
        step = Step(at, spacing, tuple(ops), sync=rng.random() < 0.75)
        steps.append(step)
        at = step.sync_at + timedelta(minutes=rng.choice(GAP_MINUTES))
        if at - start > timedelta(days=MAX_SPAN_DAYS):
            break
    last = steps[-1]
    steps[-1] = Step(last.at, last.spacing, last.ops, sync=True)
    return Scenario(
        seed=seed,
        start=start,
        steps=tuple(steps),
        page_size=rng.choice([2, 3, 5, 8, 20, 1000]),
        lease=rng.choice([5, 10, 20]),
        cap=rng.choice([2, 3, 20]),
    )


def _next_op(rng: random.Random, model: _Model, day: date, *, first_step: bool) -> Op:
    open_cards = model.open_cards()
    if (first_step and len(open_cards) < 2) or not open_cards or rng.random() < 0.12:
        return _create(rng, model)
    weights = {
        "move": 20,
        "command": 30,
        "student": 5,
        "chatter": 6,
        "edit": 8 if model.live_comments() else 0,
        "delete_comment": 6 if model.live_comments() else 0,
        "archive": 3,
        "unarchive": 3 if model.closed_cards() else 0,
        "delete_card": 2,
        "away": 6,
        "project": 2,
    }
    kinds = [k for k, w in weights.items() if w]
    kind = rng.choices(kinds, weights=[weights[k] for k in kinds])[0]
    card = rng.choice(open_cards)
    if kind == "move":
        current = model.cards[card].list
        target = rng.choice([name for name in LISTS if name != current])
        # Most moves follow the pipeline into Active, where sessions are allowed.
        if current == "Waiting" and rng.random() < 0.6:
            target = "Active"
        model.cards[card].list = target
        return Op("move", card, target)
    if kind in ("command", "student", "chatter"):
        by = STUDENT if kind == "student" else MENTOR
        text = rng.choice(CHATTER) if kind == "chatter" else command_text(rng, day)
        label = f"c{model.next_comment}"
        model.next_comment += 1
        model.comments[label] = _Comment(card, by)
        return Op("comment", card, text=text, by=by, label=label)
    if kind == "edit":
        label = rng.choice(model.live_comments())
        comment = model.comments[label]
        text = rng.choice([command_text(rng, day), rng.choice(CHATTER)])
        return Op("edit", comment.card, label, text=text, by=comment.by)
    if kind == "delete_comment":
        label = rng.choice(model.live_comments())
        model.comments[label].gone = True
        return Op("delete_comment", model.comments[label].card, label)
    if kind == "archive":
        model.cards[card].closed = True
        return Op("archive", card)
    if kind == "unarchive":
        card = rng.choice(model.closed_cards())
        model.cards[card].closed = False
        return Op("unarchive", card)
    if kind == "delete_card":
        model.cards[card].gone = True
        return Op("delete_card", card)
    if kind == "away":
        model.cards[card].gone = True
        return Op("away", card)
    project = rng.choice(PROJECTS) or ""
    return Op("project", card, text=project)


def _create(rng: random.Random, model: _Model) -> Op:
    label = f"{NAMES[model.next_card % len(NAMES)]}{model.next_card // len(NAMES) or ''}"
    model.next_card += 1
    target = rng.choices(["Waiting", "Active", UNMAPPED], weights=[6, 3, 1])[0]
    model.cards[label] = _Card(target)
    return Op("create", label, target, text=rng.choice(PROJECTS) or "")


def with_platform_rules(scenario: Scenario) -> Scenario:
    """The same history priced by the platform's 2020 rules, with what they price: each
    created card says a funding (or none), some project changes become funding changes,
    and some sessions and no-shows are defenses. Drawn from a generator of its own, so
    that the seed's history is otherwise exactly the one it always was."""
    rng = random.Random(f"platform-2020-{scenario.seed}")
    steps = tuple(
        replace(step, ops=tuple(_priced_by_platform(rng, op) for op in step.ops))
        for step in scenario.steps
    )
    return replace(scenario, steps=steps, platform_rules=True)


def _priced_by_platform(rng: random.Random, op: Op) -> Op:
    if op.kind == "create":
        return replace(op, funding=rng.choice(FUNDINGS))
    if op.kind == "project" and rng.random() < 0.6:
        return Op("funding", op.card, text=rng.choice(FUNDINGS))
    if op.kind in ("comment", "edit") and rng.random() < 0.25:
        for command, defense in (("/session", "/defense"), ("/noshow", "/soutenance noshow")):
            if op.text.startswith(command):
                return replace(op, text=defense + op.text[len(command) :])
    return op
