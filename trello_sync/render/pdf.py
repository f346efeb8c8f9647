"""HTML to PDF through a headless Chromium, the one print engine that reads the page's
CSS (@page, breaks) as a browser does.

Chromium runs with a throwaway profile in a temporary folder (it never touches the
user's own), without the page's header and footer (date and file path), and under a
time limit. A failure is one line in `PdfError`; a PDF appears at its path complete or
not at all.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_MISSING = (
    "Chromium was not found: install Chromium (Debian/Ubuntu: apt install chromium) "
    "or set TRELLO_SYNC_CHROMIUM to its path"
)
CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT_SECONDS = 60.0


class PdfError(RuntimeError):
    """The PDF could not be written; the message is one line for the mentor."""


def find_chromium(configured: str | None = None) -> str | None:
    """The configured program if it is an executable (a path, or a name on PATH), else
    the first of chromium, chromium-browser, google-chrome found on PATH."""
    if configured:
        path = Path(configured).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        found = shutil.which(configured)
        if found:
            return found
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_command(chromium: str, page: Path, pdf: Path, profile: Path) -> list[str]:
    return [
        chromium,
        # The new headless mode is what `--headless` means since Chromium 132.
        "--headless",
        "--no-sandbox",  # the sandbox needs user namespaces, often missing in containers
        "--disable-gpu",
        # Chromium ≥ 120 spells it --no-pdf-header-footer; older ones read the second.
        "--no-pdf-header-footer",
        "--print-to-pdf-no-header",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--print-to-pdf={pdf}",
        page.as_uri(),
    ]


def html_to_pdf(
    html: str, pdf_path: Path, chromium: str, *, timeout: float = TIMEOUT_SECONDS
) -> None:
    """Print `html` to `pdf_path` with `chromium`; raises PdfError when it cannot."""
    with tempfile.TemporaryDirectory(prefix="trello-sync-pdf-") as folder:
        work = Path(folder)
        page, out, profile = work / "document.html", work / "document.pdf", work / "profile"
        page.write_text(html, encoding="utf-8")
        profile.mkdir()
        _run(chromium_command(chromium, page, out, profile), timeout)
        if not out.is_file() or out.stat().st_size == 0:
            raise PdfError(f"{Path(chromium).name} ran but wrote no PDF")
        with out.open("rb") as head:
            if head.read(5) != b"%PDF-":
                raise PdfError(f"{Path(chromium).name} wrote something that is not a PDF")
        # Copied next to the target, then renamed over it: never a half-written PDF.
        pdf_path.parent.mkdir(parents=True, exist_ok=True)
        partial = pdf_path.with_name(f".{pdf_path.name}.part")
        try:
            shutil.copyfile(out, partial)
            os.replace(partial, pdf_path)
        except OSError as error:
            partial.unlink(missing_ok=True)
            raise PdfError(f"cannot write {pdf_path}: {error.strerror or error}") from error


def _run(command: list[str], timeout: float) -> None:
    name = Path(command[0]).name
    try:
        # Its own process group, so a hung Chromium goes with all its helper processes.
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as error:
        raise PdfError(f"cannot run {command[0]}: {error.strerror or error}") from error
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise PdfError(f"{name} did not finish printing the PDF within {timeout:g} s") from None
    if process.returncode != 0:
        reason = _last_error(stderr)
        raise PdfError(
            f"{name} failed (exit status {process.returncode})" + (f": {reason}" if reason else "")
        )


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    # A helper that left the group would still hold the pipes: stop waiting for it.
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.communicate(timeout=5)


def _last_error(stderr: str) -> str:
    """The last line of Chromium's output worth showing: it logs D-Bus noise on every run
    without a desktop session, which says nothing about the failure."""
    lines = [
        line.strip()
        for line in stderr.splitlines()
        if line.strip() and "dbus" not in line.lower() and "unexpected operator" not in line
    ]
    return lines[-1][:200] if lines else ""
