"""A month's statements (or invoices, credit notes) as one self-contained HTML page.

Printable on A4: each document starts a new page, its charts another. Nothing is fetched
when the page opens (styles and charts are inline, no script, no font or image): the
same file reads the same offline, in a mail, or years later. The view values below hold
only display text; the template escapes every one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from trello_sync.domain.documents import (
    DocumentKind,
    InvoiceMentions,
    Party,
    Statement,
    StatementLine,
)
from trello_sync.domain.money import Money
from trello_sync.domain.rules import Status
from trello_sync.render.entry_labels import defense_label, entry_label, fee_label
from trello_sync.render.figures import Figure, month_figures
from trello_sync.render.labels import Labels, labels_for
from trello_sync.render.templating import render_template


@dataclass(frozen=True)
class LineView:
    entry_id: str
    date: str
    student: str
    project: str
    level: int
    status: str
    share: str
    amount: str
    cents: int
    reversal: bool
    note: str | None  # what a reversal cancels


@dataclass(frozen=True)
class SubtotalView:
    name: str
    count: str
    amount: str
    cents: int


@dataclass(frozen=True)
class PartyView:
    role: str  # "seller" or "client": the block's class
    heading: str
    name: str
    address: tuple[str, ...]
    ids: tuple[str, ...]  # "N° SIRET …" for the seller


@dataclass(frozen=True)
class Mention:
    kind: str  # the paragraph's class: "vat", "terms", "penalty", "indemnity", …
    text: str


@dataclass(frozen=True)
class DocumentView:
    kind: str
    language: str
    title: str
    number: str | None
    number_label: str
    fields: tuple[tuple[str, str, str], ...]  # (class, label, value) of the identity block
    subtitle: str
    note: str | None  # a draft's warning, or the invoice a correction refers to
    parties: tuple[PartyView, ...]
    lines: tuple[LineView, ...]
    by_level: tuple[SubtotalView, ...]
    by_status: tuple[SubtotalView, ...]
    totals: tuple[Money, ...]  # never empty: a month without lines totals 0
    paid: tuple[Money, ...]
    outstanding: tuple[Money, ...]
    mentions: tuple[Mention, ...]
    figures: tuple[Figure, ...]
    t: Labels


def render_statement(documents: Sequence[Statement]) -> str:
    """One HTML5 page holding every document given, in order."""
    if not documents:
        raise ValueError("no statement to render")
    views = [_document(doc, f"d{i}") for i, doc in enumerate(documents)]
    first = views[0]
    if len(views) == 1:
        page_title = " — ".join(
            part
            for part in (
                first.title + (f" {first.number}" if first.number else ""),
                documents[0].mentor,
                first.t.month(documents[0].month),
            )
            if part
        )
    else:
        months = sorted({first.t.month(doc.month) for doc in documents})
        page_title = f"{first.t['documents']} — {', '.join(months)}"
    return render_template(
        "statement.html.j2", lang=first.language, page_title=page_title, documents=views
    )


def _document(doc: Statement, prefix: str) -> DocumentView:
    t = labels_for(doc.language)
    identity = doc.identity
    fields: list[tuple[str, str, str]] = []
    if identity.number:
        fields.append(("number", t["number_label"], identity.number))
    if identity.issued_on:
        fields.append(("issued", t["issued_on"], t.date(identity.issued_on)))
    if identity.due_on:
        fields.append(("due", t["due_on"], t.date(identity.due_on)))
    fields.append(("period", t["period"], t.month(doc.month)))
    fields.append(("mentor", t["mentor"], doc.mentor))

    note = None
    if identity.kind is DocumentKind.DRAFT:
        note = t["draft_note"]
    elif identity.refers_to and identity.kind in (
        DocumentKind.CREDIT_NOTE,
        DocumentKind.SUPPLEMENTARY_INVOICE,
    ):
        note = t.fmt(f"refers_to.{identity.kind.value}", number=identity.refers_to)

    currency = doc.charts.earnings_currency
    return DocumentView(
        kind=identity.kind.value,
        language=t.language,
        title=t.kind(identity.kind),
        number=identity.number,
        number_label=t["number"],
        fields=tuple(fields),
        subtitle=f"{t.month(doc.month)} · {doc.mentor}",
        note=note,
        parties=_parties(doc.mentions, t),
        lines=_lines(doc.lines, t),
        by_level=tuple(
            SubtotalView(t.level(level), t.number(sub.count), t.money(sub.amount), sub.amount.cents)
            for level, sub in sorted(doc.by_level.items())
        ),
        by_status=_by_status(doc, t),
        totals=doc.totals or (Money(0, currency),),
        paid=doc.paid,
        outstanding=doc.outstanding,
        mentions=_mentions(doc, t),
        figures=month_figures(doc.charts, t, prefix),
        t=t,
    )


def _by_status(doc: Statement, t: Labels) -> tuple[SubtotalView, ...]:
    """The sessions per status, then the defenses per status and the monthly fees (the
    last two only in a month that has them)."""
    named = [(t.status(s), doc.by_status[s]) for s in Status if s in doc.by_status]
    named += [
        (defense_label(t, s), doc.by_defense_status[s])
        for s in Status
        if s in doc.by_defense_status
    ]
    if doc.fees is not None:
        named.append((fee_label(t), doc.fees))
    return tuple(
        SubtotalView(name, t.number(sub.count), t.money(sub.amount), sub.amount.cents)
        for name, sub in named
    )


def _lines(lines: Sequence[StatementLine], t: Labels) -> tuple[LineView, ...]:
    by_id = {line.entry_id: line for line in lines}
    views = []
    for line in lines:
        note = None
        if line.reverses_entry_id is not None:
            cancelled = by_id.get(line.reverses_entry_id)
            note = (
                t.fmt(
                    "reversal.of",
                    date=t.date(cancelled.session_date),
                    status=entry_label(t, cancelled.kind, cancelled.status, cancelled.funding),
                )
                if cancelled
                else t["reversal.unknown"]
            )
        views.append(
            LineView(
                entry_id=line.entry_id,
                date=t.date(line.session_date),
                student=line.student,
                project=line.project or t["no_project"],
                level=line.level,
                status=entry_label(t, line.kind, line.status, line.funding),
                share=t.percent(line.share_percent),
                amount=t.money(line.amount),
                cents=line.amount.cents,
                reversal=line.is_reversal,
                note=note,
            )
        )
    return tuple(views)


def _parties(mentions: InvoiceMentions | None, t: Labels) -> tuple[PartyView, ...]:
    if mentions is None:
        return ()
    id_label = t["siren"] if len(mentions.siret.replace(" ", "")) == 9 else t["siret"]
    return (
        PartyView(
            "seller",
            t["seller"],
            _with_ei(mentions.seller.name, t),
            _address(mentions.seller),
            (f"{id_label} {mentions.siret}",),
        ),
        PartyView("client", t["client"], mentions.client.name, _address(mentions.client), ()),
    )


def _with_ei(name: str, t: Labels) -> str:
    """The seller's name followed by "EI" (entrepreneur individuel), once."""
    suffix = t["ei_suffix"]
    return name if name.rstrip().endswith(suffix.strip()) else name.rstrip() + suffix


def _address(party: Party) -> tuple[str, ...]:
    return tuple(line.strip() for line in party.address.split("\n") if line.strip())


def _mentions(doc: Statement, t: Labels) -> tuple[Mention, ...]:
    m = doc.mentions
    if m is None:
        return ()
    due = doc.identity.due_on
    terms = (
        t.fmt("payment_terms_due", days=m.payment_terms_days, due=t.date(due))
        if due
        else t.fmt("payment_terms", days=m.payment_terms_days)
    )
    found = [
        Mention("vat", m.vat_mention),
        Mention("terms", terms),
        Mention("penalty", t.fmt("late_penalty", text=m.late_penalty)),
        Mention("indemnity", t.fmt("recovery", amount=t.money(m.recovery_indemnity))),
    ]
    if m.iban:
        found.append(Mention("iban", t.fmt("iban", iban=m.iban)))
    if m.bic:
        found.append(Mention("bic", t.fmt("bic", bic=m.bic)))
    if m.purchase_order:
        found.append(Mention("purchase-order", t.fmt("purchase_order", number=m.purchase_order)))
    return tuple(found)
