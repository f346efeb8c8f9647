"""Every default named once: the file the README cites is the one the code reads, it is
the only one, every key of it is a setting, no default is also written in the code, and
loading with nothing set gives what the README documents."""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from importlib import resources
from pathlib import Path

import pytest

import trello_sync.settings as settings_module
from trello_sync.domain.planner import PlannerConfig
from trello_sync.settings import (
    DEFAULTS_FILE,
    SECRET_ENV,
    Settings,
    load_settings,
    shipped_defaults,
)

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text("utf-8")
SHIPPED = f"trello_sync/{DEFAULTS_FILE}"
# Found at run time, so no file can hold it: the one default the code may compute.
RUN_TIME_DEFAULTS = {"timezone"}
# Not part of the tree the package is built from.
NOT_THE_TREE = {".git", ".venv", "build", "dist", "node_modules"}


@pytest.fixture
def nothing_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No TRELLO setting from this machine and no trello-sync.toml: the defaults alone."""
    for name in list(os.environ):
        if name.upper().startswith("TRELLO"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cited_defaults_files(text: str) -> set[str]:
    return set(re.findall(r"[\w./-]*defaults\.toml", text))


# --- one file, the one the code reads ---------------------------------------------------


def test_the_readme_and_the_settings_cite_the_file_the_code_reads():
    assert cited_defaults_files(README) == {SHIPPED}
    assert cited_defaults_files(settings_module.__doc__ or "") == {SHIPPED}
    cited = ROOT / SHIPPED
    # A regular file: a link to a file outside the package would not ship in a wheel.
    assert cited.is_file() and not cited.is_symlink()
    read = resources.files("trello_sync").joinpath(DEFAULTS_FILE)
    assert read.read_bytes() == cited.read_bytes()
    assert shipped_defaults() == tomllib.loads(cited.read_text("utf-8"))


def test_the_defaults_file_is_package_data():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    assert DEFAULTS_FILE in pyproject["tool"]["setuptools"]["package-data"]["trello_sync"]


def test_there_is_no_other_defaults_file_in_the_tree():
    found = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [
            s for s in subfolders if s not in NOT_THE_TREE and not s.endswith(".egg-info")
        ]
        found += [Path(folder, f) for f in files if f.endswith("defaults.toml")]
    assert found == [ROOT / SHIPPED]


# --- every default in exactly one place ---------------------------------------------------


def test_every_key_of_the_shipped_file_is_a_setting_and_none_is_a_secret():
    keys = set(shipped_defaults())
    assert keys <= set(Settings.model_fields), keys - set(Settings.model_fields)
    assert not keys & set(SECRET_ENV)


def test_every_default_is_in_exactly_one_place():
    shipped = shipped_defaults()
    for name, field in Settings.model_fields.items():
        in_file = name in shipped
        in_code = not field.is_required()
        assert in_file != in_code, f"{name}: in the file {in_file}, in the code {in_code}"
        if in_code and name not in RUN_TIME_DEFAULTS:
            # The code may only say "nothing set"; a value belongs in the file.
            value = field.get_default(call_default_factory=True)
            assert value is None or value == [], f"{name}: {value!r} belongs in {SHIPPED}"


def test_the_planner_takes_the_student_cap_from_the_settings():
    cap = next(f for f in dataclasses.fields(PlannerConfig) if f.name == "cap")
    assert cap.default is dataclasses.MISSING and cap.default_factory is dataclasses.MISSING


# --- what loading with nothing set gives -------------------------------------------------


def readme_section(heading: str) -> str:
    start = README.index(f"\n{heading}\n")
    level = heading.split(" ")[0]
    end = README.find(f"\n{level} ", start + 1)
    return README[start : end if end >= 0 else None]


def documented_values() -> dict[str, str]:
    """The settings table of the README: setting -> its default, where that is a value."""
    row = re.compile(r"^\| `(\w+)` \| `TRELLO_SYNC_\w+` \| `([^`|]+)` \|", re.MULTILINE)
    return dict(row.findall(readme_section("## Configuration")))


def test_loading_with_nothing_set_gives_the_shipped_values(nothing_set: Path):
    loaded = load_settings().model_dump(mode="json")
    for name, value in shipped_defaults().items():
        assert loaded[name] == value, name


def test_loading_with_nothing_set_gives_the_documented_defaults(
    nothing_set: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("TZ", "Pacific/Auckland")
    settings = load_settings()
    documented = documented_values()
    tables = {k for k, v in shipped_defaults().items() if isinstance(v, dict | list)}
    # Every value the file holds, but its tables, is in the README's table, and only those.
    assert set(documented) == set(shipped_defaults()) - tables
    for name, text in documented.items():
        value = getattr(settings, name)
        if isinstance(value, Path):
            assert value == Path(text), name
        elif isinstance(value, bool):
            assert text == str(value).lower(), name  # as TOML and the environment spell it
        else:
            assert str(value) == text, name
    # The defaults the README words rather than writes.
    assert settings.timezone == "Pacific/Auckland"  # the machine's
    assert settings.mentors == [] and settings.boards == []
    assert settings.lease_duration == 3 * settings.poll_interval  # three poll intervals
    assert settings.api_key is None and settings.token is None


def test_the_handbook_in_the_readme_is_the_shipped_one(nothing_set: Path):
    settings = load_settings()
    board = readme_section("### On the board")
    stages_table = re.findall(r"^\| (\w+) \| ([^|]+) \|$", board, re.MULTILINE)
    stages = {stage: [n.strip() for n in names.split(",")] for stage, names in stages_table}
    stages.pop("stage")  # the header
    assert stages == settings.stages
    rates = dict(re.findall(r"Level (\d) = (\d+) €", readme_section("### Pay")))
    in_force = settings.pay().rule_sets[0].rates
    assert {int(level): int(euros) * 100 for level, euros in rates.items()} == in_force


def test_the_environment_beats_the_user_file_which_beats_the_shipped_file(
    nothing_set: Path, monkeypatch: pytest.MonkeyPatch
):
    assert load_settings().max_students == shipped_defaults()["max_students"]
    (nothing_set / "trello-sync.toml").write_text("max_students = 31\n")
    assert load_settings().max_students == 31
    monkeypatch.setenv("TRELLO_SYNC_MAX_STUDENTS", "42")
    assert load_settings().max_students == 42
