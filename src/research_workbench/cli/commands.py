"""The ``workbench`` application: one sub-command group per stage of the data flow."""

from __future__ import annotations

import typer

from .. import __version__
from . import cdr, cohort, index, load
from .browser import browser_app
from .curate import curate, release_app
from .genomics import genomics_app
from .genomics_gwas import gwas
from .genomics_pca import frequencies, pca, phewas
from .publication import publication_app
from . import data_versions  # noqa: F401  (adds publish, versions, set-default, archive to release_app)
from .spark_app import spark_app
from .synth import synth
from .workbench_app import admin_app, audit_app, serve

app = typer.Typer(
    name="workbench",
    help="Research Workbench: load, curate, release and study a research program's participant data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # see output.command_group
)
app.command("synth")(synth)
app.add_typer(load.app, name="load")
app.add_typer(cdr.app, name="cdr")
app.command("curate")(curate)
app.add_typer(release_app, name="release")
app.command("index")(index.index)
app.add_typer(index.criteria_app, name="criteria")
app.add_typer(cohort.cohort_app, name="cohort")
app.add_typer(cohort.conceptset_app, name="conceptset")
app.add_typer(browser_app, name="browser")
app.command("serve")(serve)
app.command("spark-app")(spark_app)
app.add_typer(admin_app, name="admin")
app.add_typer(audit_app, name="audit")
app.add_typer(publication_app, name="publication")
genomics_app.command("gwas")(gwas)
genomics_app.command("pca")(pca)
genomics_app.command("phewas")(phewas)
genomics_app.command("frequencies")(frequencies)
app.add_typer(genomics_app, name="genomics")


def _version(value: bool) -> None:
    if value:
        print(__version__)
        raise typer.Exit()


@app.callback()
def root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit.")) -> None:
    """Research Workbench."""


def main() -> None:
    app()
