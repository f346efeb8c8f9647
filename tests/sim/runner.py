"""Runs a scenario against the real service, with or without faults and crashes.

- The faulty run: the real Syncer and HttpTrello over real loopback HTTP to an in-thread
  SandboxServer whose fault switches are set between passes; crashes at the named crash
  points are modelled in-process (`crash.rearm(..., action=)` raises SimCrash, a
  BaseException), after which every in-memory object is thrown away and a new "process"
  (ledger connection, HTTP client, Syncer) is built on the same SQLite ledger file.
- The fault-free replay: the same history at the same instants, the real Syncer over the
  in-memory FakeTrello (the same port contract), no faults, no crashes.

After each step marked `sync`, the service runs until quiet: passes repeat until one
changes nothing, has no problem, and every reply in the ledger is posted. A reply left
`attempted` is given its lease by moving the fake clock on (the sandbox's clock is the
same clock, so a comment shown late shows up in step).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from platform_rules import platform_2020_raw
from sim.history import FAKE_MARKER, LISTS, MENTOR, STUDENT, Op, Scenario

from trello_sync import crash
from trello_sync.clock import FakeClock
from trello_sync.domain.checks import ledger_problems
from trello_sync.domain.replies import MARKER_PATTERN
from trello_sync.export import export_ledger
from trello_sync.journals import write_journals
from trello_sync.ledger.open import open_ledger
from trello_sync.ledger.sql import SqlLedger
from trello_sync.sandbox import SandboxServer, SandboxState
from trello_sync.sandbox.faults import LIMIT_ERRORS, Fault
from trello_sync.settings import Settings, load_settings
from trello_sync.sync import BoardOutcome, Syncer
from trello_sync.trello.client import HttpTrello
from trello_sync.trello.fake import FakeTrello
from trello_sync.trello.pager import MAX_PAGE_SIZE
from trello_sync.trello.port import ACTION_FILTER, Json, PageProgress

CRASH_POINTS = ("before_post", "after_post_before_record", "after_commit_before_post", "mid_commit")
READ_TIMEOUT = 0.5  # the faulty run's HTTP read timeout, seconds (real time)
HOLD = 0.6  # a timeout or late-answer fault holds the request this long (real time)
MAX_PASSES = 30  # per sync point; a run that is not quiet by then is a failure
FAKE_REPLY_ID = MARKER_PATTERN.search(FAKE_MARKER).group(1)  # type: ignore[union-attr]


class SimCrash(BaseException):
    """A crash at a named crash point, modelled in-process (the process 'dies')."""


class SimFailure(AssertionError):
    pass


def _crash() -> None:
    raise SimCrash()


# --- the sandbox ------------------------------------------------------------------------


@dataclass
class Sandbox:
    state: SandboxState
    token: str
    board_id: str
    lists: dict[str, str]
    other_board: str
    other_list: str
    cards: dict[str, str] = field(default_factory=dict)  # label → card id
    comments: dict[str, str] = field(default_factory=dict)  # label → action id
    # label → (project, funding) as the card's description says them ("" = not said)
    said: dict[str, tuple[str, str]] = field(default_factory=dict)

    def description(
        self, card: str, *, project: str | None = None, funding: str | None = None
    ) -> str:
        """The card's description after a change of its project or funding line."""
        was = self.said.get(card, ("", ""))
        now = (was[0] if project is None else project, was[1] if funding is None else funding)
        self.said[card] = now
        lines = [f"Project: {now[0]}" if now[0] else "", f"Funding: {now[1]}" if now[1] else ""]
        return "\n".join(line for line in lines if line)


def build_sandbox(scenario: Scenario, now: Callable[[], datetime]) -> Sandbox:
    state = SandboxState(seed=scenario.seed, clock=now)
    state.add_member(MENTOR, "Camille Martin")
    state.add_member(STUDENT, "Léa Student")
    token = state.add_token(MENTOR)
    created = scenario.start - timedelta(days=1)
    board = state.create_board(MENTOR, "Mentoring", at=created)
    state.add_board_member(MENTOR, board["id"], STUDENT, at=created)
    lists = {
        name: str(state.create_list(MENTOR, board["id"], name, at=created)["id"]) for name in LISTS
    }
    other = state.create_board(MENTOR, "Elsewhere", at=created)
    other_list = state.create_list(MENTOR, other["id"], "Inbox", at=created)
    return Sandbox(state, token, str(board["id"]), lists, str(other["id"]), str(other_list["id"]))


