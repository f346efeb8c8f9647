"""The month's documents as a person reads them: HTML pages with inline SVG charts, and
PDF through a headless Chromium. The data comes from trello_sync/domain/documents.py;
every text shown is chosen here (labels.py), in the document's language."""

from trello_sync.render.dashboard_html import render_dashboard
from trello_sync.render.labels import Labels, labels_for
from trello_sync.render.pdf import CHROMIUM_MISSING, PdfError, find_chromium, html_to_pdf
from trello_sync.render.statement_html import render_statement

__all__ = [
    "CHROMIUM_MISSING",
    "Labels",
    "PdfError",
    "find_chromium",
    "html_to_pdf",
    "labels_for",
    "render_dashboard",
    "render_statement",
]
