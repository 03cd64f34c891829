"""Real OMOP CDMs nobody here wrote load with every table's row count equal to their README's."""

from __future__ import annotations

import pytest

from research_workbench.cdr.info import cdr_info
from research_workbench.cdr.manifest import Manifest
from research_workbench.ingest import LoadError, load_omop_folder

from ..conftest import readme_row_counts

pytestmark = pytest.mark.datasets


def test_gibleed_loads_with_readme_row_counts(gibleed_dir, gibleed_cdr):
    expected = readme_row_counts(gibleed_dir)
    assert len(expected) == 37
    manifest = Manifest.read(gibleed_cdr)
    loaded = {name: manifest.tables[name].rows for name in expected if name in manifest.tables}
    assert loaded == {name: rows for name, rows in expected.items() if name != "cohort_attribute"}  # 5.4 dropped it
    assert manifest.source_cdm_version == "5.3.1"
    assert manifest.vocabulary_version == "v5.0 18-JAN-19"


def test_gibleed_duplicate_ids_are_counted_in_the_manifest(gibleed_cdr):
    tables = Manifest.read(gibleed_cdr).tables
    assert {n: t.duplicate_key_rows for n, t in tables.items() if t.duplicate_key_rows} == {
        "drug_exposure": 4384, "measurement": 2183, "observation": 6,
    }


def test_gibleed_without_allow_duplicate_keys_is_refused_naming_the_table(gibleed_dir, tmp_path):
    with pytest.raises(LoadError) as caught:
        load_omop_folder(gibleed_dir, tmp_path / "cdr")
    assert caught.value.problems[0].file == "drug_exposure.csv.gz"
    assert caught.value.problems[0].column == "drug_exposure_id"
    assert not (tmp_path / "cdr").exists()


def test_gibleed_info_reports_persons_dates_and_vocabulary(gibleed_cdr):
    info = cdr_info(gibleed_cdr)
    assert info["persons"] == 2694
    assert info["event_date_range"] == {"min": "1908-09-22", "max": "2019-07-01"}
    assert info["vocabulary_version"] == "v5.0 18-JAN-19"
    assert info["tables"]["condition_occurrence"]["rows"] == 65332


def test_synthea27nj_loads_with_readme_row_counts(synthea_dir, tmp_path):
    expected = readme_row_counts(synthea_dir)
    assert len(expected) == 39
    result = load_omop_folder(synthea_dir, tmp_path / "cdr")
    assert {name: result.manifest.tables[name].rows for name in expected} == expected
    assert result.manifest.source_cdm_version == "5.4"
    assert result.warnings == []
