"""Variant criteria in cohort definitions: exact participants on the tiny CDR with genomes (``fixture.py``: whole genomes
of persons 1–6, arrays of 4 and 7, the genotypes of ``fixture.WGS`` and ``fixture.ARRAY``), on both execution paths,
the sentence, an index without genomes, and every kind of bad criterion named by its JSON path."""

from __future__ import annotations

import shutil

import pytest

from research_workbench.cohorts.builder.describe import describe
from research_workbench.cohorts.builder.engine import CohortEngine
from research_workbench.cohorts.builder.model import DefinitionError, parse_definition
from research_workbench.cohorts.builder.results import cohort_results
from research_workbench.index.build import default_index_path

from . import fixture as f

WGS, ARRAY = "WHOLE_GENOME_VARIANT", "ARRAY_DATA"


@pytest.fixture(scope="module")
def cdr(tmp_path_factory):
    return f.build(tmp_path_factory.mktemp("cb-genomes"), genomes=True)


@pytest.fixture(scope="module", params=[True, False], ids=["accelerated", "sql"])
def engine(cdr, request):
    """Every case on both execution paths: the stores' bitmaps beside the concept bitmaps, and the one statement with
    the carriers registered beside it."""
    engine = CohortEngine(default_index_path(cdr), accelerate=request.param)
    assert engine.accelerate is request.param
    yield engine
    engine.close()


def variant_item(domain=WGS, *criteria, iid="v"):
    return {"id": iid, "type": domain, "searchParameters": [
        {"parameterId": f"p{n}", "domain": domain, "type": "VARIANT", "variant": c} for n, c in enumerate(criteria)]}


def condition(concept, group=False, iid="c"):
    return {"id": iid, "type": "CONDITION", "searchParameters": [
        {"parameterId": "q", "domain": "CONDITION", "type": "SNOMED", "conceptId": concept, "group": group}]}


def cohort(*include_items, excludes=()):
    return {"includes": [{"id": f"g{n}", "items": [i]} for n, i in enumerate(include_items)],
            "excludes": [{"id": f"x{n}", "items": [i]} for n, i in enumerate(excludes)]}


def persons(engine, document) -> list[int]:
    definition = parse_definition(document)
    found = engine.participant_ids(definition, 0, 100)
    assert engine.count(definition)[0] == len(found)
    return found


def carriers(engine, domain=WGS, **criterion) -> list[int]:
    return persons(engine, cohort(variant_item(domain, criterion)))


def test_an_rsid_is_carried_by_zygosity_and_a_missing_call_carries_nothing(engine):
    # rs7903146: 1 and 4 heterozygous, 2 homozygous, 6 not called
    assert carriers(engine, rsids=["rs7903146"]) == [1, 2, 4]
    assert carriers(engine, rsids=["RS7903146"], zygosity="heterozygous") == [1, 4]
    assert carriers(engine, rsids=["rs7903146"], zygosity="homozygous") == [2]
    assert carriers(engine, rsids=["rs7412"]) == []  # in the store, carried by nobody
    assert carriers(engine, rsids=["rs1"]) == []  # not in the store


def test_a_gene_is_carried_through_any_of_its_variants(engine):
    assert carriers(engine, genes=["TCF7L2"]) == [1, 2, 3, 4]
    assert carriers(engine, genes=["fto"]) == [2, 5, 6]
    assert carriers(engine, genes=["FTO"], zygosity="homozygous") == [5, 6]


def test_an_allele_frequency_range_keeps_the_variants_within_it(engine):
    # TCF7L2: rs7903146 at 4/10, rs34872471 at 1/12; APOE: rs429358 at 11/12, rs7412 at 0
    assert carriers(engine, genes=["TCF7L2"], min_af=0.1) == [1, 2, 4]
    assert carriers(engine, genes=["TCF7L2"], max_af=0.1) == [3]
    assert carriers(engine, genes=["TCF7L2"], min_af=0.4, max_af=0.4) == [1, 2, 4]  # bounds are inclusive
    assert carriers(engine, genes=["APOE"], max_af=0.5) == []
    assert carriers(engine, genes=["APOE"], min_af=0.9, zygosity="homozygous") == [1, 2, 3, 4, 6]


