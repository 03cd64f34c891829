"""The publication check where researchers work: the workspace's page (pasted or chosen CSV, TSV or notebook) and
the SDK's ``publication_check`` (data frames, Arrow, files) give the same findings as the CLI, each placed."""

from __future__ import annotations

import json
import re
from html import unescape

import pandas as pd
import polars as pl
import pyarrow as pa

from research_workbench.sdk import publication_check

from .cohort_data import cohort_ws, fixture_cdr  # noqa: F401
from .conftest import post

PAGE = "/workspaces/study/publication-check"


def cells(html: str) -> list[list[str]]:
    body = html.split('id="findings"', 1)[1]
    return [[unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S) if "<td>" in row]


def test_a_pasted_table_with_a_small_count_is_held_back_with_its_place(cohort_ws):
    reader = cohort_ws.sign_in("reader@state.edu")
    answer = post(reader, PAGE, {"format": "csv", "content": "condition,participants\nasthma,120\ngout,7\n"},
                  form_page=PAGE)
    assert answer.status_code == 200
    rows = cells(answer.text)
    assert [r[:3] for r in rows] == [['pasted.csv: row 2, column "participants"', "small count", "7"]]
    assert "1 finding: this must not leave as it is" in answer.text


def test_a_clean_table_and_a_notebook_output_are_checked(cohort_ws):
    client = cohort_ws.client
    clean = post(client, PAGE, {"format": "tsv", "content": "group\tn\nA\t40\nB\t0\n"}, form_page=PAGE)
    assert clean.status_code == 200 and "Nothing to hold back" in clean.text
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "execution_count": 1, "metadata": {}, "source": "print(n)",
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "n = 12\n"}]}]}
    answer = post(client, PAGE, {"format": "ipynb", "content": json.dumps(notebook)}, form_page=PAGE)
    assert [r[:3] for r in cells(answer.text)] == [["pasted.ipynb: cell 1, output 1, line 1", "small count", "12"]]


def test_bad_input_is_refused_naming_the_field(cohort_ws):
    client = cohort_ws.client
    empty = post(client, PAGE, {"format": "csv", "content": "  "}, form_page=PAGE)
    assert empty.status_code == 422 and "paste the table or notebook, or choose its file" in empty.text
    wrong = post(client, PAGE, {"format": "xlsx", "content": "a,b\n1,2\n"}, form_page=PAGE)
    assert wrong.status_code == 422 and "choose one of csv, tsv, ipynb" in wrong.text
    ragged = post(client, PAGE, {"format": "csv", "content": "a,n\nx,40\ny,1,2\n"}, form_page=PAGE)
    assert ragged.status_code == 422 and "line 3" in unescape(ragged.text)
    notebook = post(client, PAGE, {"format": "ipynb", "content": "{not json"}, form_page=PAGE)
    assert notebook.status_code == 422


def test_the_page_is_for_members_only(cohort_ws):
    from .conftest import ALL_RT, make_user
    outsider = make_user(cohort_ws.wb, "outsider@state.edu", modules=ALL_RT).sign_in()
    assert outsider.get(PAGE).status_code == 404


def test_the_sdk_checks_data_frames_arrow_and_files(tmp_path):
    frame = {"site": ["a", "b", "total"], "cases": [30, 25, 57]}  # the total hides 2 more cases
    for results in (pd.DataFrame(frame), pl.DataFrame(frame), pa.table(frame)):
        report = publication_check(results)
        assert [(f.kind, f.where, f.value) for f in report.findings] == [
            ("recoverable_by_subtraction", 'table: row 3, column "cases"', 2)], type(results)
    path = tmp_path / "results.csv"
    path.write_text("site,cases\na,30\nb,5\n")
    assert [f.where for f in publication_check(path).findings] == [f'{path}: row 2, column "cases"']
    assert publication_check(pd.DataFrame({"site": ["a"], "cases": [25]})).ok
