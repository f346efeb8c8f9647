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
from datetime import date
from pathlib import Path

from trello_sync import __version__
from trello_sync.app import App, open_app
from trello_sync.claims import new_owner_id
from trello_sync.clock import SystemClock
from trello_sync.exits import EXIT_FAILURE, EXIT_USAGE
from trello_sync.ledger.store import LedgerError
from trello_sync.render.pdf import PdfError
from trello_sync.settings import ConfigError, Settings, load_settings
from trello_sync.slack import SlackError
from trello_sync.trello.port import TrelloAuthError, TrelloError

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
    report.add_argument(
        "--html",
        type=Path,
        metavar="PATH",
        help="also write the dashboard (one self-contained HTML file) to PATH",
    )
    summary = commands.add_parser(
        "summary",
        help="the daily summary the worker posts to Slack, in the terminal (--slack: post it)",
        description="Prints the summary of a day as the worker posts it to Slack: the "
        "day's entries, the month so far, active students against the cap, students "
        "paused or without a session for too long, boards with a problem. With --slack it "
        "is also posted now to TRELLO_SYNC_SLACK_WEBHOOK_URL (the worker's own daily "
        "summary is not affected).",
    )
    summary.add_argument(
        "--date", metavar="YYYY-MM-DD", help="the day summarised (default: yesterday)"
    )
    summary.add_argument(
        "--slack", action="store_true", help="also post it to the Slack webhook now"
    )
    statement = commands.add_parser(
        "statement",
        help="the month's statement (an invoice when [invoice] is set): HTML, PDF or CSV",
        description="Writes one month's statement of a mentor: every entry, subtotals per "
        "level and status, the total, paid and outstanding, and charts. With an [invoice] "
        "table in the configuration, a month that is over becomes a numbered invoice "
        "(Facture), issued once; a later correction becomes a credit note or a "
        "supplementary invoice with its own number.",
    )
    statement.add_argument("--month", required=True, help="YYYY-MM")
    statement.add_argument(
        "--format", choices=("html", "pdf", "csv"), default="html", help="(default html)"
    )
    statement.add_argument(
        "--out",
        type=Path,
        metavar="PATH",
        help="the file to write (default: TRELLO_SYNC_EXPORT_DIR/statement-YYYY-MM-MENTOR.EXT)",
    )
    statement.add_argument(
        "--mentor",
        metavar="USERNAME",
        help="whose statement (default: the one mentor with entries that month)",
    )
    paid = commands.add_parser(
        "paid",
        help="record a payment received for a month (or reverse one)",
        description="Records a payment received, append-only, in the ledger: statements "
        "show what is paid and outstanding, and the exports write receipts.csv (the "
        "livre des recettes). --reverse ID records the reversal of a payment instead.",
    )
    paid.add_argument("--month", help="YYYY-MM: the month of work paid")
    paid.add_argument("--on", dest="received_on", metavar="YYYY-MM-DD", help="date received")
    paid.add_argument("--amount", metavar="AMOUNT", help="e.g. 245.00")
    paid.add_argument(
        "--method", choices=("transfer", "paypal"), default="transfer", help="(default transfer)"
    )
    paid.add_argument("--ref", default="", metavar="TEXT", help="the payer's reference")
    paid.add_argument("--mentor", metavar="USERNAME", help="who was paid (default: the mentor)")
    paid.add_argument("--reverse", metavar="ID", help="reverse the payment with this id")
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
    run = commands.add_parser(
        "run",
        help="the worker: poll every board, reply, export every night, until SIGINT/SIGTERM",
        description="Polls every board each poll interval, posts the replies, and exports "
        "the ledger every night at TRELLO_SYNC_EXPORT_TIME (a missed night at start). The "
        "first SIGINT/SIGTERM finishes the cycle in progress and exits 0; a second stops "
        "at once, rolling the open transaction back. With TRELLO_SYNC_WEBHOOK_LISTEN, "
        "TRELLO_SYNC_WEBHOOK_URL and TRELLO_API_SECRET set, it also serves a webhook "
        "receiver, keeps each board's Trello webhook registered, and syncs a board as soon "
        "as Trello says it changed (not with --once).",
    )
    run.add_argument(
        "--once", action="store_true", help="one cycle (and the export if due), then exit"
    )
    run.add_argument("--max-cycles", type=int, metavar="N", help="exit after N poll cycles")
    run.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="log lines (default text)"
    )
    run.add_argument(
        "--metrics-port",
        type=int,
        metavar="N",
        help="serve /healthz and /metrics on this port (0: a free one, printed)",
    )
    run.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address for --metrics-port (default 127.0.0.1; 0.0.0.0 for every interface)",
    )
    migrate = commands.add_parser(
        "migrate-ledger",
        help="copy the ledger (TRELLO_SYNC_DATABASE_URL) into a new, empty database",
        description="Copies every row of the configured ledger into the empty ledger at "
        "--to (typically SQLite → PostgreSQL), in one transaction, then checks the counts. "
        "Stop the workers first; point TRELLO_SYNC_DATABASE_URL at the new ledger after.",
    )
    migrate.add_argument(
        "--to", required=True, metavar="URL", help="the new ledger, e.g. postgresql://…"
    )
    _add_setup(commands)
    sandbox = commands.add_parser("sandbox", help="serve the demo board on a local sandbox")
    sandbox.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    return parser


