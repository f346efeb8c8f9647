"""Everything an export writes, from `trello-sync export` and from the nightly export:
the ledger and the statements (export.py), `receipts.csv` (the payments received, in
order of receipt), the journals for plain-text accounting (`ledger.beancount`,
`ledger.journal`: journals.py) and the dashboard as `index.html`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from trello_sync.dashboard import DASHBOARD_FILE, write_dashboard
from trello_sync.export import export_ledger
from trello_sync.journals import write_journals
from trello_sync.ledger.store import LedgerStore
from trello_sync.receipts import receipt_rows, write_receipts_csv
from trello_sync.settings import Settings

RECEIPTS_FILE = "receipts.csv"
# What a receipt names as the service sold (the micro-entrepreneur's livre des recettes).
SERVICE = "Mentorat"


def export_everything(
    ledger: LedgerStore, settings: Settings, now: datetime, folder: Path
) -> list[Path]:
    paths = export_ledger(ledger.entries(), folder)
    config = settings.invoice_config()
    rows = receipt_rows(
        ledger.payments(),
        ledger.documents(),
        client=config.client_name if config is not None else "",
        service=SERVICE,
    )
    receipts = folder / RECEIPTS_FILE
    write_receipts_csv(receipts, rows)
    paths.append(receipts)
    paths.extend(write_journals(ledger, settings, folder))
    paths.append(write_dashboard(ledger, settings, now, folder / DASHBOARD_FILE))
    return paths
