"""What each CLI command does, given a wired App: call the library, format the answer."""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from trello_sync.app import App, make_trello
from trello_sync.clock import Clock
from trello_sync.domain.checks import ledger_problems, list_mapping
from trello_sync.domain.money import format_cents
from trello_sync.domain.report import build_report
from trello_sync.export import export_ledger
from trello_sync.ledger.open import open_ledger
from trello_sync.ledger.store import LedgerError
from trello_sync.report_view import render_report
from trello_sync.settings import ConfigError, Settings
from trello_sync.sync import BoardOutcome
from trello_sync.trello.port import PageProgress, TrelloAuthError, TrelloError, TrelloNotFound


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


def sync(app: App, *, console: Console | None = None) -> int:
    console = console or Console(stderr=True)
    syncer = app.require_syncer()
    syncer.set_progress(progress_factory(console))
    outcomes = syncer.sync_all()
    for outcome in outcomes:
        print(describe(outcome))
    synced = {o.ref for o in outcomes}
    for ref in app.settings.boards:
        if ref not in synced:
            print(f"{ref}: skipped — another worker holds it right now")
    return 1 if any(o.problem for o in outcomes) else 0


def export(app: App, out: Path | None, *, offline: bool = False) -> int:
    failed = False
    if not offline:
        # The comments behind the open months are always re-read before an export.
        for outcome in app.require_syncer().sync_all(force_reread=True):
            if outcome.problem:
                failed = True
                print(f"warning: {describe(outcome)}", file=sys.stderr)
    folder = out or app.settings.export_dir
    paths = export_ledger(app.ledger.entries(), folder)
    print(f"exported {len(paths)} file(s) to {folder}:")
    for path in paths:
        print(f"  {path.name}")
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
    """One line per problem (exit 2 if any); notes and confirmations otherwise."""
    problems: list[str] = []
    notes: list[str] = []
    if not settings.boards:
        problems.append("TRELLO_SYNC_BOARDS: no board configured")
    try:
        ledger = open_ledger(settings.database_url, clock=clock)
    except LedgerError as error:
        problems.append(f"TRELLO_SYNC_DATABASE_URL: {error}")
    else:
        with suppress(Exception):
            problems += [f"ledger: {p}" for p in ledger_problems(ledger.entries())]
        ledger.close()
    try:
        trello = make_trello(settings, clock)
    except Exception as error:
        problems.append(str(error))
        trello = None
    if trello is not None:
        try:
            me = trello.me()
            notes.append(f"credentials: OK, the token belongs to @{me.get('username')}")
            for ref in settings.boards:
                try:
                    board = trello.board(ref)
                    snapshot = trello.board_snapshot(str(board["id"]))
                except TrelloNotFound:
                    problems.append(f"board {ref!r}: not found, or this token cannot see it")
                    continue
                board_problems, board_notes = list_mapping(snapshot.lists, settings.stage_map())
                name = board.get("name") or ref
                problems += [f"board {name!r}: {p}" for p in board_problems]
                notes += [f"board {name!r}: {n}" for n in board_notes]
                if not board_problems:
                    notes.append(f"board {name!r}: OK ({len(snapshot.cards)} cards)")
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


def migrate_ledger(settings: Settings, target_url: str, clock: Clock) -> int:
    """Copy the configured ledger into the new, empty one at `target_url`."""
    from trello_sync.ledger.copy import copy_ledger

    if not target_url.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
        raise ConfigError("--to: use sqlite:///file.db or postgresql://…")
    if target_url == settings.database_url:
        raise ConfigError("--to names the ledger being copied; give a new, empty one")
    with (
        open_ledger(settings.database_url, clock=clock) as source,
        open_ledger(target_url, clock=clock) as target,
    ):
        counts = copy_ledger(source, target)
    rows = ", ".join(f"{count} {table}" for table, count in counts.items())
    print(f"copied {rows}")
    print("now set TRELLO_SYNC_DATABASE_URL to the new ledger and start the workers")
    return 0
