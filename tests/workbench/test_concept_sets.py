"""Concept set pages (build by search, browse and pasted codes; save; view; import and export OHDSI JSON) and the
criteria API (search with standard mappings; pasted codes), on the Cohort Builder fixture's data version."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from research_workbench.state.models import AuditEvent, Resource, ResourceVersion

from ..cohort_builder import fixture as f
from .cohort_data import cohort_ws, fixture_cdr  # noqa: F401
from .conftest import post

NEW = "/workspaces/study/concept-sets/new"
BUILD = "/workspaces/study/concept-sets/build"


def tray(html: str) -> str:
    found = re.search(r'<input type="hidden" name="tray" id="tray" value="([^"]*)">', html)
    assert found, html[:3000]
    return found.group(1)


def step(client, data: dict, *, domain: str = "CONDITION", form_page: str | None = None):
    """One builder step from the new-set page's form (its hidden fields given in ``data``)."""
    fields = {"domain": domain, "tray": "", "resource": "", "version": "", "trail": "", "name": "", "description": "",
              "q": "", "codes": "", **data}
    return post(client, BUILD, fields, form_page=form_page or f"{NEW}?domain={domain}")


def saved(cohort_ws, resource_id: int) -> tuple[str, str, dict, int]:
    with cohort_ws.wb.db.session() as session:
        resource = session.get(Resource, resource_id)
        version = session.scalar(select(ResourceVersion).where(ResourceVersion.resource_id == resource_id,
                                                               ResourceVersion.version == resource.version))
        return resource.name, resource.description, version.content, resource.version


def make_set(cohort_ws, name="Diabetes", tray_text="201826d 45533023n", description="T2DM and its ICD10CM code") -> int:
    r = step(cohort_ws.client, {"action": "save", "name": name, "description": description, "tray": tray_text})
    assert r.status_code == 303, r.text[:3000]
    return int(r.headers["location"].rsplit("/", 1)[1])


def api_headers(client) -> dict:
    client.get("/workspaces/study/data")
    return {"x-csrftoken": client.cookies.get("csrftoken")}


# -- building ------------------------------------------------------------------------------------------------------

def test_search_shows_hits_with_add_buttons_and_a_source_code_with_its_standard_mapping(cohort_ws):
    r = step(cohort_ws.client, {"action": "search", "q": "E11.9"})
    assert r.status_code == 200, r.text[:2000]
    assert 'name="add" value="45533023n"' in r.text
    assert "→ maps to SNOMED 44054006 Type 2 diabetes mellitus" in r.text
    assert 'name="add" value="201826s"' in r.text  # the mapping's own button
    r = step(cohort_ws.client, {"action": "search", "q": "diabtes mellitus", "tray": "201826s"})
    assert "close spelling" in r.text and ">In the set<" in r.text


def test_a_writer_builds_by_search_toggles_descendants_and_saves(cohort_ws):
    writer = cohort_ws.sign_in("writer@state.edu")
    r = step(writer, {"add": "201826s", "q": "diab"})
    assert r.status_code == 200 and tray(r.text) == "201826s"
    r = step(writer, {"descendants": "201826s", "tray": "201826s"})
    assert tray(r.text) == "201826d" and 'aria-pressed="true"' in r.text
    r = step(writer, {"add": "320128s", "tray": "201826d"})
    assert tray(r.text) == "201826d 320128s"
    r = step(writer, {"remove": "201826d", "tray": "201826d 320128s"})
    assert tray(r.text) == "320128s"
    r = step(writer, {"action": "save", "name": "Hypertension", "description": "essential", "tray": "201826d 320128s"})
    assert r.status_code == 303
    resource_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert r.headers["location"] == f"/workspaces/study/concept-sets/{resource_id}"
    assert saved(cohort_ws, resource_id) == ("Hypertension", "essential", {"domain": "CONDITION", "concepts": [
        {"conceptId": f.T2DM, "standard": True, "includeDescendants": True}, {"conceptId": f.HTN, "standard": True}]}, 1)
    with cohort_ws.wb.db.session() as session:
        last = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert (last.action, last.details["resource_id"], last.details["kind"]) == ("resource_created", resource_id, "concept_set")


