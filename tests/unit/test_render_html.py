"""The statement and dashboard pages (render/statement_html.py, render/dashboard_html.py):
self-contained (no script, nothing remote), hostile card names inert, the total as the
ledger counts it, the right title per kind and language, the legal mentions exactly when
they are set, and the same bytes for the same input."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from html.parser import HTMLParser
from importlib import resources

import pytest

from trello_sync.domain.documents import (
    Dashboard,
    DayCount,
    DocumentIdentity,
    DocumentKind,
    FlowMetrics,
    InvoiceMentions,
    MonthBar,
    Party,
    StageDay,
    Statement,
    StatementCharts,
    StatementLine,
    StudentRow,
    Subtotal,
)
from trello_sync.domain.money import Money
from trello_sync.domain.rules import Status
from trello_sync.domain.stages import Stage
from trello_sync.render.dashboard_html import render_dashboard
from trello_sync.render.labels import EN, FR
from trello_sync.render.statement_html import render_statement

SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(1)>'


def eur(cents: int) -> Money:
    return Money(cents, "EUR")


# --- values built by hand, as domain/statement.py would ---------------------------------


def lines() -> tuple[StatementLine, ...]:
    return (
        StatementLine("e1", date(2026, 3, 2), "Alice", "P2", 1, Status.DONE, 100, eur(3500)),
        StatementLine("e2", date(2026, 3, 3), SCRIPT, "P5", 2, Status.DONE, 100, eur(4900)),
        StatementLine("e3", date(2026, 3, 5), BREAKOUT, None, 2, Status.NOSHOW, 50, eur(2450)),
        StatementLine("e4", date(2026, 3, 9), "Alice", "P2", 1, Status.LATE, 50, eur(1750)),
        StatementLine("e5", date(2026, 3, 12), SCRIPT, "P5", 2, Status.DONE, 100, eur(-4900), "e2"),
    )


def charts() -> StatementCharts:
    months = [f"2025-{m:02d}" for m in range(4, 13)] + [f"2026-{m:02d}" for m in (1, 2, 3)]
    return StatementCharts(
        earnings=tuple(MonthBar(m, {1: 5250, 2: 2450}) for m in months),
        earnings_currency="EUR",
        sessions_by_status={Status.DONE: 1, Status.NOSHOW: 1, Status.LATE: 1, Status.CANCEL: 0},
        active_per_day=tuple(DayCount(date(2026, 3, d), d % 10) for d in range(1, 32)),
        cap=8,
    )


def mentions(**changes: object) -> InvoiceMentions:
    value = InvoiceMentions(
        seller=Party("Marie Dupont", "12 rue des Lilas\n75011 Paris"),
        siret="12345678900012",
        client=Party("École & Cie", "1 quai Nord\n69000 Lyon"),
        vat_mention="TVA non applicable, art. 293 B du CGI",
        late_penalty="3 fois le taux d'intérêt légal",
        recovery_indemnity=eur(4000),
        payment_terms_days=30,
        iban="FR76 3000 6000 0112 3456 7890 189",
        bic="AGRIFRPP882",
        purchase_order="PO-42",
    )
    return replace(value, **changes)  # type: ignore[arg-type]


def statement(
    kind: DocumentKind = DocumentKind.STATEMENT,
    language: str = "fr",
    *,
    with_mentions: bool = False,
    paid: Sequence[Money] = (),
    **identity: object,
) -> Statement:
    the_lines = lines()
    total = sum(line.amount.cents for line in the_lines)
    numbered = kind in (
        DocumentKind.INVOICE,
        DocumentKind.CREDIT_NOTE,
        DocumentKind.SUPPLEMENTARY_INVOICE,
    )
    ident = DocumentIdentity(
        kind,
        number="F-0007" if numbered else None,
        issued_on=date(2026, 4, 1) if numbered else None,
        due_on=date(2026, 5, 1) if numbered else None,
    )
    return Statement(
        mentor="marie",
        month="2026-03",
        language=language,
        identity=replace(ident, **identity),  # type: ignore[arg-type]
        lines=the_lines,
        by_level={1: Subtotal(2, eur(5250)), 2: Subtotal(2, eur(2450))},
        by_status={
            Status.DONE: Subtotal(1, eur(3500)),
            Status.NOSHOW: Subtotal(1, eur(2450)),
            Status.LATE: Subtotal(1, eur(1750)),
        },
        totals=(eur(total),),
        charts=charts(),
        mentions=mentions() if with_mentions else None,
        paid=tuple(paid),
        outstanding=tuple(eur(total - m.cents) for m in paid),
    )


def invoice(language: str = "fr") -> Statement:
    return statement(DocumentKind.INVOICE, language, with_mentions=True)


def dashboard(language: str = "fr") -> Dashboard:
    start = date(2025, 12, 16)
    return Dashboard(
        month="2026-03",
        today=date(2026, 3, 15),
        language=language,
        students=(
            StudentRow("Alice", Stage.ACTIVE, "P2", 1, 2, eur(7000), {Stage.ACTIVE: 40}),
            StudentRow(
                SCRIPT,
                Stage.PAUSED,
                None,
                2,
                0,
                eur(2450),
                {Stage.WAITING: 3, Stage.ACTIVE: 20, Stage.PAUSED: 9},
                ("no project",),
            ),
            StudentRow(
                BREAKOUT, None, "P1", 1, 1, eur(3500), {}, ("card deleted", "no session lately")
            ),
        ),
        totals=(eur(12950),),
        active=9,
        cap=8,
        charts=charts(),
        flow=FlowMetrics(
            work_in_progress=9,
            cycle_days=(45, 61, 88, 120),
            active_ages=(12, 40, 61),
            throughput=(("2026-01", 1), ("2026-02", 0), ("2026-03", 2)),
        ),
        cumulative_flow=tuple(
            StageDay(start + timedelta(days=i), {Stage.WAITING: 2, Stage.ACTIVE: 5 + i // 30})
            for i in range(90)
        ),
        needs_a_look=((SCRIPT, ("no project",)), (BREAKOUT, ("card deleted", "no session lately"))),
    )


# --- reading a page back --------------------------------------------------------------------


class Page(HTMLParser):
    """Every start tag with its attributes, the text, and the CSS of <style>."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.css: list[str] = []
        self._stack: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "style":
            self._stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag == "style" and self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        (self.css if self._stack else self.texts).append(data)

    @property
    def text(self) -> str:
        """The visible text, with every run of spaces (no-break ones too) as one space."""
        return re.sub(r"\s+", " ", " ".join(self.texts))

    def with_class(self, name: str) -> list[dict[str, str | None]]:
        return [a for _, a in self.tags if name in (a.get("class") or "").split()]


