"""The Cohort Builder's executor on Spark: the same counts, ids, pages, results and breakdowns as on the embedded
path, for a handful of definitions with known participants over the tiny CDR with genomes
(``tests/cohort_builder/fixture.py``): demographics, a condition with its descendants, a temporal relation, a variant
criterion, an exclusion and a data filter."""

from __future__ import annotations

import pytest

from research_workbench.cohorts.builder.engine import CohortEngine
from research_workbench.cohorts.builder.model import parse_definition
from research_workbench.cohorts.builder.results import cohort_results
from research_workbench.index.build import default_index_path

from ..cohort_builder import fixture as f


def _item(kind, concept=None, *, vocabulary="SNOMED", group=False, temporal_group=None, variant=None):
    param = {"parameterId": "p", "domain": kind, "type": vocabulary, "group": group}
    if concept is not None:
        param["conceptId"] = concept
    if variant is not None:
        param["variant"] = variant
    item = {"id": f"i{kind}{concept}", "type": kind, "searchParameters": [param]}
    if temporal_group is not None:
        item["temporalGroup"] = temporal_group
    return item


FEMALE = _item("PERSON", 8532, vocabulary="GENDER")
T2DM_AND_DESCENDANTS = _item("CONDITION", f.T2DM, group=True)
CASES = {
    "demographics": ({"includes": [{"id": "g", "items": [FEMALE]}]}, [2, 3, 5, 7]),
    "condition_with_descendants": ({"includes": [{"id": "g", "items": [T2DM_AND_DESCENDANTS]}]}, [1, 2, 6]),
    "temporal_first_drug_5_days_before_condition": ({"includes": [{
        "id": "g", "temporal": True, "mention": "FIRST_MENTION", "time": "X_DAYS_BEFORE", "timeValue": 5,
        "items": [_item("DRUG", f.METFORMIN, vocabulary="RXNORM", temporal_group=0),
                  _item("CONDITION", f.T2DM, group=True, temporal_group=1)]}]}, [1, 2]),
    "variant_carriers": ({"includes": [{"id": "g", "items": [
        _item("WHOLE_GENOME_VARIANT", vocabulary="VARIANT", variant={"rsids": ["rs7903146"]})]}]}, [1, 2, 4]),
    "not_female": ({"includes": [{"id": "g", "items": [T2DM_AND_DESCENDANTS]}],
                    "excludes": [{"id": "x", "items": [FEMALE]}]}, [1, 6]),
    "data_filter": ({"includes": [{"id": "g", "items": [FEMALE]}], "dataFilters": ["has_ehr_data"]}, [2, 3, 7]),
}


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    return default_index_path(f.build(tmp_path_factory.mktemp("spark-cb"), genomes=True))


@pytest.fixture(scope="module")
def engines(index_dir, spark_engine):
    embedded = CohortEngine(index_dir)
    on_spark = CohortEngine(index_dir, engine=spark_engine)
    yield {"duckdb": embedded, "spark": on_spark}
    embedded.close()
    on_spark.close()


def test_on_an_engine_the_concept_bitmaps_are_not_used_so_every_count_is_the_engines(engines):
    assert engines["duckdb"].accelerate and engines["duckdb"].concept_bitmaps
    assert not engines["spark"].accelerate and not engines["spark"].concept_bitmaps


@pytest.mark.parametrize("name", CASES)
def test_counts_and_ids_are_the_same_on_spark_as_embedded(name, engines):
    document, expected = CASES[name]
    definition = parse_definition(document)
    # Spark's time is kept small: its count statement (the same tree, counted) once, below; ids for every case.
    assert {n: engine.person_ids(definition).tolist() for n, engine in engines.items()} == {"duckdb": expected,
                                                                                           "spark": expected}


def test_a_count_is_the_same_on_spark(engines):
    definition = parse_definition(CASES["variant_carriers"][0])
    assert engines["spark"].count(definition)[0] == engines["duckdb"].count(definition)[0] == 3


def test_pages_of_ids_are_the_same_on_spark(engines):
    definition = parse_definition(CASES["demographics"][0])
    assert [engines["spark"].participant_ids(definition, page, 3) for page in (0, 1)] == [[2, 3, 5], [7]]


def test_results_with_attrition_and_demographics_are_the_same_on_spark(engines):
    definition = parse_definition(CASES["not_female"][0])
    results = {name: cohort_results(engine, definition).as_dict() for name, engine in engines.items()}
    for answer in results.values():
        answer.pop("milliseconds")
    assert results["spark"] == results["duckdb"]
    assert results["spark"]["count"] == 2
    assert sum(row["count"] for row in results["spark"]["demographics"]["gender"]) == 2


def test_breakdowns_are_the_same_on_spark(engines):
    definition = parse_definition(CASES["condition_with_descendants"][0])
    breakdown = engines["spark"].breakdown(definition)
    assert breakdown == engines["duckdb"].breakdown(definition)
    assert sum(row["count"] for row in breakdown["race"]) == 3


def test_the_count_and_ids_commands_run_on_spark(index_dir, engines):
    import json

    from typer.testing import CliRunner

    from research_workbench.cli.cohort import cohort_app

    definition = index_dir.parent / "not_female.json"
    definition.write_text(json.dumps(CASES["not_female"][0]))
    common = [str(definition), "--cdr", str(index_dir.parent / "cdr"), "--json", "--engine", "spark"]
    counted = CliRunner().invoke(cohort_app, ["count", *common])
    listed = CliRunner().invoke(cohort_app, ["ids", *common])
    assert counted.exit_code == listed.exit_code == 0, counted.output + listed.output
    assert json.loads(counted.stdout)["count"] == 2
    assert json.loads(listed.stdout)["person_ids"] == [1, 6]