def apply_op(sb: Sandbox, op: Op, at: Any) -> None:
    state, card = sb.state, sb.cards.get(op.card, "")
    if op.kind == "create":
        desc = sb.description(op.card, project=op.text, funding=op.funding)
        made = state.create_card(MENTOR, sb.lists[op.target], op.card, desc=desc, at=at)
        sb.cards[op.card] = str(made["id"])
    elif op.kind == "move":
        state.move_card(MENTOR, card, sb.lists[op.target], at=at)
    elif op.kind == "comment":
        sb.comments[op.label] = str(state.comment(op.by, card, op.text, at=at)["id"])
    elif op.kind == "edit":
        state.edit_comment(op.by, sb.comments[op.target], op.text, at=at)
    elif op.kind == "delete_comment":
        state.delete_comment(MENTOR, sb.comments[op.target], at=at)
    elif op.kind == "archive":
        state.archive_card(MENTOR, card, at=at)
    elif op.kind == "unarchive":
        state.unarchive_card(MENTOR, card, at=at)
    elif op.kind == "delete_card":
        state.delete_card(MENTOR, card, at=at)
    elif op.kind == "away":
        state.move_card_to_board(MENTOR, card, sb.other_board, sb.other_list, at=at)
    elif op.kind == "project":
        state.set_card_desc(MENTOR, card, sb.description(op.card, project=op.text), at=at)
    elif op.kind == "funding":
        state.set_card_desc(MENTOR, card, sb.description(op.card, funding=op.text), at=at)
    else:
        raise ValueError(f"unknown operation {op.kind}")


class _SmallPages:
    """Asks for the scenario's (small) page size when it polls; mixed into a real port."""

    page_size = MAX_PAGE_SIZE

    def board_action_pages(
        self,
        board_id: str,
        *,
        since: str | None = None,
        action_filter: str = ACTION_FILTER,
        page_size: int = MAX_PAGE_SIZE,
        on_page: PageProgress | None = None,
    ) -> Iterator[list[Json]]:
        # The small pages for the poll's feed; the comment re-read keeps Trello's maximum.
        size = min(page_size, self.page_size) if action_filter == ACTION_FILTER else page_size
        return super().board_action_pages(  # type: ignore[misc]
            board_id, since=since, action_filter=action_filter, page_size=size, on_page=on_page
        )

    def board_history_slices(
        self,
        board_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        action_filter: str = ACTION_FILTER,
        page_size: int = MAX_PAGE_SIZE,
        on_page: PageProgress | None = None,
    ) -> Iterator[list[Json]]:
        # A first sync's slices in the scenario's small pages too: slices then span
        # several pages, and the faults fall between them.
        return super().board_history_slices(  # type: ignore[misc]
            board_id,
            start=start,
            end=end,
            action_filter=action_filter,
            page_size=min(page_size, self.page_size),
            on_page=on_page,
        )


class PagedHttpTrello(_SmallPages, HttpTrello):
    """The real HTTP client, with the scenario's page size."""


class PagedFakeTrello(_SmallPages, FakeTrello):
    """The in-memory port, with the scenario's page size."""


# --- one run ----------------------------------------------------------------------------


