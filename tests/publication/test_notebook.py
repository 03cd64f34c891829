"""check_notebook: every code cell's outputs — HTML tables, pandas' table schema, plain-text reprs, printed counts."""

from __future__ import annotations

import json

import pytest

from research_workbench.publication import check_notebook
from research_workbench.publication.outputs import html_grids, stated_counts, text_grid

HTML = """<div>
<table border="1" class="dataframe">
  <thead>
    <tr style="text-align: right;">
      <th></th>
      <th>group</th>
      <th>count</th>
    </tr>
  </thead>
  <tbody>
    <tr>
      <th>0</th>
      <td>Male</td>
      <td>{male}</td>
    </tr>
    <tr>
      <th>1</th>
      <td>Female</td>
      <td>30</td>
    </tr>
  </tbody>
</table>
</div>"""

FRAME_REPR = (
    "    race  participants\n"
    "0  Asian  {asian:>12}\n"
    "1  White           250"
)


def code(*outputs: dict) -> dict:
    return {"cell_type": "code", "execution_count": 1, "metadata": {}, "source": ["df\n"], "outputs": list(outputs)}


def shown(data: dict, kind: str = "execute_result") -> dict:
    return {"output_type": kind, "data": data, "metadata": {}, **({"execution_count": 1} if kind == "execute_result" else {})}


def stream(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text.splitlines(keepends=True)}


def notebook(*, male: int = 12, asian: int = 4, women: int = 5, n: int = 12) -> dict:
    resource = {
        "schema": {"fields": [{"name": "index", "type": "integer"}, {"name": "sex", "type": "string"},
                              {"name": "n", "type": "integer"}], "primaryKey": ["index"], "pandas_version": "1.4.0"},
        "data": [{"index": 0, "sex": "F", "n": women}, {"index": 1, "sex": "M", "n": 0}],
    }
    return {
        "nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Analysis\n"]},
            code(shown({"text/html": HTML.format(male=male), "text/plain": "    group  count\n0    Male      3"})),
            code(stream("Cohort built\n"), shown({"text/plain": FRAME_REPR.format(asian=asian)})),
            code(shown({"application/vnd.dataresource+json": resource, "text/html": HTML.format(male=3),
                        "text/plain": "ignored"}, "display_data")),
            code(stream(f"Building cohort...\nn = {n}\ndone\n")),
            code(shown({"image/png": "iVBORw0KGgo=", "text/plain": "<Figure size 640x480 with 1 Axes>"}, "display_data")),
            code({"output_type": "error", "ename": "ValueError", "evalue": "n = 3", "traceback": ["n = 3"]}),
        ],
    }


def test_each_kind_of_output_is_checked_and_named_by_cell_output_row_and_column():
    report = check_notebook(notebook())
    assert [(f.kind, f.where, f.value) for f in report.findings] == [
        ("small_count", 'notebook: cell 2, output 1, row 1, column "count"', 12),
        ("small_count", 'notebook: cell 3, output 2, row 1, column "participants"', 4),
        ("small_count", 'notebook: cell 4, output 1, row 1, column "n"', 5),
        ("small_count", "notebook: cell 5, output 1, line 2", 12),
    ]
    assert report.findings[3].message == ('"n = 12" states a count from 1 to 19; print "<20" instead, or clear the '
                                          "output before the notebook leaves")
    assert report.unchecked == ["notebook: cell 6, output 1: an image (image/png); read any counts on it yourself"]


def test_a_clean_notebook_is_ok():
    report = check_notebook(notebook(male=20, asian=0, women=25, n=120), name="clean.ipynb")
    assert report.ok
    assert report.summary() == "clean.ipynb: ok, no count from 1 to 19 found; 1 part not checked"


def test_a_notebook_file_is_named_by_its_path(tmp_path):
    path = tmp_path / "analysis.ipynb"
    path.write_text(json.dumps(notebook(male=40, asian=40, women=40)))
    assert [f.where for f in check_notebook(path).findings] == [f"{path}: cell 5, output 1, line 2"]
    assert check_notebook(path, threshold=10).ok


def test_several_tables_in_one_output_are_numbered():
    two = HTML.format(male=40) + HTML.format(male=2)
    report = check_notebook({"cells": [code(shown({"text/html": two}))]})
    assert [f.where for f in report.findings] == ['notebook: cell 1, output 1, table 2, row 1, column "count"']


