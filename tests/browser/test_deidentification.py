"""De-identification of the public aggregates, on tiny programs with exact expected values:

- genome strata use only the Registered Tier's (generalised) categories;
- a value histogram, like its statistics, is published only for groups of at least the bin;
- strata are ordered by published values, ties by name or id: the store does not depend on true counts within
  a bin at all.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from research_workbench.browser.serving.app import create_app
from research_workbench.browser.building.protect import RawTable, protect
from research_workbench.browser.schema import TABLES, spec
from research_workbench.browser.building.writer import build_store

from .conftest import BASE_URL
from .tiny import (
    ANSWER_ALPHA, ANSWER_BETA, ASTHMA, FEMALE, HBA1C, MALE, OTHER_GENDER, SEX_FEMALE, SEX_GENERALISED, SEX_INTERSEX,
    SEX_MALE, T2DM, Program, release,
)


def rows(store: Path, sql: str, params=()) -> list[tuple]:
    con = sqlite3.connect(store)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


# ---- genome aggregates: Registered Tier categories only ---------------------------------------------------------
def _tiers() -> tuple[Program, Program]:
    """Person 2 is intersex (the Registered Tier generalises that to 2000000009); person 3 is 94 (the Registered
    Tier leaves them out); person 4 has no genome. Persons 1-3 have whole genomes, person 1 an array too."""
    controlled, registered = Program(), Program()
    controlled.person(1, gender=FEMALE, sex=SEX_FEMALE, born=1980)  # 44 at the cut-off
    controlled.person(2, gender=MALE, sex=SEX_INTERSEX, born=1990)  # 34
    controlled.person(3, gender=FEMALE, sex=SEX_FEMALE, born=1930)  # 94: not in the Registered Tier
    controlled.person(4, gender=MALE, sex=SEX_MALE, born=1985)
    controlled.genome(1, "eur", ("wgs", "array"))
    controlled.genome(2, "afr")
    controlled.genome(3, "eur")
    registered.person(1, gender=FEMALE, sex=SEX_FEMALE, born=1980)
    registered.person(2, gender=MALE, sex=SEX_GENERALISED, born=1990)
    registered.person(4, gender=MALE, sex=SEX_MALE, born=1985)
    registered.names[SEX_GENERALISED] = "Sex at birth: other or several"  # in the release vocabulary only
    return registered, controlled


def test_genome_strata_use_only_the_registered_tiers_generalised_categories(tmp_path: Path):
    registered, controlled = _tiers()
    store = build_store(release(tmp_path / "rel", registered, controlled), tmp_path / "s.sqlite", bin_size=1).path
    genome = {}
    for data_type, dimension, stratum, n in rows(store, "SELECT data_type, dimension, stratum, participant_count FROM genome"):
        genome.setdefault((data_type, dimension), {})[stratum] = n
    assert genome[("any", "total")] == {"all": 3} and genome[("wgs", "total")] == {"all": 3}
    assert genome[("array", "total")] == {"all": 1}
    assert genome[("any", "ancestry")] == {"eur": 2, "afr": 1}  # a Controlled Tier fact: every genome counts
    assert genome[("any", "sex_at_birth")] == {str(SEX_FEMALE): 1, str(SEX_GENERALISED): 1}  # no intersex stratum
    assert genome[("any", "gender")] == {str(FEMALE): 1, str(MALE): 1}
    assert genome[("any", "age")] == {"40-49": 1, "30-39": 1}  # no 90+ band: person 3 is in no demographic stratum
    # every demographic stratum of the genomes is one the Registered Tier publishes
    published = set(rows(store, "SELECT dimension, stratum FROM demographics"))
    assert {(d, s) for (_, d), strata in genome.items() if d in ("gender", "sex_at_birth", "age") for s in strata} <= published
    body = TestClient(create_app(store), base_url=BASE_URL).get("/api/genomes").json()
    strata = next(t for t in body["data_types"] if t["data_type"] == "any")["strata"]
    assert [(s["stratum"], s["label"]) for s in strata["sex_at_birth"]] == [
        (str(SEX_FEMALE), "Female"), (str(SEX_GENERALISED), "Sex at birth: other or several")]
    assert [s["stratum"] for s in strata["age"]] == ["30-39", "40-49"]


def test_a_release_without_registered_people_cannot_compute_genome_strata(tmp_path: Path):
    from research_workbench.browser.building.genomes import genome_tables
    from research_workbench.browser.building.source import open_source

    registered, controlled = _tiers()
    source = open_source(release(tmp_path / "rel", registered, controlled))
    with pytest.raises(ValueError, match="Registered Tier's people"):
        genome_tables(source, scratch=tmp_path / "scratch")


# ---- histograms only for groups of at least the bin -------------------------------------------------------------
def test_a_histogram_is_published_only_for_groups_of_at_least_the_bin(tmp_path: Path):
    p = Program()
    for pid in range(1, 26):  # 25 women, 5 men with a lab value
        p.person(pid, gender=FEMALE, sex=SEX_FEMALE)
        p.lab(pid, 5.0 + pid / 10)
    for pid in range(26, 31):
        p.person(pid, gender=MALE, sex=SEX_MALE)
        p.lab(pid, 7.5)
    store = build_store(p.write(tmp_path / "cdr"), tmp_path / "s.sqlite").path
    strata = {s for (s,) in rows(store, "SELECT DISTINCT stratum FROM measurement_histogram WHERE concept_id = ?", (HBA1C,))}
    assert strata == {"all", str(SEX_FEMALE)}
    stats = {s: (n, mean) for s, n, mean in rows(store, "SELECT stratum, participant_count, mean FROM measurement_stats "
                                                        "WHERE concept_id = ?", (HBA1C,))}
    assert stats[str(SEX_MALE)] == (20, None) and stats[str(SEX_FEMALE)][1] == pytest.approx(6.3)
    assert stats["all"][0] == 40 and stats["all"][1] is not None
    client = TestClient(create_app(store), base_url=BASE_URL)
    body = client.get(f"/api/measurements/lab/{HBA1C}").json()
    assert set(body["histograms"]) == {"all", str(SEX_FEMALE)}
    assert "Histograms and statistics are shown only for groups of at least 20" in body["note"]
    page = client.get(f"/measurements/lab/{HBA1C}").text
    assert page.count('class="chart columns"') == 2  # all, women: no chart for the 5 men


def _stats(kind_rows):
    return RawTable(spec("measurement_stats"), [("lab", 1, s, s, 0, n, 5.0, 1.0, 4.0, 4.5, 5.0, 5.5, 6.0) for s, n in kind_rows])


def _hist(strata):
    return RawTable(spec("measurement_histogram"), [("lab", 1, s, b, b, b + 1, 3) for s in strata for b in range(2)])


def test_the_disclosure_pass_drops_histogram_bins_of_groups_below_the_bin():
    stats = _stats([("all", 40), ("8507", 20), ("8532", 19), ("0", 1)])
    out = {t.spec.name: t.rows for t in protect([stats, _hist(["all", "8507", "8532", "0", "no-stats-row"])])}
    assert sorted({r[2] for r in out["measurement_histogram"]}) == ["8507", "all"]  # 20 is enough; 19 is not
    assert all(r[6] == 20 for r in out["measurement_histogram"])  # the kept bins are rounded as usual
    by_stratum = {r[2]: r for r in out["measurement_stats"]}
    assert by_stratum["8532"][5:7] == (20, None) and by_stratum["8507"][5:7] == (20, 5.0)
    (alone,) = protect([_stats([("all", 19)]), _hist(["all"])], bin_size=10)[1:]
    assert len(alone.rows) == 2  # the bin is configurable: 19 reaches a bin of 10
    with pytest.raises(ValueError, match="measurement_stats, which was not built"):
        protect([_hist(["all"])])


# ---- ordering by published values, never true counts -------------------------------------------------------------
def _ordering_program(males: int) -> Program:
    """10 participants plus 25 of another gender: `males` of the 10 are men, the rest women. Men have asthma and
    answer Beta; women have type 2 diabetes and answer Alpha. All of that rounds to 20 whatever `males` is."""
    p = Program()
    for pid in range(1, 11):
        man = pid <= males
        p.person(pid, gender=MALE if man else FEMALE, sex=SEX_MALE if man else SEX_FEMALE)
        p.condition(pid, ASTHMA if man else T2DM)
        p.answer(pid, ANSWER_BETA if man else ANSWER_ALPHA)
    for pid in range(11, 36):
        p.person(pid, gender=OTHER_GENDER, sex=SEX_FEMALE)
        p.condition(pid, T2DM)
    return p


def test_strata_are_ordered_by_published_counts_then_by_name(tmp_path: Path):
    store = build_store(_ordering_program(males=7).write(tmp_path / "cdr"), tmp_path / "s.sqlite").path
    client = TestClient(create_app(store), base_url=BASE_URL)
    genders = [(s["label"], s["participant_count"]) for s in client.get("/api/demographics").json()["dimensions"]["gender"]]
    # OTHER 25 → 40 first; FEMALE (3) and MALE (7) both publish 20: by name, not by their true counts
    assert genders == [("OTHER", 40), ("FEMALE", 20), ("MALE", 20)]
    concept = client.get(f"/api/concepts/{T2DM}").json()
    assert [s["label"] for s in concept["strata"]["gender"]] == ["OTHER", "FEMALE"]
    question = client.get("/api/surveys/1586134/questions/1585845").json()["question"]
    assert [(a["name"], a["participant_count"]) for a in question["answers"]] == [("Alpha", 20), ("Beta", 20)]
    assert [label for label, _ in genders] == [
        r[0] for r in rows(store, "SELECT label FROM demographics WHERE dimension = 'gender' ORDER BY sort_order")]


def test_the_published_store_does_not_depend_on_true_counts_within_a_bin(tmp_path: Path):
    """Men 7 / women 3 and men 3 / women 7 publish the same rounded values: every table must then be identical,
    row for row in storage order (sort orders, search ids, everything)."""
    stores = [build_store(_ordering_program(m).write(tmp_path / f"cdr{m}"), tmp_path / f"s{m}.sqlite").path for m in (7, 3)]
    for table in TABLES:
        a, b = (rows(s, f'SELECT * FROM "{table.name}" ORDER BY rowid') for s in stores)
        assert a == b, table.name


def _demographics(counts: dict[str, int], total: int = 10_000) -> RawTable:
    return RawTable(spec("demographics"), [("total", "all", "All", 0, total, None)] +
                    [("gender", s, f"G{s}", None, n, None) for s, n in counts.items()] +
                    [("gender", "0", "Not reported", 10**9, 1, None)])


def test_the_disclosure_pass_ranks_by_published_counts_keeping_fixed_orders():
    (demo,) = protect([_demographics({"b": 3, "a": 7, "c": 25})])
    order = {r[1]: r[3] for r in demo.rows}
    assert order == {"all": 0, "c": 1, "a": 2, "b": 3, "0": 10**9}  # a and b tie at 20: by label Ga < Gb


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=200), min_size=2, max_size=6), st.randoms(use_true_random=False),
       st.sampled_from([5, 20]))
def test_ranks_are_the_same_for_any_true_counts_that_publish_the_same(counts, rnd, bin_size):
    """Move each count anywhere within its bin: the published table (ranks included) does not change."""
    names = [f"s{i}" for i in range(len(counts))]
    moved = [(-(-c // bin_size) - 1) * bin_size + rnd.randint(1, bin_size) for c in counts]
    first = protect([_demographics(dict(zip(names, counts)))], bin_size)[0].rows
    second = protect([_demographics(dict(zip(names, moved)))], bin_size)[0].rows
    assert first == second
