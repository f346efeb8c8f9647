"""`trello-sync statement`: read the ledger, decide which documents the month needs, issue
them in the ledger, render, write.

Without an `[invoice]` table the month is a plain statement ("Relevé"), with no number.
With one, a month that is not over is a draft; a month that is over is invoiced once: the
invoice gets the next number of the mentor's sequence in the ledger's transaction, and
its lines are frozen in the ledger, so rendering it again, later or on another worker,
gives the same document. Entries that change the month after that (a late edit, an
undo) are a correction with its own number that refers to the invoice — a credit note,
or a supplementary invoice when they add up to more — never a rewrite.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from trello_sync.app import App
from trello_sync.dashboard import entries_since, months_before
from trello_sync.domain.charts import month_bounds
from trello_sync.domain.documents import DocumentIdentity, DocumentKind, Statement
from trello_sync.domain.invoice import (
    decide_documents,
    identity_of,
    mentions,
    month_is_over,
)
from trello_sync.domain.statement import (
    build_statement,
    lines_from_json,
    mentions_from_json,
    statement_from_lines,
)
from trello_sync.domain.summary import month_of
from trello_sync.exits import EXIT_OK
from trello_sync.export import STATEMENT_COLUMNS, Statements, atomic_file
from trello_sync.render.pdf import CHROMIUM_MISSING, find_chromium, html_to_pdf
from trello_sync.render.statement_html import render_statement
from trello_sync.settings import ConfigError


def choose_mentor(app: App, month: str, given: str | None) -> str:
    """`--mentor`, else the one mentor with entries that month, else the one configured."""
    if given:
        return given.strip().removeprefix("@")
    found = sorted({e.mentor for e in app.ledger.entries() if month_of(e.session_date) == month})
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise ConfigError(f"--mentor is needed: {len(found)} mentors have entries in {month}")
    if len(app.settings.mentors) == 1:
        return app.settings.mentors[0]
    raise ConfigError(f"--mentor is needed: no entry in {month} names a mentor")


def month_documents(app: App, month: str, mentor: str) -> list[Statement]:
    """The month's documents, issuing in the ledger what is due (see the module's text)."""
    settings, ledger = app.settings, app.ledger
    now = app.clock.now()
    today = now.astimezone(settings.zone).date()
    config = settings.invoice_config()
    language = config.language if config is not None else "en"
    entries = entries_since(ledger, months_before(month, 11))
    moves, cards = ledger.moves(), ledger.cards()
    payments = ledger.payments(mentor=mentor, month=month)

    def statement(identity: DocumentIdentity, with_mentions: bool) -> Statement:
        return build_statement(
            mentor=mentor,
            month=month,
            language=language,
            entries=entries,
            moves=moves,
            cards=cards,
            cap=settings.max_students,
            today=today,
            identity=identity,
            mentions=mentions(config) if config is not None and with_mentions else None,
            payments=payments,
        )

    if config is None:
        return [statement(DocumentIdentity(kind=DocumentKind.STATEMENT), False)]
    draft = statement(DocumentIdentity(kind=DocumentKind.DRAFT), True)
    if not month_is_over(month, today):
        return [draft]
    requests = decide_documents(
        mentor=mentor,
        month=month,
        lines_now=draft.lines,
        issued=ledger.documents(mentor=mentor, month=month),
        today=today,
        config=config,
        currency=settings.pay().in_force(month_bounds(month)[0]).currency,
    )
    for request in requests:
        ledger.issue_document(request, prefix=config.number_prefix, at=now)
    issued = ledger.documents(mentor=mentor, month=month)
    if not issued:  # a month with no entry: nothing to invoice
        return [draft]
    return [
        statement_from_lines(
            mentor=mentor,
            month=month,
            language=language,
            lines=lines_from_json(doc.body),
            entries=entries,
            moves=moves,
            cards=cards,
            cap=settings.max_students,
            today=today,
            identity=identity_of(doc),
            # As issued: the seller's details frozen in the ledger with the lines.
            mentions=mentions_from_json(doc.body) or mentions(config),
            payments=payments,
        )
        for doc in issued
    ]


def write_statement(
    app: App, month: str, fmt: str, out: Path | None, mentor_given: str | None
) -> int:
    """The command: writes the file and prints its path."""
    mentor = choose_mentor(app, month, mentor_given)
    path = out or app.settings.export_dir / f"statement-{month}-{mentor}.{fmt}"
    print(write_statement_file(app, month, fmt, path, mentor))
    return EXIT_OK


def write_statement_file(app: App, month: str, fmt: str, path: Path, mentor: str) -> Path:
    if fmt == "csv":
        _write_csv(app, month, mentor, path)
        return path
    if fmt == "html":
        html = render_statement(month_documents(app, month, mentor))
        with atomic_file(path) as handle:
            handle.write(html)
        return path
    # Before anything is issued: a missing Chromium must not cost an invoice number.
    chromium = find_chromium(app.settings.chromium)
    if chromium is None:
        raise ConfigError(CHROMIUM_MISSING)
    html = render_statement(month_documents(app, month, mentor))
    path.parent.mkdir(parents=True, exist_ok=True)
    html_to_pdf(html, path, chromium)
    return path


def _write_csv(app: App, month: str, mentor: str, path: Path) -> None:
    """The month's CSV statement rows of this mentor, as the nightly export writes them."""
    statements = Statements()
    for entry in app.ledger.entries():
        if entry.mentor == mentor:
            statements.add(entry)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(STATEMENT_COLUMNS)
    writer.writerows(statements.rows(month))
    with atomic_file(path) as handle:
        handle.write(buffer.getvalue())
