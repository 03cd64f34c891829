"""Published values of a small synthetic program equal the rounded true counts, computed here independently."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import duckdb
import pysam
import pytest

from research_workbench.browser.disclosure import round_count, rounded_frequency, rounded_share
from research_workbench.browser.building.source import open_source
from research_workbench.browser.building.writer import StoreExistsError, build_store
from research_workbench.cdr.store import Cdr

T2DM, METFORMIN, HEIGHT_PPI, GENERAL_HEALTH_MODULE = 201826, 1503297, 903133, 1585710


@pytest.fixture(scope="module")
def cdr(synth_cdr: Path):
    con = Cdr(synth_cdr).connect()
    yield con
    con.close()


@pytest.fixture(scope="module")
def db(store_path: Path):
    con = sqlite3.connect(store_path)
    yield con
    con.close()


def one(db, sql, params=()):
    rows = db.execute(sql, params).fetchall()
    assert len(rows) == 1, rows
    return rows[0]


def test_participants_in_total_and_by_gender(cdr, db):
    total = cdr.execute("SELECT count(*) FROM person").fetchone()[0]
    assert one(db, "SELECT participant_count, percent FROM demographics WHERE dimension = 'total'") == (round_count(total), 100.0)
    for gender, n in cdr.execute("SELECT gender_concept_id, count(*) FROM person GROUP BY 1").fetchall():
        published, percent = one(db, "SELECT participant_count, percent FROM demographics WHERE dimension = 'gender' AND stratum = ?",
                                 (str(gender),))
        assert published == round_count(n)
        assert percent == rounded_share(round_count(n), round_count(total))


def test_a_condition_its_strata_and_its_source_codes(cdr, db):
    raw = cdr.execute(f"SELECT count(DISTINCT person_id) FROM condition_occurrence WHERE condition_concept_id = {T2DM}").fetchone()[0]
    assert raw > 0
    assert one(db, "SELECT participant_count FROM concept WHERE domain = 'condition' AND concept_id = ?", (T2DM,))[0] == round_count(raw)
    by_gender = dict(cdr.execute(
        f"SELECT CAST(p.gender_concept_id AS VARCHAR), count(DISTINCT c.person_id) FROM condition_occurrence c "
        f"JOIN person p USING (person_id) WHERE condition_concept_id = {T2DM} GROUP BY 1").fetchall())
    published = dict(db.execute("SELECT stratum, participant_count FROM concept_stratum WHERE domain = 'condition' "
                                "AND concept_id = ? AND dimension = 'gender'", (T2DM,)).fetchall())
    assert published == {k: round_count(v) for k, v in by_gender.items()}
    sources = dict(cdr.execute(
        f"SELECT condition_source_concept_id, count(DISTINCT person_id) FROM condition_occurrence "
        f"WHERE condition_concept_id = {T2DM} AND condition_source_concept_id <> 0 GROUP BY 1").fetchall())
    assert dict(db.execute("SELECT source_concept_id, participant_count FROM concept_source WHERE concept_id = ?", (T2DM,)).fetchall()) \
        == {k: round_count(v) for k, v in sources.items()}
    years = dict(cdr.execute(
        f"SELECT CAST(year(condition_start_date) AS VARCHAR), count(DISTINCT person_id) FROM condition_occurrence "
        f"WHERE condition_concept_id = {T2DM} GROUP BY 1").fetchall())
    assert dict(db.execute("SELECT stratum, participant_count FROM concept_stratum WHERE concept_id = ? AND dimension = 'year'",
                           (T2DM,)).fetchall()) == {k: round_count(v) for k, v in years.items()}


def test_drugs_roll_up_to_ingredients(cdr, db):
    raw = cdr.execute(
        f"SELECT count(DISTINCT person_id) FROM drug_exposure WHERE drug_concept_id = {METFORMIN} OR drug_concept_id IN "
        f"(SELECT descendant_concept_id FROM concept_ancestor WHERE ancestor_concept_id = {METFORMIN})").fetchone()[0]
    assert raw > 0
    assert one(db, "SELECT participant_count FROM concept WHERE domain = 'drug' AND concept_id = ?", (METFORMIN,))[0] == round_count(raw)
    classes = {r[0] for r in db.execute("SELECT concept_class_id FROM concept WHERE domain = 'drug'")}
    assert classes == {"Ingredient"}


def test_survey_answers(cdr, db):
    question = one(db, "SELECT question_concept_id FROM survey_question WHERE module_concept_id = ? ORDER BY sort_order LIMIT 1",
                   (GENERAL_HEALTH_MODULE,))[0]
    answers = dict(cdr.execute(
        f"SELECT value_source_concept_id, count(DISTINCT person_id) FROM observation "
        f"WHERE observation_source_concept_id = {question} AND questionnaire_response_id IS NOT NULL GROUP BY 1").fetchall())
    asked = cdr.execute(f"SELECT count(DISTINCT person_id) FROM observation WHERE observation_source_concept_id = {question} "
                    f"AND questionnaire_response_id IS NOT NULL").fetchone()[0]
    published = {a: (n, p) for a, n, p in db.execute(
        "SELECT answer_concept_id, participant_count, percent FROM survey_answer WHERE question_concept_id = ?", (question,))}
    assert published == {a: (round_count(n), rounded_share(round_count(n), round_count(asked))) for a, n in answers.items()}
    by_sex = Counter()
    for sex, n in cdr.execute(
        f"SELECT CAST(e.sex_at_birth_concept_id AS VARCHAR), count(DISTINCT o.person_id) FROM observation o "
        f"JOIN person_ext e USING (person_id) WHERE o.observation_source_concept_id = {question} "
        f"AND o.value_source_concept_id = {next(iter(answers))} GROUP BY 1").fetchall():
        by_sex[sex] = round_count(n)
    assert dict(db.execute("SELECT stratum, participant_count FROM survey_answer_stratum WHERE question_concept_id = ? "
                           "AND answer_concept_id = ? AND dimension = 'sex_at_birth'", (question, next(iter(answers)))).fetchall()) == by_sex


def test_physical_measurement_statistics_use_each_participants_latest_value(cdr, db):
    values = cdr.execute(
        f"SELECT arg_max(value_as_number, (measurement_date, measurement_id)) FROM measurement "
        f"WHERE measurement_source_concept_id = {HEIGHT_PPI} AND value_as_number IS NOT NULL GROUP BY person_id").fetchall()
    values = sorted(v[0] for v in values)
    n, mean, median = one(db, "SELECT participant_count, mean, median FROM measurement_stats WHERE kind = 'physical' "
                              "AND concept_id = ? AND stratum = 'all'", (HEIGHT_PPI,))
    assert n == round_count(len(values))
    assert mean == pytest.approx(sum(values) / len(values), abs=1e-3)
    mid = len(values) // 2
    assert median == pytest.approx(values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2, abs=1e-3)
    # every participant falls in exactly one bin: the bins' raw counts sum to the participants (published: rounded each)
    bins = db.execute("SELECT participant_count FROM measurement_histogram WHERE kind = 'physical' AND concept_id = ? "
                      "AND stratum = 'all'", (HEIGHT_PPI,)).fetchall()
    assert len(bins) >= 5 and sum(b[0] for b in bins) >= n


def test_wearables_and_genomes(cdr, db):
    raw = cdr.execute("SELECT count(DISTINCT person_id) FROM steps_intraday").fetchone()[0]
    assert one(db, "SELECT participant_count FROM wearable WHERE data_type = 'steps_intraday' AND dimension = 'total'")[0] == round_count(raw)
    for data_type, n in cdr.execute("SELECT data_type, count(DISTINCT person_id) FROM genomic_sample GROUP BY 1").fetchall():
        assert one(db, "SELECT participant_count FROM genome WHERE data_type = ? AND dimension = 'total'", (data_type,))[0] == round_count(n)


def test_variant_counts_per_ancestry_match_the_vcf(synth_cdr: Path, cdr, db):
    ancestry = dict(cdr.execute("SELECT CAST(person_id AS VARCHAR), ancestry_pred FROM ancestry_prediction").fetchall())
    vcf = pysam.VariantFile(str(synth_cdr / "genomics" / "wgs.vcf.gz"))
    checked = 0
    for record in vcf.fetch("chr19", 44_900_000, 44_912_000):
        ac, an, hom = Counter(), Counter(), Counter()
        for name, sample in record.samples.items():
            group = ancestry.get(name) or "oth"
            alleles = [a for a in sample["GT"] if a is not None]
            an[group] += len(alleles)
            ac[group] += sum(1 for a in alleles if a == 1)
            hom[group] += alleles == [1, 1]
        variant_id = f"19-{record.pos}-{record.ref}-{record.alts[0]}"
        published = {row[0]: row[1:] for row in db.execute(
            "SELECT ancestry, allele_count, allele_number, homozygote_count, allele_frequency FROM variant_ancestry "
            "WHERE variant_id = ?", (variant_id,))}
        for group in ("afr", "amr", "eas", "eur", "mid", "sas", "oth"):
            expected = (round_count(ac[group]), round_count(an[group]), round_count(hom[group]))
            assert published[group][:3] == expected, (variant_id, group)
            assert published[group][3] == rounded_frequency(expected[0], expected[1])
        total = (round_count(sum(ac.values())), round_count(sum(an.values())), round_count(sum(hom.values())))
        assert published["total"][:3] == total
        checked += 1
    assert checked >= 3


def test_a_release_takes_genomes_from_its_controlled_tier(tmp_path: Path, synth_cdr: Path):
    from research_workbench.synth import generate

    other = tmp_path / "other"
    generate(120, 99, other, workers=1)
    release = tmp_path / "rel1"
    release.mkdir()
    (release / "registered").symlink_to(synth_cdr, target_is_directory=True)
    (release / "controlled").symlink_to(other, target_is_directory=True)
    source = open_source(release)
    assert source.kind == "release" and source.wgs_vcf.resolve() == (other / "genomics" / "wgs.vcf.gz").resolve()
    result = build_store(release, tmp_path / "rel1.sqlite")
    con = sqlite3.connect(result.path)
    with duckdb.connect() as db:  # its own connection, results read to the end (never the shared default one)
        reg = db.execute("SELECT count(*) FROM read_parquet(?)", [f"{synth_cdr}/person.parquet"]).fetchall()[0][0]
        ctl = db.execute("SELECT count(DISTINCT person_id) FROM read_parquet(?)", [f"{other}/genomic_sample.parquet"]).fetchall()[0][0]
    assert con.execute("SELECT participant_count FROM demographics WHERE dimension = 'total'").fetchone()[0] == round_count(reg)
    assert con.execute("SELECT participant_count FROM genome WHERE data_type = 'any' AND dimension = 'total'").fetchone()[0] == round_count(ctl)
    assert con.execute("SELECT value FROM meta WHERE key = 'genomes_from'").fetchone()[0] == '"controlled"'
    con.close()


def test_the_build_is_atomic(tmp_path: Path, synth_cdr: Path, monkeypatch):
    target = tmp_path / "s.sqlite"
    target.write_bytes(b"old store")
    with pytest.raises(StoreExistsError):
        build_store(synth_cdr, target)

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("research_workbench.browser.building.aggregates.compute", broken)
    with pytest.raises(RuntimeError):
        build_store(synth_cdr, target, replace=True)
    assert target.read_bytes() == b"old store"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.sqlite"]  # no temporary files left behind
    with pytest.raises(ValueError, match="registered/ and controlled/"):
        (tmp_path / "half").mkdir()
        (tmp_path / "half" / "registered").mkdir()
        build_store(tmp_path / "half", tmp_path / "half.sqlite")
