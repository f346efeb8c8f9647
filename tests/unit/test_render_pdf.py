"""PDF through the real headless Chromium (render/pdf.py), read back with pdftotext.

Chromium and pdftotext are installed wherever these tests run (CI installs them): a
missing one is a failure with the install hint, never a skip."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from trello_sync.domain.documents import (
    DayCount,
    DocumentIdentity,
    DocumentKind,
    InvoiceMentions,
    MonthBar,
    Party,
    Statement,
    StatementCharts,
    StatementLine,
    Subtotal,
)
from trello_sync.domain.money import Money
from trello_sync.domain.rules import Status
from trello_sync.render.pdf import (
    CHROMIUM_MISSING,
    PdfError,
    chromium_command,
    find_chromium,
    html_to_pdf,
)
from trello_sync.render.statement_html import render_statement


def eur(cents: int) -> Money:
    return Money(cents, "EUR")


def small_invoice() -> Statement:
    lines = (
        StatementLine("e1", date(2026, 3, 2), "Alice", "P2", 1, Status.DONE, 100, eur(3500)),
        StatementLine("e2", date(2026, 3, 9), "Bruno", "P5", 2, Status.DONE, 100, eur(4900)),
        StatementLine(
            "e3", date(2026, 3, 12), "Bruno", "P5", 2, Status.DONE, 100, eur(-4900), "e2"
        ),
    )
    return Statement(
        mentor="marie",
        month="2026-03",
        language="fr",
        identity=DocumentIdentity(
            DocumentKind.INVOICE, "F-0042", issued_on=date(2026, 4, 1), due_on=date(2026, 5, 1)
        ),
        lines=lines,
        by_level={1: Subtotal(1, eur(3500)), 2: Subtotal(0, eur(0))},
        by_status={Status.DONE: Subtotal(1, eur(3500))},
        totals=(eur(3500),),
        charts=StatementCharts(
            earnings=tuple(MonthBar(f"2025-{m:02d}", {1: 3500 * m}) for m in range(1, 13)),
            earnings_currency="EUR",
            sessions_by_status={s: 0 for s in Status} | {Status.DONE: 1},
            active_per_day=tuple(DayCount(date(2026, 3, d), 3) for d in range(1, 32)),
            cap=8,
        ),
        mentions=InvoiceMentions(
            seller=Party("Marie Dupont", "12 rue des Lilas\n75011 Paris"),
            siret="12345678900012",
            client=Party("École Numérique SAS", "1 quai Nord\n69000 Lyon"),
            vat_mention="TVA non applicable, art. 293 B du CGI",
            late_penalty="3 fois le taux d'intérêt légal",
            recovery_indemnity=eur(4000),
            payment_terms_days=30,
        ),
    )


def chromium() -> str:
    found = find_chromium(os.environ.get("TRELLO_SYNC_CHROMIUM"))
    if found is None:
        pytest.fail(CHROMIUM_MISSING)
    return found


def pdf_text(path: Path) -> str:
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.fail("pdftotext is missing: apt install poppler-utils")
    done = subprocess.run(
        [pdftotext, "-enc", "UTF-8", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return re.sub(r"\s+", " ", done.stdout)  # no-break spaces and line ends alike


def test_an_invoice_prints_to_a_pdf_that_says_what_the_law_asks(tmp_path: Path) -> None:
    target = tmp_path / "out" / "F-0042.pdf"
    html_to_pdf(render_statement([small_invoice()]), target, chromium())
    assert target.read_bytes().startswith(b"%PDF-")
    text = pdf_text(target)
    for expected in (
        "Facture",
        "F-0042",
        "TVA non applicable, art. 293 B du CGI",
        "SIRET",
        "Marie Dupont EI",
        "Pénalités de retard : 3 fois le taux d'intérêt légal",
        "Indemnité forfaitaire pour frais de recouvrement : 40,00 €",
        "Date d'échéance",
        "1er mai 2026",
        "35,00 €",
    ):
        assert expected in text, expected
    # the page header and footer Chromium would print (date, file path) are off
    assert "file://" not in text
    assert not list(tmp_path.glob("out/.*.part"))


def test_the_pdf_is_a4(tmp_path: Path) -> None:
    target = tmp_path / "a4.pdf"
    html_to_pdf(render_statement([small_invoice()]), target, chromium())
    pdfinfo = shutil.which("pdfinfo")
    if pdfinfo is None:
        pytest.fail("pdfinfo is missing: apt install poppler-utils")
    info = subprocess.run([pdfinfo, str(target)], capture_output=True, text=True, check=True)
    assert re.search(r"Page size:\s+59[45](\.\d+)? x 84[12](\.\d+)? pts", info.stdout), info.stdout


def test_a_credit_note_pdf_names_its_invoice(tmp_path: Path) -> None:
    credit = replace(
        small_invoice(),
        identity=DocumentIdentity(
            DocumentKind.CREDIT_NOTE,
            "F-0043",
            issued_on=date(2026, 4, 3),
            due_on=date(2026, 5, 3),
            refers_to="F-0042",
        ),
    )
    target = tmp_path / "avoir.pdf"
    html_to_pdf(render_statement([credit]), target, chromium())
    text = pdf_text(target)
    assert "Avoir" in text and "Avoir relatif à la facture n° F-0042" in text


# --- failures, with stand-ins for Chromium -------------------------------------------------


def script(folder: Path, name: str, body: str) -> str:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_a_failing_chromium_is_one_clear_line(tmp_path: Path) -> None:
    fake = script(
        tmp_path, "chromium", 'echo "ERROR:dbus noise" >&2; echo "boom: no display" >&2; exit 3'
    )
    target = tmp_path / "x.pdf"
    with pytest.raises(PdfError) as caught:
        html_to_pdf("<p>x</p>", target, fake)
    message = str(caught.value)
    assert "\n" not in message
    assert message == "chromium failed (exit status 3): boom: no display"
    assert not target.exists()


def test_a_chromium_that_writes_nothing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PdfError, match="wrote no PDF"):
        html_to_pdf("<p>x</p>", tmp_path / "x.pdf", script(tmp_path, "chromium", "exit 0"))


def test_a_hung_chromium_is_stopped(tmp_path: Path) -> None:
    fake = script(tmp_path, "chromium", "sleep 30 & sleep 30")
    with pytest.raises(PdfError, match="did not finish"):
        html_to_pdf("<p>x</p>", tmp_path / "x.pdf", fake, timeout=0.5)


def test_a_program_that_cannot_run(tmp_path: Path) -> None:
    with pytest.raises(PdfError, match="cannot run"):
        html_to_pdf("<p>x</p>", tmp_path / "x.pdf", str(tmp_path / "nowhere"))


def test_the_command_uses_a_private_profile_and_no_header(tmp_path: Path) -> None:
    command = chromium_command("chromium", tmp_path / "a.html", tmp_path / "a.pdf", tmp_path)
    assert command[0] == "chromium"
    assert "--headless" in command and "--no-pdf-header-footer" in command
    assert f"--user-data-dir={tmp_path}" in command
    assert f"--print-to-pdf={tmp_path / 'a.pdf'}" in command
    assert command[-1] == (tmp_path / "a.html").as_uri()


# --- finding Chromium ----------------------------------------------------------------------


def test_find_chromium_prefers_the_configured_executable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = script(tmp_path, "my-chrome", "exit 0")
    assert find_chromium(mine) == mine


def test_find_chromium_falls_back_to_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fallback = script(bin_dir, "chromium-browser", "exit 0")
    monkeypatch.setenv("PATH", str(bin_dir))
    not_executable = tmp_path / "plain"
    not_executable.write_text("")
    assert find_chromium(str(not_executable)) == fallback
    assert find_chromium(None) == fallback
    assert find_chromium(str(tmp_path / "missing")) == fallback


def test_find_chromium_none_when_there_is_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_chromium() is None
    assert "apt install chromium" in CHROMIUM_MISSING
    assert "TRELLO_SYNC_CHROMIUM" in CHROMIUM_MISSING
    assert "\n" not in CHROMIUM_MISSING
