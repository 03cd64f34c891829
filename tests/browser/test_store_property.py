"""Property test over random built stores: no published count lies in 1 … bin − 1, and none can be recovered by
subtracting strata from a total. Random small synthetic programs (lots of small counts), random bin sizes; every
count column of every table is checked, found from the store itself."""

from __future__ import annotations

import itertools
import random
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from research_workbench.browser.disclosure import rounded_frequency, rounded_share
from research_workbench.browser.schema import TABLES
from research_workbench.browser.building.writer import build_store

INTERNAL = {"meta", "store_columns"}
NOT_COUNTS = {"question_count"}  # questions in a module, not people


def _tables(con) -> list[str]:
    return [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                                      "AND name NOT LIKE 'search_fts%'")]


def _small(x: int, bin_size: int) -> bool:
    return 1 <= abs(x) <= bin_size - 1


def _subsets(values: list[int], rng: random.Random):
    if len(values) <= 10:
        for size in range(len(values) + 1):
            yield from itertools.combinations(values, size)
        return
    yield ()
    yield tuple(values)
    for i in range(len(values)):
        yield (values[i],)
        yield tuple(values[:i] + values[i + 1:])
    for _ in range(300):
        yield tuple(v for v in values if rng.random() < 0.5)


def _groups(con) -> list[tuple[str, int, list[int]]]:
    """(what, total, strata) for every total that is published together with a split of it."""
    out = []

    def add(what, total_sql, strata_sql, key_sql):
        totals = {tuple(r[:-1]): r[-1] for r in con.execute(total_sql)}
        strata: dict[tuple, list[int]] = {}
        for r in con.execute(strata_sql):
            strata.setdefault(tuple(r[:-1]), []).append(r[-1])
        for key, values in strata.items():
            total = totals.get(key[:-1] if key_sql else key)
            if total is not None:
                out.append((f"{what} {key}", total, values))

    add("demographics", "SELECT participant_count FROM demographics WHERE dimension = 'total'",
        "SELECT dimension, participant_count FROM demographics WHERE dimension <> 'total'", True)
    add("concept", "SELECT domain, concept_id, participant_count FROM concept",
        "SELECT domain, concept_id, dimension, participant_count FROM concept_stratum WHERE dimension <> 'year'", True)
    add("survey question", "SELECT module_concept_id, question_concept_id, participant_count FROM survey_question",
        "SELECT module_concept_id, question_concept_id, 'answers', participant_count FROM survey_answer", True)
    add("survey answer", "SELECT module_concept_id, question_concept_id, answer_concept_id, participant_count FROM survey_answer",
        "SELECT module_concept_id, question_concept_id, answer_concept_id, dimension, participant_count FROM survey_answer_stratum", True)
    add("survey module", "SELECT participant_count FROM demographics WHERE dimension = 'total'",
        "SELECT 'modules', participant_count FROM survey_module", True)
    for table in ("wearable", "genome"):
        add(table, f"SELECT data_type, participant_count FROM {table} WHERE dimension = 'total'",
            f"SELECT data_type, dimension, participant_count FROM {table} WHERE dimension <> 'total'", True)
    add("measurement", "SELECT kind, concept_id, participant_count FROM measurement",
        "SELECT kind, concept_id, 'sex', participant_count FROM measurement_stats WHERE stratum <> 'all'", True)
    add("histogram", "SELECT kind, concept_id, stratum, participant_count FROM measurement_stats",
        "SELECT kind, concept_id, stratum, 'bins', participant_count FROM measurement_histogram", True)
    for col in ("allele_count", "allele_number", "homozygote_count"):
        add(f"variant {col}", f"SELECT variant_id, {col} FROM variant_ancestry WHERE ancestry = 'total'",
            f"SELECT variant_id, 'groups', {col} FROM variant_ancestry WHERE ancestry <> 'total'", True)
    add("domain cards", "SELECT participant_count FROM demographics WHERE dimension = 'total'",
        "SELECT 'domains', participant_count FROM domain_summary", True)
    return out


