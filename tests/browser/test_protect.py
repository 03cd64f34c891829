"""The disclosure pass: every count column rounded, percentages and frequencies from rounded counts only."""

from __future__ import annotations

import pytest

from research_workbench.browser.building.protect import PublishedTable, RawTable, protect
from research_workbench.browser.schema import spec


def _demographics(rows):
    return RawTable(spec("demographics"), [(d, s, s, 0, n, 99.9) for d, s, n in rows])


def test_counts_are_rounded_up_and_percentages_come_from_rounded_counts():
    (demo,) = protect([_demographics([("total", "all", 33), ("gender", "8507", 7), ("gender", "8532", 26), ("gender", "0", 0)])])
    got = {(r[0], r[1]): (r[4], r[5]) for r in demo.rows}
    # raw 7 of 33 would be 21.2 %; published, 20 of 40 is 50 %
    assert got == {("total", "all"): (40, 100.0), ("gender", "8507"): (20, 50.0), ("gender", "8532"): (40, 100.0),
                   ("gender", "0"): (0, 0.0)}


def test_bin_size_is_configurable():
    (demo,) = protect([_demographics([("total", "all", 33), ("gender", "8507", 7)])], bin_size=5)
    assert [r[4] for r in demo.rows] == [35, 10]


def test_cross_table_denominators_and_same_row_frequencies():
    concept = RawTable(spec("concept"), [("condition", 1, "x", "SNOMED", "1", "", "", 21, None)])
    strata = RawTable(spec("concept_stratum"), [("condition", 1, "gender", "8507", "Male", 1, 3, None)])
    variant = RawTable(spec("variant"), [("1-5-A-G", "chr1", 5, "A", "G", "", "", 1, 998, 0, 0.5)])
    demo = _demographics([("total", "all", 100)])
    out = {t.spec.name: t.rows for t in protect([demo, concept, strata, variant])}
    assert out["concept"][0][-2:] == (40, 40.0)
    assert out["concept_stratum"][0][-2:] == (20, 50.0)  # 20 of the published 40
    assert out["variant"][0][7:] == (20, 1000, 0, 0.02)  # AF from rounded AC / rounded AN


def test_statistics_of_groups_smaller_than_the_bin_are_blanked():
    stats = RawTable(spec("measurement_stats"), [
        ("lab", 1, "all", "All", 0, 19, 5.0, 1.0, 4.0, 4.5, 5.0, 5.5, 6.0),
        ("lab", 1, "8507", "Male", 1, 20, 5.0, 1.0, 4.0, 4.5, 5.0, 5.5, 6.0),
    ])
    (out,) = protect([stats])
    assert out.rows[0][5:] == (20, None, None, None, None, None, None, None)
    assert out.rows[1][5:] == (20, 5.0, 1.0, 4.0, 4.5, 5.0, 5.5, 6.0)


def test_large_tables_are_rounded_lazily():
    rows = iter([("1-5-A-G", "afr", "African", 1, 3, 41, 1, None)])
    (out,) = protect([RawTable(spec("variant_ancestry"), rows)])
    assert not isinstance(out.rows, list)
    assert list(out.rows) == [("1-5-A-G", "afr", "African", 1, 20, 60, 20, 0.333333)]


def test_published_tables_only_come_from_protect_and_bad_input_is_refused():
    with pytest.raises(TypeError):
        PublishedTable(spec("demographics"), [], 20)
    with pytest.raises(ValueError, match="bin size"):
        protect([], bin_size=0)
    with pytest.raises(ValueError, match="whole number"):
        protect([_demographics([("total", "all", 2.5)])])
    with pytest.raises(ValueError, match="values"):
        list(protect([RawTable(spec("demographics"), [("total", "all")])])[0].rows)
    with pytest.raises(ValueError, match="needs table"):
        protect([RawTable(spec("concept"), [])])
