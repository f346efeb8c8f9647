"""`trello-sync setup` with flags only, as a script runs it: the CLI in a subprocess with
no terminal, against the demo's sandbox over real HTTP, then `check` and `sync` on what
it wrote."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setup_sandbox import SetupWorld, mode, world

from trello_sync.settings import shipped_defaults

__all__ = ["world"]


def flags(world: SetupWorld, *more: str, token: str | None = None) -> list[str]:
    return [
        "setup",
        "--key",
        world.demo.api_key,
        "--token",
        token or world.demo.mentor_token,
        *more,
    ]


def no_secret_in(world: SetupWorld, *texts: str) -> None:
    for secret in (world.demo.api_key, world.demo.mentor_token, world.demo.readonly_token):
        for text in texts:
            assert secret not in text


def test_one_command_sets_up_an_existing_board_then_check_and_sync_pass(world: SetupWorld):
    done = world.run(*flags(world, "--board", "Mentorat — Camille Martin", "--yes"))
    assert done.returncode == 0, done.stderr
    assert "Token of Camille Martin (@camille_mentor): read, write; expires never." in done.stdout
    assert "Notes" in done.stdout  # the list that maps to no stage is named
    assert "entries" in done.stdout  # the first sync ran: "… N entries …"

    config = tomllib.loads(world.config.read_text())
    assert config == {
        "boards": [world.demo.short_link],
        "mentors": ["camille_mentor"],
        "timezone": "Europe/Paris",
    }
    assert mode(world.secrets_dir) == 0o700
    assert (world.secrets_dir / "TRELLO_API_KEY").read_text().strip() == world.demo.api_key
    assert (world.secrets_dir / "TRELLO_TOKEN").read_text().strip() == world.demo.mentor_token
    assert {mode(p) for p in world.secrets_dir.iterdir()} == {0o600}
    no_secret_in(world, done.stdout, done.stderr, world.config.read_text())

    # The service finds both by default, in a fresh process with nothing in its environment.
    check = world.run("check")
    assert check.returncode == 0, check.stderr
    assert "the token belongs to @camille_mentor" in check.stdout
    again = world.run("sync")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "Mentorat — Camille Martin: no change"
    report = world.run("report")
    assert report.returncode == 0, report.stderr
    assert "Gaëlle Roux" in report.stdout


def test_a_new_board_gets_the_stage_lists_and_the_project_labels(world: SetupWorld):
    done = world.run(
        *flags(world, "--new-board", "Mentoring", "--lang", "fr", "--create-labels", "--yes")
    )
    assert done.returncode == 0, done.stderr
    state = world.server.state
    board_link = tomllib.loads(world.config.read_text())["boards"][0]
    board = state.board(board_link)
    assert board["name"] == "Mentoring"
    lists = [lst["name"] for lst in state.board_lists(board["id"])]
    assert lists == ["En attente", "En cours", "En pause", "Passé la main"]
    labels = {label["name"] for label in state.board_labels(board["id"], 1000)}
    assert labels == set(shipped_defaults()["projects"])
    assert world.run("check").returncode == 0


def test_pay_rules_that_price_by_funding_get_the_funding_labels_too(world: SetupWorld):
    """With the platform's 2020 rules in the configuration, the cards need to say their
    funding: setup offers its labels beside the projects'."""
    example = Path(__file__).parents[2] / "config" / "examples" / "platform-2020.toml"
    world.config.write_text(example.read_text())
    done = world.run(
        *flags(world, "--new-board", "Mentoring", "--lang", "fr", "--create-labels"),
        "--yes",
        "--force",
    )
    assert done.returncode == 0, done.stderr
    state = world.server.state
    board = state.board(tomllib.loads(world.config.read_text())["boards"][0])
    labels = {label["name"] for label in state.board_labels(board["id"], 1000)}
    assert {"Financement: financé", "Financement: autofinancé"} <= labels
    assert tomllib.loads(world.config.read_text())["pay_rules"][1]["effective"] == "2020-06-01"


def test_missing_stage_lists_are_created_only_when_asked(world: SetupWorld):
    state = world.server.state
    mentor = world.demo.mentor_username
    board = state.create_board(mentor, "Half a board")
    state.create_list(mentor, board["id"], "Active")

    without = world.run(*flags(world, "--board", "Half a board", "--config", "a.toml"))
    assert without.returncode == 0, without.stderr
    assert "Stages with no list: waiting, paused, handed_off" in without.stdout
    assert [lst["name"] for lst in state.board_lists(board["id"])] == ["Active"]

    asked = world.run(
        *flags(world, "--board", board["shortLink"], "--create-lists", "--config", "b.toml")
    )
    assert asked.returncode == 0, asked.stderr
    names = [lst["name"] for lst in state.board_lists(board["id"])]
    assert names == ["Active", "Waiting", "Paused", "Handed off"]  # LANG is English
    assert f"export TRELLO_SYNC_CONFIG={world.folder / 'b.toml'}" in asked.stdout