REMOTE = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)


def assert_self_contained(html: str) -> Page:
    page = Page(html)
    names = [tag for tag, _ in page.tags]
    assert names[0] == "html" and html.startswith("<!DOCTYPE html>")
    for forbidden in ("script", "link", "img", "iframe", "object", "embed", "base", "source"):
        assert forbidden not in names, forbidden
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)  # no event handler
            if name in ("src", "href", "xlink:href", "srcset", "action", "poster", "data"):
                raise AssertionError(f"<{tag} {name}={value!r}> loads something")
            if value and "url(" in value:
                assert re.fullmatch(r"url\(#[\w-]+\)", value), value
        if tag == "meta":
            assert attrs.get("http-equiv") is None  # no refresh to elsewhere
    css = "".join(page.css)
    assert css.strip(), "the style is inline"
    assert "@import" not in css
    assert "@font-face" not in css
    for target in re.findall(r"url\(\s*([^)]*)\)", css):
        assert target.strip("'\" ").startswith(("data:", "#")), target
    for value in re.findall(r"(?:src|href)\s*=\s*[\"']?([^\"' >]+)", html):
        assert not REMOTE.match(value), value
    return page


# --- the statement -------------------------------------------------------------------------


def test_statement_is_self_contained_and_printable_on_a4() -> None:
    html = render_statement([invoice()])
    page = assert_self_contained(html)
    css = "".join(page.css)
    assert re.search(r"@page\s*{[^}]*size:\s*A4", css)
    assert re.search(r"@page\s*{[^}]*margin", css)
    assert "@media print" in css
    assert "break-before: page" in css
    assert re.search(r"tr[^{]*{[^}]*break-inside: avoid", css)
    assert page.tags[0][1].get("lang") == "fr"
    assert any(tag == "meta" and a.get("charset") == "utf-8" for tag, a in page.tags)
    assert len(page.with_class("chart")) == 3  # earnings, by status, active vs cap
    assert len(page.with_class("charts")) == 1  # in their own section


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("name", [SCRIPT, BREAKOUT])
def test_hostile_student_names_come_out_as_text(name: str, language: str) -> None:
    html = render_statement([invoice(language)])
    page = assert_self_contained(html)
    assert name in page.text  # shown, whole, as text
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    assert "onerror" not in {attr for _, attrs in page.tags for attr in attrs}


