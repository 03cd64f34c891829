"""Two cohorts side by side on the fixture CDR (fixture.py): exact overlap, demographics, prevalences and d.

Cohort A is type 2 diabetes with its descendants (persons 1, 2, 6), cohort B essential hypertension (2, 3, 7).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyroaring import BitMap

from research_workbench.cdr.facts import Domain
from research_workbench.cohorts.builder.engine import CohortEngine
from research_workbench.cohorts.compare import (
    CompareError,
    Overlap,
    compare_cohorts,
    concept_names,
    ids_bitmap,
    overlap,
    prevalence_by_bitmaps,
    prevalence_by_sql,
    standardized_difference,
)
from research_workbench.index.build import default_index_path

from . import fixture as f
from .test_features import cohort, group, item, metformin, param, t2dm

T2DM_COHORT = cohort(group(t2dm()))
HTN_COHORT = cohort(group(item("CONDITION", param("CONDITION", f.HTN))))
THIRD, TWO_THIRDS = 1 / 3, 2 / 3


@pytest.fixture(scope="module")
def cdr(tmp_path_factory):
    return f.build(tmp_path_factory.mktemp("compare"))


@pytest.fixture(scope="module", params=[True, False], ids=["accelerated", "sql"])
def engine(cdr, request):
    """Cohorts are run both ways: bitmaps with SQL fragments, and the one SQL statement."""
    engine = CohortEngine(default_index_path(cdr), accelerate=request.param)
    yield engine
    engine.close()


@pytest.fixture(params=["bitmaps", "sql"])
def method(request):
    return request.param


def rows(comparison, key):
    """A demographic as (value, label, count A, count B, share A, share B)."""
    (demographic,) = [d for d in comparison.demographics if d.key == key]
    return [(r.value, r.label, r.count_a, r.count_b, r.share_a, r.share_b) for r in demographic.rows]


def concepts(comparison, domain):
    """A domain's differences as (concept, name, count A, count B, prevalence A, prevalence B, d)."""
    (found,) = [d for d in comparison.differences if d.domain is domain]
    return [(c.concept_id, c.name, c.count_a, c.count_b, c.prevalence_a, c.prevalence_b, c.d) for c in found.concepts]


# -- the standardised difference --------------------------------------------------------------------------------

def test_standardized_difference_is_the_difference_over_the_pooled_binary_spread():
    assert standardized_difference(0.5, 0.25) == pytest.approx(0.25 / math.sqrt((0.25 + 0.1875) / 2))
    assert standardized_difference(0.25, 0.5) == pytest.approx(-0.25 / math.sqrt((0.25 + 0.1875) / 2))
    assert standardized_difference(THIRD, 0.0) == pytest.approx(1.0)


def test_standardized_difference_is_zero_for_equal_prevalences_including_none_and_all():
    assert standardized_difference(0.0, 0.0) == 0.0
    assert standardized_difference(1.0, 1.0) == 0.0
    assert standardized_difference(0.4, 0.4) == 0.0


def test_standardized_difference_is_infinite_when_one_cohort_has_all_and_the_other_none():
    assert standardized_difference(1.0, 0.0) == math.inf
    assert standardized_difference(0.0, 1.0) == -math.inf


# -- overlap -----------------------------------------------------------------------------------------------------

def test_overlap_counts_each_side_both_either_and_the_jaccard_index(engine, method):
    found = compare_cohorts(engine, T2DM_COHORT, HTN_COHORT, method=method).overlap
    assert found == Overlap(only_a=2, only_b=2, both=1)
    assert (found.size_a, found.size_b, found.union, found.jaccard) == (3, 3, 5, 0.2)


def test_overlap_of_disjoint_nested_and_empty_cohorts():
    assert overlap(BitMap([1, 2]), BitMap([3])) == Overlap(2, 1, 0)
    assert overlap(BitMap([1, 2, 3]), BitMap([2])) == Overlap(2, 0, 1)
    empty = overlap(BitMap(), BitMap())
    assert (empty.union, empty.jaccard) == (0, 0.0)


# -- demographics ------------------------------------------------------------------------------------------------

def test_demographics_count_and_share_each_cohort_by_gender(engine):
    # A: 1 M, 2 F, 6 M; B: 2 F, 3 F, 7 F. Most participants first; the fixture's vocabulary has no gender names.
    assert rows(compare_cohorts(engine, T2DM_COHORT, HTN_COHORT), "gender") == [
        (8532, "Concept 8532", 1, 3, THIRD, 1.0), (8507, "Concept 8507", 2, 0, TWO_THIRDS, 0.0)]


