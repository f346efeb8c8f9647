"""The Jinja2 environment shared by the HTML documents.

Autoescape is on for every template: card names, projects, addresses come from Trello
or the mentor's settings and are shown as text, never as markup. The only markup put in
unescaped is the SVG this package writes itself (svg.py escapes its own texts), passed
through `Markup`. Undefined names fail loudly instead of printing nothing.
"""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

__all__ = ["Markup", "render_template"]


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("trello_sync.render", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_template(name: str, **context: object) -> str:
    return _environment().get_template(name).render(**context)
