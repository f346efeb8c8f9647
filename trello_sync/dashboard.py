"""The dashboard: one self-contained HTML page of the month, written by `report --html`
and, as `index.html` beside the CSV files, by every export.

Read the ledger, build the Dashboard (domain/flow.py), render it (render/), write it
atomically. Same ledger and same day, same bytes.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from trello_sync.domain.charts import months_ending
from trello_sync.domain.flow import build_dashboard
from trello_sync.domain.records import Entry
from trello_sync.domain.summary import month_of
from trello_sync.export import atomic_file
from trello_sync.ledger.store import LedgerStore
from trello_sync.render.dashboard_html import render_dashboard
from trello_sync.settings import Settings

DASHBOARD_FILE = "index.html"


def months_before(month: str, count: int) -> str:
    """The month `count` months before `month` (the 12-month window's first month for 11)."""
    return months_ending(month, count + 1)[0]


def entries_since(ledger: LedgerStore, first_month: str) -> list[Entry]:
    """The entries from `first_month` on: what a page of the last 12 months shows, kept
    in memory rather than a long ledger's whole history (the entries are streamed)."""
    return [e for e in ledger.entries() if month_of(e.session_date) >= first_month]


def dashboard_html(ledger: LedgerStore, settings: Settings, now: datetime, month: str) -> str:
    today = now.astimezone(settings.zone).date()
    config = settings.invoice_config()
    dashboard = build_dashboard(
        month=month,
        today=today,
        language=config.language if config is not None else "en",
        cards=ledger.cards(),
        moves=ledger.moves(),
        entries=entries_since(ledger, months_before(month, 11)),
        cap=settings.max_students,
        currency=settings.pay().in_force(today).currency,
        pause_warning_days=settings.pause_warning_days,
        nudge_days=settings.nudge_days,
    )
    return render_dashboard(dashboard)


def write_dashboard(
    ledger: LedgerStore, settings: Settings, now: datetime, path: Path, month: str | None = None
) -> Path:
    month = month or now.astimezone(settings.zone).strftime("%Y-%m")
    html = dashboard_html(ledger, settings, now, month)
    with atomic_file(path) as handle:
        handle.write(html)
    return path
