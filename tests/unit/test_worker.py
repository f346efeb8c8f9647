"""The worker's loop with a FakeClock: the real Syncer over the in-memory Trello and a real
SQLite ledger, days of schedule driven without waiting. Also the exports' promises
(deterministic; a crash while writing leaves no partial file), signals, logs and health."""

from __future__ import annotations

import errno
import io
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from backends import PG_ENV, make_ledger_url

from trello_sync.clock import FakeClock, SystemClock
from trello_sync.export_all import export_everything
from trello_sync.ledger.open import open_ledger
from trello_sync.ledger.sql import SqlLedger
from trello_sync.logs import setup_logging
from trello_sync.metrics import Health, MetricsServer, WorkerMetrics
from trello_sync.nightly import LAST_EXPORT_META
from trello_sync.sandbox import SandboxState
from trello_sync.settings import Settings, load_settings
from trello_sync.sync import BoardOutcome, Syncer
from trello_sync.trello.fake import FakeTrello
from trello_sync.trello.port import TrelloAuthError
from trello_sync.worker import EXPORT_RETRY_SECONDS, StopNow, Worker, install_signal_handlers

MENTOR = "camille"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


class Recording:
    """The real Syncer, with each call's time noted; `hooks[n]` runs before call n, and
    when it returns outcomes, call n answers those instead of syncing."""

    def __init__(self, inner: Syncer, clock: FakeClock) -> None:
        self.inner, self.clock = inner, clock
        self.calls: list[tuple[datetime, bool]] = []
        self.hooks: dict[int, Callable[[], list[BoardOutcome] | None]] = {}

    def sync_all(self, *, force_reread: bool = False, post: bool = True) -> list[BoardOutcome]:
        self.calls.append((self.clock.now(), force_reread))
        hook = self.hooks.get(len(self.calls))
        if hook is not None:
            answer = hook()
            if answer is not None:
                return answer
        return self.inner.sync_all(force_reread=force_reread, post=post)

    @property
    def polls(self) -> list[datetime]:
        return [at for at, forced in self.calls if not forced]

    @property
    def exports(self) -> list[datetime]:
        return [at for at, forced in self.calls if forced]


@dataclass
class World:
    clock: FakeClock
    state: SandboxState
    settings: Settings
    ledger: SqlLedger
    syncer: Recording
    token: str

    def worker(self, **kwargs: object) -> Worker:
        return Worker(self.settings, self.syncer, self.ledger, self.clock, **kwargs)  # type: ignore[arg-type]

    @property
    def exports(self) -> Path:
        return self.settings.export_dir


def build_board(state: SandboxState, start: datetime) -> str:
    """Two students, active for three weeks, four sessions: a ledger worth exporting."""
    state.add_member(MENTOR, "Camille Martin")
    day = timedelta(days=1)
    board = state.create_board(MENTOR, "Mentoring", at=start - 30 * day)
    lists = {n: state.create_list(MENTOR, board["id"], n)["id"] for n in ("Waiting", "Active")}
    for offset, (name, project) in enumerate([("Lea", "Learn how to learn"), ("Max", "Other")]):
        card = state.create_card(
            MENTOR, lists["Waiting"], name, desc=f"Project: {project}", at=start - 25 * day
        )
        state.move_card(MENTOR, card["id"], lists["Active"], at=start - 24 * day)
        for days_ago in (20 - offset, 10 - offset):
            state.comment(MENTOR, card["id"], "/session 45m", at=start - days_ago * day)
    return str(board["id"])


def make_world(
    tmp_path: Path, start: datetime, database_url: str | None = None, twin: World | None = None
) -> World:
    """A board on a fresh sandbox, or `twin`'s board (the same ids) into another ledger."""
    clock = FakeClock(start)
    if twin is None:
        state = SandboxState(clock=clock.now)
        boards = [build_board(state, start)]
        token = state.add_token(MENTOR)
    else:
        state, boards, token = twin.state, twin.settings.boards, twin.token
    settings = load_settings(
        boards=boards,
        mentors=[MENTOR],
        database_url=database_url or f"sqlite:///{tmp_path / 'ledger.db'}",
        export_dir=tmp_path / "exports",
        timezone="Europe/Paris",
        poll_interval=3600,
        export_time="02:30",
    )
    ledger = open_ledger(settings.database_url, clock=clock)
    syncer = Syncer(settings, FakeTrello(state, token), ledger, clock)
    return World(clock, state, settings, ledger, Recording(syncer, clock), token)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.chdir(tmp_path)  # no stray ./trello-sync.toml
    monkeypatch.delenv("TRELLO_SYNC_CONFIG", raising=False)
    made = make_world(tmp_path, utc(2026, 3, 27, 12))
    yield made
    made.ledger.close()


