"""The shape of the code: the import contracts of pyproject.toml hold, no module imports itself through others, and
the ``workbench`` command loads no stage before a command runs."""

from __future__ import annotations

import graphlib
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[1]


def test_import_contracts_of_pyproject_hold():
    # import-linter reads [tool.importlinter] from pyproject.toml in the working directory; its report names each
    # broken contract and the import chain that breaks it.
    result = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports())"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr


def test_no_import_cycles_between_modules():
    graph = grimp.build_graph("research_workbench", exclude_type_checking_imports=True)
    sorter = graphlib.TopologicalSorter({m: graph.find_modules_directly_imported_by(m) for m in graph.modules})
    try:
        sorter.prepare()
    except graphlib.CycleError as err:
        pytest.fail("import cycle: " + " → ".join(err.args[1]))


def test_workbench_help_loads_no_stage():
    """``workbench --help`` (and building the command tree) imports typer and the CLI layer only: each command
    imports its stage when it runs. What is measured in time is in bench/bench_cli.py."""
    code = (
        "import sys; from research_workbench.cli import app; sys.argv = ['workbench', '--help']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "heavy = ('duckdb', 'pyarrow', 'numpy', 'sqlglot', 'pydantic', 'fastapi', 'pysam', 'research_workbench.ingest',"
        " 'research_workbench.synth', 'research_workbench.curation', 'research_workbench.index',"
        " 'research_workbench.cohorts', 'research_workbench.browser', 'research_workbench.web',"
        " 'research_workbench.state', 'research_workbench.accounts', 'research_workbench.workbench', 'sqlalchemy')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(heavy)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"