def test_the_tree_opens_one_branch_at_a_time_and_goes_back(cohort_ws):
    r = step(cohort_ws.client, {})
    roots = re.findall(r'name="open" value="(\d+)"', r.text)
    assert roots == [str(f.ROOT)]  # hypertension is a root without children: no Open button
    assert 'name="add" value="320128s"' in r.text
    r = step(cohort_ws.client, {"open": str(f.ROOT)})
    assert re.findall(r'name="open" value="(\d+)"', r.text) == [str(f.DM)]
    assert 'value="441840">' in r.text.replace('name="trail" value="441840"', 'value="441840">')
    r = step(cohort_ws.client, {"open": str(f.DM), "trail": str(f.ROOT)})
    assert re.findall(r'name="open" value="(\d+)"', r.text) == [str(f.T2DM)]
    assert 'name="trail_to" value="441840"' in r.text and "<strong>Diabetes mellitus</strong>" in r.text
    r = step(cohort_ws.client, {"trail_to": str(f.ROOT), "trail": f"{f.ROOT} {f.DM}"})
    assert re.findall(r'name="open" value="(\d+)"', r.text) == [str(f.DM)]
    r = step(cohort_ws.client, {"action": "top", "trail": f"{f.ROOT} {f.DM}"})
    assert re.findall(r'name="open" value="(\d+)"', r.text) == [str(f.ROOT)]


def test_pasted_codes_add_their_standard_concepts_and_list_the_unmatched_and_other_domains(cohort_ws):
    r = step(cohort_ws.client, {"action": "paste", "codes": "E11.9, Z99.9\n4548-4 ICD10CM:e119", "map": "on"})
    assert r.status_code == 200
    assert tray(r.text) == "201826s"
    assert "E11.9 → SNOMED 44054006 Type 2 diabetes mellitus" in r.text
    assert "<li>Z99.9: no concept has this code</li>" in r.text
    assert "Of another domain than conditions, not added: 4548-4" in r.text
    r = step(cohort_ws.client, {"action": "paste", "codes": "E11.9"})  # the box unticked: the source concept itself
    assert tray(r.text) == "45533023n"


def test_survey_sets_browse_modules_and_add_questions(cohort_ws):
    r = step(cohort_ws.client, {}, domain="SURVEY")
    assert re.findall(r'name="open" value="([^"]+)"', r.text) == [f"{f.BASICS}:module"]
    assert 'name="add"' not in r.text  # a module is not a concept of a survey set
    r = step(cohort_ws.client, {"open": f"{f.BASICS}:module"}, domain="SURVEY")
    assert f'name="add" value="{f.SMOKING}n"' in r.text and "Smoking: 100 Cigs Lifetime" in r.text


def test_saving_needs_a_name_and_a_concept_and_at_most_a_thousand(cohort_ws):
    r = step(cohort_ws.client, {"action": "save", "name": "Empty"})
    assert r.status_code == 422 and "add at least one concept" in r.text
    r = step(cohort_ws.client, {"action": "save", "name": " ", "tray": "201826s"})
    assert r.status_code == 422 and "1 to 80 characters" in r.text and tray(r.text) == "201826s"
    many = " ".join(f"{i}s" for i in range(1, 1001))
    r = step(cohort_ws.client, {"add": "201826s", "tray": many})
    assert r.status_code == 422 and "at most 1,000 concepts (MAX_CONCEPTS_PER_SET)" in r.text
    r = step(cohort_ws.client, {"action": "save", "name": "Drugs", "tray": f"{f.METFORMIN}s 201826s 45533023n 99999999s"}, domain="DRUG")
    assert r.status_code == 422  # a concept the vocabulary does not know passes
    assert sorted(set(re.findall(r"concept (\d+) is of the Condition domain, not drug exposures: remove it", r.text))) == [
        "201826", "45533023"]


def test_damaged_hidden_fields_are_refused(cohort_ws):
    for data in ({"tray": "201826x"}, {"tray": "0s"}, {"resource": "abc"}, {"trail": "1:answer"}, {"add": "drop table"}):
        r = step(cohort_ws.client, data)
        assert r.status_code == 422, (data, r.status_code)
    r = step(cohort_ws.client, {}, domain="PERSON", form_page=f"{NEW}?domain=CONDITION")
    assert r.status_code == 422