def test_regions_and_variant_ids_select_by_position(engine):
    assert carriers(engine, regions=["chr19:44900000-44910000"]) == [1, 2, 3, 4, 5, 6]
    assert carriers(engine, regions=["chr19:44,900,000-44,910,000"], zygosity="heterozygous") == [5]
    assert carriers(engine, regions=["chr16"]) == [2, 5, 6]
    assert carriers(engine, regions=["10:114758349-114758349"]) == [1, 2, 4]  # one base, inclusive
    assert carriers(engine, regions=["chr1:1-100"]) == []
    assert carriers(engine, variant_ids=["chr22-36265860-a-g"]) == [6]  # the APOL1 variant has no rsID
    assert carriers(engine, rsids=["rs34872471"], variant_ids=["22-36265860-A-G"]) == [3, 6]  # identifiers OR


def test_variant_criteria_combine_with_conditions_and_exclusions(engine):
    # type 2 diabetes or a descendant: 1, 2, 6; hypertension: 2, 3, 7
    rs = variant_item(WGS, {"rsids": ["rs7903146"]})
    assert persons(engine, cohort(rs, condition(f.T2DM, group=True))) == [1, 2]
    assert persons(engine, cohort(rs, condition(f.T2DM, group=True), excludes=[condition(f.HTN)])) == [1]
    assert persons(engine, cohort(condition(f.HTN), excludes=[variant_item(WGS, {"genes": ["FTO"]})])) == [3, 7]
    either = {"includes": [{"id": "g", "items": [variant_item(WGS, {"rsids": ["rs34872471"]}), condition(f.HTN)]}]}
    assert persons(engine, either) == [2, 3, 7]


def test_the_parameters_of_one_item_or(engine):
    item = variant_item(WGS, {"rsids": ["rs7903146"], "zygosity": "heterozygous"}, {"genes": ["APOL1"]})
    assert persons(engine, cohort(item)) == [1, 4, 6]


def test_an_array_item_reads_the_array_store(engine):
    # arrays: rs7903146 4 heterozygous, 7 homozygous (whole genomes: 2 homozygous)
    assert carriers(engine, ARRAY, rsids=["rs7903146"]) == [4, 7]
    assert carriers(engine, ARRAY, rsids=["rs7903146"], zygosity="homozygous") == [7]
    assert carriers(engine, WGS, rsids=["rs7903146"], zygosity="homozygous") == [2]
    assert carriers(engine, ARRAY, genes=["FTO"]) == []


def test_bare_has_data_items_still_answer_from_the_person_table(engine):
    flag = {"id": "w", "type": WGS, "searchParameters": [{"parameterId": "p", "domain": WGS, "type": WGS}]}
    assert persons(engine, cohort(flag)) == [1, 2, 3, 4, 5, 6]
    array = {"id": "a", "type": ARRAY, "searchParameters": [{"parameterId": "p", "domain": ARRAY, "type": ARRAY}]}
    assert persons(engine, cohort(array)) == [4, 7]


def test_the_compiled_statement_names_the_carriers_it_registers(engine):
    query = engine.compile(parse_definition(cohort(variant_item(WGS, {"rsids": ["rs7903146"]}),
                                                   variant_item(ARRAY, {"rsids": ["rs7903146"], "zygosity": "homozygous"}))))
    assert {name: t["person_id"].to_pylist() for name, t in query.tables.items()} == {
        "variant_carriers_0": [1, 2, 4], "variant_carriers_1": [7]}
    assert '"variant_carriers_0"' in query.sql() and '"variant_carriers_1"' in query.sql()
    assert query.params == {}  # the carriers travel as tables, not as bound lists


def test_results_count_each_variant_item_and_the_sentence_says_what_is_carried(engine):
    definition = parse_definition(cohort(variant_item(WGS, {"genes": ["TCF7L2"], "min_af": 0.01, "max_af": 0.5}, iid="v1"),
                                         excludes=[variant_item(ARRAY, {"rsids": ["rs7903146"], "zygosity": "homozygous"},
                                                                iid="v2")]))
    results = cohort_results(engine, definition)
    assert results.count == 4 and results.items == {"v1": 4, "v2": 1}
    assert [(s.kind, s.matched, s.remaining) for s in results.attrition] == [("all", 8, 8), ("include", 4, 4), ("exclude", 1, 4)]
    assert results.sentence == ("Participants who have [a variant in gene TCF7L2 with allele frequency 1–50 % (heterozygous "
                                "or homozygous)], and not [variant rs7903146 (homozygous, genotyping array)].")