def test_total_carries_the_net_cents() -> None:
    doc = invoice()
    page = Page(render_statement([doc]))
    (total,) = page.with_class("total")
    assert int(total["data-cents"] or "") == sum(line.amount.cents for line in doc.lines) == 7700
    assert total["data-currency"] == "EUR"
    assert "77,00 € " in page.text + " "


def test_a_month_without_lines_totals_zero() -> None:
    doc = replace(statement(), lines=(), by_level={}, by_status={}, totals=())
    page = Page(render_statement([doc]))
    assert [a["data-cents"] for a in page.with_class("total")] == ["0"]
    assert "Aucune séance ce mois-ci." in page.text


def test_each_line_and_the_reversal_shown_as_such() -> None:
    page = Page(render_statement([invoice("en")]))
    rows = page.with_class("entry")
    assert [r["data-entry"] for r in rows] == ["e1", "e2", "e3", "e4", "e5"]
    reversals = page.with_class("reversal")
    assert [r["data-entry"] for r in reversals] == ["e5"]
    assert reversals[0]["data-cents"] == "-4900"
    assert "Reversal of the line of 3 March 2026 (Session done)" in page.text
    assert "-49.00 EUR" in page.text
    assert "50%" in page.text and "(none)" in page.text


def test_subtotals_per_level_and_per_status() -> None:
    page = Page(render_statement([invoice()]))
    text = page.text
    assert "Sous-totaux par niveau" in text and "Sous-totaux par statut" in text
    assert "Niveau 1 2 52,50 €" in text
    assert "Annulation tardive 1 17,50 €" in text


TITLES = {
    DocumentKind.STATEMENT: ("Relevé", "Statement"),
    DocumentKind.DRAFT: ("Projet de facture", "Draft invoice"),
    DocumentKind.INVOICE: ("Facture", "Invoice"),
    DocumentKind.CREDIT_NOTE: ("Avoir", "Credit note"),
    DocumentKind.SUPPLEMENTARY_INVOICE: ("Facture complémentaire", "Supplementary invoice"),
}


@pytest.mark.parametrize("kind", list(DocumentKind))
@pytest.mark.parametrize("language", ["fr", "en"])
def test_title_per_kind_and_language(kind: DocumentKind, language: str) -> None:
    html = render_statement([statement(kind, language)])
    title = re.search(r'<h1 class="doc-title">(.*?)</h1>', html, re.S)
    assert title is not None
    expected = TITLES[kind][0 if language == "fr" else 1]
    assert re.sub(r"<[^>]+>", "", title.group(1)).startswith(expected)
    article = re.search(r'<article [^>]*lang="(\w+)"[^>]*data-kind="(\w+)"', html)
    assert article is not None and article.groups() == (language, kind.value)
    if kind in (DocumentKind.STATEMENT, DocumentKind.DRAFT):
        assert "F-0007" not in html
    else:
        assert ("N°" if language == "fr" else "No.") + "&nbsp;F-0007" in title.group(1)