def check_store(path: Path, bin_size: int) -> int:
    """Every check of the property; returns how many published counts were looked at."""
    con = sqlite3.connect(path)
    rng = random.Random(0)
    try:
        assert con.execute("SELECT value FROM meta WHERE key = 'bin_size'").fetchone()[0] == str(bin_size)
        declared: dict[str, dict[str, str]] = {}
        for table, column, role in con.execute("SELECT table_name, column_name, role FROM store_columns"):
            declared.setdefault(table, {})[column] = role
        seen = 0
        for table in _tables(con):
            if table in INTERNAL:
                continue
            columns = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
            assert table in declared, f"table {table} has no declared column roles"
            assert set(columns) == set(declared[table]), f"{table}: undeclared columns {set(columns) - set(declared[table])}"
            for column in columns:
                role = declared[table][column]
                if (column.endswith("_count") or column == "allele_number") and column not in NOT_COUNTS:
                    assert role == "count", f"{table}.{column} looks like a count but is declared {role}"
                if role != "count":
                    continue
                for (value,) in con.execute(f'SELECT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'):
                    seen += 1
                    assert value % bin_size == 0 and not _small(value, bin_size), f"{table}.{column} publishes {value}"
        # percentages and frequencies come from the published counts
        for spec in TABLES:
            for d in spec.derived:
                if d.table is None:
                    rows = con.execute(f'SELECT "{d.column}", "{d.numerator}", "{d.denominator}" FROM "{spec.name}"').fetchall()
                    for value, part, whole in rows:
                        assert value == rounded_frequency(part, whole), (spec.name, value, part, whole)
                    continue
                on = " AND ".join([f'o."{theirs}" = t."{ours}"' for theirs, ours in d.match.items()] +
                                  [f"o.\"{c}\" = '{v}'" for c, v in d.where.items()])
                rows = con.execute(f'SELECT t."{d.column}", t."{d.numerator}", o."{d.denominator}" FROM "{spec.name}" t '
                                   f'JOIN "{d.table}" o ON {on}').fetchall()
                for value, part, whole in rows:
                    assert value == rounded_share(part, whole), (spec.name, value, part, whole)
        # a total minus any set of its strata, and one stratum minus another, is never 1 … bin − 1
        for what, total, strata in _groups(con):
            for subset in _subsets(strata, rng):
                assert not _small(total - sum(subset), bin_size), (what, total, subset)
            for a, b in itertools.combinations(strata[:40], 2):
                assert not _small(a - b, bin_size), (what, a, b)
        return seen
    finally:
        con.close()


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(participants=st.integers(min_value=12, max_value=220), seed=st.integers(min_value=0, max_value=10**6),
       bin_size=st.sampled_from([5, 10, 20, 50]))
def test_no_published_count_is_small_or_recoverable_in_random_built_stores(participants, seed, bin_size):
    from research_workbench.synth import generate

    work = Path(tempfile.mkdtemp(prefix="rw-browser-prop-"))
    try:
        generate(participants, seed, work / "cdr", workers=1)
        result = build_store(work / "cdr", work / "store.sqlite", bin_size=bin_size)
        assert check_store(result.path, bin_size) > 1000
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_the_check_catches_a_planted_small_count(store_path: Path, tmp_path: Path):
    """The property check itself can fail: a 7 planted in any count column, or a leaky percentage, is found."""
    assert check_store(store_path, 20) > 1000
    planted = tmp_path / "planted.sqlite"
    shutil.copy(store_path, planted)
    con = sqlite3.connect(planted)
    con.execute("UPDATE variant_ancestry SET homozygote_count = 7 WHERE rowid = 3")
    con.commit()
    con.close()
    with pytest.raises(AssertionError, match="homozygote_count publishes 7"):
        check_store(planted, 20)
    shutil.copy(store_path, planted)
    con = sqlite3.connect(planted)
    con.execute("UPDATE concept SET percent = percent + 0.5 WHERE rowid = 1")
    con.commit()
    con.close()
    with pytest.raises(AssertionError):
        check_store(planted, 20)
