"""The demo's statement, invoice and dashboard in a real browser: Debian's Chromium,
driven by Playwright, loading the files the demo wrote.

Each page must load with no console error and no network request (nothing remote:
one self-contained file), show the ledger's total, and draw one mark per month, status
and stage, each with its label. The invoice printed to PDF by `trello-sync statement
--format pdf` must carry the mentions French law asks of a micro-entrepreneur's invoice
(read back with pdftotext). Screenshots land in a temporary folder; with
TRELLO_SYNC_UPDATE_SCREENSHOTS=1 they replace the README's (docs/screenshots/).
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from rich.console import Console

from trello_sync.clock import FakeClock
from trello_sync.demo import DEMO_SELLER, run_demo
from trello_sync.domain.summary import month_of
from trello_sync.ledger.open import open_ledger
from trello_sync.render.pdf import find_chromium

ROOT = Path(__file__).parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
UPDATE = os.environ.get("TRELLO_SYNC_UPDATE_SCREENSHOTS") == "1"
PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
LAST_MONTH, THIS_MONTH = "2026-10", "2026-11"
MENTOR = "camille_mentor"


@dataclass
class Demo:
    folder: Path

    @property
    def exports(self) -> Path:
        return self.folder / "exports"

    @property
    def ledger_url(self) -> str:
        return f"sqlite:///{self.folder / 'ledger.db'}"

    def statement(self, month: str) -> Path:
        return self.exports / f"statement-{month}-{MENTOR}.html"

    def ledger_cents(self, month: str) -> int:
        with open_ledger(self.ledger_url) as ledger:
            return sum(
                e.amount_cents
                for e in ledger.entries()
                if e.mentor == MENTOR and month_of(e.session_date) == month
            )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("demo")
    root, ours = logging.getLogger(), logging.getLogger("trello_sync")
    handlers, levels = list(root.handlers), (root.level, ours.level)
    quiet = Console(file=io.StringIO(), width=120)
    assert run_demo(folder, clock=FakeClock(NOW), seed=7, tz=PARIS, console=quiet) == 0
    yield Demo(folder)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(levels[0])
    ours.setLevel(levels[1])


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = find_chromium()
    assert chromium, "Chromium is needed (CI installs Debian's chromium)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


@dataclass
class Loaded:
    page: Page
    console_errors: list[str]
    requests: list[str]


def load(browser: Browser, path: Path, width: int = 1100) -> Loaded:
    page = browser.new_page(viewport={"width": width, "height": 1400})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return Loaded(page, errors, requests)


def screenshot(loaded: Loaded, name: str, tmp_path: Path) -> Path:
    shot = tmp_path / name
    loaded.page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000  # something was drawn
    if UPDATE:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        # The README's copy: the top of the page, small enough to commit.
        loaded.page.screenshot(path=str(SCREENSHOTS / name), full_page=False)
    return shot


def only_itself(loaded: Loaded, path: Path) -> None:
    assert loaded.console_errors == []
    assert loaded.requests == [path.as_uri()], "the page asked for something beyond itself"


def marks(page: Page, kind: str) -> list[tuple[str, str]]:
    """(data value, <title> text) of every mark of a kind: month, status, stage, …"""
    found = page.eval_on_selector_all(
        f"svg .mark.{kind}",
        "els => els.map(e => [e.dataset[Object.keys(e.dataset)[0]] || '',"
        " (e.querySelector('title') || {}).textContent || ''])",
    )
    return [(str(a), str(b)) for a, b in found]


def test_the_invoice_loads_alone_and_shows_the_ledgers_total(demo, browser, tmp_path):
    path = demo.statement(LAST_MONTH)
    loaded = load(browser, path)
    only_itself(loaded, path)
    page = loaded.page
    text = page.inner_text("body")
    assert "Facture" in text and "DEMO-0001" in text
    assert "TVA non applicable, art. 293 B du CGI" in text
    total = page.get_attribute(".total[data-cents]", "data-cents")
    assert total is not None and int(total) == demo.ledger_cents(LAST_MONTH) > 0
    months = [m for m, _ in marks(page, "month")]
    assert len(set(months)) == 12 and months[-1].startswith(LAST_MONTH)
    assert all(title for _, title in marks(page, "month"))
    statuses = marks(page, "status")
    assert {s for s, _ in statuses} == {"done", "noshow", "late", "cancel"}
    assert all(title for _, title in statuses)
    days = marks(page, "day")
    assert [d for d, _ in days] == [f"{LAST_MONTH}-{n:02d}" for n in range(1, 32)]
    assert all(title for _, title in days)
    assert page.locator("svg .mark.cap title").count() == 1  # the cap line, labelled
    screenshot(loaded, "statement.png", tmp_path)


def test_this_months_draft_has_no_number(demo, browser):
    path = demo.statement(THIS_MONTH)
    loaded = load(browser, path)
    only_itself(loaded, path)
    text = loaded.page.inner_text("body")
    assert "Projet de facture" in text and "DEMO-" not in text
    total = loaded.page.get_attribute(".total[data-cents]", "data-cents")
    assert total is not None and int(total) == demo.ledger_cents(THIS_MONTH)


def test_the_dashboard_loads_alone_with_its_charts_and_definitions(demo, browser, tmp_path):
    path = demo.exports / "index.html"
    loaded = load(browser, path)
    only_itself(loaded, path)
    page = loaded.page
    text = page.inner_text("body")
    for student in ("Gaëlle Roux", "Inès Garnier"):
        assert student in text
    # In French: the demo's seller makes French its documents' language.
    for words in ("Travail en cours", "Durée de cycle", "Âge des accompagnements", "Débit"):
        assert words in text
    assert "Le temps passé en pause compte" in text  # the policy for paused time is stated
    stages = {s for s, _ in marks(page, "stage")}
    assert stages == {"waiting", "active", "paused", "handed_off"}
    assert all(title for _, title in marks(page, "stage"))
    assert len({m for m, _ in marks(page, "month")}) == 12
    screenshot(loaded, "dashboard.png", tmp_path)


def test_the_dashboard_reads_on_a_phone(demo, browser):
    loaded = load(browser, demo.exports / "index.html", width=390)
    wide = loaded.page.evaluate("document.documentElement.scrollWidth")
    assert wide <= 400, "the page scrolls sideways on a phone"


def test_the_readme_shows_screenshots_small_enough_to_commit():
    readme = (ROOT / "README.md").read_text("utf-8")
    for name in ("statement.png", "dashboard.png"):
        shot = SCREENSHOTS / name
        assert f"docs/screenshots/{name}" in readme
        assert shot.is_file() and 5_000 < shot.stat().st_size < 400_000


def test_the_invoice_as_pdf_carries_the_mentions_the_law_asks(demo, tmp_path):
    config = tmp_path / "trello-sync.toml"
    lines = ["[invoice]"]
    for key, value in DEMO_SELLER.items():
        shown = str(value).replace("\n", "\\n")
        lines.append(f"{key} = {value}" if isinstance(value, int) else f'{key} = "{shown}"')
    config.write_text("\n".join(lines) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLO")}
    env.update(
        TRELLO_SYNC_CONFIG=str(config),
        TRELLO_SYNC_DATABASE_URL=demo.ledger_url,
        TRELLO_SYNC_TIMEZONE="Europe/Paris",
    )
    pdf = tmp_path / "invoice.pdf"
    done = subprocess.run(
        [sys.executable, "-m", "trello_sync", "statement", "--month", LAST_MONTH,
         "--format", "pdf", "--out", str(pdf), "--mentor", MENTOR],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert pdf.read_bytes().startswith(b"%PDF")
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    for mention in (
        "Facture",
        "DEMO-0001",  # the same number as the demo issued: issued once
        "Camille Martin EI",
        "73282932000074",
        "Plateforme Éducative SAS",
        "TVA non applicable, art. 293 B du CGI",
        "Date d'échéance",
        "Pénalités de retard",
        "40,00",
        "FR76",
    ):
        assert mention in text, mention


def test_without_chromium_a_pdf_is_one_line_and_exit_2(demo, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLO")}
    env.update(
        TRELLO_SYNC_DATABASE_URL=demo.ledger_url,
        PATH=str(tmp_path),  # no chromium on it
        TRELLO_SYNC_CHROMIUM=str(tmp_path / "nowhere"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "trello_sync", "statement", "--month", LAST_MONTH,
         "--format", "pdf", "--out", str(tmp_path / "x.pdf")],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "chromium" in done.stderr.lower()
    assert not (tmp_path / "x.pdf").exists()
