"""A dataset's rows: the participants of its cohorts, the concepts of its concept sets (standard ones with their
descendants), the columns of the catalogue; preview, whole read and the Parquet snapshot with its manifest give
the same rows; bad definitions are refused naming their place and a failed export leaves nothing.

The data is the Cohort Builder's fixture CDR (8 persons; ``tests/cohort_builder/fixture.py``). The cohort
"diabetes (201820 and descendants) or hypertension" holds persons 1, 2, 3, 4, 6 and 7.
"""

from __future__ import annotations

import json
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from research_workbench.cdr.facts import Domain
from research_workbench.cdr.store import sha256_file
from research_workbench.datasets import extract as dx
from research_workbench.datasets.columns import CATALOGUE, DEFAULT_COLUMNS, column_problems

DM_OR_HTN = {"includes": [{"id": "g1", "items": [{"id": "i1", "type": "CONDITION", "searchParameters": [
    {"parameterId": "p1", "domain": "CONDITION", "type": "SNOMED", "conceptId": 201820, "group": True},
    {"parameterId": "p2", "domain": "CONDITION", "type": "SNOMED", "conceptId": 320128}]}]}]}
DIABETES = {"domain": "CONDITION", "concepts": [{"conceptId": 201820, "standard": True}]}
E11_9 = {"domain": "CONDITION", "concepts": [{"conceptId": 45533023, "standard": False}]}


def rows(table, *columns):
    return [tuple(r[c] for c in columns) for r in table.to_pylist()]


def test_a_standard_concept_set_keeps_its_descendants_events_of_the_cohorts_participants(engine):
    plan = dx.plan(engine, dx.DatasetRequest(cohorts=[DM_OR_HTN], concept_sets=[DIABETES], values={
        Domain.CONDITION: ["person_id", "event_id", "standard_concept_name", "source_concept_code", "start_date",
                           "age_at_event", "visit_concept_name"]}))
    assert sorted(plan.persons) == [1, 2, 3, 4, 6, 7]
    assert rows(dx.read(engine, plan, Domain.CONDITION), "person_id", "event_id", "standard_concept_name",
                "source_concept_code", "start_date", "age_at_event", "visit_concept_name") == [
        (1, 1, "Type 2 diabetes mellitus with renal complication", "E11.9", date(2010, 4, 11), 59, "Outpatient Visit"),
        (1, 2, "Type 2 diabetes mellitus without complication", None, date(2011, 1, 1), 60, "Outpatient Visit"),
        (2, 3, "Type 2 diabetes mellitus", None, date(2012, 5, 1), 52, None),
        (2, 4, "Type 2 diabetes mellitus", None, date(2012, 6, 1), 52, None),
        (2, 5, "Type 2 diabetes mellitus", None, date(2013, 1, 1), 53, None),
        (4, 8, "Diabetes mellitus", None, date(2000, 1, 1), 19, None),
        (6, 9, "Type 2 diabetes mellitus", None, date(2019, 1, 1), 18, None),
    ]  # hypertension rows (6, 7, 10) are not of the concept set


def test_a_source_concept_set_matches_the_source_concept_only(engine):
    plan = dx.plan(engine, dx.DatasetRequest(all_participants=True, concept_sets=[E11_9],
                                             values={Domain.CONDITION: ["event_id", "source_vocabulary"]}))
    assert plan.persons is None
    assert rows(dx.read(engine, plan, Domain.CONDITION), "event_id", "source_vocabulary") == [(1, "ICD10CM")]


def test_whole_domains_split_measurements_from_physical_measurements_and_observations_from_surveys(engine):
    plan = dx.plan(engine, dx.DatasetRequest(all_participants=True, whole_domains=[
        Domain.MEASUREMENT, Domain.PHYSICAL_MEASUREMENT, Domain.SURVEY, Domain.OBSERVATION], values={
        Domain.MEASUREMENT: ["person_id", "event_id", "value_as_number"],
        Domain.PHYSICAL_MEASUREMENT: ["person_id", "standard_concept_name", "source_vocabulary", "value_as_number"],
        Domain.SURVEY: ["person_id", "survey", "question", "answer", "questionnaire_response_id"],
        Domain.OBSERVATION: ["person_id"]}))
    assert rows(dx.read(engine, plan, Domain.MEASUREMENT), "person_id", "event_id", "value_as_number") == [
        (1, 1, 7.2), (1, 4, 150.0), (1, 5, 95.0), (2, 2, 6.0), (3, 6, 120.0), (3, 7, 80.0), (4, 3, 8.1)]
    assert rows(dx.read(engine, plan, Domain.PHYSICAL_MEASUREMENT), "person_id", "standard_concept_name",
                "source_vocabulary", "value_as_number") == [(5, "Body height", "PPI", 165.0)]
    assert rows(dx.read(engine, plan, Domain.SURVEY), "person_id", "survey", "question", "answer",
                "questionnaire_response_id") == [
        (5, "The Basics", "Smoking: 100 Cigs Lifetime", "100 Cigs Lifetime: Yes", 500),
        (7, "The Basics", "Smoking: 100 Cigs Lifetime", "100 Cigs Lifetime: No", 501)]
    assert dx.read(engine, plan, Domain.OBSERVATION).num_rows == 0  # the fixture's observations are all answers


