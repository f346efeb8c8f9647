"""What each CLI command does, given a wired App: call the library, format the answer."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from trello_sync.app import App
from trello_sync.clock import Clock
from trello_sync.domain.report import build_report
from trello_sync.export_all import export_everything
from trello_sync.ledger.open import (
    ledger_exists,
    ledger_location_problem,
    open_ledger,
    shown_ledger,
)
from trello_sync.report_view import render_report
from trello_sync.settings import ConfigError, Settings, env_name
from trello_sync.sync import BoardOutcome
from trello_sync.trello.port import PageProgress

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

        def on_page(count: int, reached: str | None) -> None:
            # A first sync reads its history oldest first: how far it has come.
            up_to = f"up to {reached[:10]}" if reached else ""
            progress.update(task, completed=count, oldest=up_to)

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
    paths = export_everything(app.ledger, app.settings, app.clock.now(), folder)
    print(f"exported {len(paths)} file(s) to {folder}:")
    for path in paths:
        print(f"  {path.name}")
    error = unknown_boards(outcomes)
    if error is not None:
        raise error
    return 1 if failed else 0


def report(
    app: App, month: str | None, *, html: Path | None = None, console: Console | None = None
) -> int:
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
    if html is not None:
        from trello_sync.dashboard import write_dashboard

        write_dashboard(app.ledger, app.settings, app.clock.now(), html, month)
        console.print(f"dashboard: {html}")
    return 0


def summary(app: App, day: date | None, *, slack: bool = False) -> int:
    """The daily summary of `day` (default yesterday) on standard output; with `slack`,
    posted now too. It records nothing: the worker's own summary is posted all the same."""
    from trello_sync.domain.daily import summary_payload, summary_text
    from trello_sync.logs import RedactSecrets
    from trello_sync.notify import read_daily, redacted
    from trello_sync.slack import SlackPoster

    settings = app.settings
    if day is None:
        day = app.clock.now().astimezone(settings.zone).date() - timedelta(days=1)
    daily = read_daily(app.ledger, settings, day)
    print(summary_text(daily))
    if daily.quiet:
        print(
            "\n(nothing to say: the worker posts no summary for such a day, unless "
            "summary_when_quiet = true)"
        )
    if slack and settings.slack_webhook_url is not None:
        poster = SlackPoster(settings.slack_webhook_url.get_secret_value(), app.clock)
        try:
            redact = RedactSecrets(settings.secret_values()).redact
            poster.post(redacted(summary_payload(daily), redact))
        finally:
            poster.close()
        print(f"\nposted to Slack ({poster.shown})")
    return 0


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
