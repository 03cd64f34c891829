"""The ``workbench`` command: every typer module of the project lives in this package.

``commands`` assembles the application from one module per stage (``load``, ``cdr``, ``synth``, ``curate``,
``index``, ``cohort``, ``circe``, ``browser``); ``output`` is their shared plumbing (progress bars, ``--json``, the
one error reporter). Stages below expose plain functions and never import this package. Each command imports
its stage when it runs, so ``workbench --help`` loads no stage at all.
"""

from .commands import app, main

__all__ = ["app", "main"]