def test_legal_mentions_when_set() -> None:
    doc = statement(DocumentKind.INVOICE, with_mentions=True, paid=(eur(5000),))
    page = Page(render_statement([doc]))
    text = page.text
    for expected in (
        "Marie Dupont EI",
        "12 rue des Lilas 75011 Paris",
        "N° SIRET 12345678900012",
        "École & Cie",
        "TVA non applicable, art. 293 B du CGI",
        "Paiement à 30 jours à compter de la date d'émission, soit au plus tard le 1er mai 2026.",
        "Pénalités de retard : 3 fois le taux d'intérêt légal",
        "Indemnité forfaitaire pour frais de recouvrement : 40,00 €",
        "IBAN : FR76 3000 6000 0112 3456 7890 189",
        "BIC : AGRIFRPP882",
        "Bon de commande n° PO-42",
        "Date d'émission 1er avril 2026",
        "Date d'échéance 1er mai 2026",
        "Déjà réglé 50,00 €",
        "Reste à payer 27,00 €",
    ):
        assert expected in text, expected
    assert page.with_class("paid")[0]["data-cents"] == "5000"
    assert page.with_class("outstanding")[0]["data-cents"] == "2700"


def test_legal_mentions_in_english() -> None:
    text = Page(render_statement([invoice("en")])).text
    assert "SIRET no. 12345678900012" in text
    assert "Fixed compensation for recovery costs: 40.00 EUR" in text
    assert "Late payment penalties: 3 fois le taux d'intérêt légal" in text
    assert "by 1 May 2026 at the latest" in text


def test_no_mentions_when_not_set() -> None:
    html = render_statement([statement(DocumentKind.STATEMENT)])
    page = Page(html)
    for absent in ("SIRET", "TVA", "Pénalités", "Indemnité", "IBAN", " EI", "Prestataire"):
        assert absent not in page.text, absent
    assert not page.with_class("mentions") and not page.with_class("parties")
    assert not page.with_class("paid") and not page.with_class("outstanding")


def test_seller_name_gets_ei_once() -> None:
    doc = replace(invoice(), mentions=mentions(seller=Party("Marie Dupont EI", "Paris")))
    assert Page(render_statement([doc])).text.count("Marie Dupont EI") == 1
    siren = replace(invoice(), mentions=mentions(siret="123456789"))
    assert "N° SIREN 123456789" in Page(render_statement([siren])).text


@pytest.mark.parametrize(
    ("kind", "language", "expected"),
    [
        (DocumentKind.CREDIT_NOTE, "fr", "Avoir relatif à la facture n° F-0003"),
        (DocumentKind.CREDIT_NOTE, "en", "Credit note for invoice no. F-0003"),
        (
            DocumentKind.SUPPLEMENTARY_INVOICE,
            "fr",
            "Facture complémentaire à la facture n° F-0003",
        ),
    ],
)
def test_a_correction_refers_to_its_invoice(
    kind: DocumentKind, language: str, expected: str
) -> None:
    doc = statement(kind, language, with_mentions=True, number="A-0008", refers_to="F-0003")
    assert expected in Page(render_statement([doc])).text


def test_draft_says_it_is_not_an_invoice() -> None:
    text = Page(render_statement([statement(DocumentKind.DRAFT)])).text
    assert "ce document n'est pas une facture" in text


def test_several_documents_one_page_each_with_distinct_ids() -> None:
    docs = [invoice(), statement(DocumentKind.STATEMENT, "en")]
    html = render_statement(docs)
    page = assert_self_contained(html)
    assert len([t for t, _ in page.tags if t == "article"]) == 2
    assert len(page.with_class("total")) == 2
    ids = [a["id"] for _, a in page.tags if a.get("id")]
    assert len(ids) == len(set(ids)), "pattern ids repeat across documents"
    for ref in re.findall(r"url\(#([\w-]+)\)", html):
        assert ref in ids


def test_statement_is_deterministic() -> None:
    docs = [invoice(), statement(DocumentKind.CREDIT_NOTE, refers_to="F-0001")]
    assert render_statement(docs) == render_statement(list(docs))


def test_no_statement_is_an_error() -> None:
    with pytest.raises(ValueError, match="no statement"):
        render_statement([])


# --- the dashboard -------------------------------------------------------------------------