@pytest.mark.parametrize(("criterion", "text"), [
    ({"rsids": ["rs7903146"], "zygosity": "heterozygous"}, "variant rs7903146 (heterozygous)"),
    ({"rsids": ["rs1", "rs2"], "genes": ["FTO", "APOE"], "min_af": 0.9},
     "variants rs1 or rs2 or a variant in genes FTO or APOE with allele frequency at least 90 % (heterozygous or homozygous)"),
    ({"regions": ["chr16"], "variant_ids": ["22-36265860-A-G"], "max_af": 0.005, "zygosity": "homozygous"},
     "variant 22-36265860-A-G or a variant in chr16 with allele frequency at most 0.5 % (homozygous)"),
])
def test_a_variant_criterion_in_words(criterion, text):
    assert describe(parse_definition(cohort(variant_item(WGS, criterion)))) == f"Participants who have [{text}]."


def test_an_index_without_genomes_refuses_variant_criteria_but_counts_the_rest(cdr, tmp_path):
    plain = tmp_path / "no-genomes.index"  # the same index without its genotype stores, as a Registered Tier's
    shutil.copytree(default_index_path(cdr), plain, ignore=shutil.ignore_patterns("genomics"))
    rs = parse_definition(cohort(variant_item(WGS, {"rsids": ["rs7903146"]})))
    for accelerate in (True, False):
        engine = CohortEngine(plain, accelerate=accelerate, cdr_dir=cdr)
        try:
            with pytest.raises(DefinitionError) as refused:
                engine.count(rs)
            assert refused.value.problems == ["rs7903146: variant criteria need a Controlled Tier index with genomes, and "
                                              "this index has no wgs genotypes"]
            with pytest.raises(DefinitionError, match="this index has no array genotypes"):
                engine.participant_ids(parse_definition(cohort(variant_item(ARRAY, {"genes": ["FTO"]}))))
            assert engine.count(parse_definition(cohort(condition(f.HTN))))[0] == 3
        finally:
            engine.close()


def test_cohort_review_lists_a_variant_criterion_among_the_person_level_ones(cdr, engine):
    """A participant's qualifying events: a variant criterion has none (it is a fact of the person, listed as such);
    the condition beside it still marks its events."""
    from research_workbench.cohorts.participant import ParticipantReader

    reader = ParticipantReader(engine.con, cdr)
    definition = parse_definition(cohort(variant_item(WGS, {"rsids": ["rs7903146"]}), condition(f.T2DM, group=True)))
    marked = reader.qualifying(reader.read(1), definition, engine.expand)
    assert marked.qualifying_criteria == ["Include group 1: Whole Genome Variant (rs7903146)"]
    assert sorted(e.date.isoformat() for e in marked.events if e.qualifying) == ["2010-04-11", "2011-01-01"]


def test_a_new_engine_s_first_statement_may_register_carriers(cdr, tmp_path):
    """Opening an engine leaves no result unfinished on its connection (DuckDB then refuses to register a table)."""
    copy = tmp_path / "copy.index"  # a new path: answers no other engine has shared yet
    shutil.copytree(default_index_path(cdr), copy)
    engine = CohortEngine(copy, accelerate=False, cdr_dir=cdr)
    try:
        assert engine.count(parse_definition(cohort(variant_item(WGS, {"rsids": ["rs7903146"]}))))[0] == 3
    finally:
        engine.close()


def bad(parameter: dict, domain: str = WGS, **item) -> list[str]:
    document = {"includes": [{"id": "g", "items": [{"id": "i", "type": domain, "searchParameters": [
        {"parameterId": "p", "domain": domain, "type": "VARIANT"} | parameter], **item}]}]}
    with pytest.raises(DefinitionError) as refused:
        parse_definition(document)
    return refused.value.problems


AT = "includes[0].items[0].searchParameters[0]"


