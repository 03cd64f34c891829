"""The Compare cohorts page on the fixture data version (tests/cohort_builder/fixture.py): exact numbers on the page,
and every refusal (a cohort missing, named twice, deleted, of another workspace, saved as Circe) said clearly.

Cohort "Type 2 diabetes" is persons 1, 2 and 6; "Hypertension" is 2, 3 and 7.
"""

from __future__ import annotations

import html
import json
import re

from sqlalchemy import select

from research_workbench.state.models import Resource, ResourceVersion, User, Workspace
from research_workbench.workspaces import resources as res

from .cohort_data import add_workspace, cohort_ws, fixture_cdr  # noqa: F401  (fixtures)
from .conftest import post


def condition(concept: int) -> dict:
    return {"includes": [{"id": "g1", "items": [{"id": "i1", "type": "CONDITION", "searchParameters": [
        {"parameterId": "p1", "domain": "CONDITION", "type": "SNOMED", "conceptId": concept, "group": True}]}]}]}


T2DM, HTN = condition(201826), condition(320128)


def save(client, namespace: str, name: str, content: dict) -> int:
    r = post(client, f"/workspaces/{namespace}/resources",
             {"kind": "cohort", "name": name, "description": "", "content": json.dumps(content)},
             form_page=f"/workspaces/{namespace}/data")
    assert r.status_code == 303, r.text[:2000]
    return int(r.headers["location"].rsplit("/", 1)[1])


def text_of(page: str, element_id: str) -> str:
    """The text inside the element with ``element_id`` (tags dropped, spaces collapsed)."""
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</(dd|p|table|figure)>', page, re.S)
    assert match, f"no element #{element_id}"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split())


