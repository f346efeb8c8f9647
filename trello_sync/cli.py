"""`trello-sync`: a thin command line. Each command parses, calls the library, formats.

One error boundary: a user error (bad setting, bad key or token) is one line and exit
code 2; a failure at run time is one line and exit code 1; a traceback only with --debug.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from trello_sync import __version__
from trello_sync.app import App, open_app
from trello_sync.clock import SystemClock
from trello_sync.ledger.store import LedgerError
from trello_sync.settings import ConfigError, Settings, load_settings
from trello_sync.trello.port import TrelloAuthError, TrelloError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

log = logging.getLogger("trello_sync.cli")


class UsageError(Exception):
    """Bad arguments or configuration: exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trello-sync",
        description="Keeps a mentor's books from a Trello board: sessions, pay, replies, exports.",
        epilog="Settings come from the environment (TRELLO_API_KEY, TRELLO_TOKEN, "
        "TRELLO_SYNC_<NAME>) and the TOML file named by TRELLO_SYNC_CONFIG "
        "(default ./trello-sync.toml). See the README.",
    )
    parser.add_argument("--version", action="version", version=f"trello-sync {__version__}")
    parser.add_argument("--debug", action="store_true", help="verbose logs and tracebacks")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("check", help="check the configuration, the credentials and each board")
    commands.add_parser("sync", help="one sync pass of every board, then post the replies")
    report = commands.add_parser("report", help="show the month's students, sessions and pay")
    report.add_argument("--month", help="YYYY-MM (default: this month)")
    export = commands.add_parser("export", help="write the ledger and statements now")
    export.add_argument("--out", type=Path, help="folder (default: TRELLO_SYNC_EXPORT_DIR)")
    export.add_argument(
        "--offline",
        action="store_true",
        help="export what the ledger holds without re-reading the board's comments first",
    )
    demo = commands.add_parser("demo", help="run a demonstration against a local sandbox")
    demo.add_argument(
        "--dir", type=Path, help="where the demo writes its ledger and exports (default: ./demo)"
    )
    sandbox = commands.add_parser("sandbox", help="serve the demo board on a local sandbox")
    sandbox.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(args.debug)
    secrets: list[str] = []
    try:
        if args.command == "sandbox":
            from trello_sync.sandbox import run_sandbox

            return run_sandbox(args.port or None)
        if args.command == "demo":
            from trello_sync.demo import run_demo

            return run_demo(args.dir or Path("demo"), debug=debug)
        settings = load_settings()
        secrets = settings.secret_values()
        from trello_sync.logs import setup_logging

        setup_logging(secrets, debug=debug)
        return _run(args, settings)
    except (ConfigError, UsageError) as error:
        return _fail(str(error), EXIT_USAGE, secrets, debug)
    except TrelloAuthError as error:
        return _fail(str(error), EXIT_USAGE, secrets, debug)
    except (TrelloError, LedgerError) as error:
        return _fail(str(error), EXIT_FAILURE, secrets, debug)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_FAILURE, secrets, debug=False)
    except Exception as error:  # the one boundary: anything else is a bug, said in one line
        return _fail(f"{type(error).__name__}: {error}", EXIT_FAILURE, secrets, debug)


def _fail(message: str, code: int, secrets: Sequence[str], debug: bool) -> int:
    for secret in secrets:
        if len(secret) >= 6:
            message = message.replace(secret, "[redacted]")
    if debug:
        import traceback

        text = traceback.format_exc()
        for secret in secrets:
            if len(secret) >= 6:
                text = text.replace(secret, "[redacted]")
        print(text, file=sys.stderr, end="")
    print(f"trello-sync: error: {message}", file=sys.stderr)
    return code


def _run(args: argparse.Namespace, settings: Settings) -> int:
    clock = SystemClock()
    if args.command == "report":
        month = args.month
        if month is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
            raise UsageError(f"--month must be YYYY-MM, not {month!r}")
        with open_app(settings, clock, need_trello=False) as app:
            from trello_sync.commands import report

            return report(app, month)
    if args.command == "check":
        from trello_sync.commands import check

        return check(settings, clock)
    need_trello = not (args.command == "export" and args.offline)
    with open_app(settings, clock, need_trello=need_trello) as app:
        from trello_sync.commands import export, sync

        if args.command == "sync":
            return sync(app)
        if args.command == "export":
            return export(app, args.out, offline=args.offline)
    raise UsageError(f"unknown command {args.command!r}")


__all__ = ["App", "main"]
