"""Notebooks written by ``write_notebook`` run: Python with the python3 kernel, R with IRkernel, and R calling
Python through reticulate (with this environment's Python, as the notebook servers set ``RETICULATE_PYTHON``)."""

from __future__ import annotations

import os
import shutil
import sys

import nbformat
from nbclient import NotebookClient

from research_workbench.workspaces.notebooks import write_notebook

from ..conftest import need


def run(path, kernel: str, env: dict | None = None):
    book = nbformat.read(path, as_version=4)
    old = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        NotebookClient(book, kernel_name=kernel, timeout=120, resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return book


def stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def test_a_python_notebook_runs_with_exact_output(tmp_path):
    path = write_notebook(tmp_path, "study", "Sum", [("markdown", "# A sum"), ("code", "print(sum(range(5)))"),
                                                    ("code", "6 * 7")], "python")
    book = run(path, "python3")
    assert stdout(book.cells[1]) == "10\n"
    assert book.cells[2].outputs[0]["data"]["text/plain"] == "42"


def need_r() -> None:
    from research_workbench.workbench.notebooks.spawner import r_available

    need(shutil.which("R") is not None and r_available(),
         "R and IRkernel are not installed (apt-get install r-base-core r-cran-irkernel r-cran-reticulate)")


def test_an_r_notebook_runs_with_the_ir_kernel(tmp_path):
    need_r()
    path = write_notebook(tmp_path, "study", "R sum", [("code", "cat(1 + 1)"), ("code", "x <- c(2, 4, 6)\ncat(mean(x))")],
                          "r")
    book = run(path, "ir")
    assert (stdout(book.cells[0]), stdout(book.cells[1])) == ("2", "4")


def test_an_r_notebook_imports_python_through_reticulate(tmp_path):
    need_r()
    path = write_notebook(tmp_path, "study", "Reticulate", [
        ("code", "library(reticulate)\njson <- import('json')\ncat(json$dumps(list(1L, 'a')))"),
        ("code", "sys <- import('sys')\ncat(sys$executable)"),
        ("code", "sdk <- import('research_workbench.sdk.client')\ncat(sdk$ENV_WORKSPACE)"),
    ], "r")
    book = run(path, "ir", {"RETICULATE_PYTHON": sys.executable})
    assert stdout(book.cells[0]) == '[1, "a"]'
    assert stdout(book.cells[1]) == sys.executable
    assert stdout(book.cells[2]) == "RW_WORKSPACE"  # the Workbench's SDK, from R