def test_editing_a_saved_set_makes_a_new_version_and_a_stale_save_is_refused(cohort_ws):
    resource_id = make_set(cohort_ws)
    page = f"/workspaces/study/concept-sets/{resource_id}"
    r = cohort_ws.client.get(page)
    assert r.status_code == 200 and tray(r.text) == "201826d 45533023n" and "Save as version 2" in r.text
    base = {"resource": str(resource_id), "name": "Diabetes", "description": "T2DM and its ICD10CM code"}
    r = step(cohort_ws.client, {**base, "version": "1", "action": "save", "tray": "201826d"}, form_page=page)
    assert r.status_code == 303
    assert saved(cohort_ws, resource_id)[2:] == ({"domain": "CONDITION", "concepts": [
        {"conceptId": f.T2DM, "standard": True, "includeDescendants": True}]}, 2)
    r = step(cohort_ws.client, {**base, "version": "1", "action": "save", "tray": "320128s"}, form_page=page)
    assert r.status_code == 409 and "current version is 2" in r.text
    assert tray(r.text) == "320128s" and 'name="version" value="2"' in r.text  # saving again replaces version 2


def test_a_reader_views_and_exports_but_cannot_build(cohort_ws):
    resource_id = make_set(cohort_ws)
    reader = cohort_ws.sign_in("reader@state.edu")
    r = reader.get(f"/workspaces/study/concept-sets/{resource_id}")
    assert r.status_code == 200 and 'id="concept-set-form"' not in r.text
    assert "Type 2 diabetes mellitus without complications" in r.text and "Standard, with descendants" in r.text
    assert reader.get(NEW).status_code == 403
    r = reader.post(BUILD, data={"csrftoken": api_headers(reader)["x-csrftoken"], "domain": "CONDITION", "tray": "201826s",
                                 "action": "save", "name": "x"})
    assert r.status_code == 403
    r = reader.get(f"/workspaces/study/concept-sets/{resource_id}/export")
    assert r.status_code == 200 and r.headers["content-disposition"] == 'attachment; filename="diabetes.json"'
    assert [(i["concept"]["CONCEPT_ID"], i["concept"]["CONCEPT_CODE"], i["includeDescendants"]) for i in r.json()["items"]] == [
        (f.T2DM, "44054006", True), (f.E11_9, "E11.9", False)]
    wrapped = reader.get(f"/workspaces/study/concept-sets/{resource_id}/export?wrapped=true").json()
    assert (wrapped["name"], wrapped["description"]) == ("Diabetes", "T2DM and its ICD10CM code")


def test_other_kinds_and_other_workspaces_are_not_found(cohort_ws):
    with cohort_ws.wb.db.session() as session:
        workspace_id = session.scalar(select(Resource.workspace_id).limit(1))
    assert workspace_id is None  # no resources yet
    r = post(cohort_ws.client, "/workspaces/study/resources", {"kind": "notebook", "name": "nb", "description": "",
                                                                "content": '{"language": "python", "source": ""}'},
             form_page="/workspaces/study/data")
    notebook = int(r.headers["location"].rsplit("/", 1)[1])
    assert cohort_ws.client.get(f"/workspaces/study/concept-sets/{notebook}").status_code == 404
    assert cohort_ws.client.get("/workspaces/study/concept-sets/999").status_code == 404
    assert cohort_ws.client.get("/workspaces/nowhere/concept-sets/new").status_code == 404


# -- import and export ---------------------------------------------------------------------------------------------

def test_imported_json_opens_in_the_builder_with_what_was_resolved(cohort_ws):
    document = {"name": "From ATLAS", "expression": {"items": [
        {"concept": {"CONCEPT_ID": f.DM}, "includeDescendants": True},
        {"concept": {"CONCEPT_ID": f.T2DM_A}, "isExcluded": True},
        {"concept": {"CONCEPT_ID": f.T2DM}, "includeMapped": True}]}}
    r = post(cohort_ws.client, "/workspaces/study/concept-sets/import", {"json": json.dumps(document), "domain": "", "name": "",
                                                                         "description": ""})
    assert r.status_code == 200, r.text[:3000]
    assert tray(r.text) == f"{f.DM}s {f.T2DM}s {f.T2DM_B}s {f.E11_9}n"
    assert 'value="From ATLAS"' in r.text and "not saved yet" in r.text
    assert f"the descendants of concept {f.DM} were listed one by one (3 concepts)" in r.text
    assert f"1 source concept mapped to concept {f.T2DM} added: {f.E11_9}" in r.text


