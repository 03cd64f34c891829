"""Against the synthetic generator's ground truth: every injected defect is caught by the rule responsible."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from research_workbench.curation import curate, load_config

# defect kind → (rule that must catch it, sandbox action)
RESPONSIBLE = {
    "duplicate_row": ("duplicate_rows", "removed"),
    "out_of_range_measurement": ("physical_measurement_ranges", "removed"),
    "event_before_birth": ("records_before_birth_or_too_old", "removed"),
    "event_after_death": ("records_after_death", "removed"),
    "end_before_start": ("end_before_start", "changed"),
    "unmapped_concept": ("zero_concept_rows", "removed"),
    "unmapped_standard_concept": ("standard_concept_replacement", "changed"),
    "free_text_survey_answer": ("free_text_survey_answers", "removed"),
    "survey_branching_violation": ("survey_skip_logic", "removed"),
    "withdrawn_participant": ("withdrawn_participants", "removed"),
    "under_18_participant": ("under_age_at_consent", "removed"),
    "data_after_deactivation": ("data_after_deactivation", "removed"),
}
# Rules that remove a whole participant, or a repeated row, before the row-level rules see it: a defect row
# they took first is accounted for by them.
EARLIER = ("duplicate_rows", "duplicate_ids", "withdrawn_participants", "under_age_at_consent", "birth_year_out_of_range", "unknown_persons")


@pytest.fixture(scope="module")
def synthetic_release(tmp_path_factory):
    from research_workbench.synth import generate

    root = tmp_path_factory.mktemp("synth")
    generate(1500, 11, root / "raw")
    config = load_config().model_copy(update={"cutoff_date": date(2024, 6, 30)})
    result = curate(root / "raw", "synthetic", root / "out", config=config)
    return root, result


def test_every_injected_defect_is_caught_by_the_rule_responsible(synthetic_release):
    root, result = synthetic_release
    con = duckdb.connect()
    defects = con.execute("SELECT defect, \"table\", row_id, person_id FROM read_parquet(?)", [str(root / "raw" / "ground_truth" / "defects.parquet")]).fetchall()
    assert {d[0] for d in defects} <= set(RESPONSIBLE), "a defect kind without a responsible rule"
    sandbox = root / "out" / ".private" / "sandbox" / "synthetic" / "clean"

    def sandboxed(rule: str, table: str, key: str, action: str) -> set:
        path = sandbox / rule / f"{table}.parquet"
        if not path.is_file():
            return set()
        return {r[0] for r in con.execute(f"SELECT {key} FROM read_parquet(?) WHERE _action = ?", [str(path), action]).fetchall()}

    missed, preempted = [], []
    cache: dict = {}
    for kind, table, row_id, person_id in defects:
        rule, action = RESPONSIBLE[kind]
        key, value = ("person_id", person_id) if row_id is None else (f"{table}_id" if table != "condition_occurrence" else "condition_occurrence_id", row_id)
        if table == "procedure_occurrence":
            key = "procedure_occurrence_id" if row_id is not None else key
        if (rule, table, key, action) not in cache:
            cache[(rule, table, key, action)] = sandboxed(rule, table, key, action)
        if value in cache[(rule, table, key, action)]:
            continue
        earlier = [r for r in EARLIER if r != rule and value in cache.setdefault((r, table, key, "removed"), sandboxed(r, table, key, "removed"))]
        (preempted if earlier else missed).append((kind, table, value, earlier))
    assert missed == [], f"{len(missed)} injected defects not caught: {missed[:10]}"
    assert len(preempted) < len(defects) / 2
    assert result.report["balanced"] is True


def _vcf_genotypes(path, sample_names: dict[str, str] | None = None) -> dict[str, list]:
    """Sample (renamed through ``sample_names`` when given) → genotypes of the first 50 variants."""
    import pysam

    vcf = pysam.VariantFile(str(path))
    samples = list(vcf.header.samples)
    genotypes: dict[str, list] = {s: [] for s in samples}
    for i, record in enumerate(vcf.fetch()):
        if i == 50:
            break
        for s in samples:
            genotypes[s].append(record.samples[s]["GT"])
    if sample_names is not None:
        genotypes = {sample_names[s]: g for s, g in genotypes.items() if s in sample_names}
    return genotypes


def test_controlled_tier_carries_the_genomes_renamed_to_research_ids(synthetic_release):
    from research_workbench.cdr.store import Cdr

    root, result = synthetic_release
    controlled = Cdr(result.release_dir / "controlled")
    assert {"genomics/wgs.vcf.gz", "genomics/wgs.vcf.gz.tbi", "genomics/array.vcf.gz", "genomics/array.vcf.gz.tbi"} <= set(controlled.manifest.files)
    assert controlled.verify() == []
    con = duckdb.connect()
    kept = {str(r[0]) for r in con.execute("SELECT person_id FROM read_parquet(?)", [str(controlled.table_file("person"))]).fetchall()}
    research = {str(p): str(r) for p, r in con.execute(
        "SELECT person_id, research_id FROM read_parquet(?)", [str(root / "out" / ".private" / "person_map.parquet")]).fetchall()}
    released = _vcf_genotypes(controlled.path / "genomics" / "wgs.vcf.gz")
    raw = _vcf_genotypes(root / "raw" / "genomics" / "wgs.vcf.gz", {p: r for p, r in research.items() if r in kept})
    # Exactly the raw samples of participants still in the tier, under their research ids, genotypes unchanged.
    assert released == raw
    assert released and not set(released) & set(research)  # no raw person id is a sample name


def test_registered_tier_carries_no_genomes(synthetic_release):
    from research_workbench.cdr.manifest import Manifest

    _, result = synthetic_release
    assert not [f for f in Manifest.read(result.release_dir / "registered").files if f.endswith(".vcf.gz")]


def test_the_zip3_socioeconomic_map_is_released_whole_in_the_controlled_tier_and_empty_in_the_registered(synthetic_release):
    from research_workbench.cdr.store import Cdr

    root, result = synthetic_release
    raw, controlled, registered = Cdr(root / "raw"), Cdr(result.release_dir / "controlled"), Cdr(result.release_dir / "registered")
    assert raw.manifest.tables["zip3_ses_map"].rows == 528  # every area of the synthetic states
    kept = controlled.manifest.tables["zip3_ses_map"]
    assert (kept.rows, kept.content_hash) == (528, raw.manifest.tables["zip3_ses_map"].content_hash)
    assert registered.manifest.tables["zip3_ses_map"].rows == 0
    # Each Controlled Tier zip answer is 'NNN**' and names an area of the map, unless merged into '000**'.
    con = duckdb.connect()
    areas = con.execute("""
        SELECT DISTINCT o.value_as_string, z.zip3 IS NOT NULL FROM read_parquet(?) o
        LEFT JOIN read_parquet(?) z ON z.zip3 = left(o.value_as_string, 3)
        WHERE o.observation_source_concept_id = 1585250 AND o.value_as_string IS NOT NULL""",
                        [str(controlled.table_file("observation")), str(controlled.table_file("zip3_ses_map"))]).fetchall()
    assert areas and all(len(z) == 5 and z.endswith("**") and (mapped or z == "000**") for z, mapped in areas)
    assert not con.execute("SELECT count(*) FROM read_parquet(?) WHERE observation_source_concept_id = 1585250",
                           [str(registered.table_file("observation"))]).fetchone()[0]