class Run:
    """One life of the service over one scenario: faulty (HTTP, faults, crashes) or not."""

    def __init__(self, scenario: Scenario, folder: Path, *, faulty: bool) -> None:
        self.scenario = scenario
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.faulty = faulty
        self.clock = FakeClock(scenario.start - timedelta(hours=1))
        self.sandbox = build_sandbox(scenario, self.clock.now)
        self.trace: list[str] = []
        self.frng = random.Random(f"faults-{scenario.seed}")
        self.timing_faults = 1 if self.frng.random() < 0.12 else 0  # each costs real time
        crng = random.Random(f"chunks-{scenario.seed}")
        self.chunking = (crng.choice([1, 2, 5, 1000]), crng.choice([0, 4, 20_000]))
        self.server: SandboxServer | None = None
        self.pacing = FakeClock()  # the HTTP client's pacing and back-off sleeps
        if faulty:
            self.server = SandboxServer(self.sandbox.state, monotonic=self.pacing.monotonic)
            self.server.start()
        self.settings = self._settings()
        self.ledger: SqlLedger | None = None
        self.trello: HttpTrello | FakeTrello | None = None
        self.syncer: Syncer | None = None
        self.lives = 0
        self._start_service()

    def _settings(self) -> Settings:
        extra: dict[str, Any] = {}
        if self.server is not None:
            extra = {"api_url": self.server.url, "api_key": self.sandbox.state.api_key}
        if self.scenario.platform_rules:
            extra["pay_rules"] = platform_2020_raw()
        return load_settings(
            boards=[self.sandbox.board_id],
            mentors=[MENTOR],
            database_url=f"sqlite:///{self.folder / 'ledger.db'}",
            export_dir=self.folder / "exports",
            timezone="Europe/Paris",
            reply_lease=self.scenario.lease,
            reread_interval=0,  # every pass looks for edits and deletions
            overlap_seconds=300,
            reply_history_days=14,
            max_students=self.scenario.cap,
            token=self.sandbox.token,
            **extra,
        )

    # --- the service's "process" ----------------------------------------------------------
    def _start_service(self) -> None:
        self.lives += 1
        self.ledger = open_ledger(self.settings.database_url, clock=self.clock)
        if self.server is not None:
            session = requests.Session()
            session.trust_env = False  # no proxy lookups in the environment per request
            client = PagedHttpTrello(
                self.server.url,
                self.sandbox.state.api_key,
                self.sandbox.token,
                clock=self.pacing,
                rng=random.Random(f"{self.scenario.seed}-{self.lives}"),
                timeout=(2.0, READ_TIMEOUT),
                session=session,
            )
            client.page_size = self.scenario.page_size
            self.trello = client
        else:
            fake = PagedFakeTrello(self.sandbox.state, self.sandbox.token)
            fake.page_size = self.scenario.page_size
            self.trello = fake
        self.syncer = Syncer(self.settings, self.trello, self.ledger, self.clock)
        if self.faulty:
            # The faulty run plans in tiny chunks from a spool on disk; the replay in one
            # piece from memory: the two must still end in the same ledger.
            self.syncer.chunk_size, self.syncer.spool_memory = self.chunking

    def _stop_service(self) -> None:
        """Throw every in-memory object away (after a crash, or at the end)."""
        if self.ledger is not None:
            self.ledger.close()
        if isinstance(self.trello, HttpTrello):
            self.trello.close()
        self.ledger = self.trello = self.syncer = None

    def close(self) -> None:
        self._stop_service()
        crash.rearm(None)
        if self.server is not None:
            self.server.stop()

    # --- the history --------------------------------------------------------------------
    def execute(self) -> None:
        for n, step in enumerate(self.scenario.steps):
            if self.clock.now() > step.at:
                raise SimFailure(
                    f"the simulator's own limit: step {n - 1} took until "
                    f"{self.clock.now().isoformat()}, past step {n} at {step.at.isoformat()}"
                )
            self.clock.set(step.at)
            for i, op in enumerate(step.ops):
                apply_op(self.sandbox, op, step.op_at(i))
            if step.sync:
                self.clock.set(step.sync_at)
                self.until_quiet(n)

    def until_quiet(self, step: int) -> None:
        faulty_passes = self.frng.choice([0, 1, 1, 2, 3]) if self.faulty else 0
        for number in range(MAX_PASSES):
            faults, crash_at = self._arm(number < faulty_passes)
            label = f"step {step} pass {number}"
            if faults or crash_at:
                self.trace.append(
                    f"{label}: faults {[_describe(f) for f in faults]} crash {crash_at}"
                )
            try:
                assert self.syncer is not None
                outcomes = self.syncer.sync_all()
            except SimCrash:
                self.trace.append(f"{label}: crashed at {crash_at}; restarted")
                self._stop_service()
                self._start_service()
                continue
            finally:
                crash.rearm(None)
                if self.server is not None:
                    self.server.faults.clear()
            problems = [o.problem for o in outcomes if o.problem]
            if problems:
                self.trace.append(f"{label}: problem: {problems}")
            if self._quiet(outcomes) and number >= faulty_passes:
                return
            if self._waiting():
                self.clock.advance(self.scenario.lease + 1)
        raise SimFailure(f"step {step}: not quiet after {MAX_PASSES} passes")

    def _quiet(self, outcomes: list[BoardOutcome]) -> bool:
        if any(o.problem and not self._truly_empty(o.problem) for o in outcomes):
            return False
        for o in outcomes:
            work = (o.applied, o.entries, o.moves, o.replies_planned, o.outbox.posted)
            if any(work) or o.outbox.found_already_posted:
                return False
        assert self.ledger is not None
        return all(r.status == "posted" for r in self.ledger.replies())

    def _truly_empty(self, problem: str) -> bool:
        """The board really shows no card (every one deleted): flagged, by design, until
        it shows one again; both runs wait there alike."""
        state, board = self.sandbox.state, self.sandbox.board_id
        return "suddenly shows no" in problem and not state.board_cards(board, "all")

    def _waiting(self) -> bool:
        assert self.ledger is not None
        return any(r.status == "attempted" for r in self.ledger.replies())

    # --- faults -------------------------------------------------------------------------
    def _arm(self, faulty: bool) -> tuple[list[Fault], str | None]:
        if not faulty or self.server is None:
            return [], None
        rng = self.frng
        faults = [self._fault(rng) for _ in range(rng.randint(1, 3))]
        faults = [f for f in faults if f is not None]
        for fault in faults:
            self.server.faults.add(fault)
        crash_at = None
        if rng.random() < 0.45:
            crash_at = f"{rng.choice(CRASH_POINTS)}:{rng.randint(1, 3)}"
            crash.rearm(crash_at, action=_crash)
        return faults, crash_at

    def _fault(self, rng: random.Random) -> Fault | None:
        kind = rng.choices(
            ["status", "drop", "shuffle", "empty", "hide", "timing"],
            weights=[30, 20, 12, 8, 20, 10],
        )[0]
        post = ("POST", "/actions/comments")
        if kind == "status":
            method, where = rng.choice(
                [("GET", "/actions"), ("GET", "/batch"), post, post, (None, "")]
            )
            return Fault(
                status=rng.choice([429, 429, 500, 502, 503, 504]),
                error=rng.choice(LIMIT_ERRORS),
                times=rng.randint(1, 3),
                method=method,
                path_contains=where,
            )
        if kind == "drop":
            method, where = rng.choice([post, post, ("GET", "/actions"), ("GET", "/batch")])
            return Fault(kind="drop", times=rng.randint(1, 2), method=method, path_contains=where)
        if kind == "shuffle":
            return Fault(kind="shuffle", times=rng.randint(1, 4), seed=rng.randint(0, 999))
        if kind == "empty":
            return Fault(kind="empty", times=rng.randint(1, 2))
        if kind == "hide":
            delay = rng.uniform(0.5, self.scenario.lease - 0.5)
            return Fault(kind="hide", times=rng.randint(1, 3), delay_s=round(delay, 3))
        if self.timing_faults <= 0:
            return None
        self.timing_faults -= 1
        if rng.random() < 0.5:
            method, where = rng.choice([("GET", "/actions"), post])
            return Fault(kind="timeout", method=method, path_contains=where, delay_s=HOLD)
        return Fault(kind="late", method="POST", path_contains="/actions/comments", delay_s=HOLD)

    # --- the outcome --------------------------------------------------------------------
    def export(self, crash_first: bool = False) -> dict[str, bytes]:
        assert self.ledger is not None
        out = self.folder / "exports"
        if crash_first:
            crash.rearm("mid_export_write", action=_crash)
            try:
                export_ledger(self.ledger.entries(), out)
            except SimCrash:
                self.trace.append("export: crashed at mid_export_write; exported again")
                if any(out.iterdir()):
                    raise SimFailure("a crash while exporting left a file behind") from None
            finally:
                crash.rearm(None)
        export_ledger(self.ledger.entries(), out)
        write_journals(self.ledger, load_settings(), out)  # with the default account names
        return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def _describe(fault: Fault) -> str:
    where = f"{fault.method or '*'} {fault.path_contains or '*'}"
    what = str(fault.status) if fault.kind == "status" else fault.kind
    return f"{what}×{fault.times} {where}"