def without_dashboard(files: dict[str, bytes]) -> dict[str, bytes]:
    return {name: data for name, data in files.items() if name != "index.html"}


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def also_sync(world: World, *refs: str) -> None:
    """The same world, with more boards in TRELLO_SYNC_BOARDS."""
    world.settings = world.settings.model_copy(update={"boards": [*world.settings.boards, *refs]})
    trello = FakeTrello(world.state, world.token)
    world.syncer.inner = Syncer(world.settings, trello, world.ledger, world.clock)


def unknown(ref: str = "NoSuchBd") -> BoardOutcome:
    problem = f"board {ref!r} was not found, or this token cannot see it"
    return BoardOutcome(ref, problem=problem, unknown_board=True)


def unavailable(name: str = "Mentoring") -> BoardOutcome:
    problem = "Trello unavailable: GET /boards/b1/actions failed 6 times"
    return BoardOutcome("b1", name=name, problem=problem)


def explode() -> None:
    raise RuntimeError("disk on fire")


# --- the nightly export -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (  # spring forward on 29 March: 02:30 does not exist, 03:00 CEST is the first after
            utc(2026, 3, 27, 12),
            [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1), utc(2026, 3, 30, 0, 30)],
        ),
        (  # fall back on 25 October: 02:30 happens twice, the export runs at the first
            utc(2026, 10, 23, 12),
            [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)],
        ),
    ],
)
def test_the_nightly_export_fires_at_the_local_time_across_a_dst_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start: datetime, expected: list[datetime]
) -> None:
    monkeypatch.chdir(tmp_path)
    world = make_world(tmp_path, start)
    world.ledger.set_meta(LAST_EXPORT_META, start.date().isoformat())  # that night is done
    worker = world.worker()
    assert worker.run(max_cycles=3 * 24 + 1) == 0  # three days of hourly polls
    assert world.syncer.exports == expected
    nights = [(start + timedelta(days=n)).date() for n in (1, 2, 3)]
    assert worker.exports == nights
    assert world.ledger.get_meta(LAST_EXPORT_META) == nights[-1].isoformat()
    polls = world.syncer.polls
    assert len(polls) == 73
    assert {b - a for a, b in itertools.pairwise(polls)} == {timedelta(hours=1)}
    world.ledger.close()


def test_a_missed_night_is_written_once_and_a_restart_writes_nothing_new(world: World) -> None:
    world.ledger.set_meta(LAST_EXPORT_META, "2026-03-24")  # down for two nights
    first = world.worker()
    assert first.run_once() == 0
    assert first.exports == [date(2026, 3, 27)]  # the latest night only: one export
    assert world.syncer.exports == [world.clock.now()]  # re-read before it, at start
    written = folder_bytes(world.exports)
    assert {"ledger.csv", "ledger.jsonl", "statement-2026-03.csv"} <= set(written)
    stamps = {p.name: p.stat().st_mtime_ns for p in world.exports.iterdir()}

    world.clock.advance(120)
    again = world.worker()
    assert again.run_once() == 0
    assert again.exports == [] and len(world.syncer.exports) == 1
    assert {p.name: p.stat().st_mtime_ns for p in world.exports.iterdir()} == stamps
    assert world.ledger.get_meta(LAST_EXPORT_META) == "2026-03-27"


def test_the_first_start_of_all_exports_once(world: World) -> None:
    assert world.worker().run_once() == 0
    assert world.worker().run_once() == 0
    assert len(world.syncer.exports) == 1
    assert world.ledger.get_meta(LAST_EXPORT_META) == "2026-03-27"


