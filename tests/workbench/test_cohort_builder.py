"""The Cohort Builder's page and the JSON it calls: results (count, group and item counts, attrition, demographics,
sentence), drafts, save / save as with stale-version refusal, browse, roles, tiers and bad input. Exact values on the
Cohort Builder fixture (``tests/cohort_builder/fixture.py``)."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from research_workbench.state.models import AuditEvent, CohortDraft, Resource

from ..cohort_builder import fixture as f
from .cohort_data import cohort_ws, fixture_cdr  # noqa: F401

BASE = "/workspaces/study/cohort-builder"


def csrf(client) -> dict:
    client.get("/workspaces/study/data")
    return {"x-csrftoken": client.cookies.get("csrftoken")}


def post(client, path: str, body: dict):
    return client.post(path, json=body, headers=csrf(client))


def param(domain: str, concept: int, name: str, **extra) -> dict:
    return {"parameterId": f"p{concept}", "domain": domain, "type": "SNOMED", "conceptId": concept, "name": name, **extra}


def group(gid: str, *items: dict, **extra) -> dict:
    return {"id": gid, "items": list(items), **extra}


def item(iid: str, domain: str, *params: dict, **extra) -> dict:
    return {"id": iid, "type": domain, "searchParameters": list(params), **extra}


T2DM = item("i1", "CONDITION", param("CONDITION", f.T2DM, "Type 2 diabetes mellitus", group=True))
HTN = item("i2", "CONDITION", param("CONDITION", f.HTN, "Essential hypertension"))
DEFINITION = {"includes": [group("g1", T2DM)], "excludes": [group("g2", HTN)], "dataFilters": ["has_ehr_data"]}


def page_config(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="builder-config">(.*?)</script>', html, re.S)
    assert found, html[:2000]
    return json.loads(found.group(1))


def test_results_give_count_group_and_item_counts_attrition_and_sentence(cohort_ws):
    r = post(cohort_ws.client, f"{BASE}/results", {"definition": DEFINITION})
    assert r.status_code == 200, r.text
    data = r.json()
    # T2DM or a descendant: persons 1, 2, 6; hypertension: 2, 3, 7; with EHR data: 1-7 but 5 and 8 (no events).
    assert data["count"] == 2
    assert data["groups"] == {"g1": 3, "g2": 3}
    assert data["items"] == {"i1": 3, "i2": 3}
    assert [(s["kind"], s["matched"], s["remaining"]) for s in data["attrition"]] == [
        ("all", 8, 8), ("filter", 6, 6), ("include", 3, 3), ("exclude", 3, 2)]
    assert data["sentence"] == ("Participants with electronic health record data who have [Type 2 diabetes mellitus "
                                "(or a descendant)], and not [Essential hypertension].")
    # persons 1 (M, born 1950) and 6 (M, born 2000): one in each age band, both race concept rows
    assert sorted((row["value"], row["age_band"], row["count"]) for row in data["demographics"]["gender"]) == [
        (8507, "18-29", 1), (8507, "60-69", 1)]


def test_a_suppressed_group_stays_in_the_definition_but_leaves_the_count(cohort_ws):
    definition = {**DEFINITION, "excludes": [group("g2", HTN, suppressed=True)]}
    data = post(cohort_ws.client, f"{BASE}/results", {"definition": definition}).json()
    assert data["count"] == 3
    assert data["groups"]["g2"] is None
    assert [s["kind"] for s in data["attrition"]] == ["all", "filter", "include"]


def test_an_invalid_definition_is_refused_naming_the_json_path(cohort_ws):
    bad = {"includes": [group("g1", item("i1", "CONDITION", {"parameterId": "p", "domain": "CONDITION", "type": "SNOMED"}))]}
    r = post(cohort_ws.client, f"{BASE}/results", {"definition": bad})
    assert r.status_code == 422
    assert "definition.includes[0].items[0].searchParameters[0].conceptId" in r.text


def test_genomics_criteria_are_refused_in_a_registered_tier_workspace(cohort_ws):
    genome = {"includes": [group("g1", item("i1", "WHOLE_GENOME_VARIANT", {"parameterId": "p", "domain": "WHOLE_GENOME_VARIANT",
                                                                             "type": "WHOLE_GENOME_VARIANT"}))]}
    r = post(cohort_ws.client, f"{BASE}/results", {"definition": genome})
    assert r.status_code == 422
    assert "definition.includes[0].items[0].type" in r.text and "Controlled Tier workspaces only" in r.text
    config = page_config(cohort_ws.client.get("/workspaces/study/cohorts/new").text)
    offered = {entry["domain"] for section in config["menu"] for entry in section["items"]}
    assert "WHOLE_GENOME_VARIANT" not in offered and "ARRAY_DATA" not in offered and "CONDITION" in offered


def test_browse_gives_one_level_with_item_and_rollup_counts(cohort_ws):
    roots = cohort_ws.client.get(f"{BASE}/browse?domain=CONDITION").json()
    assert [(n["concept_id"], n["item_count"], n["rollup_count"], n["has_children"]) for n in roots["nodes"]] == [
        (f.ROOT, 0, 4, True), (f.HTN, 3, 3, False)]
    below = cohort_ws.client.get(f"{BASE}/browse?domain=CONDITION&parent={f.DM}").json()
    assert [(n["concept_id"], n["name"]) for n in below["nodes"]] == [(f.T2DM, "Type 2 diabetes mellitus")]
    sources = cohort_ws.client.get(f"{BASE}/browse?domain=CONDITION&standard=false").json()
    assert [(n["code"], n["vocabulary_id"]) for n in sources["nodes"]] == [("E11.9", "ICD10CM")]
    modules = cohort_ws.client.get(f"{BASE}/browse?domain=SURVEY").json()
    assert [(n["concept_id"], n["name"], n["level"]) for n in modules["nodes"]] == [(f.BASICS, "The Basics", "module")]


def test_a_draft_is_kept_per_user_and_brought_back_on_the_page(cohort_ws):
    r = post(cohort_ws.client, f"{BASE}/draft", {"name": "Diabetes", "definition": {"includes": [group("g1", T2DM)]}})
    assert r.status_code == 200, r.text
    config = page_config(cohort_ws.client.get("/workspaces/study/cohorts/new").text)
    assert config["draft"]["name"] == "Diabetes" and config["draft"]["definition"]["includes"][0]["id"] == "g1"
    # another writer has no draft of it
    writer = cohort_ws.sign_in("writer@state.edu")
    assert page_config(writer.get("/workspaces/study/cohorts/new").text)["draft"] is None
    # incomplete work is a draft too (it is not counted, but it is kept)
    assert post(cohort_ws.client, f"{BASE}/draft", {"definition": {"includes": []}}).status_code == 200


def test_save_makes_a_cohort_then_versions_and_refuses_a_stale_save(cohort_ws):
    post(cohort_ws.client, f"{BASE}/draft", {"name": "Diabetes", "definition": DEFINITION})
    r = post(cohort_ws.client, f"{BASE}/save", {"name": "Diabetes", "definition": DEFINITION})
    assert r.status_code == 200, r.text
    saved = r.json()
    assert saved["version"] == 1 and saved["url"] == f"/workspaces/study/cohorts/{saved['cohort']}/build"
    with cohort_ws.wb.db.session() as session:
        assert session.scalars(select(CohortDraft)).all() == []  # saving forgets the draft
        resource = session.get(Resource, saved["cohort"])
        assert (resource.kind, resource.name, resource.version) == ("cohort", "Diabetes", 1)
        assert session.scalar(select(AuditEvent).where(AuditEvent.action == "resource_created").order_by(AuditEvent.seq.desc())).details["via"] == "cohort builder"
    changed = {**DEFINITION, "dataFilters": []}
    r2 = post(cohort_ws.client, f"{BASE}/save", {"cohort": saved["cohort"], "expected_version": 1, "name": "Diabetes",
                                                 "definition": changed})
    assert r2.json()["version"] == 2
    stale = post(cohort_ws.client, f"{BASE}/save", {"cohort": saved["cohort"], "expected_version": 1, "name": "Diabetes",
                                                    "definition": DEFINITION})
    assert stale.status_code == 409 and "version 2" in stale.json()["error"]
    copy = post(cohort_ws.client, f"{BASE}/save", {"cohort": saved["cohort"], "save_as": True, "name": "Diabetes copy",
                                                   "definition": DEFINITION}).json()
    assert copy["cohort"] != saved["cohort"] and copy["version"] == 1
    duplicate = post(cohort_ws.client, f"{BASE}/save", {"name": "Diabetes", "definition": DEFINITION})
    assert duplicate.status_code == 422 and "name" in duplicate.text


def test_a_reader_sees_a_saved_cohort_read_only_and_may_count_but_not_change(cohort_ws):
    saved = post(cohort_ws.client, f"{BASE}/save", {"name": "Diabetes", "definition": DEFINITION}).json()
    reader = cohort_ws.sign_in("reader@state.edu")
    page = reader.get(f"/workspaces/study/cohorts/{saved['cohort']}/build")
    assert page.status_code == 200
    config = page_config(page.text)
    assert config["editable"] is False and config["saved"]["excludes"][0]["id"] == "g2"
    assert reader.get("/workspaces/study/cohorts/new").status_code == 403
    assert post(reader, f"{BASE}/results", {"definition": DEFINITION}).json()["count"] == 2
    assert post(reader, f"{BASE}/draft", {"definition": DEFINITION}).status_code == 403
    assert post(reader, f"{BASE}/save", {"name": "Mine", "definition": DEFINITION}).status_code == 403


def test_create_dataset_after_saving_makes_a_dataset_of_the_cohort(cohort_ws):
    saved = post(cohort_ws.client, f"{BASE}/save", {"name": "Diabetes", "definition": DEFINITION}).json()
    r = cohort_ws.client.post(f"{BASE}/dataset?cohort={saved['cohort']}", headers=csrf(cohort_ws.client))
    assert r.status_code == 200, r.text
    with cohort_ws.wb.db.session() as session:
        dataset = session.get(Resource, r.json()["dataset"])
        assert (dataset.kind, dataset.name) == ("dataset", "Diabetes dataset")
    again = cohort_ws.client.post(f"{BASE}/dataset?cohort={saved['cohort']}", headers=csrf(cohort_ws.client)).json()
    with cohort_ws.wb.db.session() as session:
        assert session.get(Resource, again["dataset"]).name == "Diabetes dataset 2"


def test_a_post_without_the_csrf_header_is_refused(cohort_ws):
    r = cohort_ws.client.post(f"{BASE}/results", json={"definition": DEFINITION})
    assert r.status_code == 403