def test_demographics_come_from_the_person_table_of_the_cohorts_participants(engine):
    plan = dx.plan(engine, dx.DatasetRequest(cohorts=[DM_OR_HTN], values={
        Domain.PERSON: ["person_id", "date_of_birth", "gender_concept_id", "is_deceased"]}))
    assert rows(dx.read(engine, plan, Domain.PERSON), "person_id", "date_of_birth", "gender_concept_id",
                "is_deceased") == [
        (1, date(1950, 4, 12), 8507, False), (2, date(1960, 1, 1), 8532, False), (3, date(1970, 6, 15), 8532, False),
        (4, date(1980, 3, 3), 8507, False), (6, date(2000, 12, 31), 8507, True), (7, date(1945, 5, 5), 8532, False)]


def test_a_preview_is_the_first_rows_of_the_read_in_the_same_order(engine):
    plan = dx.plan(engine, dx.DatasetRequest(all_participants=True, whole_domains=[Domain.MEASUREMENT], values={
        Domain.MEASUREMENT: [c.name for c in CATALOGUE[Domain.MEASUREMENT]]}))
    whole = dx.read(engine, plan, Domain.MEASUREMENT)
    assert dx.preview(engine, plan, Domain.MEASUREMENT, rows=3).to_pylist() == whole.slice(0, 3).to_pylist()
    assert dx.preview(engine, plan, Domain.MEASUREMENT).num_rows == 7  # fewer than 20 there
    assert whole.schema.names == [c.name for c in CATALOGUE[Domain.MEASUREMENT]]


def test_bad_definitions_are_refused_naming_each_place(engine):
    with pytest.raises(dx.DatasetError) as refused:
        dx.plan(engine, dx.DatasetRequest(values={Domain.CONDITION: ["person_id"], Domain.DRUG: ["nonsense"],
                                                  Domain.FITBIT: ["person_id"]}, whole_domains=[Domain.DRUG]))
    assert [(p.where, p.message) for p in refused.value.problems] == [
        ("cohorts", "choose at least one cohort, or All participants"),
        ("values.CONDITION", "no concept set of the CONDITION domain is chosen: choose one (or the domain's "
                             "prepackaged set) or leave its columns out"),
        ("values.DRUG", "DRUG: no column 'nonsense' (see the column catalogue)"),
        ("values.FITBIT", "FITBIT has no dataset columns"),
    ]
    with pytest.raises(dx.DatasetError, match="values"):
        dx.plan(engine, dx.DatasetRequest(all_participants=True))
    assert column_problems(Domain.DRUG, ["person_id", "value_as_number"]) == [
        "DRUG[1]: no column 'value_as_number' in DRUG (see the column catalogue)"]
    assert all(not column_problems(d, list(names)) for d, names in DEFAULT_COLUMNS.items())


def test_an_export_writes_every_domain_with_a_manifest_that_pins_rows_and_hashes(engine, tmp_path):
    plan = dx.plan(engine, dx.DatasetRequest(cohorts=[DM_OR_HTN], concept_sets=[DIABETES], values={
        Domain.PERSON: ["person_id", "date_of_birth"], Domain.CONDITION: ["person_id", "standard_concept_id"]}))
    seen = []
    manifest = dx.export(engine, plan, tmp_path / "snapshot", about={"dataset": {"id": 4, "name": "DM", "version": 2},
                                                                     "data_version": {"name": "2026Q4"}},
                         extra={"review_3": pa.table({"person_id": [1, 2], "status": ["included", "excluded"]})},
                         progress=lambda done, total, name: seen.append((done, total, name)))
    assert seen == [(0, 3, None), (1, 3, "PERSON"), (2, 3, "CONDITION"), (3, 3, "review_3")]
    on_disk = json.loads((tmp_path / "snapshot" / dx.MANIFEST).read_text())
    assert on_disk == json.loads(json.dumps(manifest, default=str))
    assert (on_disk["format"], on_disk["dataset"], on_disk["participants"]) == (dx.FORMAT, {"id": 4, "name": "DM",
                                                                                            "version": 2}, 6)
    assert {d: (v["file"], v["rows"]) for d, v in on_disk["domains"].items()} == {
        "PERSON": ("person.parquet", 6), "CONDITION": ("condition.parquet", 7)}
    assert on_disk["tables"]["review_3"]["rows"] == 2
    condition = pq.read_table(tmp_path / "snapshot" / "condition.parquet")
    assert condition.to_pylist() == dx.read(engine, plan, Domain.CONDITION).to_pylist()
    assert on_disk["domains"]["CONDITION"]["sha256"] == sha256_file(tmp_path / "snapshot" / "condition.parquet")
    with pytest.raises(FileExistsError):
        dx.export(engine, plan, tmp_path / "snapshot", about={})


