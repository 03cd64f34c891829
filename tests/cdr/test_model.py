"""The CDR model: OMOP CDM 5.4 in full plus the program's extensions, as the issue lists them."""

from __future__ import annotations

from research_workbench.cdr.model import cdm

CDM54_TABLES = {
    "person", "observation_period", "visit_occurrence", "visit_detail", "condition_occurrence", "drug_exposure",
    "procedure_occurrence", "device_exposure", "measurement", "observation", "death", "note", "note_nlp", "specimen",
    "fact_relationship", "location", "care_site", "provider", "payer_plan_period", "cost", "drug_era", "dose_era",
    "condition_era", "episode", "episode_event", "metadata", "cdm_source", "concept", "vocabulary", "domain",
    "concept_class", "concept_relationship", "relationship", "concept_synonym", "concept_ancestor",
    "source_to_concept_map", "drug_strength", "cohort", "cohort_definition",
}

WEARABLE_COLUMNS = {
    "activity_summary": "person_id date activity_calories calories_bmr calories_out elevation fairly_active_minutes floors "
    "lightly_active_minutes marginal_calories sedentary_minutes steps very_active_minutes",
    "heart_rate_summary": "person_id date zone_name min_heart_rate max_heart_rate minute_in_zone calorie_count",
    "heart_rate_intraday": "person_id datetime heart_rate_value",
    "steps_intraday": "person_id datetime steps",
    "sleep_daily_summary": "person_id sleep_date is_main_sleep minute_in_bed minute_asleep minute_after_wakeup minute_awake "
    "minute_restless minute_deep minute_light minute_rem minute_wake",
    "sleep_level": "person_id sleep_date is_main_sleep level start_datetime duration_in_min",
    "device": "person_id device_id device_date battery battery_level device_version device_type last_sync_time",
}


def test_model_holds_every_cdm_54_table():
    assert CDM54_TABLES <= set(cdm().tables)


def test_cdm_54_columns_of_visit_occurrence_are_the_54_names():
    names = cdm().table("visit_occurrence").column_names
    assert "admitted_from_concept_id" in names and "discharged_to_concept_id" in names
    assert "admitting_source_concept_id" not in names


def test_wearable_tables_have_the_listed_columns_then_src_id():
    for table, columns in WEARABLE_COLUMNS.items():
        assert cdm().table(table).column_names == columns.split() + ["src_id"], table


def test_provenance_ext_tables_key_each_event_row_to_its_source():
    for base in ("observation", "measurement", "condition_occurrence", "drug_exposure", "procedure_occurrence",
                 "device_exposure", "visit_occurrence", "survey_conduct"):
        ext = cdm().table(f"{base}_ext")
        assert ext.column_names[:2] == [f"{base}_id", "src_id"]
        assert ext.primary_key == (f"{base}_id",)


def test_program_extensions_are_present():
    model = cdm()
    assert "questionnaire_response_id" in model.table("observation").column_names
    assert {"state_of_residence_concept_id", "sex_at_birth_concept_id"} <= set(model.table("person_ext").column_names)
    death = model.table("death")
    assert death.primary_key == ("death_id",)  # not person_id: several records per person are allowed
    assert death.column("primary_death_record").required
    assert model.table("survey_conduct").primary_key == ("survey_conduct_id",)
    assert model.table("wear_study").column_names == ["person_id", "resultsconsent_wear", "wear_consent_start_date", "wear_consent_end_date"]


def test_primary_key_columns_are_required():
    for table in cdm().tables.values():
        for key in table.primary_key:
            assert table.column(key).required, f"{table.name}.{key}"


def test_arrow_schema_follows_the_model_types():
    schema = cdm().table("sleep_level").arrow_schema()
    assert [str(f.type) for f in schema] == ["int64", "date32[day]", "string", "string", "timestamp[us]", "double", "string"]
    assert not schema.field("person_id").nullable and schema.field("src_id").nullable


def test_the_zip3_socioeconomic_map_is_an_area_level_table_keyed_by_the_three_digit_zip():
    table = cdm().table("zip3_ses_map")
    assert (table.category, table.origin, table.primary_key) == ("program", "aou", ("zip3",))
    assert table.person_column is None and table.event_date_column is None  # areas, not participants
    assert [(c.name, c.type, c.required) for c in table.columns] == [
        ("zip3", "string", True), ("fraction_assisted_income", "float", False),
        ("fraction_high_school_edu", "float", False), ("median_income", "float", False),
        ("fraction_no_health_ins", "float", False), ("fraction_poverty", "float", False),
        ("fraction_vacant_housing", "float", False), ("deprivation_index", "float", False),
        ("acs_year", "int", True)]
    assert not [i for i in cdm().identifiers() if i.table == "zip3_ses_map"]  # identifies no one
