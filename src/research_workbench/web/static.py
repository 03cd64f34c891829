"""Static files: an app's own and the foundation's, served by the app under one mount, never from elsewhere.

The foundation's ``static/`` holds ``web.css`` (the layout, type, tables and forms of ``layout.html``). A
third-party asset is vendored there, never linked from a CDN (the CSP allows only the app's own origin): its file
name carries its exact version (``vendor/NAME-X.Y.Z.min.js``), so a page asks for exactly the file it was tested
with. ``vendor/vendored.json`` records each one's version, source, licence and SHA-256, and a test holds the files
to it: htmx 2.0.11 (0BSD), for the Researcher Workbench's pages.
"""

from __future__ import annotations

from pathlib import Path

from starlette.staticfiles import StaticFiles

FOUNDATION_STATIC = Path(__file__).parent / "static"


def static_files(directory: Path | None = None) -> StaticFiles:
    """The app's static ``directory`` first, then the foundation's (mount it at ``/static``)."""
    return StaticFiles(directory=directory, packages=[(__package__, "static")])
