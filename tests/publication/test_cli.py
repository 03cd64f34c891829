"""``workbench publication check``: exit 0 when clean, 1 when something must not leave, 2 when a file cannot be read."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from research_workbench.cli.commands import app

runner = CliRunner()


def write(path, text: str):
    path.write_text(text)
    return str(path)


def test_a_clean_file_exits_0(tmp_path):
    clean = write(tmp_path / "clean.csv", "group,n\nA,0\nB,20\n")
    result = runner.invoke(app, ["publication", "check", clean])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{clean}: ok, no count from 1 to 19 found\n"


def test_a_small_count_exits_1_with_one_line_per_finding(tmp_path):
    small = write(tmp_path / "small.csv", "group,n\nA,7\nB,20\n")
    result = runner.invoke(app, ["publication", "check", small])
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines() == [
        f'{small}: row 1, column "n": small_count: 7 is a count from 1 to 19; suppress it (show "<20") or combine '
        "groups until every count is 0 or at least 20",
        f"{small}: 1 finding (1 small count): must not leave the Workbench as it is",
    ]


def test_threshold_and_counts_options(tmp_path):
    path = write(tmp_path / "t.csv", "group,female\nA,7\nB,25\n")
    assert runner.invoke(app, ["publication", "check", path]).exit_code == 0
    assert runner.invoke(app, ["publication", "check", path, "--counts", "all"]).exit_code == 1
    assert runner.invoke(app, ["publication", "check", path, "--counts", "all", "--threshold", "7"]).exit_code == 0
    assert runner.invoke(app, ["publication", "check", path, "--threshold", "0"]).exit_code == 2
    assert runner.invoke(app, ["publication", "check", path, "--counts", "some"]).exit_code == 2


def test_json_prints_one_document(tmp_path):
    clean = write(tmp_path / "clean.csv", "group,n\nA,30\n")
    small = write(tmp_path / "small.tsv", "group\tn\nA\t3\n")
    result = runner.invoke(app, ["publication", "check", clean, small, "--json"])
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout) == {
        "ok": False,
        "threshold": 20,
        "files": [
            {"source": clean, "ok": True, "threshold": 20, "findings": [], "unchecked": []},
            {"source": small, "ok": False, "threshold": 20, "unchecked": [], "findings": [
                {"kind": "small_count", "where": f'{small}: row 1, column "n"', "value": 3,
                 "message": '3 is a count from 1 to 19; suppress it (show "<20") or combine groups until every count '
                            "is 0 or at least 20"}]},
        ],
    }


def test_a_file_that_cannot_be_read_exits_2_naming_it(tmp_path):
    unknown = write(tmp_path / "notes.txt", "n = 3\n")
    bad = write(tmp_path / "bad.csv", "group,n\nA,30,1\n")
    missing = str(tmp_path / "missing.csv")
    for path, message in [
        (unknown, f"{unknown}: cannot check a .txt file; the checker reads .csv, .tsv, .parquet, .ipynb"),
        (bad, f"{bad}, line 2: 3 fields where the header has 2"),
        (missing, f"{missing}: No such file or directory"),
    ]:
        result = runner.invoke(app, ["publication", "check", path])
        assert result.exit_code == 2, result.output
        assert " ".join(result.stderr.split()) == f"Error: {message}"
        result = runner.invoke(app, ["publication", "check", path, "--json"])
        assert result.exit_code == 2
        assert json.loads(result.stdout)["files"] == [{"source": path, "error": message}]


def test_an_unreadable_file_outranks_findings_in_another(tmp_path):
    small = write(tmp_path / "small.csv", "group,n\nA,3\n")
    result = runner.invoke(app, ["publication", "check", small, str(tmp_path / "missing.csv")])
    assert result.exit_code == 2
    assert f'{small}: row 1, column "n": small_count' in result.stdout
