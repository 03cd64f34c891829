"""Page templates: an app's own Jinja2 templates on top of the foundation's layout.

The foundation's ``templates/`` holds ``layout.html`` (the document every page is: head with the icon, the
foundation's stylesheet and a ``head`` block for the app's own, a ``header``, ``main`` and ``footer``), a bare
``base.html`` and ``error.html`` (the error page, which extends ``base.html``). An app keeps its templates in its
own directories, searched first: its ``base.html`` extends ``layout.html`` and fills the blocks, and its pages
extend its ``base.html``. Nothing inline: the CSP (``headers.py``) would block it, so CSS and JS are static files.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

FOUNDATION_TEMPLATES = Path(__file__).parent / "templates"


def template_environment(*directories: Path) -> Environment:
    """Templates from ``directories`` (the app's, in order), then from the foundation, autoescaped."""
    loader = ChoiceLoader([FileSystemLoader([Path(d) for d in directories]), FileSystemLoader(FOUNDATION_TEMPLATES)])
    return Environment(loader=loader, autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