def test_a_failed_export_is_tried_again_soon_and_recorded_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.exports.parent.mkdir(parents=True, exist_ok=True)
    world.exports.write_text("a file where the export folder should be")
    # Calls: 1 first poll, 2 export (fails: no folder), 3 the retry: fix the folder first.
    world.syncer.hooks[3] = world.exports.unlink
    worker = world.worker()
    assert worker.run(max_cycles=2) == 0
    start = utc(2026, 3, 27, 12)
    assert world.syncer.exports == [start, start + timedelta(seconds=EXPORT_RETRY_SECONDS)]
    assert worker.exports == [date(2026, 3, 27)]
    assert "nightly export failed; the worker goes on" in caplog.text
    assert (world.exports / "ledger.csv").is_file()
    assert _sample(worker.metrics, "trello_sync_exports_total", result="error") == 1


def test_a_night_whose_reread_failed_is_written_not_recorded_and_done_again(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    # Calls: 1 the first poll, 2 the night's re-read (Trello down), 3 the retry.
    world.syncer.hooks[2] = lambda: [unavailable()]
    before_retry: list[object] = []

    def look() -> None:
        before_retry.extend(
            [(world.exports / "ledger.csv").is_file(), world.ledger.get_meta(LAST_EXPORT_META)]
        )

    world.syncer.hooks[3] = look
    worker = world.worker()
    assert worker.run(max_cycles=2) == 0  # the retry did the night before the run ended
    assert before_retry == [True, None]  # the books as they stood, and the night not done
    start = utc(2026, 3, 27, 12)
    assert world.syncer.exports == [start, start + timedelta(seconds=EXPORT_RETRY_SECONDS)]
    assert worker.exports == [date(2026, 3, 27)]
    assert world.ledger.get_meta(LAST_EXPORT_META) == "2026-03-27"
    assert _sample(worker.metrics, "trello_sync_exports_total", result="error") == 1
    assert _sample(worker.metrics, "trello_sync_exports_total", result="ok") == 1
    said = [r for r in caplog.records if "not recorded as done" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.WARNING]
    assert "Trello unavailable" in said[0].getMessage()
    assert "nightly export failed" not in caplog.text


@pytest.mark.parametrize(
    ("reread", "code"), [(unavailable, 1), (unknown, 2)], ids=["trello-down", "unknown-board"]
)
def test_once_after_a_failed_reread_fails_and_the_next_start_does_the_night(
    world: World, reread: Callable[[], BoardOutcome], code: int
) -> None:
    world.syncer.hooks[2] = lambda: [reread()]
    assert world.worker().run_once() == code
    assert (world.exports / "ledger.csv").is_file()
    assert world.ledger.get_meta(LAST_EXPORT_META) is None

    world.clock.advance(120)  # cron, a while later: Trello is back
    again = world.worker()
    assert again.run_once() == 0
    assert again.exports == [date(2026, 3, 27)]
    assert world.ledger.get_meta(LAST_EXPORT_META) == "2026-03-27"
    assert len(world.syncer.exports) == 2


# --- the loop -----------------------------------------------------------------------------
def test_the_loop_survives_a_job_that_raises(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.syncer.hooks[1] = explode
    worker = world.worker()
    assert worker.run(max_cycles=3) == 0
    assert worker.cycles == 3
    assert "poll cycle failed; the worker goes on: RuntimeError: disk on fire" in caplog.text
    assert len(list(world.ledger.entries())) == 4  # the next cycles synced the board
    assert _sample(worker.metrics, "trello_sync_cycles_total", result="error") == 1
    assert _sample(worker.metrics, "trello_sync_cycles_total", result="ok") == 2


def test_max_cycles_ends_the_loop_without_waiting(world: World) -> None:
    world.ledger.set_meta(LAST_EXPORT_META, "2026-03-27")
    worker = world.worker()
    assert worker.run(max_cycles=4) == 0
    start = utc(2026, 3, 27, 12)
    assert world.syncer.polls == [start + timedelta(hours=h) for h in range(4)]
    assert world.clock.now() == start + timedelta(hours=3)  # slept on the fake clock only


# --- a bounded run's exit code: for cron ----------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ([BoardOutcome("b1", name="Mentoring")], 0),
        ([], 0),  # every board held by another worker: nothing failed
        ([unknown("NoSuchBd"), unknown("NoSuchB2")], 2),
        ([unknown()], 2),
        ([unavailable()], 1),
        ([unknown(), unavailable()], 1),  # one reason may heal by itself
    ],
    ids=["synced", "no-board", "two-unknown", "unknown", "trello-down", "unknown-and-down"],
)
def test_once_exits_non_zero_when_a_board_did_not_sync(
    world: World, answer: list[BoardOutcome], code: int, caplog: pytest.LogCaptureFixture
) -> None:
    world.ledger.set_meta(LAST_EXPORT_META, "2026-03-27")  # no export due
    world.syncer.hooks[1] = lambda: answer
    assert world.worker().run_once() == code
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("exit code")]
    if code:
        assert len(said) == 1 and said[0].startswith(f"exit code {code}")
        assert all(o.problem in said[0] for o in answer if o.problem)
    else:
        assert said == []