def test_dashboard_is_self_contained_and_made_for_screens() -> None:
    html = render_dashboard(dashboard())
    page = assert_self_contained(html)
    assert any(
        tag == "meta"
        and a.get("name") == "viewport"
        and "width=device-width" in (a["content"] or "")
        for tag, a in page.tags
    )
    assert "system-ui" in "".join(page.css)
    charts = [a for a in page.with_class("chart")]
    assert len(charts) == 4  # earnings, by status, active vs cap, cumulative flow
    assert any("chart-cfd" in (a.get("class") or "") for a in charts)


@pytest.mark.parametrize("name", [SCRIPT, BREAKOUT])
def test_dashboard_hostile_names_inert(name: str) -> None:
    html = render_dashboard(dashboard())
    page = assert_self_contained(html)
    assert name in page.text
    assert "<script>" not in html and "<img" not in html


def test_dashboard_students_flow_and_looks() -> None:
    page = Page(render_dashboard(dashboard()))
    text = page.text
    rows = page.with_class("student")
    assert [r["data-stage"] for r in rows] == ["active", "paused", "none"]
    assert [r["data-cents"] for r in rows] == ["7000", "2450", "3500"]
    assert "Alice En cours P2 1 2 70,00 €" in text
    # time in stage, per student
    assert "Temps passé par étape (jours)" in text
    assert "3 j 20 j 9 j —" in text
    # the needs-a-look list, with the reason in the page's language
    assert f"{SCRIPT} — sans projet" in text
    # one line a student, with every reason
    assert f"{BREAKOUT} — carte supprimée; pas de séance depuis longtemps" in text
    assert len(page.with_class("who")) == 2
    assert f"{FR['kpi.look']} 2" in text  # two students, three reasons
    # flow metrics, with what they mean
    for expected in (
        "Travail en cours 9",
        "74,5 j (médiane)",
        "de 45 j à 120 j, sur 4 élèves",
        "40 j (médiane)",
        "de 12 j à 61 j, sur 3 élèves",
        FR["flow.wip.def"],
        FR["flow.cycle.def"],
        FR["flow.age.def"],
        FR["flow.throughput.def"],
        "Le temps passé en pause compte dans l'âge d'un accompagnement",
        "Débit 3 élèves",
    ):
        assert re.sub(r"\s+", " ", expected) in text, expected
    assert "9 / 8 plafond recommandé : 8 — dépassé" in text


def test_dashboard_in_english() -> None:
    text = Page(render_dashboard(dashboard("en"))).text
    assert "Dashboard — March 2026" in text
    assert re.sub(r"\s+", " ", EN["flow.policy"]) in text
    assert "Paused time counts inside a mentorship's age" in text
    assert "74.5 d (median)" in text
    assert "Cycle time" in text and "Throughput" in text and "Work in progress" in text


def test_dashboard_without_anything() -> None:
    empty = replace(
        dashboard(),
        students=(),
        totals=(),
        needs_a_look=(),
        cumulative_flow=(),
        flow=FlowMetrics(0, (), (), ()),
    )
    text = assert_self_contained(render_dashboard(empty)).text
    assert "Rien à signaler." in text
    assert "aucun élève" in text
    assert "0,00 €" in text


def test_dashboard_is_deterministic() -> None:
    assert render_dashboard(dashboard()) == render_dashboard(dashboard())


def test_templates_are_package_data() -> None:
    folder = resources.files("trello_sync.render") / "templates"
    names = {entry.name for entry in folder.iterdir()}
    assert {"statement.html.j2", "dashboard.html.j2", "style.css"} <= names


@pytest.mark.parametrize(
    "bad",
    [
        '<link rel="stylesheet" href="https://cdn.example/x.css">',
        '<img src="x">',
        "<script>1</script>",
        '<style>@import "https://x/y.css";</style>',
        "<style>body { background: url(https://x/y.png); }</style>",
        '<div style="background: url(//x/y.png)"></div>',
        '<a href="//example.org">x</a>',
        '<svg><image href="https://x/y.png"/></svg>',
        '<div onclick="x()"></div>',
    ],
)
def test_the_self_contained_check_catches_what_it_must(bad: str) -> None:
    html = render_statement([invoice()]).replace("</main>", bad + "</main>")
    with pytest.raises(AssertionError):
        assert_self_contained(html)