def rows_of(page: str, table_id: str) -> list[list[str]]:
    """A table's body rows as lists of cell texts."""
    match = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', page, re.S)
    assert match, f"no table #{table_id}"
    return [[" ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split())
             for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", match.group(1), re.S)]


def problems_of(page: str) -> list[str]:
    summary = re.search(r'id="error-summary">(.*?)</div>', page, re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", li)).split())
            for li in re.findall(r"<li>(.*?)</li>", summary.group(1), re.S)] if summary else []


def test_the_page_shows_the_overlap_demographics_and_differences_with_exact_numbers(cohort_ws):
    a = save(cohort_ws.client, "study", "Type 2 diabetes", T2DM)
    b = save(cohort_ws.client, "study", "Hypertension", HTN)
    r = cohort_ws.client.get(f"/workspaces/study/compare?a={a}&b={b}")
    assert r.status_code == 200, r.text[:2000]
    page = r.text
    assert [text_of(page, i) for i in ("only-a", "both", "only-b", "union", "sizes", "jaccard")] == [
        "2", "1", "2", "5", "A 3 · B 3", "0.20"]
    assert rows_of(page, "demographic-gender-table") == [
        ["Concept 8532", "1 (33.3%)", "3 (100.0%)"], ["Concept 8507", "2 (66.7%)", "0 (0.0%)"]]
    assert rows_of(page, "demographic-age-band-table") == [
        ["18-29", "1 (33.3%)", "0 (0.0%)"], ["40-49", "0 (0.0%)", "1 (33.3%)"], ["60-69", "2 (66.7%)", "1 (33.3%)"],
        ["70-79", "0 (0.0%)", "1 (33.3%)"]]
    assert rows_of(page, "demographic-sex-at-birth-table") == [["Not recorded", "3 (100.0%)", "3 (100.0%)"]]
    assert rows_of(page, "differences-condition") == [
        ["Essential hypertension 320128", "1 (33.3%)", "3 (100.0%)", "−2.00"],
        ["Type 2 diabetes mellitus with renal complication 443732", "1 (33.3%)", "0 (0.0%)", "+1.00"],
        ["Type 2 diabetes mellitus without complication 4193704", "1 (33.3%)", "0 (0.0%)", "+1.00"],
        ["Type 2 diabetes mellitus 201826", "2 (66.7%)", "1 (33.3%)", "+0.71"]]
    assert text_of(page, "differences-condition").startswith("Conditions: 4 of 4 concepts")
    assert rows_of(page, "differences-measurement")[1] == ["Systolic blood pressure 3004249", "1 (33.3%)", "1 (33.3%)", "0.00"]
    assert text_of(page, "no-data-domains") == "No records in either cohort: Procedures, Observations, Physical measurements, Devices."
    # Each chart has its table under a <details> toggle, which opens without JavaScript.
    assert page.count("<summary>Show as table</summary>") == 5
    assert re.search(r'<select id="a" name="a" required>.*?<option value="%d" selected>Type 2 diabetes</option>' % a, page, re.S)


def test_a_cohort_all_of_whom_have_a_concept_that_none_of_the_other_have_shows_infinity(cohort_ws):
    metformin = save(cohort_ws.client, "study", "Metformin", {"includes": [{"id": "g", "items": [{"id": "i", "type": "DRUG", "searchParameters": [
        {"parameterId": "p", "domain": "DRUG", "type": "RXNORM", "conceptId": 1503297, "group": True}]}]}]})
    lisinopril = save(cohort_ws.client, "study", "Lisinopril", {"includes": [{"id": "g", "items": [{"id": "i", "type": "DRUG", "searchParameters": [
        {"parameterId": "p", "domain": "DRUG", "type": "RXNORM", "conceptId": 1308216, "group": True}]}]}]})
    page = cohort_ws.client.get(f"/workspaces/study/compare?a={metformin}&b={lisinopril}").text
    assert rows_of(page, "differences-drug") == [
        ["lisinopril 10 MG Oral Tablet 1308251", "0 (0.0%)", "1 (100.0%)", "−∞"],
        ["metformin 500 MG Oral Tablet 40163924", "2 (100.0%)", "0 (0.0%)", "+∞"]]
    assert [text_of(page, i) for i in ("only-a", "both", "only-b", "jaccard")] == ["2", "0", "1", "0.00"]


def test_a_reader_may_compare_and_the_picker_lists_the_workspace_cohorts(cohort_ws):
    a = save(cohort_ws.client, "study", "Type 2 diabetes", T2DM)
    b = save(cohort_ws.client, "study", "Hypertension", HTN)
    reader = cohort_ws.sign_in("reader@state.edu")
    picker = reader.get("/workspaces/study/compare")
    assert picker.status_code == 200
    assert re.findall(r'<option value="(\d+)">([^<]+)</option>', picker.text.split('id="b"')[0]) == [
        (str(b), "Hypertension"), (str(a), "Type 2 diabetes")]
    assert 'id="overlap"' not in picker.text and problems_of(picker.text) == []
    assert text_of(reader.get(f"/workspaces/study/compare?a={a}&b={b}").text, "union") == "5"


def test_fewer_than_two_cohorts_says_to_save_some(cohort_ws):
    page = cohort_ws.client.get("/workspaces/study/compare").text
    assert text_of(page, "too-few") == "This workspace has 0 cohorts to compare: save at least two on the Data tab ."


def test_the_same_cohort_twice_is_refused(cohort_ws):
    a = save(cohort_ws.client, "study", "Type 2 diabetes", T2DM)
    r = cohort_ws.client.get(f"/workspaces/study/compare?a={a}&b={a}")
    assert r.status_code == 422
    assert problems_of(r.text) == ["b : choose two different cohorts: a cohort compared with itself differs nowhere"]
    assert 'id="overlap"' not in r.text


def test_a_missing_or_malformed_choice_is_refused_naming_the_side(cohort_ws):
    a = save(cohort_ws.client, "study", "Type 2 diabetes", T2DM)
    r = cohort_ws.client.get(f"/workspaces/study/compare?a={a}&b=")
    assert (r.status_code, problems_of(r.text)) == (422, ["b : choose Cohort B"])
    r = cohort_ws.client.get("/workspaces/study/compare?a=first&b=2.5")
    assert (r.status_code, problems_of(r.text)) == (422, ["a : 'first' is not a cohort id (a whole number)",
                                                          "b : '2.5' is not a cohort id (a whole number)"])


def test_a_deleted_cohort_is_no_longer_there(cohort_ws):
    a = save(cohort_ws.client, "study", "Type 2 diabetes", T2DM)
    b = save(cohort_ws.client, "study", "Hypertension", HTN)
    assert post(cohort_ws.client, f"/workspaces/study/resources/{b}/delete", {"version": "1"},
                form_page=f"/workspaces/study/resources/{b}").status_code == 303
    r = cohort_ws.client.get(f"/workspaces/study/compare?a={a}&b={b}")
    assert r.status_code == 404
    assert problems_of(r.text) == [f"b : this workspace has no cohort {b} (it was deleted, or is not one of this "
                                   "workspace's cohorts)"]
    assert 'id="overlap"' not in r.text and f'<option value="{b}"' not in r.text


def test_a_cohort_of_another_workspace_is_never_reachable(cohort_ws):
    with cohort_ws.wb.db.session() as session:
        version = session.scalar(select(Workspace.data_version_id).where(Workspace.namespace == "study"))
    add_workspace(cohort_ws.wb, "elsewhere", version, {"owner@state.edu": "OWNER"})
    theirs = save(cohort_ws.client, "elsewhere", "Their cohort", HTN)
    mine = save(cohort_ws.client, "study", "Type 2 diabetes", T2DM)
    r = cohort_ws.client.get(f"/workspaces/study/compare?a={mine}&b={theirs}")
    assert r.status_code == 404
    assert problems_of(r.text) == [f"b : this workspace has no cohort {theirs} (it was deleted, or is not one of this "
                                   "workspace's cohorts)"]
    assert "Their cohort" not in r.text and 'id="overlap"' not in r.text


def test_someone_outside_the_workspace_gets_404(cohort_ws):
    from .conftest import ALL_RT, make_user

    outsider = make_user(cohort_ws.wb, "outsider@state.edu", modules=ALL_RT).sign_in()
    assert outsider.get("/workspaces/study/compare").status_code == 404


def test_a_cohort_saved_as_an_ohdsi_circe_expression_is_compared_by_its_members(cohort_ws):
    a = save(cohort_ws.client, "study", "Type 2 diabetes", T2DM)
    # Hypertension as ATLAS writes it. The fixture CDR has no observation periods, so Circe finds nobody in it.
    expression = {"ConceptSets": [{"id": 0, "name": "Hypertension", "expression": {"items": [
        {"concept": {"CONCEPT_ID": 320128}, "includeDescendants": True}]}}],
        "PrimaryCriteria": {"CriteriaList": [{"ConditionOccurrence": {"CodesetId": 0}}],
                            "ObservationWindow": {"PriorDays": 0, "PostDays": 0}}}
    now = cohort_ws.wb.clock.now
    with cohort_ws.wb.db.session() as session:  # as the OHDSI import stores one: the expression under "circe"
        owner = session.scalar(select(User.id).where(User.email == "owner@state.edu"))
        ws = session.scalar(select(Workspace.id).where(Workspace.namespace == "study"))
        circe = Resource(workspace_id=ws, kind="cohort", name="From ATLAS", description="", version=1, created_by=owner,
                         created_at=now, updated_by=owner, updated_at=now)
        session.add(circe)
        session.flush()
        session.add(ResourceVersion(resource_id=circe.id, version=1, name="From ATLAS", description="",
                                    content=res.validate_content("cohort", {"circe": expression}), created_by=owner,
                                    created_at=now, note="created"))
        circe_id = circe.id
    picker = cohort_ws.client.get("/workspaces/study/compare").text
    assert f'<option value="{circe_id}">From ATLAS (OHDSI)</option>' in picker
    r = cohort_ws.client.get(f"/workspaces/study/compare?a={a}&b={circe_id}")
    assert r.status_code == 200, r.text[:2000]
    assert [text_of(r.text, i) for i in ("only-a", "both", "only-b", "sizes")] == ["3", "0", "0", "A 3 · B 0"]
    assert text_of(r.text, "no-differences") == "Cohort B has no participants: there are no prevalences to compare."
    assert rows_of(r.text, "demographic-gender-table") == [
        ["Concept 8507", "2 (66.7%)", "0 (0.0%)"], ["Concept 8532", "1 (33.3%)", "0 (0.0%)"]]


def test_a_data_version_without_an_index_says_so(cohort_ws):
    a = save(cohort_ws.client, "study", "Type 2 diabetes", T2DM)
    b = save(cohort_ws.client, "study", "Hypertension", HTN)
    from research_workbench.state.models import DataVersion

    with cohort_ws.wb.db.session() as session:
        session.scalar(select(DataVersion)).index_path = None
    r = cohort_ws.client.get(f"/workspaces/study/compare?a={a}&b={b}")
    assert r.status_code == 503
    assert text_of(r.text, "unavailable") == ("The data version's search index cannot be read: data version 2026Q4 "
                                              "(registered) has no search index")