def test_bad_variant_criteria_are_refused_naming_the_json_path():
    assert bad({"variant": {"regions": ["chr10:1-2", "chr10:5-1"]}}) == [
        f"{AT}.variant.regions[1]: 'chr10:5-1': the region must start at 1 or later and end at or after its start"]
    assert bad({"variant": {"regions": ["10q21"]}}) == [
        f"{AT}.variant.regions[0]: '10q21' is not a region (chr10:114000000-115000000, 10:1-2000 or chr10)"]
    assert bad({"variant": {"rsids": ["rs1", "7903146"]}}) == [
        f"{AT}.variant.rsids[1]: not an rsID: '7903146' (rs followed by digits)"]
    assert bad({"variant": {"variant_ids": ["10-5-C"]}}) == [
        f"{AT}.variant.variant_ids[0]: not a variant id: '10-5-C' (CHROM-POS-REF-ALT)"]
    assert bad({"variant": {"genes": ["TCF7L2"], "min_af": 1.5}}) == [
        f"{AT}.variant.min_af: Input should be less than or equal to 1"]
    assert bad({"variant": {"genes": ["TCF7L2"], "max_af": -0.1}}) == [
        f"{AT}.variant.max_af: Input should be greater than or equal to 0"]
    assert bad({"variant": {"genes": ["TCF7L2"], "min_af": 0.5, "max_af": 0.1}}) == [f"{AT}.variant: min_af is above max_af"]
    assert bad({"variant": {"genes": ["TCF7L2"], "zygosity": "both"}}) == [
        f"{AT}.variant.zygosity: Input should be 'any', 'heterozygous' or 'homozygous'"]
    assert bad({"variant": {"genes": ["TCF7L2"], "frequency": 0.1}}) == [f"{AT}.variant.frequency: Extra inputs are not permitted"]


def test_a_variant_criterion_needs_an_identifier_and_takes_nothing_else():
    assert bad({"variant": {"min_af": 0.01, "max_af": 0.05}}) == [
        f"{AT}.variant: a variant criterion needs at least one rsID, gene, region or variant id (an allele-frequency range "
        "alone would select variants across the whole genome)"]
    assert bad({}) == [f"{AT}.variant: a VARIANT parameter needs a variant (rsids, genes, regions or variant_ids)"]
    assert bad({"variant": {"rsids": ["rs1"]}, "conceptId": 201826, "attributes": [{"name": "ANY"}]}) == [
        f"{AT}.conceptId: a variant criterion takes no concept id", f"{AT}.attributes: a variant criterion takes no attributes"]
    assert bad({"variant": {"rsids": ["rs1"]}}, modifiers=[{"name": "AGE_AT_EVENT", "operator": "EQUAL", "operands": ["50"]}]) == [
        "includes[0].items[0].modifiers: WHOLE_GENOME_VARIANT items take no modifiers"]
    assert bad({"variant": {"rsids": ["rs1"]}, "type": WGS}) == [
        f"{AT}.type: a parameter with a variant has type VARIANT, not 'WHOLE_GENOME_VARIANT'"]
    assert bad({"variant": {"rsids": ["rs1"]}, "conceptId": 201826}, domain="CONDITION") == [
        f"{AT}.variant: only WHOLE_GENOME_VARIANT and ARRAY_DATA parameters take a variant"]


def test_a_has_data_parameter_and_a_variant_criterion_are_not_mixed_in_one_item():
    document = {"includes": [{"id": "g", "items": [{"id": "i", "type": WGS, "searchParameters": [
        {"parameterId": "p", "domain": WGS, "type": WGS},
        {"parameterId": "q", "domain": WGS, "type": "VARIANT", "variant": {"rsids": ["rs1"]}}]}]}]}
    with pytest.raises(DefinitionError) as refused:
        parse_definition(document)
    assert refused.value.problems == [f"{AT}: an item's parameters are all variant criteria or none is (a has-data parameter "
                                      "and a variant criterion go in separate items)"]


def test_a_variant_item_cannot_be_temporal():
    document = {"includes": [{"id": "g", "temporal": True, "mention": "ANY_MENTION", "time": "DURING_SAME_ENCOUNTER_AS", "items": [
        variant_item(WGS, {"rsids": ["rs1"]}) | {"temporalGroup": 0}, condition(f.HTN) | {"temporalGroup": 1}]}]}
    with pytest.raises(DefinitionError) as refused:
        parse_definition(document)
    assert refused.value.problems == [
        "includes[0].items[0].type: WHOLE_GENOME_VARIANT items have no event dates and cannot be temporal"]
