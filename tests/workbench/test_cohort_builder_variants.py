"""Variant criteria in the Cohort Builder's pages: the Genomics menu's "Variants" (Controlled Tier workspaces only), the
variant lookup it calls (``GET …/cohort-builder/variants``: how many variants match, the first rows, the criterion to
add), counting and saving a definition with the criterion, and the refusals: bad lookups named by query field,
Registered Tier workspaces, non-members, a data version without genomes. Exact values on the Cohort Builder fixture
with genomes (``tests/cohort_builder/fixture.py``: ``WGS``, ``ARRAY``)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from research_workbench.accounts.modules import Module
from research_workbench.workbench.routes import cohort_builder

from ..cohort_builder import fixture as f
from .cohort_data import add_workspace, cohort_ws, fixture_cdr, register_data_version  # noqa: F401  (fixtures)
from .conftest import ALL_RT, make_user
from .test_cohort_builder import BASE, item, page_config, post

CT = ALL_RT + (Module.CT_TRAINING,)
LOOKUP = "/workspaces/genomes/cohort-builder/variants"
RESULTS = "/workspaces/genomes/cohort-builder/results"


@pytest.fixture(scope="session")
def genome_cdr(tmp_path_factory):
    """The fixture CDR with whole genomes of persons 1–6 and arrays of 4 and 7, its index with both stores."""
    return f.build(tmp_path_factory.mktemp("cohort-genomes"), genomes=True)


@dataclass
class Controlled:
    wb: object
    personas: dict

    def sign_in(self, email: str):
        return self.personas[email].sign_in()


@pytest.fixture
def ct(wb, genome_cdr) -> Controlled:
    """A Controlled Tier workspace ``genomes`` on the genome CDR: owner ``ada@citylab.org``, reader
    ``rex@citylab.org``; ``cat@citylab.org`` has Controlled Tier access but is no member."""
    personas = {email: make_user(wb, email, institution="city-lab", modules=CT)
                for email in ("ada@citylab.org", "rex@citylab.org", "cat@citylab.org")}
    version = register_data_version(wb, genome_cdr, name="2026Q4-ct", tier="controlled")
    add_workspace(wb, "genomes", version, {"ada@citylab.org": "OWNER", "rex@citylab.org": "READER"}, tier="controlled")
    return Controlled(wb, personas)


def variant_definition(criterion: dict, domain: str = "WHOLE_GENOME_VARIANT") -> dict:
    return {"includes": [{"id": "g1", "items": [item("v1", domain, {"parameterId": "p1", "domain": domain, "type": "VARIANT",
                                                                    "variant": criterion})]}]}


def test_the_controlled_tier_menu_offers_variants_and_the_registered_tier_menu_does_not(ct, cohort_ws):
    client = ct.sign_in("ada@citylab.org")
    config = page_config(client.get("/workspaces/genomes/cohorts/new").text)
    genomics = [e for section in config["menu"] for e in section["items"] if e.get("section") == "Genomics"]
    assert [(e["label"], e["kind"]) for e in genomics] == [
        ("Whole Genome Variant", "flag"), ("Array Data", "flag"), ("Variants", "variants")]
    assert [s["domain"] for s in genomics[-1]["stores"]] == ["WHOLE_GENOME_VARIANT", "ARRAY_DATA"]
    assert config["urls"]["variants"] == LOOKUP
    registered = page_config(cohort_ws.client.get("/workspaces/study/cohorts/new").text)
    assert not [e for section in registered["menu"] for e in section["items"] if e.get("section") == "Genomics"]


def test_the_lookup_counts_and_lists_the_variants_and_gives_the_criterion_to_add(ct):
    client = ct.sign_in("ada@citylab.org")
    r = client.get(LOOKUP, params={"genes": "tcf7l2", "min_af": "0.01", "max_af": "0.5", "zygosity": "heterozygous"})
    assert r.status_code == 200, r.text
    # both TCF7L2 variants are within 1–50 % (4/10 and 1/12); the zygosity is a matter of who carries them
    assert r.json() == {
        "domain": "WHOLE_GENOME_VARIANT", "count": 2, "shown": 2,
        "variants": [{"variant_id": "10-114758349-C-T", "rsid": "rs7903146", "gene": "TCF7L2", "consequence": "intron_variant",
                      "allele_frequency": 0.4},
                     {"variant_id": "10-114800000-G-A", "rsid": "rs34872471", "gene": "TCF7L2",
                      "consequence": "missense_variant", "allele_frequency": 1 / 12}],
        "criterion": {"genes": ["TCF7L2"], "min_af": 0.01, "max_af": 0.5, "zygosity": "heterozygous"},
        "description": "a variant in gene TCF7L2 with allele frequency 1–50 % (heterozygous)",
    }
    several = client.get(LOOKUP, params={"rsids": "rs9939609, RS7903146", "regions": "chr19:44,900,000-44,910,000; chr22"}).json()
    assert several["count"] == 5 and several["criterion"] == {
        "rsids": ["rs9939609", "rs7903146"], "regions": ["chr19:44,900,000-44,910,000", "chr22"]}
    assert [v["rsid"] for v in several["variants"]] == ["rs7903146", "rs9939609", "rs429358", "rs7412", None]
    arrays = client.get(LOOKUP, params={"domain": "ARRAY_DATA", "variant_ids": "10-114758349-C-T"}).json()
    assert (arrays["count"], arrays["variants"][0]["allele_frequency"]) == (1, 0.75)
    assert arrays["description"] == "variant 10-114758349-C-T (heterozygous or homozygous, genotyping array)"
    none = client.get(LOOKUP, params={"genes": "BRCA1"}).json()
    assert (none["count"], none["variants"]) == (0, [])


def test_the_lookup_lists_only_the_first_rows_and_counts_them_all(ct, monkeypatch):
    monkeypatch.setattr(cohort_builder, "VARIANT_ROWS", 2)
    data = ct.sign_in("rex@citylab.org").get(LOOKUP, params={"regions": "chr10 chr19"}).json()  # a reader may look up
    assert (data["count"], data["shown"]) == (4, 2)
    assert [v["variant_id"] for v in data["variants"]] == ["10-114758349-C-T", "10-114800000-G-A"]


def test_the_criterion_found_counts_in_results_and_saves(ct):
    client = ct.sign_in("ada@citylab.org")
    criterion = client.get(LOOKUP, params={"rsids": "rs7903146"}).json()["criterion"]
    r = post(client, RESULTS, {"definition": variant_definition(criterion)})
    assert r.status_code == 200, r.text
    data = r.json()
    assert (data["count"], data["items"]) == (3, {"v1": 3})  # persons 1, 2, 4 (6 is not called)
    assert data["sentence"] == "Participants who have [variant rs7903146 (heterozygous or homozygous)]."
    array = post(client, RESULTS, {"definition": variant_definition({"rsids": ["rs7903146"], "zygosity": "homozygous"},
                                                                    "ARRAY_DATA")}).json()
    assert array["count"] == 1
    saved = post(client, "/workspaces/genomes/cohort-builder/save", {"name": "TCF7L2 carriers",
                                                                     "definition": variant_definition(criterion)})
    assert saved.status_code == 200, saved.text
    page = page_config(client.get(saved.json()["url"]).text)
    assert page["saved"]["includes"][0]["items"][0]["searchParameters"][0]["variant"] == {
        "rsids": ["rs7903146"], "genes": [], "regions": [], "variant_ids": [], "zygosity": "any"}


def test_bad_lookups_are_refused_naming_the_query_field(ct):
    client = ct.sign_in("ada@citylab.org")

    def problems(**params) -> list[tuple[str, str]]:
        r = client.get(LOOKUP, params=params)
        assert r.status_code == 422, r.text
        return [(p["where"], p["message"]) for p in r.json()["problems"]]

    assert problems(regions="chr10:5-1") == [
        ("query.regions[0]", "'chr10:5-1': the region must start at 1 or later and end at or after its start")]
    assert problems(rsids="rs1, 7903146") == [("query.rsids[1]", "not an rsID: '7903146' (rs followed by digits)")]
    assert problems(genes="TCF7L2", min_af="2") == [("query.min_af", "Input should be less than or equal to 1")]
    assert problems(genes="TCF7L2", max_af="lots") == [
        ("query.max_af", "Input should be a valid number, unable to parse string as a number")]
    assert problems(genes="TCF7L2", min_af="0.5", max_af="0.1") == [("query", "min_af is above max_af")]
    assert problems(genes="TCF7L2", zygosity="both") == [
        ("query.zygosity", "Input should be 'any', 'heterozygous' or 'homozygous'")]
    assert problems(min_af="0.01") == [("query", "give at least one rsID, gene, region or variant id (an allele-frequency "
                                                 "range alone would select variants across the whole genome)")]
    assert problems(domain="CONDITION", rsids="rs1") == [("query.domain", "one of WHOLE_GENOME_VARIANT, ARRAY_DATA")]


def test_a_definition_with_a_bad_variant_criterion_is_refused_naming_its_path(ct):
    client = ct.sign_in("ada@citylab.org")
    r = post(client, RESULTS, {"definition": variant_definition({"regions": ["chr10:5-1"]})})
    assert r.status_code == 422
    assert [p["where"] for p in r.json()["problems"]] == [
        "definition.includes[0].items[0].searchParameters[0].variant.regions[0]"]
    bare = post(client, RESULTS, {"definition": variant_definition({"max_af": 0.01})})
    assert bare.status_code == 422 and "needs at least one rsID, gene, region or variant id" in bare.text


def test_variant_criteria_are_refused_in_a_registered_tier_workspace(cohort_ws):
    r = cohort_ws.client.get(f"{BASE}/variants", params={"rsids": "rs7903146"})
    assert r.status_code == 422
    assert [(p["where"], p["message"]) for p in r.json()["problems"]] == [
        ("query.domain", "Whole Genome Variant criteria are available in Controlled Tier workspaces only")]
    counted = post(cohort_ws.client, f"{BASE}/results", {"definition": variant_definition({"rsids": ["rs7903146"]})})
    assert counted.status_code == 422
    assert [(p["where"], p["message"]) for p in counted.json()["problems"]] == [
        ("definition.includes[0].items[0].type", "Whole Genome Variant criteria are available in Controlled Tier workspaces only")]


def test_who_is_not_a_member_gets_a_404_whatever_the_query(ct):
    outsider = ct.sign_in("cat@citylab.org")
    assert outsider.get(LOOKUP, params={"rsids": "rs7903146"}).status_code == 404
    assert outsider.get(LOOKUP, params={"regions": "not a region"}).status_code == 404
    assert ct.wb.client().get(LOOKUP, params={"rsids": "rs7903146"}).status_code in (303, 401)  # not signed in


def test_a_controlled_tier_data_version_without_genomes_refuses_variant_criteria(wb, fixture_cdr):
    ada = make_user(wb, "ada@citylab.org", institution="city-lab", modules=CT)
    version = register_data_version(wb, fixture_cdr, name="2026Q4-ct-plain", tier="controlled")
    add_workspace(wb, "plain", version, {"ada@citylab.org": "OWNER"}, tier="controlled")
    client = ada.sign_in()
    r = client.get("/workspaces/plain/cohort-builder/variants", params={"rsids": "rs7903146"})
    assert r.status_code == 422
    assert [(p["where"], p["message"]) for p in r.json()["problems"]] == [
        ("query.domain", "this workspace's data version has no whole genome variant genotypes")]
    counted = post(client, "/workspaces/plain/cohort-builder/results", {"definition": variant_definition({"rsids": ["rs7903146"]})})
    assert counted.status_code == 422
    assert "variant criteria need a Controlled Tier index with genomes, and this index has no wgs genotypes" in counted.text
