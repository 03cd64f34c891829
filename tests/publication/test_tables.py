"""check_table: small counts, margins that give a hidden cell away, and percentages of a known denominator."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from research_workbench.publication import Report, check_table
from research_workbench.publication.rules import is_count_name, is_total_label

FIX = 'suppress it (show "<20") or combine groups until every count is 0 or at least 20'


def wheres(report: Report) -> list[tuple[str, str, object]]:
    return [(f.kind, f.where, f.value) for f in report.findings]


def test_small_counts_are_found_where_a_person_counts_rows():
    table = [{"sex": "F", "count": 7}, {"sex": "M", "count": 0}, {"sex": "X", "count": 20},
             {"sex": "U", "count": 19}, {"sex": "O", "count": 1}]
    report = check_table(table)
    assert wheres(report) == [
        ("small_count", 'table: row 1, column "count"', 7),
        ("small_count", 'table: row 4, column "count"', 19),
        ("small_count", 'table: row 5, column "count"', 1),
    ]
    assert report.findings[0].message == f"7 is a count from 1 to 19; {FIX}"
    assert not report.ok


def test_zero_and_the_threshold_itself_are_allowed():
    assert check_table([{"n": 0}, {"n": 20}, {"n": 21}]).ok
    assert wheres(check_table([{"n": 4}, {"n": 5}], threshold=5)) == [("small_count", 'table: row 1, column "n"', 4)]


def test_ids_years_and_ages_are_not_counts_even_when_every_integer_column_is():
    table = [{"person_id": 3, "year_of_birth": 1950, "age": 7, "concept_id": 12, "zip3": 5, "month": 4, "visits": 2}]
    assert wheres(check_table(table)) == []
    assert wheres(check_table(table, counts="all")) == [("small_count", 'table: row 1, column "visits"', 2)]


def test_only_columns_named_like_counts_unless_counts_all():
    table = [{"race": "A", "female": 3, "n_male": 4, "mean_bmi": 5}]
    assert wheres(check_table(table)) == [("small_count", 'table: row 1, column "n_male"', 4)]
    assert wheres(check_table(table, counts="all")) == [
        ("small_count", 'table: row 1, column "female"', 3),
        ("small_count", 'table: row 1, column "n_male"', 4),
        ("small_count", 'table: row 1, column "mean_bmi"', 5),
    ]


@pytest.mark.parametrize("name", ["n", "N", "count", "person_count", "count_female", "participants", "num_visits",
                                  "numberOfCases", "freq", "frequency", "total", "n_by_site", "count_by_age",
                                  "participants_at_site", "cases", "controls", "Patients"])
def test_names_of_counts(name):
    assert is_count_name(name)


@pytest.mark.parametrize("name", ["person_id", "year", "year_of_birth", "age", "concept_id", "zip3", "value", "mean",
                                  "pct", "count_pct", "response_rate", "% female", "age_group", ""])
def test_names_that_are_not_counts(name):
    assert not is_count_name(name)


def test_whole_floats_are_counts_and_missing_values_are_skipped():
    table = [{"count": 7.0}, {"count": None}, {"count": math.nan}, {"count": 30.0}, {"count": "<20"}]
    assert wheres(check_table(table)) == [("small_count", 'table: row 1, column "count"', 7)]


def test_a_column_of_fractions_is_not_a_count_column():
    assert check_table([{"count": 7.5}, {"count": 3.0}]).ok


def test_a_row_labelled_count_holds_counts_as_pandas_describe_prints_them():
    described = [["index", "bmi", "age"], ["count", 7.0, 7.0], ["mean", 27.31, 61.2], ["max", 41.0, 88.0]]
    assert wheres(check_table(described)) == [("small_count", 'table: row 1, column "bmi"', 7),
                                              ("small_count", 'table: row 1, column "age"', 7)]


def test_a_total_row_revealing_a_hidden_cell_by_subtraction():
    table = [["group", "n"], ["A", 45], ["B", "<20"], ["C", 60], ["Total", 112]]
    report = check_table(table, name="by group")
    assert wheres(report) == [("recoverable_by_subtraction", 'by group: row 4, column "n"', 7)]
    assert report.findings[0].message == (
        'the total 112 minus the other cells shown in column "n" (105) leaves 7, a count from 1 to 19 anyone can work '
        "out; suppress or round the total as well, or hide more cells, until no difference is from 1 to 19")


@pytest.mark.parametrize("total", [105, 112 + 113, 100, 125, 126])
def test_a_total_leaving_0_a_negative_number_or_at_least_20_is_fine(total):
    # 105 adds up; 225 leaves 120; 100 leaves -5; 125 leaves 20; 126 leaves 21.
    assert check_table([["group", "n"], ["A", 45], ["B", 60], ["All", total]]).ok


def test_the_briefs_example_shown_120_45_60_total_112_is_fine():
    assert check_table([["group", "n"], ["A", 120], ["B", 45], ["C", 60], ["Total", 112]]).ok


def test_a_total_column_and_the_cells_it_adds_up():
    # A total column makes the other integer columns counts: they are what it adds up.
    table = [["race", "female", "male", "total"], ["A", 30, "<20", 35], ["B", 3, 40, 43], ["C", 50, 60, 110]]
    assert wheres(check_table(table)) == [
        ("recoverable_by_subtraction", 'table: row 1, column "total"', 5),
        ("small_count", 'table: row 2, column "female"', 3),
    ]


def test_a_total_row_and_column_together():
    table = [["site", "cases", "controls", "total"],
             ["A", 40, "*", 65],
             ["B", 30, 45, 75],
             ["Overall", 70, 78, 140]]
    # Row 1 hides 25 (fine); the controls total 78 - 45 leaves 33 (fine); the grand total 140 - 65 - 75 = 0.
    assert check_table(table).ok
    table[3][2] = 60  # now the controls' total gives row 1's hidden controls away: 60 - 45 = 15
    assert wheres(check_table(table)) == [("recoverable_by_subtraction", 'table: row 3, column "controls"', 15),
                                          ("recoverable_by_subtraction", 'table: row 3, column "total"', 10)]


@pytest.mark.parametrize("label", ["Total", "TOTAL", "total:", "All", "Overall", "Grand total", "Sum", "Total (N)",
                                   "All participants"])
def test_labels_of_totals(label):
    assert is_total_label(label)


@pytest.mark.parametrize("label", ["All-cause mortality", "Allergy", "Subtotal of A", "totally"])
def test_labels_that_are_not_totals(label):
    assert not is_total_label(label)


def test_percentages_of_a_denominator_column():
    table = [["group", "pct", "denominator"], ["A", 2.5, 400], ["B", 50.0, 400], ["C", 0.1, 400]]
    report = check_table(table)
    assert wheres(report) == [("small_percentage", 'table: row 1, column "pct"', 2.5)]
    assert report.findings[0].message == (
        "2.5% of 400 is 10, a count from 1 to 19; suppress the percentage as you would the count, or combine groups "
        "until it stands for 0 or at least 20")


def test_percentages_of_a_denominator_given():
    table = [{"group": "A", "percent_female": 5}, {"group": "B", "percent_female": 0.2},
             {"group": "C", "percent_female": "10%"}, {"group": "D", "percent_female": 9.75}]
    # 5% of 200 is 10; 0.2% is 0.4 → 0; 10% is 20; 9.75% is 19.5 → 20 (half up).
    assert wheres(check_table(table, denominator=200)) == [("small_percentage", 'table: row 1, column "percent_female"', 5)]


def test_percentages_of_the_count_beside_them():
    # Each row's percentage of its own count: 12.5% of 40 is 5.
    table = [["group", "n", "pct_diabetic"], ["A", 40, 12.5], ["B", 400, 50.0]]
    assert wheres(check_table(table)) == [("small_percentage", 'table: row 1, column "pct_diabetic"', 12.5)]


def test_shares_of_a_column_total_take_the_total_as_denominator():
    # 4% of 1,000 is 40, not 4% of 40: the percentages are each count's share of the column.
    assert check_table([["group", "n", "pct"], ["A", 40, 4.0], ["B", 960, 96.0]]).ok
    # …and a share gives a hidden count away: 0.5% of 1,000 is 5.
    table = [["group", "n", "pct"], ["A", "<20", 0.5], ["B", 500, 50.0], ["C", 495, 49.5]]
    assert wheres(check_table(table)) == [("small_percentage", 'table: row 1, column "pct"', 0.5)]


def test_a_rate_between_0_and_1_is_a_fraction():
    table = [{"site": "A", "response_rate": 0.01, "denominator": 1000}, {"site": "B", "response_rate": 0.5, "denominator": 1000}]
    assert wheres(check_table(table)) == [("small_percentage", 'table: row 1, column "response_rate"', 0.01)]


def test_percentages_with_nothing_to_take_them_of_are_listed_as_not_checked():
    report = check_table([{"group": "A", "pct": 1.5}])
    assert report.ok
    assert report.unchecked == ['table: column "pct": percentages with no count, total or denominator column beside '
                                "them; not checked"]
    assert report.summary() == "table: ok, no count from 1 to 19 found; 1 part not checked"


def test_an_arrow_table_and_rows_with_a_header_give_the_same_findings():
    arrow = pa.table({"race": ["A", "B"], "participants": pa.array([3, 300], pa.int64()), "zip3": [1, 2]})
    rows = [["race", "participants", "zip3"], ["A", 3, 1], ["B", 300, 2]]
    expected = [("small_count", 'table: row 1, column "participants"', 3)]
    assert wheres(check_table(arrow)) == wheres(check_table(rows)) == expected


def test_findings_sort_by_place_not_by_text():
    table = [{"n": 25}] * 9 + [{"n": 3}, {"n": 2}]
    assert [f.where for f in check_table(table).findings] == ['table: row 10, column "n"', 'table: row 11, column "n"']
    table = [{"n": 25, "count": 1}] * 9 + [{"n": 3, "count": 25}]
    assert [f.where for f in check_table(table).findings][-2:] == ['table: row 9, column "count"',
                                                                    'table: row 10, column "n"']


def test_report_as_dict_and_summary():
    report = check_table([["group", "n"], ["A", 5], ["B", 50], ["Total", 58]], name="t")
    assert report.as_dict() == {
        "source": "t", "ok": False, "threshold": 20, "unchecked": [],
        "findings": [
            {"kind": "small_count", "where": 't: row 1, column "n"', "value": 5, "message": f"5 is a count from 1 to 19; {FIX}"},
            {"kind": "recoverable_by_subtraction", "where": 't: row 3, column "n"', "value": 3,
             "message": 'the total 58 minus the other cells shown in column "n" (55) leaves 3, a count from 1 to 19 '
                        "anyone can work out; suppress or round the total as well, or hide more cells, until no "
                        "difference is from 1 to 19"},
        ],
    }
    assert report.summary() == ("t: 2 findings (1 small count, 1 count recoverable by subtraction): must not leave "
                                "the Workbench as it is")


def test_an_empty_table_is_clean():
    assert check_table([]).ok
    assert check_table([["group", "n"]]).ok


def test_a_row_of_the_wrong_length_is_refused_by_number():
    with pytest.raises(ValueError, match=r"^results: row 2 has 3 cells where the header has 2$"):
        check_table([["group", "n"], ["A", 30], ["B", 30, 1]], name="results")


@pytest.mark.parametrize("table", ["group,n\nA,3", 42, {"n": [3]}, [{"n": 3}, ["n", 3]]])
def test_what_is_not_a_table_is_refused(table):
    with pytest.raises(TypeError, match=r"^table: cannot check a \w+; give a pyarrow Table, a pandas DataFrame"):
        check_table(table)


@pytest.mark.parametrize(("options", "message"), [
    ({"threshold": 0}, "threshold must be a whole number of at least 1, not 0"),
    ({"threshold": True}, "threshold must be a whole number of at least 1, not True"),
    ({"counts": "some"}, "counts must be one of named, all, not 'some'"),
    ({"denominator": 0}, "denominator must be at least 1, not 0"),
    ({"denominator": "size"}, "table: no column 'size' to take as the denominator; columns: group, pct"),
])
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError) as err:
        check_table([{"group": "A", "pct": 5}], **options)
    assert str(err.value) == message
