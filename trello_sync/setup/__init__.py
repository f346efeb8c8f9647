"""`trello-sync setup`: the guided step from the demo to a synced board of one's own.

flow.py asks, reads and plans, then acts; ask.py is where the answers come from (a
person at a terminal, or the flags); files.py writes the configuration and the secrets.
This module runs the three phases and turns every way out into one line and an exit
code: 0 done, 1 Trello or the network failed, 2 an answer or a setting to fix (nothing
written), 130 Ctrl-C (nothing written, if it came at a question).
"""

from __future__ import annotations

import contextlib
import locale
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from trello_sync.clock import Clock
from trello_sync.domain.board_fit import lang_of_locale
from trello_sync.exits import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from trello_sync.ledger.store import LedgerError
from trello_sync.logs import RedactSecrets, setup_logging
from trello_sync.settings import (
    ENV_PREFIX,
    ConfigError,
    Settings,
    load_settings,
    local_zone_name,
    user_config_path,
)
from trello_sync.setup.ask import Asker, MissingAnswer
from trello_sync.setup.flow import Plan, Setup, SetupOptions, SetupRefused
from trello_sync.trello.port import TrelloAuthError, TrelloError

EXIT_INTERRUPTED = 130  # what a shell reports for a program stopped by Ctrl-C

__all__ = ["EXIT_INTERRUPTED", "SetupOptions", "run_setup"]


def run_setup(
    options: SetupOptions,
    clock: Clock,
    *,
    console: Console | None = None,
    interactive: bool | None = None,
    debug: bool = False,
) -> int:
    console = console or Console(highlight=False)
    if interactive is None:
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
    secrets = [s for s in (options.key, options.token) if s]
    setup_logging(secrets, debug=debug)
    written = False
    setup: Setup | None = None
    try:
        base = _base_settings(options.config or user_config_path(), force=options.force)
        setup = Setup(
            options,
            base,
            console=console,
            asker=Asker(console, interactive=interactive),
            clock=clock,
            timezone=local_zone_name(),
            lang=lang_of_locale(_locale_name()),
        )
        plan = setup.plan()
        secrets = [plan.key, plan.token]
        setup_logging(secrets, debug=debug)
        if not setup.confirmed(plan):
            return EXIT_USAGE
        written = True
        setup.apply(plan)
        return _after(setup, plan, clock, console)
    except KeyboardInterrupt:
        said = "interrupted" + ("" if written else ": nothing was written")
        return _fail(said, EXIT_INTERRUPTED, secrets, console)
    except EOFError:
        return _fail("no answer (end of input): nothing was written", EXIT_USAGE, secrets, console)
    except (SetupRefused, MissingAnswer, ConfigError, TrelloAuthError) as error:
        return _fail(str(error), EXIT_USAGE, secrets, console)
    except (TrelloError, LedgerError, OSError) as error:
        return _fail(str(error), EXIT_FAILURE, secrets, console)
    finally:
        if setup is not None and setup.trello is not None:
            setup.trello.close()


def _after(setup: Setup, plan: Plan, clock: Clock, console: Console) -> int:
    """Points this process at what was written, runs check and the first sync, and
    prints the lines and commands that come next."""
    say = console.print
    pointers = setup.pointers(plan)
    if pointers:
        say("\nPoint trello-sync at them (add these lines to your shell's profile):")
        for line in pointers:
            say(f"  {line}", markup=False)
    else:
        say("trello-sync finds the secrets and the configuration there by default.")
    for name in setup.overriding_environment(plan):
        say(
            f"[yellow]Note[/]: {name} is set in this shell; it takes precedence over "
            "the files setup wrote."
        )
    os.environ[f"{ENV_PREFIX}CONFIG"] = str(plan.config.path.absolute())
    os.environ[f"{ENV_PREFIX}SECRETS_DIR"] = str(plan.secrets_dir.absolute())
    settings = load_settings()
    setup_logging(settings.secret_values())

    from trello_sync.checkup import check

    say("\n[bold]trello-sync check[/]")
    if check(settings, clock) != EXIT_OK:
        say("check found the problems above; fix them, then run trello-sync check again.")
        return EXIT_USAGE
    code = EXIT_OK
    if plan.first_sync:
        from trello_sync.app import open_app
        from trello_sync.claims import new_owner_id
        from trello_sync.commands import sync

        say("\n[bold]trello-sync sync[/]")
        with open_app(settings, clock, owner=new_owner_id()) as app:
            code = sync(app, console=Console(stderr=True))
    say("\n[bold]Next[/]:")
    if not plan.first_sync:
        say("  trello-sync sync      the first sync: the board's whole history into the ledger")
    say("  trello-sync check     after any change to the board or the settings")
    say("  trello-sync report    this month's students, sessions and pay")
    say("  trello-sync run       keep polling, replying and exporting every night")
    say("  deploy/README.md      run it as a systemd service")
    return code


def _base_settings(config: Path, *, force: bool) -> Settings:
    """The settings setup starts from (stage names, projects, the API URL): the file it
    will write to if that exists and reads, else the shipped defaults."""
    try:
        with _config_file(config if config.exists() else None):
            return load_settings()
    except ConfigError:
        if not (force and config.exists()):
            raise
    with _config_file(None):  # --force replaces a file that does not read
        return load_settings()


@contextlib.contextmanager
def _config_file(path: Path | None) -> Iterator[None]:
    name = f"{ENV_PREFIX}CONFIG"
    saved = os.environ.get(name)
    os.environ[name] = str(path) if path is not None else os.devnull
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def _locale_name() -> str | None:
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if os.environ.get(name):
            return os.environ[name]
    return locale.getlocale()[0]


def _fail(message: str, code: int, secrets: list[str], console: Console) -> int:
    line = RedactSecrets(secrets).redact(message)
    print(f"trello-sync setup: {line}", file=sys.stderr)
    return code