# --- comparing the two runs -------------------------------------------------------------


def reply_rows(ledger: SqlLedger) -> list[tuple[str, ...]]:
    return sorted(
        (r.reply_id, r.card_id, r.source_action_id, r.kind, r.text, r.status)
        for r in ledger.replies()
    )


def compare(faulty: Run, replay: Run) -> None:
    """Raises SimFailure naming every way the faulty run differs from the replay."""
    assert faulty.ledger is not None and replay.ledger is not None and faulty.server
    problems: list[str] = []
    got, want = faulty.export(crash_first=True), replay.export()
    if got.keys() != want.keys():
        problems.append(f"export files differ: {sorted(got)} != {sorted(want)}")
    for name in sorted(got.keys() & want.keys()):
        if got[name] != want[name]:
            problems.append(f"{name} differs from the replay's:\n{_diff(got[name], want[name])}")
    if reply_rows(faulty.ledger) != reply_rows(replay.ledger):
        problems.append(
            "replies differ:\n" + _diff_rows(reply_rows(faulty.ledger), reply_rows(replay.ledger))
        )
    if faulty.ledger.moves() != replay.ledger.moves():
        problems.append("stage moves differ")
    for run, name in ((faulty, "faulty run"), (replay, "replay")):
        assert run.ledger is not None
        found = ledger_problems(run.ledger.entries())
        if found:
            problems.append(f"{name}: ledger checks: {found}")
        unposted = [r.reply_id for r in run.ledger.replies() if r.status != "posted"]
        if unposted:
            problems.append(f"{name}: replies not posted: {unposted}")
    expected = {r.reply_id for r in replay.ledger.replies()}
    posts = posted_markers(faulty.server)
    wrong = {m: n for m, n in posts.items() if n != 1 or m not in expected}
    posts.pop(FAKE_REPLY_ID, None)
    missing = expected - set(posts)
    if wrong or missing:
        problems.append(
            f"successful POSTs per marker (want exactly 1 each): wrong {wrong}, "
            f"never posted {sorted(missing)}"
        )
    ids = {  # every comment the sandbox holds that carries a marker (history's fakes too)
        a["id"]: m.group(1)
        for a in faulty.sandbox.state.all_actions()
        if a["type"] == "commentCard"
        for m in [MARKER_PATTERN.search(a["data"]["text"])]
        if m
    }
    shown = Counter(marker for marker in ids.values() if marker != FAKE_REPLY_ID)
    twice = {m: n for m, n in shown.items() if n > 1}
    if twice:
        problems.append(f"markers shown more than once on the sandbox: {twice}")
    for reply in faulty.ledger.replies():
        if reply.comment_id in ids and ids[reply.comment_id] != reply.reply_id:
            problems.append(f"reply {reply.reply_id} recorded with another reply's comment")
    if problems:
        raise SimFailure("\n".join(problems))


