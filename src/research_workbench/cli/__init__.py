"""The ``workbench`` command.

The application lives in ``commands.py`` and is loaded on first use of ``app`` or ``main``, so that any stage's
CLI module can import the shared helpers in ``cli.output`` without importing the whole application (and with it,
itself) first.
"""

from __future__ import annotations


def __getattr__(name: str):
    if name in ("app", "main"):
        from . import commands

        return getattr(commands, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
