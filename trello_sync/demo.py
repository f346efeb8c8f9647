"""`trello-sync demo`: the whole product in a few seconds, with no Trello account.

Starts the sandbox on a free loopback port with a mentor's board (five weeks of history),
syncs it through the real client over real HTTP into a fresh SQLite ledger, prints the
replies the service posted, lets the mentor act once more and syncs again, then shows
the report, writes the exports and the dashboard, last month's invoice (from a made-up
seller) and this month's draft.
"""

from __future__ import annotations

import shutil
from datetime import tzinfo
from pathlib import Path

from rich.console import Console

from trello_sync.app import App, open_app
from trello_sync.clock import Clock, SystemClock
from trello_sync.commands import describe, export, progress_factory, report
from trello_sync.ledger.store import LedgerStore, ReplyStatus
from trello_sync.logs import setup_logging
from trello_sync.sandbox import DemoBoard, SandboxServer, SandboxState, build_demo_board
from trello_sync.sandbox.demo_board import local_zone
from trello_sync.settings import load_settings


def run_demo(
    folder: Path,
    *,
    debug: bool = False,
    clock: Clock | None = None,
    seed: int | None = None,
    tz: tzinfo | None = None,
    console: Console | None = None,
) -> int:
    """The demo on the real clock and a fresh random board; a fixed `clock`, `seed` and
    `tz` give the same board, the same replies and the same exports every time (the
    golden tests run it so)."""
    console = console or Console()
    tz = tz or local_zone()
    clock = clock or SystemClock()
    state = SandboxState(seed=seed, clock=clock.now)
    demo = build_demo_board(state, today=clock.now().astimezone(tz).date(), tz=tz)
    # A fresh ledger each time: the sandbox's board is new on every run.
    ledger_dir = folder.resolve()
    if (ledger_dir / "exports").exists():
        shutil.rmtree(ledger_dir / "exports")
    ledger_dir.mkdir(parents=True, exist_ok=True)
    (ledger_dir / "ledger.db").unlink(missing_ok=True)

    with SandboxServer(state, monotonic=clock.monotonic) as server:
        settings = load_settings(
            api_url=server.url,
            api_key=demo.api_key,
            token=demo.mentor_token,
            boards=[demo.board_id],
            database_url=f"sqlite:///{ledger_dir / 'ledger.db'}",
            export_dir=ledger_dir / "exports",
            timezone=getattr(tz, "key", "UTC"),
            mentors=[],
            invoice=DEMO_SELLER,
        )
        setup_logging(settings.secret_values(), debug=debug)
        console.rule("[bold]trello-sync demo")
        console.print(
            f"Sandbox Trello at {server.url}: board [bold]{demo.board_id}[/] with five "
            f"weeks of history by @{demo.mentor_username} (mentor) and "
            f"@{demo.student_username} (a student)."
        )
        with open_app(settings, clock, progress=progress_factory(console)) as app:
            syncer = app.require_syncer()
            console.rule("1. First sync: the whole history is replayed")
            for outcome in syncer.sync_all():
                console.print(describe(outcome))
            _print_replies(app.ledger, console, seen=set())
            seen = {r.reply_id for r in app.ledger.replies()}

            console.rule("2. The mentor logs today's session and hands a student off")
            active = _active_students(state, demo)
            if active:
                state.comment(demo.mentor_username, demo.card_ids[active[0]], "/session 1h")
                console.print(f"@{demo.mentor_username} comments “/session 1h” on {active[0]}.")
            if len(active) > 1:
                state.move_card(
                    demo.mentor_username, demo.card_ids[active[-1]], demo.list_ids["Handed off"]
                )
                console.print(f"@{demo.mentor_username} moves {active[-1]} to “Handed off”.")
            before = len(server.log.entries())
            for outcome in syncer.sync_all():
                console.print(describe(outcome))
            used = len(server.log.entries()) - before
            console.print(f"({used} requests to Trello for that sync, replies included.)")
            _print_replies(app.ledger, console, seen=seen)

            console.rule("3. The report")
            report(app, None, console=console)
            console.rule("4. Exports")
            export(app, None, offline=True)
            console.rule("5. Statements and the dashboard")
            documents = _write_statements(app, demo.mentor_username)
        exports = ledger_dir / "exports"
        console.print(f"\nLedger: {ledger_dir / 'ledger.db'}\nExports: {exports}")
        for path in documents:
            console.print(f"Open in a browser: {path}")
        console.print(
            f"Dashboard: {exports / 'index.html'}\n"
            "Next: `trello-sync sandbox` serves this board for you to explore with curl."
        )
    return 0


# A made-up seller, so that the demo shows an invoice with every mention French law asks
# of a micro-entrepreneur; the SIRET passes the Luhn check but names no one.
DEMO_SELLER = {
    "seller_name": "Camille Martin",
    "seller_address": "12 rue des Lilas\n69003 Lyon",
    "siret": "732 829 320 00074",
    "client_name": "Plateforme Éducative SAS",
    "client_address": "7 cité Paradis\n75010 Paris",
    "payment_terms_days": 30,
    "iban": "FR76 3000 6000 0112 3456 7890 189",
    "bic": "AGRIFRPP",
    "number_prefix": "DEMO-",
}


def _write_statements(app: App, mentor: str) -> list[Path]:
    """Last month's invoice (over, so numbered) and this month's draft, as HTML."""
    from trello_sync.dashboard import months_before
    from trello_sync.statements import write_statement_file

    this_month = app.clock.now().astimezone(app.settings.zone).strftime("%Y-%m")
    written = []
    for month in (months_before(this_month, 1), this_month):
        path = app.settings.export_dir / f"statement-{month}-{mentor}.html"
        write_statement_file(app, month, "html", path, mentor)
        written.append(path)
    return written


def _active_students(state: SandboxState, demo: DemoBoard) -> list[str]:
    active_list = demo.list_ids.get("Active")
    return [
        name
        for name, card_id in demo.card_ids.items()
        if state.card(card_id).get("idList") == active_list
        and not state.card(card_id).get("closed")
    ]


def _print_replies(ledger: LedgerStore, console: Console, seen: set[str]) -> None:
    replies = [r for r in ledger.replies() if r.reply_id not in seen]
    posted = [r for r in replies if r.status is ReplyStatus.POSTED]
    console.print(f"[bold]{len(posted)} repl{'y' if len(posted) == 1 else 'ies'} posted:[/]")
    for reply in posted:
        body = reply.text.split("\n\n[trello-sync ref:")[0]
        console.print(f"  [dim]{reply.kind:>9}[/] {body}")