def posted_markers(server: SandboxServer) -> Counter[str]:
    """Markers of the comment POSTs the sandbox applied (answered or not)."""
    found: Counter[str] = Counter()
    for entry in server.log.entries():
        if entry["method"] == "POST" and entry.get("status") == 200:
            match = MARKER_PATTERN.search(json.dumps(entry.get("body"), ensure_ascii=False))
            if match and "/actions/comments" in entry["path"]:
                found[match.group(1)] += 1
    return found


def _diff(got: bytes, want: bytes) -> str:
    import difflib

    lines = difflib.unified_diff(
        want.decode().splitlines(),
        got.decode().splitlines(),
        "replay",
        "faulty run",
        lineterm="",
        n=0,
    )
    return "\n".join(list(lines)[:40])


def _diff_rows(got: list[tuple[str, ...]], want: list[tuple[str, ...]]) -> str:
    only_got = [r for r in got if r not in want]
    only_want = [r for r in want if r not in got]
    return f"  only in the faulty run: {only_got[:5]}\n  only in the replay: {only_want[:5]}"


def simulate(seed: int, folder: Path, *, platform_rules: bool = False) -> tuple[Run, Run]:
    """Runs the seed twice (faulty, then the fault-free replay) and compares; raises
    SimFailure with the scenario and the faulty run's trace on any difference.
    `platform_rules`: the seed's history priced by the platform's 2020 rules."""
    from sim.history import make_scenario, with_platform_rules

    scenario = make_scenario(seed)
    if platform_rules:
        scenario = with_platform_rules(scenario)
    faulty = Run(scenario, folder / "faulty", faulty=True)
    replay = Run(scenario, folder / "replay", faulty=False)
    try:
        try:
            faulty.execute()
            replay.execute()
            compare(faulty, replay)
        except SimFailure as failure:
            raise SimFailure(_report(seed, scenario, faulty, str(failure))) from None
        except Exception as error:
            message = f"{type(error).__name__}: {error}"
            raise SimFailure(_report(seed, scenario, faulty, message)) from error
    finally:
        faulty.close()
        replay.close()
    return faulty, replay


def _report(seed: int, scenario: Scenario, faulty: Run, message: str) -> str:
    trace = "\n".join(f"  {line}" for line in faulty.trace) or "  (no fault, no crash)"
    # The in-process run chooses its chunking; the CLI's subprocesses keep the defaults.
    chunks = getattr(faulty, "chunking", None)
    chunking = (
        f"the faulty run planned {chunks[0]} actions at a time, spooled to disk past {chunks[1]}\n"
        if chunks
        else ""
    )
    return (
        f"simulation seed {seed} failed: {message}\n"
        f"re-run it with: SIM_SEEDS={seed} .venv/bin/pytest tests/sim -q\n"
        f"{scenario.describe()}\n"
        f"{chunking}"
        f"faults and crashes of the faulty run:\n{trace}"
    )
