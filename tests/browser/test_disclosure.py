"""Disclosure control: no count from 1 to 19 is published, or derivable by subtracting strata from a total."""

from __future__ import annotations

import itertools

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from research_workbench.browser.disclosure import round_count, round_count_sql, round_counts, rounded_share


def test_zero_stays_zero():
    assert round_count(0) == 0


def test_counts_from_1_to_19_are_published_as_20():
    assert round_counts(range(1, 20)) == [20] * 19


def test_larger_counts_round_up_to_the_next_multiple_of_20():
    assert round_counts([20, 21, 39, 40, 41, 1000, 1001]) == [20, 40, 40, 40, 60, 1000, 1020]


def test_bin_size_is_configurable():
    assert round_counts([0, 1, 10, 11, 25], bin_size=10) == [0, 10, 10, 20, 30]


def test_bad_bin_size_and_negative_counts_are_refused():
    with pytest.raises(ValueError, match="bin size"):
        round_count(5, bin_size=0)
    with pytest.raises(ValueError, match="negative"):
        round_count(-1)


def test_percentages_come_from_published_counts_only():
    # 7 of 33 would be 21.21 %; published, 20 of 40 is 50 %.
    assert rounded_share(round_count(7), round_count(33)) == 50.0
    assert rounded_share(0, 0) is None


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=1, max_value=100))
def test_a_published_count_is_zero_or_a_multiple_of_the_bin_not_below_the_count(count, bin_size):
    published = round_count(count, bin_size)
    assert published % bin_size == 0
    assert (published == 0) == (count == 0)
    assert count <= published < count + bin_size


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=500), min_size=1, max_size=7))
def test_no_count_from_1_to_19_is_recoverable_by_subtracting_strata_from_a_total(strata):
    """A total and its strata (say, participants with a condition, by gender), all published."""
    total = round_count(sum(strata))
    published = round_counts(strata)
    assert not any(1 <= p <= 19 for p in published + [total])
    for size in range(len(published) + 1):
        for subset in itertools.combinations(published, size):
            assert not 1 <= abs(total - sum(subset)) <= 19
        for a, b in itertools.combinations(published, 2):
            assert not 1 <= abs(a - b) <= 19


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=50), st.sampled_from([5, 10, 20, 100]))
def test_sql_rule_agrees_with_the_python_rule(counts, bin_size):
    con = duckdb.connect()
    rel = con.sql("SELECT unnest($counts) AS n", params={"counts": counts})
    con.register("counts_view", rel)
    query = exp.select(round_count_sql(exp.column("n"), bin_size)).from_("counts_view")
    assert [r[0] for r in con.execute(query.sql(dialect="duckdb")).fetchall()] == round_counts(counts, bin_size)
