"""Docs that cannot drift: every command and every setting is in the README."""

from __future__ import annotations

import argparse
from pathlib import Path

from trello_sync.cli import build_parser
from trello_sync.settings import Settings, env_name

README = (Path(__file__).parents[2] / "README.md").read_text("utf-8")
TOML_ONLY = {"stages", "projects", "pay_rules", "invoice"}


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_command_and_its_options_are_in_the_readme():
    for name, sub in subcommands().items():
        assert f"trello-sync {name}" in README, name
        for action in sub._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    assert option in README, f"{name} {option}"


def test_every_setting_is_in_the_readme():
    for field in Settings.model_fields:
        if field in TOML_ONLY:
            assert f"`{field}`" in README or field in README, field
        else:
            assert env_name(field) in README, field


def test_the_quick_start_has_exactly_two_commands():
    start = README.index("## Quick start")
    section = README[start : README.index("\n## ", start + 1)]
    blocks = section.split("```sh")[1:]
    commands = [block.split("```")[0].strip() for block in blocks]
    assert len(commands) == 2
    assert commands[0].endswith("trello-sync demo")
    assert commands[1].endswith("pytest")
    ci = (Path(__file__).parents[2] / ".ci" / "run").read_text("utf-8")
    assert commands[1] in ci
