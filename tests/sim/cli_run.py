"""A seed's history against the real CLI: every pass is `trello-sync sync` in a
subprocess, and a crash is a real death (`TRELLO_SYNC_CRASH_AT`, `os._exit(137)`).

The CLI runs on the real clock, so each operation is dated when it is applied (the
instants are recorded), and the fault-free replay then runs in-process over the same
instants. Faults are the sandbox's switches, chosen so that they cost little real time:
no 429 (its back-off waits out Trello's 10 s window) and no read timeout (the CLI waits
30 s); a lease of 2 s is waited out for real.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sim.history import MENTOR, Scenario, Step
from sim.runner import CRASH_POINTS, Run, Sandbox, SimFailure, apply_op, build_sandbox

from trello_sync.ledger.open import open_ledger
from trello_sync.ledger.sql import SqlLedger
from trello_sync.sandbox import SandboxServer
from trello_sync.sandbox.faults import Fault

LEASE = 2  # seconds, real time
MAX_PASSES = 20


def _now() -> datetime:
    return datetime.now(UTC)


class CliRun:
    """The faulty run of a scenario, pass by pass through the CLI in a subprocess."""

    def __init__(self, scenario: Scenario, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.scenario = scenario
        self.folder = folder
        self.sandbox: Sandbox = build_sandbox(scenario, _now)
        self.server = SandboxServer(self.sandbox.state).start()
        self.frng = random.Random(f"cli-faults-{scenario.seed}")
        self.trace: list[str] = []
        self.recorded: list[Step] = []
        self.ledger: SqlLedger | None = None
        (folder / "trello-sync.toml").write_text(f'mentors = ["{MENTOR}"]\n')
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TRELLO")},
            "TRELLO_SYNC_API_URL": self.server.url,
            "TRELLO_API_KEY": self.sandbox.state.api_key,
            "TRELLO_TOKEN": self.sandbox.token,
            "TRELLO_SYNC_BOARDS": self.sandbox.board_id,
            "TRELLO_SYNC_DATABASE_URL": f"sqlite:///{folder / 'ledger.db'}",
            "TRELLO_SYNC_EXPORT_DIR": str(folder / "exports"),
            "TRELLO_SYNC_TIMEZONE": "Europe/Paris",
            "TRELLO_SYNC_CONFIG": str(folder / "trello-sync.toml"),
            "TRELLO_SYNC_REPLY_LEASE": str(LEASE),
            "TRELLO_SYNC_REREAD_INTERVAL": "0",
            "TRELLO_SYNC_OVERLAP_SECONDS": "300",
            "TRELLO_SYNC_REPLY_HISTORY_DAYS": "14",
            "TRELLO_SYNC_MAX_STUDENTS": str(scenario.cap),
        }

    def cli(self, *args: str, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        if crash_at:
            env["TRELLO_SYNC_CRASH_AT"] = crash_at
        return subprocess.run(
            [sys.executable, "-m", "trello_sync", *args],
            env=env,
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=120,
        )

    # --- the history ----------------------------------------------------------------------
    def execute(self) -> None:
        for n, step in enumerate(self.scenario.steps):
            times = []
            for op in step.ops:
                time.sleep(0.002)  # distinct milliseconds: the replay dates them alike
                at = _now()
                apply_op(self.sandbox, op, at)
                times.append(at)
            synced_at = _now()
            first = times[0] if times else synced_at
            self.recorded.append(replace(step, at=first, times=tuple(times), synced_at=synced_at))
            if step.sync:
                self.until_quiet(n)

    def replayed(self) -> Scenario:
        """The scenario at the instants this run used: what the replay must do."""
        return replace(self.scenario, steps=tuple(self.recorded))

    def until_quiet(self, step: int) -> None:
        faulty_passes = self.frng.choice([1, 1, 2])
        for number in range(MAX_PASSES):
            before = self._counts()
            crash_at = None
            if number < faulty_passes:
                faults = [self._fault() for _ in range(self.frng.randint(1, 2))]
                for fault in faults:
                    self.server.faults.add(fault)
                if self.frng.random() < 0.6:
                    crash_at = f"{self.frng.choice(CRASH_POINTS)}:{self.frng.randint(1, 2)}"
                self.trace.append(
                    f"step {step} pass {number}: faults {[f.kind for f in faults]} crash {crash_at}"
                )
            result = self.cli("sync", crash_at=crash_at)
            self.server.faults.clear()
            if result.returncode == 137:
                self.trace.append(f"step {step} pass {number}: killed at {crash_at}; restarted")
                continue
            if result.returncode not in (0, 1):
                raise SimFailure(f"trello-sync sync exited {result.returncode}: {result.stderr}")
            lines = result.stdout.strip().splitlines()
            quiet = result.returncode == 0 and all(line.endswith(": no change") for line in lines)
            statuses = [row[0] for row in self._sql("SELECT status FROM replies")]
            settled = quiet and before == self._counts() and set(statuses) <= {"posted"}
            if settled and number >= faulty_passes:
                return
            if "attempted" in statuses:
                time.sleep(LEASE + 0.2)
        raise SimFailure(f"step {step}: not quiet after {MAX_PASSES} passes")

    def _fault(self) -> Fault:
        kind = self.frng.choice(["drop", "drop", "status", "hide", "shuffle", "empty"])
        if kind == "drop":
            return Fault(kind="drop", method="POST", path_contains="/actions/comments")
        if kind == "status":  # on a POST: never retried, so no back-off to wait out
            return Fault(status=self.frng.choice([500, 503]), method="POST")
        if kind == "hide":
            return Fault(kind="hide", delay_s=round(self.frng.uniform(0.3, LEASE - 0.5), 3))
        if kind == "shuffle":
            return Fault(kind="shuffle", times=3, seed=self.frng.randint(0, 999))
        return Fault(kind="empty")

    def _sql(self, statement: str) -> list[tuple[object, ...]]:
        if not (self.folder / "ledger.db").exists():
            return []
        with (
            open_ledger(self.env["TRELLO_SYNC_DATABASE_URL"]) as ledger,
            ledger.engine.connect() as conn,
        ):
            return [tuple(row) for row in conn.exec_driver_sql(statement)]

    def _counts(self) -> tuple[object, ...]:
        tables = ("entries", "applied_actions", "stage_moves", "replies")
        return tuple(row[0] for t in tables for row in self._sql(f"SELECT count(*) FROM {t}"))

    # --- the outcome ------------------------------------------------------------------------
    def open(self) -> None:
        self.ledger = open_ledger(self.env["TRELLO_SYNC_DATABASE_URL"])

    def export(self, crash_first: bool = False) -> dict[str, bytes]:
        out = self.folder / "exports"
        if crash_first:
            killed = self.cli("export", "--offline", crash_at="mid_export_write")
            (entries,) = self._sql("SELECT count(*) FROM entries")[0]
            if entries and killed.returncode != 137:
                raise SimFailure(f"the export was not killed: {killed.returncode}")
            if entries and (out / "ledger.csv").exists():
                raise SimFailure("a crash while exporting left a file at the final path")
        result = self.cli("export", "--offline")
        if result.returncode != 0:
            raise SimFailure(f"trello-sync export failed: {result.stderr}")
        # The books, as the in-process replay writes them with export_ledger: the CLI also
        # writes receipts.csv (no payment in a simulation) and the dashboard, dated by
        # the real clock the subprocesses run on, which the replay's clock never matches.
        return {
            p.name: p.read_bytes()
            for p in sorted(out.iterdir())
            if not p.name.startswith(".") and p.name not in ("index.html", "receipts.csv")
        }

    def close(self) -> None:
        if self.ledger is not None:
            self.ledger.close()
        self.server.stop()


def simulate_with_subprocesses(seed: int, folder: Path, steps: int | None = None) -> None:
    """The seed's history (its first `steps` steps), faulty through the CLI, then the
    fault-free replay in-process over the same instants; compared as in `simulate`."""
    from sim.history import make_scenario
    from sim.runner import _report, compare

    # On the real clock: the board is a day old, every operation is dated when applied.
    scenario = replace(make_scenario(seed), start=_now() - timedelta(days=1))
    if steps is not None:
        kept = scenario.steps[:steps]
        last = kept[-1]
        scenario = replace(scenario, steps=(*kept[:-1], replace(last, sync=True)))
    faulty = CliRun(scenario, folder / "faulty")
    replay: Run | None = None
    try:
        try:
            faulty.execute()
            faulty.open()
            replay = Run(faulty.replayed(), folder / "replay", faulty=False)
            replay.execute()
            compare(faulty, replay)  # type: ignore[arg-type]
        except SimFailure as failure:
            message = _report(seed, scenario, faulty, str(failure))  # type: ignore[arg-type]
            command = f"SIM_CLI_SEEDS={seed} .venv/bin/pytest tests/sim -q -k subprocess"
            raise SimFailure(
                message.replace(f"SIM_SEEDS={seed} .venv/bin/pytest tests/sim -q", command)
            ) from None
    finally:
        faulty.close()
        if replay is not None:
            replay.close()
