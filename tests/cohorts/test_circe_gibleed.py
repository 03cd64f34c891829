"""The four OHDSI CohortGenerator definitions on Eunomia GiBleed, against SQL written here by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from research_workbench.cdr.store import Cdr
from research_workbench.cohorts.circe import load_definition, run_circe

# Each person's first celecoxib (1118084) drug era that starts inside an observation period, with that period's
# end (no end strategy) and the person's year of birth and gender for the inclusion rules.
FIRST_ERA = """
    SELECT e.person_id, e.drug_era_start_date AS start_date, op.observation_period_end_date AS end_date,
           p.year_of_birth, p.gender_concept_id,
           row_number() OVER (PARTITION BY e.person_id ORDER BY e.drug_era_start_date, e.drug_era_id) AS nth
    FROM drug_era e
    JOIN observation_period op ON op.person_id = e.person_id
     AND e.drug_era_start_date BETWEEN op.observation_period_start_date AND op.observation_period_end_date
    JOIN person p ON p.person_id = e.person_id
    WHERE e.drug_concept_id = 1118084
"""

REFERENCE_SQL = {
    "celecoxib": f"SELECT person_id, start_date, end_date FROM ({FIRST_ERA}) WHERE nth = 1",
    "celecoxibAge40": f"""SELECT person_id, start_date, end_date FROM ({FIRST_ERA})
                          WHERE nth = 1 AND year(start_date) - year_of_birth > 40""",
    "celecoxibAge40Male": f"""SELECT person_id, start_date, end_date FROM ({FIRST_ERA})
                              WHERE nth = 1 AND year(start_date) - year_of_birth > 40 AND gender_concept_id = 8507""",
    "celecoxibCensored": f"""SELECT person_id, greatest(start_date, DATE '2000-01-01') AS s, end_date FROM ({FIRST_ERA})
                             WHERE nth = 1 AND end_date >= DATE '2000-01-01'""",
}


@pytest.fixture(scope="module")
def gibleed_con(gibleed_cdr: Path):
    con = Cdr(gibleed_cdr).connect()
    yield con
    con.close()


@pytest.mark.parametrize("name", sorted(REFERENCE_SQL))
def test_gibleed_definition_matches_hand_written_sql(gibleed_dir, gibleed_cdr, gibleed_con, name):
    result = run_circe(load_definition(gibleed_dir / "cohorts" / f"{name}.json"), gibleed_cdr)
    expected = gibleed_con.execute(f"SELECT * FROM ({REFERENCE_SQL[name]}) ORDER BY 1, 2").fetchall()
    assert [tuple(r) for r in result.rows] == expected
    assert result.subject_count == len({r[0] for r in expected}) > 0
    assert result.entry_count == len(result.rows) if name != "celecoxibCensored" else result.entry_count > len(result.rows)


def test_gibleed_inclusion_rule_report_matches_sql(gibleed_dir, gibleed_cdr, gibleed_con):
    result = run_circe(json.loads((gibleed_dir / "cohorts" / "celecoxibAge40Male.json").read_text()), gibleed_cdr)
    base, older, male, both = gibleed_con.execute(f"""
        SELECT count(*), count(*) FILTER (WHERE year(start_date) - year_of_birth > 40),
               count(*) FILTER (WHERE gender_concept_id = 8507),
               count(*) FILTER (WHERE year(start_date) - year_of_birth > 40 AND gender_concept_id = 8507)
        FROM ({FIRST_ERA}) WHERE nth = 1""").fetchone()
    assert [(r.name, r.persons_passing, r.persons_remaining, r.persons_lost) for r in result.inclusion_rules] == [
        ("Age > 40", older, older, base - older),
        ("Gender = MALE", male, both, older - both),
    ]
    assert (result.entry_count, result.subject_count) == (both, both)
