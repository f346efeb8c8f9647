"""The seeded simulation: faulty runs end exactly as a fault-free one.

Each seed decides a board's history, the page size, the faults and the crash points; the
faulty run must end exactly where the fault-free replay ends (see runner.py). A failure
prints its seed, the history, the faults and crashes, and the command that re-runs it:

    SIM_SEEDS=1234 .venv/bin/pytest tests/sim -q        (also SIM_SEEDS=1,2,3 or 100-199)

The default run covers seeds 0-199, with the shipped default rules and again with the
platform's 2020 rules; `pytest -m slow tests/sim` runs the longer soak.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sim.cli_run import simulate_with_subprocesses
from sim.runner import simulate

DEFAULT_SEEDS = range(200)
SOAK_SEEDS = range(1000, 3000)
CLI_SEEDS = range(2)  # real subprocess deaths: a few seconds each, so only a few
CLI_SOAK_SEEDS = range(100, 110)
CLI_STEPS = 3  # of each history, in the default run


def _seeds(default: range, variable: str = "SIM_SEEDS") -> list[int]:
    chosen = os.environ.get(variable, "").strip()
    if not chosen:
        return list(default)
    seeds: list[int] = []
    for part in chosen.split(","):
        low, _, high = part.strip().partition("-")
        seeds.extend(range(int(low), int(high) + 1) if high else [int(low)])
    return seeds


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    """The ledgers' folder: in memory when the machine has /dev/shm (real SQLite files,
    whose fsyncs cost nothing there), else the test's tmp_path."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(prefix="trello-sync-sim-", dir=shm) as name:
        yield Path(name)


@pytest.mark.parametrize("seed", _seeds(DEFAULT_SEEDS), ids=lambda s: f"seed_{s}")
def test_a_faulty_crashing_run_ends_exactly_where_the_fault_free_replay_ends(
    seed: int, folder: Path
) -> None:
    simulate(seed, folder)


@pytest.mark.parametrize("seed", _seeds(DEFAULT_SEEDS), ids=lambda s: f"platform_{s}")
def test_the_same_seeds_priced_by_the_platforms_2020_rules(seed: int, folder: Path) -> None:
    """Each history with fundings, funding changes and defenses, priced by
    config/examples/platform-2020.toml: shares per funding and kind, and monthly fees
    that follow every edit, undo and deletion, through the same faults and crashes."""
    simulate(seed, folder, platform_rules=True)


@pytest.mark.slow
@pytest.mark.parametrize("seed", _seeds(SOAK_SEEDS), ids=lambda s: f"soak_{s}")
def test_soak(seed: int, folder: Path) -> None:
    simulate(seed, folder)


@pytest.mark.parametrize("seed", _seeds(CLI_SEEDS, "SIM_CLI_SEEDS"), ids=lambda s: f"cli_{s}")
def test_with_real_subprocess_deaths_too(seed: int, folder: Path) -> None:
    """Each pass is `trello-sync sync` in a subprocess; a crash is a real os._exit(137)."""
    simulate_with_subprocesses(seed, folder, steps=CLI_STEPS)


@pytest.mark.slow
@pytest.mark.parametrize(
    "seed", _seeds(CLI_SOAK_SEEDS, "SIM_CLI_SEEDS"), ids=lambda s: f"cli_soak_{s}"
)
def test_soak_with_real_subprocess_deaths(seed: int, folder: Path) -> None:
    simulate_with_subprocesses(seed, folder)