def test_a_cancelled_export_leaves_nothing(engine, tmp_path):
    plan = dx.plan(engine, dx.DatasetRequest(all_participants=True, whole_domains=[Domain.DRUG], values={
        Domain.PERSON: ["person_id"], Domain.DRUG: ["person_id"]}))

    def cancel(done, total, name):
        if done == 1:
            raise KeyboardInterrupt  # what a cancelled job's progress callback raises, after a table was written

    with pytest.raises(KeyboardInterrupt):
        dx.export(engine, plan, tmp_path / "out" / "snapshot", about={}, progress=cancel)
    assert list((tmp_path / "out").iterdir()) == []


def test_a_wearable_table_is_taken_whole_and_a_missing_one_is_named(engine, dataset_cdr):
    from research_workbench.cdr.store import Cdr
    from research_workbench.datasets.columns import WEARABLE_TABLES

    held = Cdr(dataset_cdr).manifest.tables
    present = [d for d, t in WEARABLE_TABLES.items() if t in held]
    absent = [d for d, t in WEARABLE_TABLES.items() if t not in held]
    for domain in present:  # the fixture's wearable tables, if it has any, read like the CDR's own rows
        plan = dx.plan(engine, dx.DatasetRequest(all_participants=True, whole_domains=[domain],
                                                 values={domain: [c.name for c in CATALOGUE[domain]]}))
        assert dx.read(engine, plan, domain).num_rows == held[WEARABLE_TABLES[domain]].rows
    for domain in absent:
        with pytest.raises(dx.DatasetError) as refused:
            dx.plan(engine, dx.DatasetRequest(all_participants=True, whole_domains=[domain],
                                              values={domain: ["person_id"]}))
        assert [(p.where, p.message) for p in refused.value.problems] == [
            (f"values.{domain.value}", f"this data version has no {WEARABLE_TABLES[domain]} table: {domain.value} "
                                       "cannot be read from it")]
    assert present or absent
    with pytest.raises(dx.DatasetError, match="no concept set of the FITBIT_ACTIVITY domain"):
        dx.plan(engine, dx.DatasetRequest(all_participants=True, values={Domain.FITBIT_ACTIVITY: ["person_id"]}))


def test_a_fitbit_table_of_a_synthetic_program_is_read_whole_for_the_cohorts_participants(synth_program):
    import duckdb

    from research_workbench.cdr.store import Cdr
    from research_workbench.cohorts.builder.engine import CohortEngine

    engine = CohortEngine(synth_program.parent / "cdr.index", cdr_dir=synth_program)
    try:
        women = {"includes": [{"id": "g", "items": [{"id": "i", "type": "PERSON", "searchParameters": [
            {"parameterId": "p", "domain": "PERSON", "type": "GENDER", "conceptId": 8532}]}]}]}
        plan = dx.plan(engine, dx.DatasetRequest(cohorts=[women], whole_domains=[Domain.FITBIT_ACTIVITY],
                                                 values={Domain.FITBIT_ACTIVITY: ["person_id", "date", "steps"]}))
        rows = dx.read(engine, plan, Domain.FITBIT_ACTIVITY)
        expected = duckdb.connect().execute(
            "SELECT person_id, date, steps FROM read_parquet(?) WHERE list_contains(?, person_id) ORDER BY person_id, date",
            [str(Cdr(synth_program).table_file("activity_summary")), sorted(plan.persons)]).fetchall()
    finally:
        engine.close()
    assert expected and [tuple(r.values()) for r in rows.to_pylist()] == expected
    assert rows.schema.names == ["person_id", "date", "steps"]


def test_a_concept_set_of_another_domain_does_not_choose_a_domains_rows(engine):
    drugs = {"domain": "DRUG", "concepts": [{"conceptId": 1503297, "standard": True}]}
    with pytest.raises(dx.DatasetError) as refused:
        dx.plan(engine, dx.DatasetRequest(cohorts=[DM_OR_HTN], concept_sets=[drugs],
                                          values={Domain.CONDITION: ["person_id"]}))
    assert [p.where for p in refused.value.problems] == ["values.CONDITION"]
    plan = dx.plan(engine, dx.DatasetRequest(cohorts=[DM_OR_HTN], concept_sets=[drugs],
                                             values={Domain.DRUG: ["person_id", "standard_concept_name"]}))
    assert rows(dx.read(engine, plan, Domain.DRUG), "person_id", "standard_concept_name") == [
        (1, "metformin 500 MG Oral Tablet"), (2, "metformin 500 MG Oral Tablet")]  # metformin and its descendants