def test_once_exits_2_on_a_board_that_does_not_exist_and_syncs_the_others(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    also_sync(world, "NoSuchBd")
    world.ledger.set_meta(LAST_EXPORT_META, "2026-03-27")
    assert world.worker().run_once() == 2
    assert len(list(world.ledger.entries())) == 4  # the real board synced
    assert "exit code 2, a setting to fix: cycle 1: NoSuchBd: board 'NoSuchBd'" in caplog.text


def test_once_exits_1_when_the_cycle_raises(world: World) -> None:
    world.ledger.set_meta(LAST_EXPORT_META, "2026-03-27")
    world.syncer.hooks[1] = explode
    assert world.worker().run_once() == 1


@pytest.mark.parametrize(
    ("breakage", "code"),
    [("a file", 2), ("under a file", 2), ("permission", 2), ("disk full", 1)],
)
def test_once_exits_non_zero_when_the_export_fails(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, breakage: str, code: int
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    if breakage == "a file":  # FileExistsError
        world.settings = world.settings.model_copy(update={"export_dir": blocker})
    elif breakage == "under a file":  # NotADirectoryError
        world.settings = world.settings.model_copy(update={"export_dir": blocker / "exports"})
    else:  # root writes through a mode 0555 folder: the refusal is simulated

        def refuse(*args: object) -> list[Path]:
            out_dir = str(args[-1])  # export_everything(ledger, settings, now, folder)
            if breakage == "permission":
                raise PermissionError(errno.EACCES, "Permission denied", out_dir)
            raise OSError(errno.ENOSPC, "No space left on device", out_dir)

        monkeypatch.setattr("trello_sync.worker.export_everything", refuse)
    worker = world.worker()
    assert worker.run_once() == code
    assert worker.exports == [] and world.ledger.get_meta(LAST_EXPORT_META) is None
    assert len(list(world.ledger.entries())) == 4  # the cycle itself synced
    assert _sample(worker.metrics, "trello_sync_exports_total", result="error") == 1


@pytest.mark.parametrize(("answer", "code"), [(unknown, 2), (unavailable, 1)])
def test_a_setting_and_a_failure_together_exit_1_settings_alone_2(
    world: World, tmp_path: Path, answer: Callable[[], BoardOutcome], code: int
) -> None:
    world.exports.parent.mkdir(parents=True, exist_ok=True)
    world.exports.write_text("a file where the export folder should be")
    world.syncer.hooks[1] = lambda: [answer()]
    assert world.worker().run_once() == code


def test_max_cycles_is_judged_on_its_last_cycle(world: World) -> None:
    world.ledger.set_meta(LAST_EXPORT_META, "2026-03-27")
    world.syncer.hooks[1] = lambda: [unavailable()]
    assert world.worker().run(max_cycles=2) == 0  # Trello came back for the second cycle
    world.syncer.hooks[4] = lambda: [unavailable()]
    assert world.worker().run(max_cycles=2) == 1  # calls 3 and 4: the last one failed


def test_the_continuous_run_goes_on_through_failures_and_exits_0_at_a_stop(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.ledger.set_meta(LAST_EXPORT_META, "2026-03-27")
    worker = world.worker()

    def fail_then_stop() -> list[BoardOutcome]:
        worker.stop.set()  # as a SIGTERM would, mid-cycle
        return [unavailable()]

    world.syncer.hooks.update({1: lambda: [unknown()], 2: explode, 3: fail_then_stop})
    assert worker.run() == 0
    assert worker.cycles == 3
    assert _sample(worker.metrics, "trello_sync_cycles_total", result="error") == 1
    assert "exit code" not in caplog.text


def test_a_bad_token_stops_the_worker(world: World) -> None:
    def refuse() -> None:
        raise TrelloAuthError("Trello refused the token (invalid token)")

    world.syncer.hooks[2] = refuse
    with pytest.raises(TrelloAuthError):
        world.worker().run()


def test_a_stop_during_a_cycle_finishes_it_and_skips_the_rest(world: World) -> None:
    worker = world.worker()
    world.syncer.hooks[1] = worker.stop.set  # as the first SIGTERM would, mid-cycle
    assert worker.run() == 0
    assert worker.cycles == 1
    assert len(list(world.ledger.entries())) == 4  # the cycle in progress committed
    assert world.syncer.exports == []  # the due export waits for the next start


def test_signals_first_sets_the_flag_second_stops_now() -> None:
    stop = threading.Event()
    restore = install_signal_handlers(stop)
    try:
        signal.raise_signal(signal.SIGTERM)
        assert stop.is_set()
        with pytest.raises(StopNow):
            signal.raise_signal(signal.SIGINT)
    finally:
        restore()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_sleep_between_cycles_ends_at_the_first_signal(world: World) -> None:
    stop = threading.Event()
    worker = Worker(world.settings, world.syncer, world.ledger, SystemClock(stop), stop=stop)
    timer = threading.Timer(0.2, stop.set)
    timer.start()
    finished = threading.Event()
    thread = threading.Thread(target=lambda: (worker.run(), finished.set()))
    thread.start()
    assert finished.wait(10), "the worker slept through its stop"
    thread.join()
    assert worker.cycles == 1  # then it slept (poll interval: an hour) until the stop


# --- exports: the same ledger, the same bytes; never a partial file ---------------------
def test_the_same_ledger_exported_twice_gives_the_same_bytes(world: World, tmp_path: Path) -> None:
    world.ledger.set_meta(LAST_EXPORT_META, "2026-03-27")
    worker = world.worker()
    worker.run(max_cycles=2)
    first = folder_bytes(world.exports) if world.exports.exists() else {}
    assert first == {}  # no night passed yet
    world.clock.set(utc(2026, 3, 28, 1, 29))
    worker.run(max_cycles=2)  # 01:30Z is 02:30 in Paris: between the two polls
    night_one = folder_bytes(world.exports)
    assert worker.exports == [date(2026, 3, 28)] and len(night_one) == 7
    export_everything(world.ledger, world.settings, world.clock.now(), tmp_path / "again")
    assert folder_bytes(tmp_path / "again") == night_one  # the same ledger and day
    world.clock.set(utc(2026, 3, 29, 0, 59))
    worker.run(max_cycles=2)  # nothing new on the board: the next night, the same bytes
    assert worker.exports == [date(2026, 3, 28), date(2026, 3, 29)]
    night_two = folder_bytes(world.exports)
    # All but the dashboard, which says the day it shows ("as of 29 March").
    assert without_dashboard(night_two) == without_dashboard(night_one)
    assert b"29 March 2026" in night_two["index.html"]
    if os.environ.get(PG_ENV):  # the same board into PostgreSQL: the same bytes again
        _compare_with_postgresql(world, tmp_path, night_one)


def _compare_with_postgresql(world: World, tmp_path: Path, expected: dict[str, bytes]) -> None:
    for url in make_ledger_url("postgresql", tmp_path):
        pg = make_world(tmp_path / "pg", utc(2026, 3, 27, 12), url, twin=world)
        pg.ledger.set_meta(LAST_EXPORT_META, "2026-03-27")
        pg.worker().run(max_cycles=2)
        pg.clock.set(utc(2026, 3, 28, 1, 29))
        pg.worker().run(max_cycles=2)
        pg.ledger.close()
        assert folder_bytes(pg.exports) == expected


@pytest.mark.parametrize("before", ["previous files", "no files"])
def test_a_crash_while_writing_leaves_no_partial_file(world: World, before: str) -> None:
    world.syncer.sync_all()
    assert len(list(world.ledger.entries())) == 4
    if before == "previous files":
        export_everything(world.ledger, world.settings, world.clock.now(), world.exports)
        world.syncer.inner.sync_all()  # no change; the ledger as it was
    previous = folder_bytes(world.exports) if world.exports.exists() else {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLO")}
    env.update(
        TRELLO_SYNC_DATABASE_URL=world.settings.database_url,
        TRELLO_SYNC_EXPORT_DIR=str(world.exports),
        TRELLO_SYNC_TIMEZONE="Europe/Paris",
        TRELLO_SYNC_CRASH_AT="mid_export_write",
    )
    killed = subprocess.run(
        [sys.executable, "-m", "trello_sync", "export", "--offline"],
        env=env,
        cwd=world.exports.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert killed.returncode == 137, killed.stderr
    final = {n: b for n, b in folder_bytes(world.exports).items() if not n.startswith(".")}
    # The previous complete files, or none at all (the export writes the ledger first).
    assert without_dashboard(final) == without_dashboard(previous)
    del env["TRELLO_SYNC_CRASH_AT"]
    redone = subprocess.run(
        [sys.executable, "-m", "trello_sync", "export", "--offline"],
        env=env,
        cwd=world.exports.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert redone.returncode == 0, redone.stderr
    assert not [n for n in folder_bytes(world.exports) if n.startswith(".")]  # cleared
    complete = folder_bytes(world.exports)
    reference = world.exports.parent / "reference"
    export_everything(world.ledger, world.settings, datetime.now(UTC), reference)
    # The command ran on the real clock: its dashboard is today's, so compared apart.
    assert without_dashboard(complete) == without_dashboard(folder_bytes(reference))
    assert complete["index.html"].startswith(b"<!DOCTYPE html>")


# --- logs, health and metrics ----------------------------------------------------------------
@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    ours = logging.getLogger("trello_sync")
    our_level = ours.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    ours.setLevel(our_level)


@pytest.mark.parametrize("json_format", [False, True])
def test_secrets_are_redacted_from_every_log_line(root_logging: None, json_format: bool) -> None:
    token = "tok-3f9a1c77e0b2d5"
    out = io.StringIO()
    setup_logging([token, "key-0123456789"], json_format=json_format, stream=out)
    log = logging.getLogger("trello_sync.worker")
    log.info("calling Trello with token %s", token, extra={"fields": {"url": f"?token={token}"}})
    try:
        raise RuntimeError(f"refused key-0123456789 and {token}")
    except RuntimeError:
        log.exception("failed")
    text = out.getvalue()
    assert token not in text and "key-0123456789" not in text
    assert text.count("[redacted]") >= 4
    if json_format:
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        assert lines[0]["url"] == "?token=[redacted]"
        assert lines[0]["message"] == "calling Trello with token [redacted]"


def test_one_log_line_per_cycle_and_per_board(world: World, root_logging: None) -> None:
    out = io.StringIO()
    setup_logging([], json_format=True, stream=out)
    world.ledger.set_meta(LAST_EXPORT_META, "2026-03-27")
    world.worker().run(max_cycles=2)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    boards = [line for line in lines if line.get("event") == "board"]
    cycles = [line for line in lines if line.get("event") == "cycle"]
    assert len(boards) == 2 and len(cycles) == 2
    assert (boards[0]["applied"], boards[0]["entries"], boards[0]["first_sync"]) == (8, 4, True)
    assert (cycles[0]["cycle"], cycles[0]["entries"], cycles[0]["boards"]) == (1, 4, 1)
    assert cycles[1]["entries"] == 0 and "seconds" in cycles[1]
    assert cycles[0]["message"].startswith("cycle 1: 1 board(s), 0 with a problem")


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
@pytest.mark.parametrize("json_format", [False, True], ids=["text", "json"])
def test_a_failed_job_is_one_line_with_a_traceback_only_with_debug(
    world: World, root_logging: None, json_format: bool, debug: bool
) -> None:
    token = "tok-3f9a1c77e0b2d5"
    out = io.StringIO()
    setup_logging([token], debug=debug, json_format=json_format, stream=out)

    def explode_with_the_token() -> None:
        raise RuntimeError(f"disk on fire\nnear {token}")

    world.syncer.hooks[1] = explode_with_the_token
    world.exports.parent.mkdir(parents=True, exist_ok=True)
    world.exports.write_text("a file where the export folder should be")
    code = world.worker().run_once()

    text = out.getvalue()
    assert token not in text
    assert ("Traceback (most recent call last)" in text) == debug
    if json_format:
        records = [json.loads(line) for line in text.splitlines()]
        messages = [r["message"] for r in records]
        assert not any("exception" in r for r in records)  # folded into the message
    else:
        messages = text.splitlines()
    poll = [m for m in messages if "poll cycle failed; the worker goes on" in m]
    export = [m for m in messages if "nightly export failed; the worker goes on" in m]
    assert len(poll) == 1 and len(export) == 1
    first_line = poll[0].split("\n")[0]
    assert first_line.endswith(
        "poll cycle failed; the worker goes on: RuntimeError: disk on fire near [redacted]"
    )
    assert "FileExistsError: [Errno 17]" in export[0]
    if not debug:
        assert "\n" not in poll[0] + export[0]
    elif json_format:  # the traceback, redacted, with its line
        assert "Traceback" in poll[0] and "Traceback" in export[0]
    assert code == 1  # the poll failed at run time (the export folder alone would be 2)


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _sample(metrics: WorkerMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_healthz_and_metrics_over_http(world: World) -> None:
    world.ledger.set_meta(LAST_EXPORT_META, "2026-03-27")
    worker = world.worker()
    with MetricsServer(worker.metrics, worker.health, "127.0.0.1", 0) as server:
        assert _get(f"{server.url}/healthz")[0] == 200  # starting: within three intervals
        worker.run(max_cycles=2)
        assert _get(f"{server.url}/healthz") == (200, "ok\n")
        status, text = _get(f"{server.url}/metrics")
        assert status == 200
        assert 'trello_sync_cycles_total{result="ok"} 2.0' in text
        assert "trello_sync_entries_total 4.0" in text
        assert "trello_sync_cycle_duration_seconds_count 2.0" in text
        assert "trello_sync_last_success_timestamp_seconds" in text
        world.clock.advance(3 * 3600 + 1)
        status, text = _get(f"{server.url}/healthz")
        assert status == 503 and "more than 3 poll intervals" in text
        assert _get(f"{server.url}/nope")[0] == 404


def test_health_says_why_a_cycle_failed() -> None:
    clock = FakeClock()
    health = Health(clock, poll_interval=60)
    clock.advance(181)
    assert health.check() == (False, "no successful cycle in the 181 s since start")
    health.cycle_done(False, "Mentoring: Trello unavailable")
    assert health.check()[1].endswith("last cycle: Mentoring: Trello unavailable")
    health.cycle_done(True)
    assert health.check() == (True, "ok")


def test_replies_given_up_are_counted_in_the_metrics(world: World) -> None:
    from trello_sync.outbox import OutboxResult

    world.ledger.set_meta(LAST_EXPORT_META, "2026-03-27")  # no export due: one poll only
    given_up = BoardOutcome("b1", board_id="b1", outbox=OutboxResult(refused=1, card_gone=2))
    world.syncer.hooks[1] = lambda: [given_up]
    worker = world.worker()
    worker.run(max_cycles=1)
    assert "trello_sync_replies_given_up_total 3.0" in worker.metrics.text().decode()


def test_a_bug_met_on_one_board_is_its_problem_and_the_others_sync(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever one board holds, an unexpected error there stops only that board."""
    start = world.clock.now() - timedelta(days=5)
    second = str(world.state.create_board(MENTOR, "Second", at=start)["id"])
    active = world.state.create_list(MENTOR, second, "Active", at=start)
    card = world.state.create_card(MENTOR, active["id"], "Ana", at=start)
    world.state.comment(MENTOR, card["id"], "/session", at=start + timedelta(days=1))
    also_sync(world, second)
    syncer = world.syncer.inner
    real_commit = Syncer._commit

    def breaks_on_the_second(self, board_id, plan):  # type: ignore[no-untyped-def]
        if board_id == second:
            raise KeyError("a bug " + "x" * 1000)
        return real_commit(self, board_id, plan)

    monkeypatch.setattr(Syncer, "_commit", breaks_on_the_second)
    first, broken = syncer.sync_all()
    assert first.problem is None and first.entries == 4
    assert broken.problem is not None and broken.problem.startswith("unexpected error: KeyError")
    assert len(broken.problem) <= 300 and "\n" not in broken.problem
    assert {e.board_id for e in world.ledger.entries()} == {first.board_id}