def test_import_problems_name_the_json_path(cohort_ws):
    page = "/workspaces/study/concept-sets/import"
    r = post(cohort_ws.client, page, {"json": '{"items": [{"concept": {"CONCEPT_ID": "x"}}]}', "domain": "", "name": "",
                                      "description": ""})
    assert r.status_code == 422 and "items[0].concept.CONCEPT_ID: must be a concept id" in r.text
    r = post(cohort_ws.client, page, {"json": "", "domain": "", "name": "", "description": ""})
    assert r.status_code == 422 and "paste the JSON or choose a file" in r.text
    r = post(cohort_ws.client, page, {"json": json.dumps({"items": [{"concept": {"CONCEPT_ID": f.T2DM}}]}), "domain": "DRUG",
                                      "name": "", "description": ""})
    assert r.status_code == 422 and f"concept {f.T2DM} is of the CONDITION domain, not DRUG" in r.text


def test_export_then_import_round_trips(cohort_ws):
    resource_id = make_set(cohort_ws)
    exported = cohort_ws.client.get(f"/workspaces/study/concept-sets/{resource_id}/export?wrapped=true").text
    r = post(cohort_ws.client, "/workspaces/study/concept-sets/import", {"json": exported, "domain": "", "name": "Copy",
                                                                         "description": ""})
    assert r.status_code == 200 and tray(r.text) == "201826d 45533023n" and 'value="Copy"' in r.text


# -- the API -------------------------------------------------------------------------------------------------------

def test_api_search_gives_hits_with_maps_to(cohort_ws):
    reader = cohort_ws.sign_in("reader@state.edu")
    r = reader.get("/api/workspaces/study/criteria/search", params={"q": "E11.9"})
    assert r.status_code == 200
    data = r.json()
    assert (data["term"], data["domain"], data["count"]) == ("E11.9", None, 1)
    assert data["results"][0] == {
        "concept_id": f.E11_9, "domain": "CONDITION", "is_standard": False, "name": "Type 2 diabetes mellitus without complications",
        "code": "E11.9", "vocabulary_id": "ICD10CM", "count": 1, "fuzzy": False,
        "maps_to": [{"concept_id": f.T2DM, "name": "Type 2 diabetes mellitus", "vocabulary_id": "SNOMED", "code": "44054006", "count": 3}]}
    r = reader.get("/api/workspaces/study/criteria/search", params={"q": "diabetes", "domain": "CONDITION", "standard": "true"})
    assert [h["concept_id"] for h in r.json()["results"]] == [f.DM, f.T2DM, f.T2DM_B, f.T2DM_A]
    assert reader.get("/api/workspaces/study/criteria/search", params={"q": "x", "domain": "GENES"}).status_code == 422
    assert reader.get("/api/workspaces/study/criteria/search").status_code == 422
    assert reader.get("/api/workspaces/nowhere/criteria/search", params={"q": "x"}).status_code == 404


def test_api_codes_match_gives_matches_mappings_counts_and_other_domains(cohort_ws):
    client = cohort_ws.client
    r = client.post("/api/workspaces/study/codes/match", json={"text": "E11.9 4548-4 nope", "domain": "CONDITION"},
                    headers=api_headers(client))
    assert r.status_code == 200, r.text
    data = r.json()
    assert [(m["input"], m["status"], [c["concept_id"] for c in m["concepts"]]) for m in data["matches"]] == [
        ("E11.9", "matched", [f.E11_9]), ("4548-4", "matched", [f.HBA1C]), ("nope", "unmatched", [])]
    e11 = data["matches"][0]["concepts"][0]
    assert (e11["count"], e11["standard"], [(t["concept_id"], t["count"]) for t in e11["maps_to"]]) == (1, False, [(f.T2DM, 3)])
    assert (data["unmatched"], data["other_domain"], data["domain"], data["counts"]) == (
        ["nope"], ["4548-4"], "CONDITION", {"matched": 2, "ambiguous": 0, "unmatched": 1})


def test_api_codes_match_refuses_bad_input_and_needs_the_csrf_header(cohort_ws):
    client = cohort_ws.client
    headers = api_headers(client)
    r = client.post("/api/workspaces/study/codes/match", json={"text": " ; "}, headers=headers)
    assert r.status_code == 422 and r.json()["problems"] == [{"where": "body.text", "message": "paste at least one code"}]
    r = client.post("/api/workspaces/study/codes/match", json={"text": "E11.9", "extra": 1}, headers=headers)
    assert r.status_code == 422 and r.json()["problems"][0]["where"] == "body.extra"
    r = client.post("/api/workspaces/study/codes/match", json={"text": "E11.9"})
    assert r.status_code == 403