def test_demographics_race_ties_go_by_label_and_unrecorded_values_are_named_so(engine):
    comparison = compare_cohorts(engine, T2DM_COHORT, HTN_COHORT)
    assert rows(comparison, "race") == [(8516, "Concept 8516", 2, 1, TWO_THIRDS, THIRD),
                                        (8527, "Concept 8527", 1, 2, THIRD, TWO_THIRDS)]
    assert rows(comparison, "ethnicity") == [(38003564, "Concept 38003564", 3, 3, 1.0, 1.0)]
    assert rows(comparison, "sex_at_birth") == [(None, "Not recorded", 3, 3, 1.0, 1.0)]


def test_demographics_age_bands_at_the_cutoff_youngest_first(engine):
    # Ages at the cut-off: 1 → 69, 2 → 60, 6 → 18; 3 → 49, 7 → 73.
    assert rows(compare_cohorts(engine, T2DM_COHORT, HTN_COHORT), "age_band") == [
        ("18-29", "18-29", 1, 0, THIRD, 0.0), ("40-49", "40-49", 0, 1, 0.0, THIRD),
        ("60-69", "60-69", 2, 1, TWO_THIRDS, THIRD), ("70-79", "70-79", 0, 1, 0.0, THIRD)]


def test_demographics_list_every_dimension_in_order(engine):
    keys = [(d.key, d.label) for d in compare_cohorts(engine, T2DM_COHORT, HTN_COHORT).demographics]
    assert keys == [("sex_at_birth", "Sex at birth"), ("gender", "Gender"), ("race", "Race"), ("ethnicity", "Ethnicity"),
                    ("age_band", "Age at the CDR cut-off")]


# -- the concepts that differ most -------------------------------------------------------------------------------

def test_conditions_ranked_by_absolute_difference_with_prevalences_and_names(engine, method):
    comparison = compare_cohorts(engine, T2DM_COHORT, HTN_COHORT, method=method)
    assert comparison.method == method
    assert concepts(comparison, Domain.CONDITION) == [
        # hypertension: 1/3 against 3/3: (1/3 − 1) / √((2/9 + 0) / 2) = −2
        (f.HTN, "Essential hypertension", 1, 3, THIRD, 1.0, pytest.approx(-2.0)),
        # |d| = 1 twice: ties go by concept id
        (f.T2DM_A, "Type 2 diabetes mellitus with renal complication", 1, 0, THIRD, 0.0, pytest.approx(1.0)),
        (f.T2DM_B, "Type 2 diabetes mellitus without complication", 1, 0, THIRD, 0.0, pytest.approx(1.0)),
        # 2/3 against 1/3: (1/3) / √(2/9) = 1/√2
        (f.T2DM, "Type 2 diabetes mellitus", 2, 1, TWO_THIRDS, THIRD, pytest.approx(1 / math.sqrt(2))),
    ]


def test_every_domain_with_standard_concepts_is_compared_and_equal_prevalences_have_d_zero(engine, method):
    comparison = compare_cohorts(engine, T2DM_COHORT, HTN_COHORT, method=method)
    assert [(d.domain, d.compared) for d in comparison.differences] == [
        (Domain.CONDITION, 4), (Domain.DRUG, 2), (Domain.PROCEDURE, 0), (Domain.MEASUREMENT, 3),
        (Domain.OBSERVATION, 0), (Domain.PHYSICAL_MEASUREMENT, 0), (Domain.VISIT, 2), (Domain.DEVICE, 0)]
    assert concepts(comparison, Domain.MEASUREMENT) == [
        (f.HBA1C, "Hemoglobin A1c", 2, 1, TWO_THIRDS, THIRD, pytest.approx(1 / math.sqrt(2))),
        (f.SYSTOLIC, "Systolic blood pressure", 1, 1, THIRD, THIRD, 0.0),
        (f.DIASTOLIC, "Diastolic blood pressure", 1, 1, THIRD, THIRD, 0.0)]
    assert concepts(comparison, Domain.VISIT) == [
        (f.INPATIENT, "Inpatient Visit", 0, 1, 0.0, THIRD, pytest.approx(-1.0)),
        (f.OUTPATIENT, "Outpatient Visit", 1, 0, THIRD, 0.0, pytest.approx(1.0))]


def test_a_concept_all_of_one_cohort_has_and_none_of_the_other_ranks_first_as_infinite(engine, method):
    comparison = compare_cohorts(engine, cohort(group(metformin())), cohort(group(item("DRUG", param("DRUG", f.LISINOPRIL)))),
                                 method=method)
    assert concepts(comparison, Domain.DRUG) == [
        (f.LISINOPRIL_TAB, "lisinopril 10 MG Oral Tablet", 0, 1, 0.0, 1.0, -math.inf),
        (f.METFORMIN_TAB, "metformin 500 MG Oral Tablet", 2, 0, 1.0, 0.0, math.inf)]