def _add_setup(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    setup = commands.add_parser(
        "setup",
        help="guided setup: API key, token, board, lists and labels, then check and sync",
        description="Takes you from the demo to your own board: reads your API key and "
        "token (checked with Trello), lets you pick your boards or make a new one, offers "
        "to create the missing stage lists and the project labels, writes trello-sync.toml "
        "and the secrets folder, then runs check and the first sync. In a terminal it asks "
        "what the flags do not say; without one, a missing answer is an error naming its "
        "flag. An existing trello-sync.toml is only changed with --force. TRELLO_SYNC_API_URL "
        "points it at another Trello (the sandbox: see `trello-sync sandbox`).",
    )
    setup.add_argument(
        "--key", metavar="KEY", help="your Trello API key (default: TRELLO_API_KEY if set)"
    )
    setup.add_argument(
        "--token",
        metavar="TOKEN",
        help="a token authorised for the key (default: TRELLO_TOKEN if set)",
    )
    setup.add_argument(
        "--board",
        dest="boards",
        action="append",
        default=[],
        metavar="NAME_OR_ID",
        help="a board to sync: its name, id, short link or URL (repeat for several)",
    )
    setup.add_argument("--new-board", metavar="NAME", help="make a new board with the stage lists")
    setup.add_argument(
        "--create-lists", action="store_true", help="create the stage lists a board lacks"
    )
    setup.add_argument(
        "--create-labels",
        action="store_true",
        help="create a label for each project of the pay table the board has no label for",
    )
    setup.add_argument(
        "--lang", choices=("en", "fr"), help="names of new stage lists (default: the locale's)"
    )
    setup.add_argument(
        "--secrets-dir",
        type=Path,
        metavar="DIR",
        help="where the key and token go (default ~/.config/trello-sync/secrets)",
    )
    setup.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="the configuration to write (default: TRELLO_SYNC_CONFIG or ./trello-sync.toml)",
    )
    setup.add_argument(
        "--expiration",
        choices=("1day", "30days", "never"),
        default="never",
        help="how long the token authorised at the printed address lasts (default never)",
    )
    setup.add_argument("--yes", action="store_true", help="run the first sync after check")
    setup.add_argument("--force", action="store_true", help="update an existing configuration file")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(args.debug)
    secrets: list[str] = []
    try:
        if args.command == "sandbox":
            from trello_sync.sandbox import run_sandbox

            return run_sandbox(args.port or None)
        if args.command == "setup":
            return _run_setup(args, debug)
        if args.command == "demo":
            from trello_sync.demo import run_demo

            return run_demo(args.dir or Path("demo"), debug=debug)
        # `check` lists every problem of the pay rules itself, one line each.
        settings = load_settings(pay_rules_checked=args.command != "check")
        secrets = settings.secret_values()
        from trello_sync.logs import setup_logging

        setup_logging(secrets, debug=debug, json_format=getattr(args, "log_format", "") == "json")
        return _run(args, settings)
    except (ConfigError, UsageError) as error:
        return _fail(str(error), EXIT_USAGE, secrets, debug)
    except TrelloAuthError as error:
        return _fail(str(error), EXIT_USAGE, secrets, debug)
    except (TrelloError, LedgerError, PdfError) as error:
        return _fail(str(error), EXIT_FAILURE, secrets, debug)
    except SlackError as error:  # the webhook to change is a setting; the rest may heal
        return _fail(str(error), EXIT_USAGE if error.setting else EXIT_FAILURE, secrets, debug)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_FAILURE, secrets, debug=False)
    except Exception as error:  # the one boundary: anything else is a bug, said in one line
        return _fail(f"{type(error).__name__}: {error}", EXIT_FAILURE, secrets, debug)


