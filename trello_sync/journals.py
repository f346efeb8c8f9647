"""`ledger.beancount` and `ledger.journal`: the ledger as plain-text accounting, written
with every export (see trello_sync/domain/journal.py for the books they keep).

Streamed and atomic like the other exports: the entries are read in session-date order
from the ledger twice (once for the accounts to open, once for the transactions of both
files), never all held in memory; each file appears whole or not at all. Same ledger,
same bytes.
"""

from __future__ import annotations

from pathlib import Path

from trello_sync.domain.journal import account_openings, journal_items
from trello_sync.export import atomic_file
from trello_sync.ledger.store import LedgerStore
from trello_sync.render.beancount import BeancountWriter
from trello_sync.render.hledger import HledgerWriter
from trello_sync.settings import Settings

BEANCOUNT_FILE = "ledger.beancount"
HLEDGER_FILE = "ledger.journal"


def write_journals(ledger: LedgerStore, settings: Settings, folder: Path) -> list[Path]:
    accounts = settings.journal_accounts()
    payments = ledger.payments()
    openings = account_openings(ledger.entries_by_session_date(), payments, accounts)
    beancount, hledger = folder / BEANCOUNT_FILE, folder / HLEDGER_FILE
    with atomic_file(beancount) as beancount_out, atomic_file(hledger) as hledger_out:
        to_beancount = BeancountWriter(beancount_out, openings, accounts)
        to_hledger = HledgerWriter(hledger_out, openings)
        # One pass for both files: each item decided once, written twice.
        for item in journal_items(ledger.entries_by_session_date(), payments, accounts):
            to_beancount.write(item)
            to_hledger.write(item)
        to_hledger.close()
    return [beancount, hledger]