def test_top_keeps_the_most_different_and_counts_all_compared(engine):
    comparison = compare_cohorts(engine, T2DM_COHORT, HTN_COHORT, top=1, domains=(Domain.CONDITION,))
    (conditions,) = comparison.differences
    assert [c.concept_id for c in conditions.concepts] == [f.HTN]
    assert conditions.compared == 4


def test_a_cohort_compared_with_itself_differs_nowhere(engine, method):
    comparison = compare_cohorts(engine, T2DM_COHORT, T2DM_COHORT, method=method)
    assert comparison.overlap == Overlap(0, 0, 3)
    assert {c.d for d in comparison.differences for c in d.concepts} == {0.0}


def test_cohorts_given_as_person_ids(engine, method):
    comparison = compare_cohorts(engine, BitMap([5, 8]), BitMap([8]), method=method)
    assert comparison.overlap == Overlap(1, 0, 1)
    # Person 5's height is a physical measurement (PPI source, LOINC standard); person 8 has no EHR.
    assert concepts(comparison, Domain.PHYSICAL_MEASUREMENT) == [
        (f.HEIGHT, "Body height", 1, 0, 0.5, 0.0, pytest.approx(math.sqrt(2)))]  # 0.5 / √(0.25 / 2)
    assert rows(comparison, "gender") == [(8507, "Concept 8507", 1, 1, 0.5, 1.0), (8532, "Concept 8532", 1, 0, 0.5, 0.0)]


def test_an_empty_cohort_has_demographics_of_zero_and_no_differences(engine, method):
    comparison = compare_cohorts(engine, T2DM_COHORT, BitMap(), method=method)
    assert comparison.overlap == Overlap(3, 0, 0)
    assert comparison.differences == ()
    assert rows(comparison, "gender") == [(8507, "Concept 8507", 2, 0, TWO_THIRDS, 0.0), (8532, "Concept 8532", 1, 0, THIRD, 0.0)]
    nobody = compare_cohorts(engine, BitMap(), BitMap(), method=method)
    assert all(d.rows == () for d in nobody.demographics) and nobody.differences == ()


def test_bitmaps_and_sql_count_the_same_prevalences(engine):
    every = tuple(Domain[d] for d in ("CONDITION", "DRUG", "PROCEDURE", "MEASUREMENT", "OBSERVATION",
                                      "PHYSICAL_MEASUREMENT", "VISIT", "DEVICE"))
    pairs = [(BitMap([1, 2, 6]), BitMap([2, 3, 7])), (BitMap(range(1, 9)), BitMap([5])), (BitMap([8]), BitMap([4, 6]))]
    for a, b in pairs:
        by_bitmaps = prevalence_by_bitmaps(engine, a, b, every)
        assert by_bitmaps == prevalence_by_sql(engine, a, b, every)
    assert prevalence_by_bitmaps(engine, BitMap([1, 2, 6]), BitMap([2, 3, 7]), (Domain.DRUG,)) == {
        (Domain.DRUG, f.METFORMIN_TAB): (2, 1), (Domain.DRUG, f.LISINOPRIL_TAB): (0, 1)}


def test_concept_names_come_from_the_cdr_vocabulary(engine, cdr):
    assert concept_names(engine, [f.HTN, f.HBA1C, 8507]) == {f.HTN: "Essential hypertension", f.HBA1C: "Hemoglobin A1c"}
    assert concept_names(engine, []) == {}


# -- refused options ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("options", "where", "message"), [
    ({"top": 0}, "top", "0: list 1 to 100 concepts per domain (MAX_TOP)"),
    ({"top": 101}, "top", "101: list 1 to 100 concepts per domain (MAX_TOP)"),
    ({"top": True}, "top", "True: list 1 to 100 concepts per domain (MAX_TOP)"),
    ({"domains": (Domain.CONDITION, Domain.SURVEY)}, "domains[1]", "'SURVEY' is not compared: one of CONDITION, DRUG, "
     "PROCEDURE, MEASUREMENT, OBSERVATION, PHYSICAL_MEASUREMENT, VISIT, DEVICE"),
    ({"method": "guess"}, "method", "'guess': one of bitmaps, sql"),
])
def test_bad_options_are_refused_naming_the_option(engine, options, where, message):
    with pytest.raises(CompareError) as refused:
        compare_cohorts(engine, T2DM_COHORT, HTN_COHORT, **options)
    assert [(p.where, p.message) for p in refused.value.problems] == [(where, message)]


def test_person_ids_beyond_32_bits_are_refused_not_wrapped():
    assert list(ids_bitmap(np.array([3, 1, 2**32 - 1]))) == [1, 3, 2**32 - 1]
    with pytest.raises(CompareError, match=r"cohort: person ids from 1 to 4294967296 do not fit in 32 bits"):
        ids_bitmap(np.array([1, 2**32]))