def _fail(message: str, code: int, secrets: Sequence[str], debug: bool) -> int:
    from trello_sync.logs import RedactSecrets

    redact = RedactSecrets(secrets).redact
    if debug:
        import traceback

        print(redact(traceback.format_exc()), file=sys.stderr, end="")
    print(f"trello-sync: error: {redact(message)}", file=sys.stderr)
    return code


def _run(args: argparse.Namespace, settings: Settings) -> int:
    clock = SystemClock()
    if args.command == "report":
        month = args.month
        if month is not None:
            _check_month(month)
        with open_app(settings, clock, need_trello=False) as app:
            from trello_sync.commands import report

            return report(app, month, html=args.html)
    if args.command == "summary":
        day = _check_date(args.date) if args.date is not None else None
        if args.slack and settings.slack_webhook_url is None:
            raise ConfigError(
                "TRELLO_SYNC_SLACK_WEBHOOK_URL is not set: --slack has nowhere to post"
            )
        with open_app(settings, clock, need_trello=False) as app:
            from trello_sync.commands import summary

            return summary(app, day, slack=args.slack)
    if args.command == "statement":
        _check_month(args.month)
        with open_app(settings, clock, need_trello=False) as app:
            from trello_sync.statements import write_statement

            return write_statement(app, args.month, args.format, args.out, args.mentor)
    if args.command == "paid":
        with open_app(settings, clock, need_trello=False) as app:
            from trello_sync.payments import record_paid

            return record_paid(app, args)
    if args.command == "run":
        return _run_worker(args, settings)
    if args.command == "migrate-ledger":
        from trello_sync.commands import migrate_ledger

        return migrate_ledger(settings, args.to, clock)
    if args.command == "check":
        from trello_sync.checkup import check

        return check(settings, clock)
    if args.command == "export":
        from trello_sync.preflight import export_dir_problem

        # Before the ledger, before Trello: a folder that cannot take the files is a bad
        # setting, found before anything is read, synced or created.
        problem = (
            export_dir_problem(args.out, "--out")
            if args.out is not None
            else export_dir_problem(settings.export_dir)
        )
        if problem:
            raise ConfigError(problem)
    need_trello = not (args.command == "export" and args.offline)
    owner = new_owner_id() if need_trello else None
    with open_app(settings, clock, need_trello=need_trello, owner=owner) as app:
        from trello_sync.commands import export, sync

        if args.command == "sync":
            return sync(app)
        if args.command == "export":
            return export(app, args.out, offline=args.offline)
    raise UsageError(f"unknown command {args.command!r}")


def _check_month(month: str) -> None:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise UsageError(f"--month must be YYYY-MM, not {month!r}")


def _check_date(text: str) -> date:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise UsageError(f"--date must be a day as YYYY-MM-DD, not {text[:40]!r}")


def _run_setup(args: argparse.Namespace, debug: bool) -> int:
    from trello_sync.domain.board_fit import Lang
    from trello_sync.setup import SetupOptions, run_setup

    options = SetupOptions(
        key=args.key,
        token=args.token,
        boards=list(args.boards),
        new_board=args.new_board,
        create_lists=args.create_lists,
        create_labels=args.create_labels,
        lang=Lang(args.lang) if args.lang else None,
        secrets_dir=args.secrets_dir,
        config=args.config,
        expiration=args.expiration,
        yes=args.yes,
        force=args.force,
    )
    return run_setup(options, SystemClock(), debug=debug)


def _run_worker(args: argparse.Namespace, settings: Settings) -> int:
    from trello_sync.worker import StopNow, run_worker

    if args.max_cycles is not None and args.max_cycles < 1:
        raise UsageError("--max-cycles must be at least 1")
    if args.metrics_port is not None and not 0 <= args.metrics_port <= 65535:
        raise UsageError("--metrics-port must be between 0 and 65535")
    try:
        return run_worker(
            settings,
            max_cycles=1 if args.once else args.max_cycles,
            metrics_port=args.metrics_port,
            metrics_host=args.metrics_host,
        )
    except StopNow as stopped:
        print(f"trello-sync: {stopped}", file=sys.stderr)
        return EXIT_FAILURE


__all__ = ["App", "main"]
