"""Determinism, the CDR contract (schema, manifest, hashes), foreign keys and concept coverage."""

from __future__ import annotations

import json

import pytest
from sqlglot import exp

from research_workbench.cdr.manifest import Manifest
from research_workbench.cdr.model import cdm
from research_workbench.cdr.store import Cdr, CdrExistsError, sha256_file
from research_workbench.synth import generate

from .conftest import SEED, scalar


def _digest(path):
    manifest = (path / "manifest.json").read_bytes()
    files = {f.relative_to(path).as_posix(): sha256_file(f) for f in sorted(path.rglob("*")) if f.is_file()}
    return manifest, files


def test_same_seed_and_n_give_byte_identical_files(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(400, 5, a, workers=1)
    generate(400, 5, b, workers=2)
    generate(400, 6, c)
    assert _digest(a) == _digest(b)
    assert _digest(a)[1]["person.parquet"] != _digest(c)[1]["person.parquet"]


def test_chunks_generated_in_parallel_equal_chunks_generated_in_one_process(tmp_path, monkeypatch):
    from research_workbench.synth import chunk, config

    monkeypatch.setattr(config, "CHUNK_SIZE", 150)
    generate(400, 9, tmp_path / "one", workers=1)
    generate(400, 9, tmp_path / "two", workers=2)
    assert _digest(tmp_path / "one") == _digest(tmp_path / "two")
    assert len(chunk.chunk_bounds(400)) == 3


def test_existing_output_is_refused_unless_replace(tmp_path):
    generate(50, 1, tmp_path / "x")
    with pytest.raises(CdrExistsError):
        generate(50, 1, tmp_path / "x")
    generate(50, 1, tmp_path / "x", replace=True)


def test_the_cdr_verifies_and_its_manifest_records_the_source(synth_cdr):
    cdr = Cdr(synth_cdr)
    assert cdr.verify() == []
    m = Manifest.read(synth_cdr)
    assert m.source["kind"] == "synthetic" and m.source["participants"] == 3000 and m.source["seed"] == SEED
    assert set(m.tables) == set(cdm().tables)
    for name in ("ground_truth/defects.parquet", "genomics/wgs.vcf.gz", "genomics/wgs.vcf.gz.tbi", "genomics/array.vcf.gz"):
        assert name in m.files
    assert json.loads((synth_cdr / "manifest.json").read_text())["created_at"].startswith("2024-07-01")


def test_primary_keys_are_unique(con):
    for table in cdm().tables.values():
        if len(table.primary_key) != 1 or table.is_vocabulary:
            continue
        pk = table.primary_key[0]
        q = exp.select(exp.func("count", exp.Star()), exp.func("count", exp.Distinct(expressions=[exp.column(pk)]))).from_(table.name)
        total, distinct = con.execute(q.sql(dialect="duckdb")).fetchone()
        assert total == distinct, table.name


def test_foreign_keys_are_intact(con):
    checks = [(t.name, t.person_column, "person", "person_id") for t in cdm().tables.values()
              if t.person_column and t.name != "person" and not t.is_vocabulary]
    for t in ("condition_occurrence", "drug_exposure", "procedure_occurrence", "measurement", "observation", "device_exposure"):
        checks.append((t, "visit_occurrence_id", "visit_occurrence", "visit_occurrence_id"))
    checks += [("visit_occurrence", "preceding_visit_occurrence_id", "visit_occurrence", "visit_occurrence_id"),
               ("observation", "questionnaire_response_id", "survey_conduct", "survey_conduct_id"),
               ("survey_conduct_ext", "survey_conduct_id", "survey_conduct", "survey_conduct_id")]
    for t in ("visit_occurrence", "condition_occurrence", "drug_exposure", "procedure_occurrence", "device_exposure", "measurement", "observation"):
        checks.append((f"{t}_ext", f"{t}_id", t, f"{t}_id"))
    for child, col, parent, key in checks:
        q = (exp.select(exp.func("count", exp.Star())).from_(exp.to_table(child).as_("c"))
             .where(exp.and_(exp.column(col, "c").is_(exp.null()).not_(),
                             exp.column(col, "c").isin(exp.select(key).from_(parent)).not_())))
        assert scalar(con, q.sql(dialect="duckdb")) == 0, (child, col)
    # ext tables mirror their tables one to one
    for t in ("visit_occurrence", "measurement", "observation"):
        assert scalar(con, f"SELECT count(*) FROM {t}") == scalar(con, f"SELECT count(*) FROM {t}_ext")


def test_every_concept_used_exists_in_the_vocabulary(con):
    for table in cdm().tables.values():
        if table.is_vocabulary or table.category in ("results",):
            continue
        for col in table.columns:
            if not col.name.endswith("concept_id") or col.type != "int":
                continue
            q = (exp.select(exp.func("count", exp.Star())).from_(table.name)
                 .where(exp.and_(exp.column(col.name).is_(exp.null()).not_(),
                                 exp.column(col.name).isin(exp.select("concept_id").from_("concept")).not_())))
            assert scalar(con, q.sql(dialect="duckdb")) == 0, f"{table.name}.{col.name}"


def test_every_domain_has_rows(con):
    for table in ("visit_occurrence", "condition_occurrence", "drug_exposure", "procedure_occurrence", "measurement",
                  "observation", "device_exposure", "death", "specimen", "survey_conduct", "observation_period",
                  "activity_summary", "heart_rate_summary", "heart_rate_intraday", "steps_intraday", "sleep_daily_summary",
                  "sleep_level", "device", "wear_study", "genomic_sample", "ancestry_prediction", "person_ext"):
        assert scalar(con, exp.select(exp.func("count", exp.Star())).from_(table).sql(dialect="duckdb")) > 0, table
