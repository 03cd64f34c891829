"""The rules, in the order they run: clean (both tiers, once) → de-identify (per tier) → post-de-id clean.

Like sqlglot's optimizer, curation is an ordered list of small rules; the order is the list below, and the
comments say which rule must come before which.
"""

from __future__ import annotations

from ..rule import Rule, Stage, Tier
from .clean_concepts import domain_alignment, standard_concept_replacement, zero_concept_rows
from .clean_dates import data_after_deactivation, end_before_start, invalid_death_dates, records_after_cutoff, records_after_death, records_before_birth_or_too_old
from .clean_duplicates import duplicate_ids, duplicate_rows
from .clean_measurements import drug_refills_days_supply, lab_unit_normalisation, latest_physical_measurement, physical_measurement_ranges
from .clean_persons import birth_year_out_of_range, persons_without_data, under_age_at_consent, unknown_persons, withdrawn_participants
from .clean_surveys import free_text_string_fields, free_text_survey_answers, orphaned_survey_conduct, survey_skip_logic
from .clean_wearables import invalid_sleep_levels, orphaned_child_rows
from .deid_common import birth_month_and_day, device_ids, identifying_tables, person_ids, program_concepts_rule, row_ids, sample_ids, site_masking, survey_response_ids
from .deid_controlled import zip3
from .deid_registered import (
    age_89_or_over,
    controlled_tier_tables,
    date_shift,
    generalise_education,
    generalise_employment,
    generalise_gender_identity,
    generalise_person_race_ethnicity,
    generalise_race,
    generalise_sex_at_birth,
    generalise_sexual_orientation,
    recent_concepts,
    small_states,
    zip_codes,
)

RULES: tuple[Rule, ...] = (
    # --- clean: both tiers, run once -------------------------------------------------------------------------
    duplicate_rows,  # first: later rules count rows and ids
    duplicate_ids,
    withdrawn_participants,
    under_age_at_consent,
    birth_year_out_of_range,
    unknown_persons,
    invalid_death_dates,  # before records_after_death, which reads death dates
    records_before_birth_or_too_old,
    records_after_death,
    data_after_deactivation,
    records_after_cutoff,  # before end_before_start: a capped end date may then precede its start
    end_before_start,
    zero_concept_rows,
    standard_concept_replacement,  # before domain_alignment: the standard concept decides the domain
    domain_alignment,
    physical_measurement_ranges,  # before latest_physical_measurement: an outlier must not hide a valid value
    latest_physical_measurement,
    lab_unit_normalisation,
    drug_refills_days_supply,
    survey_skip_logic,
    free_text_survey_answers,
    free_text_string_fields,
    invalid_sleep_levels,
    orphaned_survey_conduct(Stage.CLEAN),  # after every rule that removes answers
    persons_without_data(Stage.CLEAN),
    orphaned_child_rows(Stage.CLEAN),  # last: after every rule that removes rows
    # --- de-identify: per tier ---------------------------------------------------------------------------------
    program_concepts_rule,  # first: generalised answers take their codes from the vocabulary
    age_89_or_over,
    recent_concepts,
    generalise_race,
    generalise_person_race_ethnicity,  # after generalise_race: every source of the person's race, EHR included
    generalise_gender_identity,  # before generalise_sex_at_birth: compares identity with the original sex at birth
    generalise_sex_at_birth,
    generalise_sexual_orientation,
    generalise_education,
    generalise_employment,
    small_states,
    zip_codes,
    controlled_tier_tables,  # with zip_codes: what the zip answers would join to
    zip3,
    birth_month_and_day,
    identifying_tables,
    row_ids,  # first of the whole-table remaps: its range check reads the tables before any remap is pending
    site_masking,
    device_ids,
    sample_ids,
    survey_response_ids,
    date_shift,  # before person_ids: the shift is looked up by person_id
    person_ids,  # last de-identification rule
    # --- post-de-identification clean: per tier -----------------------------------------------------------------
    orphaned_survey_conduct(Stage.POST_DEID),
    persons_without_data(Stage.POST_DEID),
    orphaned_child_rows(Stage.POST_DEID),
)

STAGE_ORDER = (Stage.CLEAN, Stage.DEID, Stage.POST_DEID)


def rules_for(stage: Stage, tier: Tier | None = None) -> list[Rule]:
    """The rules of ``stage`` (for ``tier``, when given) in run order."""
    return [r for r in RULES if r.stage == stage and (tier is None or r.applies_to(tier))]


def rule_named(name: str, stage: Stage | None = None) -> Rule:
    for rule in RULES:
        if rule.name == name and (stage is None or rule.stage == stage):
            return rule
    raise KeyError(name)


__all__ = ["RULES", "STAGE_ORDER", "rule_named", "rules_for"]