def test_a_printed_frame_and_a_value_counts_series_are_tables():
    printed = "   group  count\n0      A      7\n1      B     70\n"
    series = "sex\nFemale    250\nMale        3\nName: count, dtype: int64"
    report = check_notebook({"cells": [code(stream(printed), shown({"text/plain": series}))]})
    assert [(f.where, f.value) for f in report.findings] == [
        ('notebook: cell 1, output 1, row 1, column "count"', 7),
        ('notebook: cell 1, output 2, row 2, column "count"', 3),
    ]


def test_a_frame_with_a_named_index_and_a_total_row():
    repr_ = ("       n\n"
             "group   \n"
             "A     45\n"
             "B     <20\n"
             "Total 52")
    # Not aligned as pandas aligns: read as lines, and no line states a count.
    assert check_notebook({"cells": [code(shown({"text/plain": repr_}))]}).ok
    aligned = ("         n\n"
               "group     \n"
               "A       45\n"
               "B      <20\n"
               "Total   52")
    report = check_notebook({"cells": [code(shown({"text/plain": aligned}))]})
    assert [(f.kind, f.where, f.value) for f in report.findings] == [
        ("recoverable_by_subtraction", 'notebook: cell 1, output 1, row 3, column "n"', 7)]


def test_html_with_spans_and_a_named_index():
    html = """<table><thead>
      <tr><th></th><th colspan="2">count</th></tr>
      <tr><th>site</th><th>female</th><th>male</th></tr>
    </thead><tbody>
      <tr><th rowspan="2">A</th><td>30</td><td>40</td></tr>
      <tr><td>8</td><td>50</td></tr>
    </tbody></table>"""
    [grid] = html_grids(html)
    assert grid.columns == ["site", "count female", "count male"]
    assert grid.rows == [["A", 30, 40], ["A", 8, 50]]


def test_reprs_as_pandas_prints_them_with_spaces_in_labels_and_rows_left_out():
    grouped = ("          count\n"
               "group          \n"
               "Female       30\n"
               "Male         12\n"
               "New York     25")
    assert text_grid(grouped).columns == ["group", "count"]
    assert text_grid(grouped).rows == [["Female", 30], ["Male", 12], ["New York", 25]]
    truncated = "     n\n0    0\n1    1\n..  ..\n98  98\n99  99\n\n[100 rows x 1 columns]"
    assert text_grid(truncated).rows == [[0, 0], [1, 1], [98, 98], [99, 99]]


def test_prose_is_not_mistaken_for_a_table():
    assert text_grid("Hello world\nThe cohort has 7 participants") is None
    assert text_grid("<Figure size 640x480 with 1 Axes>") is None


@pytest.mark.parametrize(("text", "counts"), [
    ("n = 7", [7]), ("N=7", [7]), ("count: 7", [7]), ("Count = 7", [7]), ("7 participants", [7]),
    ("1 person", [1]), ("cases: 3, controls: 40", [3, 40]), ("(n=1,234)", [1234]), ("1,234 patients", [1234]),
    ("mean=7", []), ("n = 7.5", []), ("3.5 people", []), ("age 7", []), ("v2 people", []),
])
def test_printed_statements_of_a_count(text, counts):
    assert [s.value for s in stated_counts(text)] == counts


def test_what_is_not_a_notebook_is_refused(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text('{"cells": [\n  {"cell_type": }\n]}')
    with pytest.raises(ValueError, match=rf"^{bad}: not a notebook: invalid JSON at line 2, column 17"):
        check_notebook(bad)
    with pytest.raises(ValueError, match=r"^notebook: not a Jupyter notebook: no list of cells$"):
        check_notebook({"metadata": {}})
    with pytest.raises(FileNotFoundError):
        check_notebook(tmp_path / "missing.ipynb")


def test_a_format_3_notebook_needs_nbformat():
    # nbformat is not a dependency: without it the refusal says what to do, with it the notebook is converted.
    try:
        import nbformat  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match=r"^old: a format 3 notebook; open and save it in Jupyter"):
            check_notebook({"nbformat": 3, "worksheets": [{"cells": []}]}, name="old")
    else:
        assert check_notebook({"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": []}]}).ok
