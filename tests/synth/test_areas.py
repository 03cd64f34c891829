"""The zip areas' socioeconomic measures (``zip3_ses_map``): a row for every area a participant can live in, plausible
correlated values drawn from the seed, the same map whatever N."""

from __future__ import annotations

import dataclasses

import pyarrow.parquet as pq
import pytest

from research_workbench.cdr.model import cdm
from research_workbench.cdr.store import sha256_file
from research_workbench.synth import generate
from research_workbench.synth.areas import ACS_YEAR, zip3_areas, zip3_ses_map
from research_workbench.synth.vocab import State, vocabulary

from .conftest import SEED, scalar

ZIP_QUESTION = 1585250


def test_the_map_covers_every_participants_three_digit_zip_area(con):
    answered = scalar(con, "SELECT count(*) FROM observation WHERE observation_source_concept_id = ? AND value_as_string IS NOT NULL",
                      [ZIP_QUESTION])
    uncovered = con.execute("""
        SELECT DISTINCT left(o.value_as_string, 3) FROM observation o
        WHERE o.observation_source_concept_id = ? AND o.value_as_string IS NOT NULL
          AND left(o.value_as_string, 3) NOT IN (SELECT zip3 FROM zip3_ses_map)""", [ZIP_QUESTION]).fetchall()
    assert answered > 2500 and uncovered == []


def test_the_map_has_one_row_per_area_of_every_state_range_and_nothing_else(con):
    vocab = vocabulary()
    expected = sorted(f"{z:03d}" for s in vocab.states for z in range(s.zip3_from, s.zip3_to + 1))
    assert [r[0] for r in con.execute("SELECT zip3 FROM zip3_ses_map ORDER BY zip3").fetchall()] == expected
    assert expected[0] == "010" and len(expected) == len(set(expected)) == 528  # Massachusetts starts at 010


def test_the_measures_are_in_plausible_ranges_and_correlated_as_real_areas_are(con):
    bounds = con.execute("""
        SELECT min(fraction_assisted_income), max(fraction_assisted_income), min(fraction_high_school_edu),
               max(fraction_high_school_edu), min(median_income), max(median_income), min(fraction_no_health_ins),
               max(fraction_no_health_ins), min(fraction_poverty), max(fraction_poverty), min(fraction_vacant_housing),
               max(fraction_vacant_housing), min(deprivation_index), max(deprivation_index),
               count(*) FILTER (WHERE acs_year <> ?), count(*) FILTER (WHERE median_income <> round(median_income))
        FROM zip3_ses_map""", [ACS_YEAR]).fetchone()
    (ai_lo, ai_hi, hs_lo, hs_hi, inc_lo, inc_hi, ni_lo, ni_hi, pov_lo, pov_hi, vac_lo, vac_hi, dep_lo, dep_hi,
     other_years, cents) = bounds
    assert 0.003 <= ai_lo and ai_hi <= 0.12 and 0.6 <= hs_lo and hs_hi <= 0.985
    assert 22_000 <= inc_lo and inc_hi <= 190_000 and inc_hi - inc_lo > 40_000
    assert 0.015 <= ni_lo and ni_hi <= 0.35 and 0.02 <= pov_lo and pov_hi <= 0.45 and 0.02 <= vac_lo and vac_hi <= 0.45
    assert (dep_lo, dep_hi) == (0.0, 1.0) and (other_years, cents) == (0, 0)
    corr = con.execute("""
        SELECT corr(deprivation_index, fraction_poverty), corr(deprivation_index, median_income),
               corr(fraction_poverty, median_income), corr(fraction_high_school_edu, fraction_no_health_ins)
        FROM zip3_ses_map""").fetchone()
    assert corr[0] > 0.6 and corr[1] < -0.6 and corr[2] < -0.4 and corr[3] < -0.3


def test_the_map_is_drawn_from_the_seed_alone(tmp_path, synth_cdr):
    vocab = vocabulary()
    assert zip3_ses_map(SEED, vocab).equals(zip3_ses_map(SEED, vocab))
    assert not zip3_ses_map(SEED, vocab).equals(zip3_ses_map(SEED + 1, vocab))
    assert zip3_ses_map(SEED, vocab).schema == cdm().table("zip3_ses_map").arrow_schema()
    # The same file for 60 participants as for the session's 3,000: the map does not depend on N.
    small = tmp_path / "small"
    generate(60, SEED, small, workers=1)
    assert sha256_file(small / "zip3_ses_map.parquet") == sha256_file(synth_cdr / "zip3_ses_map.parquet")
    assert pq.read_table(small / "zip3_ses_map.parquet").equals(zip3_ses_map(SEED, vocab))


def test_states_whose_zip_ranges_overlap_are_refused_naming_both():
    vocab = vocabulary()
    ny, pa = vocab.states[0], vocab.states[5]
    assert (ny.code, pa.code) == ("NY", "PA")
    clash = State("PA", pa.name, pa.weight, 149, pa.zip3_to, pa.site, pa.concept_id)  # NY ends at 149
    broken = dataclasses.replace(vocab, states=(ny, clash))
    with pytest.raises(ValueError, match="zip3 149 is in both NY and PA"):
        zip3_areas(broken)
    names, owners = zip3_areas(dataclasses.replace(vocab, states=(ny,)))
    assert (names[0], names[-1], len(names), set(owners.tolist())) == ("100", "149", 50, {0})
