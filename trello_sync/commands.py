"""What each CLI command does, given a wired App: call the library, format the answer."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from trello_sync.app import App, make_trello
from trello_sync.clock import Clock
from trello_sync.domain.checks import ledger_problems, list_mapping
from trello_sync.domain.money import format_cents
from trello_sync.domain.report import build_report
from trello_sync.domain.text import fold
from trello_sync.export import export_ledger
from trello_sync.ledger.open import (
    ledger_exists,
    ledger_location_problem,
    open_ledger,
    shown_ledger,
)
from trello_sync.ledger.schema import LATEST_VERSION
from trello_sync.ledger.store import LedgerError
from trello_sync.preflight import export_dir_problem
from trello_sync.report_view import render_report
from trello_sync.settings import ConfigError, Settings, env_name
from trello_sync.sync import BoardOutcome, board_not_found
from trello_sync.trello.client import HttpTrello
from trello_sync.trello.port import PageProgress, TrelloAuthError, TrelloError, TrelloNotFound

BOARDS_SETTING = env_name("boards")


def progress_factory(console: Console) -> Callable[[str], tuple[PageProgress, Callable[[], None]]]:
    """A progress display for a board's first sync (the whole history, page by page)."""

    def open_progress(board_id: str) -> tuple[PageProgress, Callable[[], None]]:
        progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]first sync[/] {task.description}"),
            TextColumn("{task.completed} actions"),
            TextColumn("{task.fields[oldest]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        task = progress.add_task(board_id, total=None, oldest="")
        progress.start()

        def on_page(count: int, oldest: str | None) -> None:
            back_to = f"back to {oldest[:10]}" if oldest else ""
            progress.update(task, completed=count, oldest=back_to)

        return on_page, progress.stop

    return open_progress


def describe(outcome: BoardOutcome) -> str:
    name = outcome.name or outcome.ref
    if outcome.problem:
        return f"{name}: NOT SYNCED — {outcome.problem}"
    parts = [
        f"{outcome.applied} action(s) applied" if outcome.applied else "no change",
        f"{outcome.entries} entr{'y' if outcome.entries == 1 else 'ies'}"
        if outcome.entries
        else "",
        f"{outcome.moves} move(s)" if outcome.moves else "",
        f"{outcome.outbox.posted} repl{'y' if outcome.outbox.posted == 1 else 'ies'} posted"
        if outcome.outbox.posted
        else "",
        f"{outcome.outbox.waiting + outcome.outbox.unknown} repl(ies) awaiting confirmation"
        if outcome.outbox.waiting + outcome.outbox.unknown
        else "",
        "first sync: whole history replayed" if outcome.first_sync else "",
    ]
    return f"{name}: " + ", ".join(p for p in parts if p)


def unknown_boards(outcomes: Sequence[BoardOutcome]) -> ConfigError | None:
    """One error naming TRELLO_SYNC_BOARDS for the boards Trello does not know (or the
    token cannot see): a setting to fix, exit code 2, not a failure at run time."""
    unknown = [o.problem or o.ref for o in outcomes if o.unknown_board]
    return ConfigError(f"{BOARDS_SETTING}: " + "; ".join(unknown)) if unknown else None


def sync(app: App, *, console: Console | None = None) -> int:
    console = console or Console(stderr=True)
    syncer = app.require_syncer()
    syncer.set_progress(progress_factory(console))
    outcomes = syncer.sync_all()
    for outcome in outcomes:
        if not outcome.unknown_board:  # said once, as the error below
            print(describe(outcome))
    synced = {o.ref for o in outcomes}
    for ref in app.settings.boards:
        if ref not in synced:
            print(f"{ref}: skipped — another worker holds it right now")
    error = unknown_boards(outcomes)
    if error is not None:
        raise error
    return 1 if any(o.problem for o in outcomes) else 0


def export(app: App, out: Path | None, *, offline: bool = False) -> int:
    failed = False
    outcomes: list[BoardOutcome] = []
    if not offline:
        # The comments behind the open months are always re-read before an export.
        outcomes = app.require_syncer().sync_all(force_reread=True)
        for outcome in outcomes:
            if outcome.problem:
                failed = True
                if not outcome.unknown_board:
                    print(f"warning: {describe(outcome)}", file=sys.stderr)
    folder = out or app.settings.export_dir
    paths = export_ledger(app.ledger.entries(), folder)
    print(f"exported {len(paths)} file(s) to {folder}:")
    for path in paths:
        print(f"  {path.name}")
    error = unknown_boards(outcomes)
    if error is not None:
        raise error
    return 1 if failed else 0


def report(app: App, month: str | None, *, console: Console | None = None) -> int:
    console = console or Console()
    if month is None:
        month = app.clock.now().astimezone(app.settings.zone).strftime("%Y-%m")
    today = app.clock.now().astimezone(app.settings.zone).date()
    currency = app.settings.pay().in_force(today).currency
    data = build_report(
        month,
        app.ledger.cards(),
        app.ledger.moves(),
        app.ledger.entries(),
        app.settings.max_students,
        currency,
    )
    render_report(data, console)
    return 0


def check(settings: Settings, clock: Clock) -> int:
    """One line per problem (exit 2 if any); notes and confirmations otherwise.

    Creates nothing: a ledger that does not exist yet is a note, and an existing one is
    read as it is (not migrated)."""
    problems: list[str] = []
    notes: list[str] = []
    if not settings.boards:
        problems.append(f"{BOARDS_SETTING}: no board configured")
    _check_ledger(settings, clock, problems, notes)
    export_problem = export_dir_problem(settings.export_dir)
    if export_problem:
        problems.append(export_problem)
    try:
        trello = make_trello(settings, clock)
    except ConfigError as error:
        problems.append(str(error))
    else:
        try:
            _check_trello(settings, trello, problems, notes)
        except TrelloAuthError as error:
            problems.append(str(error))
        except TrelloError as error:
            problems.append(f"Trello: {error}")
        finally:
            trello.close()
    rule_set = settings.pay().in_force(clock.now().astimezone(settings.zone).date())
    rates = ", ".join(
        f"L{level} {format_cents(cents)}" for level, cents in sorted(rule_set.rates.items())
    )
    notes.append(f"pay rules in force: {rates} {rule_set.currency}")
    for note in notes:
        print(note)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 2 if problems else 0


def _check_ledger(settings: Settings, clock: Clock, problems: list[str], notes: list[str]) -> None:
    url = settings.database_url
    try:
        location = ledger_location_problem(url)
        if location:
            problems.append(f"TRELLO_SYNC_DATABASE_URL: {location}")
            return
        if not ledger_exists(url):
            notes.append(
                f"ledger: {shown_ledger(url)} does not exist yet; the first sync creates it"
            )
            return
        with open_ledger(url, clock=clock, migrate=False) as ledger:
            version = ledger.schema_version()
            if version > LATEST_VERSION:
                problems.append(
                    "TRELLO_SYNC_DATABASE_URL: the ledger was written by a newer trello-sync "
                    f"(schema {version}); upgrade trello-sync"
                )
                return
            if version < LATEST_VERSION:
                # Its tables may not be what this version reads: nothing more is asked.
                notes.append(
                    f"ledger: schema {version}; the next sync brings it up to {LATEST_VERSION}"
                )
                return
            found = [f"ledger: {p}" for p in ledger_problems(ledger.entries())]
    except LedgerError as error:
        problems.append(f"TRELLO_SYNC_DATABASE_URL: {error}")
        return
    problems += found
    if not found:
        notes.append(f"ledger: OK ({shown_ledger(url)})")


def _check_trello(
    settings: Settings, trello: HttpTrello, problems: list[str], notes: list[str]
) -> None:
    me = trello.me()
    owner = str(me.get("username") or "")
    notes.append(f"credentials: OK, the token belongs to @{owner}")
    if settings.mentors:
        mentors = list(settings.mentors)
    else:
        # The default mentor is not checked: the token's owner can see each board (that is
        # checked below), and whether a non-member may comment is the board's own setting.
        mentors = []
        notes.append(f"mentors: the token's owner @{owner} (TRELLO_SYNC_MENTORS is empty)")
    for ref in settings.boards:
        try:
            board = trello.board(ref)
            snapshot = trello.board_snapshot(str(board["id"]))
            members = trello.board_members(str(board["id"])) if mentors else []
        except (TrelloNotFound, TrelloAuthError):
            # The token works (me() above): a 401 here is about this board, not the token.
            problems.append(f"{BOARDS_SETTING}: {board_not_found(ref)}")
            continue
        name = board.get("name") or ref
        board_problems, board_notes = list_mapping(snapshot.lists, settings.stage_map())
        usernames = {fold(str(m.get("username") or "")) for m in members}
        board_problems += [
            f"mentor {mentor!r} is not a member of this board"
            for mentor in mentors
            if fold(mentor) not in usernames
        ]
        problems += [f"board {name!r}: {p}" for p in board_problems]
        notes += [f"board {name!r}: {n}" for n in board_notes]
        if not board_problems:
            notes.append(f"board {name!r}: OK ({len(snapshot.cards)} cards)")


def migrate_ledger(settings: Settings, target_url: str, clock: Clock) -> int:
    """Copy the configured ledger into the new, empty one at `target_url`."""
    from trello_sync.ledger.copy import copy_ledger

    if not target_url.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
        raise ConfigError("--to: use sqlite:///file.db or postgresql://…")
    if target_url == settings.database_url:
        raise ConfigError("--to names the ledger being copied; give a new, empty one")
    if not ledger_exists(settings.database_url):
        raise ConfigError(
            f"TRELLO_SYNC_DATABASE_URL: no ledger at {shown_ledger(settings.database_url)} "
            "(nothing to copy)"
        )
    target_problem = ledger_location_problem(target_url)
    if target_problem:
        raise ConfigError(f"--to: {target_problem}")
    with (
        open_ledger(settings.database_url, clock=clock) as source,
        open_ledger(target_url, clock=clock) as target,
    ):
        counts = copy_ledger(source, target)
    rows = ", ".join(f"{count} {table}" for table, count in counts.items())
    print(f"copied {rows}")
    print("now set TRELLO_SYNC_DATABASE_URL to the new ledger and start the workers")
    return 0