def test_a_wrong_key_or_token_is_one_line_and_writes_nothing(world: SetupWorld):
    boards_before = world.board_names()
    for args in (
        ["setup", "--key", "0123abcd" * 4, "--token", world.demo.mentor_token],
        ["setup", "--key", world.demo.api_key, "--token", "feed" * 16],
        ["setup", "--key", "not a key!", "--token", world.demo.mentor_token],
    ):
        done = world.run(*args, "--new-board", "Mentoring", "--yes")
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert done.stderr.startswith("trello-sync setup: ")
        assert "Traceback" not in done.stderr
        no_secret_in(world, done.stdout, done.stderr)
    assert world.written() == []
    assert world.board_names() == boards_before


def test_a_read_only_token_is_refused(world: SetupWorld):
    done = world.run(
        *flags(world, "--new-board", "Mentoring", "--yes", token=world.demo.readonly_token)
    )
    assert done.returncode == 2
    assert "read-only" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "Token of Camille Martin (@camille_mentor): read; expires never." in done.stdout
    no_secret_in(world, done.stdout, done.stderr)
    assert world.written() == []
    assert "Mentoring" not in world.board_names()


def test_without_a_terminal_a_missing_answer_names_its_flag(world: SetupWorld):
    for args, flag in (
        (["setup"], "--key"),
        (["setup", "--key", world.demo.api_key], "--token"),
        (flags(world), "--board or --new-board"),
    ):
        done = world.run(*args)
        assert done.returncode == 2
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert done.stderr.startswith(f"trello-sync setup: {flag} is needed")
    assert world.written() == []


def test_an_unknown_board_is_refused_before_anything_is_written(world: SetupWorld):
    done = world.run(*flags(world, "--board", "No such board", "--create-labels"))
    assert done.returncode == 2
    assert "no open board of this member" in done.stderr
    assert world.written() == []


def test_an_existing_configuration_is_shown_not_changed_without_force(world: SetupWorld):
    mine = (
        'boards = ["AbCd1234"]\n'
        "max_students = 12\n\n"
        "[[pay_rules]]\n"
        'effective = "2026-01-01"\n'
        'currency = "EUR"\n'
        'rates = { 1 = "31.00", 2 = "36.00", 3 = "41.00" }\n'
        "shares = { done = 100, noshow = 50, late = 50, cancel = 0 }\n"
    )
    world.config.write_text(mine)
    boards_before = world.board_names()

    shown = world.run(*flags(world, "--new-board", "Mentoring", "--create-labels", "--yes"))
    assert shown.returncode == 2
    assert '-boards = ["AbCd1234"]' in shown.stdout
    assert '+    "<the new board Mentoring>",' in shown.stdout
    assert "Nothing was written and nothing was created on Trello" in shown.stdout
    assert world.config.read_text() == mine
    assert world.board_names() == boards_before
    assert not world.secrets_dir.exists()

    forced = world.run(*flags(world, "--board", world.demo.short_link, "--force"))
    assert forced.returncode == 0, forced.stderr
    config = tomllib.loads(world.config.read_text())
    assert config["boards"] == [world.demo.short_link]
    assert config["max_students"] == 12  # what the mentor wrote is kept
    assert config["pay_rules"][0]["rates"]["1"] == "31.00"
    assert "trello-sync sync      the first sync" in forced.stdout  # not run without --yes
    assert not (world.folder / "trello-sync.db").exists()


def test_secrets_go_to_the_folder_named_and_the_line_to_use_it_is_printed(world: SetupWorld):
    folder = world.folder / "creds"
    done = world.run(*flags(world, "--board", world.demo.board_id, "--secrets-dir", str(folder)))
    assert done.returncode == 0, done.stderr
    assert f"export TRELLO_SYNC_SECRETS_DIR={folder}" in done.stdout
    assert mode(folder) == 0o700
    assert not world.secrets_dir.exists()
    assert world.run("check").returncode == 2  # not the default folder: not found
    check = world.run("check", env={"TRELLO_SYNC_SECRETS_DIR": str(folder)})
    assert check.returncode == 0, check.stderr


def test_the_key_and_token_may_come_from_the_environment_not_the_command_line(
    world: SetupWorld,
):
    secrets = {"TRELLO_API_KEY": world.demo.api_key, "TRELLO_TOKEN": world.demo.mentor_token}
    done = world.run("setup", "--board", world.demo.short_link, env=secrets)
    assert done.returncode == 0, done.stderr
    assert "Using TRELLO_API_KEY from the environment." in done.stdout
    assert "Using TRELLO_TOKEN from the environment." in done.stdout
    assert "takes precedence" not in done.stdout  # the same values as the files written
    no_secret_in(world, done.stdout, done.stderr)
    assert (world.secrets_dir / "TRELLO_TOKEN").read_text().strip() == world.demo.mentor_token

    other = world.run(
        *flags(world, "--board", world.demo.short_link, "--force"),
        env={"TRELLO_SYNC_BOARDS": "Other123"},
    )
    assert "Note: TRELLO_SYNC_BOARDS is set in this shell" in other.stdout
