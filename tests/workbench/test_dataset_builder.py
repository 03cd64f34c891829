"""The Dataset Builder's pages and the JSON they call: the pages by role, the preview of unsaved selections (exact
rows), the code of unsaved selections and of a saved dataset (the dataset API's very text), save / update / stale
409 / a description required, bad selections refused naming their place, and the audit log.

The data is the Cohort Builder's fixture CDR (8 persons; ``tests/cohort_builder/fixture.py``): the cohort
"diabetes or hypertension" holds persons 1, 2, 3, 4, 6 and 7; the concept set {201820 standard} (diabetes and its
descendants) gives the condition rows of ``test_dataset_api.EXPECTED_CONDITIONS``.
"""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from research_workbench.datasets.prepackaged import WHOLE_DOMAINS
from research_workbench.state.models import AuditEvent, Resource

from ..cohort_builder import fixture as f
from .cohort_data import cohort_ws, fixture_cdr  # noqa: F401
from .conftest import ALL_RT, make_user
from .test_dataset_api import CONDITION_COLUMNS, DIABETES, EXPECTED_CONDITIONS, accesses, writer
from .test_reviews import DM_OR_HTN, save_cohort

BASE = "/workspaces/study/dataset-builder"
LANGUAGES = ("python-pandas", "python-polars", "r", "sql")
NO_DRUG_SET = ("no concept set of the DRUG domain is chosen: choose one (or the domain's prepackaged set) or leave "
               "its columns out")


def csrf(client) -> dict:
    client.get("/workspaces/study/data")
    return {"x-csrftoken": client.cookies.get("csrftoken")}


def post(client, path: str, body: dict):
    return client.post(path, json=body, headers=csrf(client))


def page_config(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="dataset-builder-config">(.*?)</script>', html, re.S)
    assert found, html[:2000]
    return json.loads(found.group(1))


@pytest.fixture
def made(cohort_ws):
    """(the cohort "DM or HTN", the concept set "Diabetes" of CONDITION), saved in the workspace."""
    cohort = save_cohort(cohort_ws.client, "DM or HTN", DM_OR_HTN)
    r = writer(cohort_ws).post("/api/workspaces/study/resources", json={"kind": "concept_set", "name": "Diabetes",
                                                                        "content": DIABETES})
    assert r.status_code == 201, r.text
    return cohort, r.json()["id"]


def selections(cohort: int, concept_set: int, **extra) -> dict:
    return {"cohorts": [cohort], "concept_sets": [concept_set], "prepackaged": ["demographics"],
            "values": {"PERSON": ["person_id", "gender_concept_id"], "CONDITION": CONDITION_COLUMNS}, **extra}


def save(client, content: dict, name: str = "DM data", description: str = "Diabetes rows of the DM or HTN cohort.",
         **extra):
    return post(client, f"{BASE}/save", {"name": name, "description": description, "content": content, **extra})


def events(cohort_ws, action: str) -> list[dict]:
    with cohort_ws.wb.db.session() as session:
        return [e.details for e in session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                                   .order_by(AuditEvent.seq))]


# -- the pages ----------------------------------------------------------------------------------------------------

def test_a_writer_gets_the_three_columns_a_reader_a_read_only_page_and_a_stranger_404(cohort_ws, made):
    cohort, concept_set = made
    new = cohort_ws.client.get("/workspaces/study/datasets/new")
    assert new.status_code == 200
    config = page_config(new.text)
    assert config["editable"] is True and config["saved"] is None and config["dataset"] is None
    assert config["cohorts"] == [{"id": cohort, "name": "DM or HTN"}]
    assert config["concept_sets"] == [{"id": concept_set, "name": "Diabetes", "domain": "CONDITION",
                                       "domain_label": "Conditions", "concepts": 1}]
    # the prepackaged sets, with one entry per survey module of the data version (the fixture has The Basics)
    assert [(p["name"], p["label"], p["domain"]) for p in config["prepackaged"]] == [
        ("demographics", "Demographics", "PERSON"), ("all_surveys", "All surveys", "SURVEY"),
        (f"survey:{f.BASICS}", "Survey: The Basics", "SURVEY"),
        ("physical_measurements", "Physical measurements", "PHYSICAL_MEASUREMENT"),
        *[(name, what, domain.value) for name, (domain, what) in WHOLE_DOMAINS.items() if name.startswith("fitbit_")]]
    assert len(config["prepackaged"]) == 11  # the fixture's CDR has every wearable table (empty)
    condition = {c["name"]: c for c in config["catalogue"]["CONDITION"]["columns"]}
    assert condition["age_at_event"] == {"name": "age_at_event", "type": "INTEGER", "default": False,
                                         "description": "The participant's age in whole years on the event's date."}
    assert [language["key"] for language in config["languages"]] == list(LANGUAGES)
    for heading in ("Select cohorts", "Select concept sets (rows)", "Select values (columns)", "Code", "Preview"):
        assert heading in new.text
    assert 'id="open-save"' in new.text and "<script>" not in new.text and "style=" not in new.text

    dataset = save(cohort_ws.client, selections(cohort, concept_set)).json()["resource_id"]
    for email in ("owner@state.edu", "writer@state.edu"):
        client = cohort_ws.client if email == "owner@state.edu" else cohort_ws.sign_in(email)
        built = page_config(client.get(f"/workspaces/study/datasets/{dataset}/build").text)
        assert built["editable"] is True and (built["dataset"], built["version"], built["name"]) == (dataset, 1, "DM data")
        assert built["saved"] == selections(cohort, concept_set)
        assert built["description"] == "Diabetes rows of the DM or HTN cohort."

    reader = cohort_ws.sign_in("reader@state.edu")
    page = reader.get(f"/workspaces/study/datasets/{dataset}/build")
    assert page.status_code == 200 and page_config(page.text)["editable"] is False
    assert 'id="open-save"' not in page.text and "You are a Reader" in page.text
    assert reader.get("/workspaces/study/datasets/new").status_code == 403
    assert post(reader, f"{BASE}/preview", {"content": selections(cohort, concept_set), "table": "PERSON"}).status_code == 200
    assert post(reader, f"{BASE}/code", {"content": selections(cohort, concept_set), "language": "r",
                                         "resource_id": dataset}).status_code == 200
    assert save(reader, selections(cohort, concept_set), resource_id=dataset, expected_version=1).status_code == 403

    # someone who holds the tier but is no member: the workspace does not exist, whatever the body says
    stranger = make_user(cohort_ws.wb, "eve@state.edu", modules=ALL_RT).sign_in()
    assert stranger.get("/workspaces/study/datasets/new").status_code == 404
    assert stranger.get(f"/workspaces/study/datasets/{dataset}/build").status_code == 404
    token = {"x-csrftoken": (stranger.get("/profile"), stranger.cookies.get("csrftoken"))[1]}
    for path, body in (("preview", {"content": {}, "table": "PERSON"}), ("code", {"nonsense": True}), ("save", {})):
        answer = stranger.post(f"{BASE}/{path}", json=body, headers=token)
        assert answer.status_code == 404, answer.text
    # a resource that is not a dataset has no builder page
    assert cohort_ws.client.get(f"/workspaces/study/datasets/{cohort}/build").status_code == 404
    assert cohort_ws.client.get("/workspaces/study/datasets/999/build").status_code == 404


def test_the_data_tab_and_the_cohort_builder_lead_to_the_dataset_builder(cohort_ws, made):
    cohort, _ = made
    data = cohort_ws.client.get("/workspaces/study/data").text
    assert '<a class="button secondary" href="/workspaces/study/datasets/new">Create dataset</a>' in data
    assert "/datasets/new" not in cohort_ws.sign_in("reader@state.edu").get("/workspaces/study/data").text
    made_here = cohort_ws.client.post(f"/workspaces/study/cohort-builder/dataset?cohort={cohort}",
                                      headers=csrf(cohort_ws.client)).json()
    assert made_here["url"] == f"/workspaces/study/datasets/{made_here['dataset']}/build"
    config = page_config(cohort_ws.client.get(made_here["url"]).text)
    assert config["saved"]["cohorts"] == [cohort] and "PERSON" in config["saved"]["values"]
    assert config["name"] == "DM or HTN dataset"


# -- preview ------------------------------------------------------------------------------------------------------

def test_the_preview_of_unsaved_selections_gives_the_exact_rows_and_is_audited(cohort_ws, made):
    cohort, concept_set = made
    client = cohort_ws.client
    conditions = post(client, f"{BASE}/preview", {"content": selections(cohort, concept_set), "table": "CONDITION"})
    assert conditions.status_code == 200, conditions.text
    assert conditions.json()["columns"] == CONDITION_COLUMNS
    assert [tuple(r.values()) for r in conditions.json()["rows"]] == [
        (p, e, n, d.isoformat(), a) for p, e, n, d, a in EXPECTED_CONDITIONS]
    person = post(client, f"{BASE}/preview", {"content": selections(cohort, concept_set), "table": "PERSON"}).json()
    assert person == {"table": "PERSON", "columns": ["person_id", "gender_concept_id"], "rows": [
        {"person_id": 1, "gender_concept_id": 8507}, {"person_id": 2, "gender_concept_id": 8532},
        {"person_id": 3, "gender_concept_id": 8532}, {"person_id": 4, "gender_concept_id": 8507},
        {"person_id": 6, "gender_concept_id": 8507}, {"person_id": 7, "gender_concept_id": 8532}]}
    # one survey, every participant: The Basics' answers (persons 5 and 7)
    survey = post(client, f"{BASE}/preview", {"table": "SURVEY", "content": {
        "all_participants": True, "prepackaged": [f"survey:{f.BASICS}"],
        "values": {"SURVEY": ["person_id", "question_concept_id", "answer_concept_id"]}}}).json()
    assert survey["rows"] == [{"person_id": 5, "question_concept_id": f.SMOKING, "answer_concept_id": f.YES},
                              {"person_id": 7, "question_concept_id": f.SMOKING, "answer_concept_id": f.NO}]
    # each preview is a participant_access event (purpose dataset_preview), with the persons it reached
    assert accesses(cohort_ws) == [("dataset_preview", 4), ("dataset_preview", 6), ("dataset_preview", 2)]
    with cohort_ws.wb.db.session() as session:
        last = session.scalars(select(AuditEvent).where(AuditEvent.action == "participant_access")
                               .order_by(AuditEvent.seq)).all()[1]
    assert last.details["workspace_id"] == "study" and last.details["persons"]["ids"] == [1, 2, 3, 4, 6, 7]


def test_the_preview_of_a_saved_dataset_being_edited_names_it_in_the_audit_log(cohort_ws, made):
    cohort, concept_set = made
    dataset = save(cohort_ws.client, selections(cohort, concept_set)).json()["resource_id"]
    edited = selections(cohort, concept_set, values={"CONDITION": ["person_id"]})
    rows = post(cohort_ws.client, f"{BASE}/preview", {"content": edited, "table": "CONDITION", "resource_id": dataset})
    assert [r["person_id"] for r in rows.json()["rows"]] == [1, 1, 2, 2, 2, 4, 6]
    assert events(cohort_ws, "participant_access")[-1]["cohort"] == dataset
    # the statuses and annotations of a review set are a table of the selections too
    from .test_reviews import draw
    review_id, r = draw(cohort_ws.client, cohort, size="3")
    assert r.status_code == 303
    review = post(cohort_ws.client, f"{BASE}/preview", {"table": f"review_{review_id}", "content": {
        "cohorts": [cohort], "reviews": [review_id], "values": {"PERSON": ["person_id"]}}}).json()
    assert review["columns"] == ["person_id", "status"] and len(review["rows"]) == 3
    assert {row["status"] for row in review["rows"]} == {"unreviewed"}


# -- code ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("language", LANGUAGES)
def test_the_code_of_a_saved_dataset_without_changes_is_the_apis_and_with_changes_the_next_versions(
        cohort_ws, made, language):
    cohort, concept_set = made
    client = cohort_ws.client
    content = selections(cohort, concept_set)
    comment = "--" if language == "sql" else "#"
    new = post(client, f"{BASE}/code", {"content": content, "language": language})
    assert new.status_code == 200, new.text
    assert new.headers["content-type"].startswith("text/plain")
    assert new.text.startswith(f"{comment} Save the dataset to create this version (version 1): the code reads it "
                               "once saved; 0 stands for the id the dataset gets then.\n")
    assert f'{comment} Dataset "New dataset" (id 0, version 1) of workspace "study", on data version 2026Q4.' in new.text
    named = post(client, f"{BASE}/code", {"content": content, "language": language, "name": "DM data"}).text
    assert 'Dataset "DM data" (id 0, version 1)' in named

    dataset = save(client, content).json()["resource_id"]
    api = client.get(f"/api/workspaces/study/datasets/{dataset}/code", params={"language": language})
    assert api.status_code == 200
    same = post(client, f"{BASE}/code", {"content": content, "language": language, "resource_id": dataset,
                                         "name": "DM data"})
    assert same.text == api.text and "Save the dataset" not in same.text

    changed = {**content, "values": {"CONDITION": ["person_id", "start_date"]}}
    pending = post(client, f"{BASE}/code", {"content": changed, "language": language, "resource_id": dataset})
    first, rest = pending.text.split("\n", 1)
    assert first == f"{comment} Save the dataset to create this version (version 2): the code reads it once saved."
    assert f'Dataset "DM data" (id {dataset}, version 2)' in rest
    if language == "python-pandas":
        assert f"dataset = wb.dataset({dataset}, version=2)" in rest and "person_df" not in rest
        assert 'condition_df = dataset.to_pandas("CONDITION")' in rest
    if language == "r":
        assert f"dataset <- wb$dataset({dataset}L, version = 2L)" in rest
    if language == "sql":
        assert '"e"."condition_start_date" AS "start_date"' in rest and "-- PERSON" not in rest
    # a new name alone is a change too: the next save makes version 2
    renamed = post(client, f"{BASE}/code", {"content": content, "language": language, "resource_id": dataset,
                                            "name": "Diabetes data"}).text
    assert renamed.startswith(f"{comment} Save the dataset to create this version (version 2)")
    assert 'Dataset "Diabetes data"' in renamed


def test_code_refuses_an_unknown_language_and_a_dataset_of_another_kind(cohort_ws, made):
    cohort, concept_set = made
    bad = post(cohort_ws.client, f"{BASE}/code", {"content": selections(cohort, concept_set), "language": "cobol"})
    assert bad.status_code == 422 and bad.json()["problems"][0]["where"] == "language"
    other = post(cohort_ws.client, f"{BASE}/code", {"content": selections(cohort, concept_set), "language": "r",
                                                    "resource_id": cohort})
    assert other.status_code == 404 and "not a dataset" in other.json()["error"]


# -- save ---------------------------------------------------------------------------------------------------------

def test_save_creates_then_versions_refuses_a_stale_save_and_requires_name_and_description(cohort_ws, made):
    cohort, concept_set = made
    client = cohort_ws.client
    created = save(client, selections(cohort, concept_set))
    assert created.status_code == 200, created.text
    body = created.json()
    dataset = body["resource_id"]
    assert body == {"resource_id": dataset, "version": 1, "name": "DM data", "created": True,
                    "description": "Diabetes rows of the DM or HTN cohort.",
                    "url": f"/workspaces/study/datasets/{dataset}/build"}
    with cohort_ws.wb.db.session() as session:
        resource = session.get(Resource, dataset)
        assert (resource.kind, resource.name, resource.version) == ("dataset", "DM data", 1)
    assert events(cohort_ws, "resource_created")[-1] == {
        "workspace": "study", "resource_id": dataset, "kind": "dataset", "name": "DM data", "version": 1,
        "via": "dataset builder"}

    writer_client = cohort_ws.sign_in("writer@state.edu")
    changed = selections(cohort, concept_set, values={"PERSON": ["person_id"]})
    updated = save(writer_client, changed, resource_id=dataset, expected_version=1)
    assert updated.status_code == 200 and updated.json()["version"] == 2 and updated.json()["created"] is False
    assert events(cohort_ws, "resource_updated")[-1]["version"] == 2
    assert events(cohort_ws, "resource_updated")[-1]["via"] == "dataset builder"
    info = client.get(f"/api/workspaces/study/datasets/{dataset}").json()
    assert (info["version"], info["tables"]) == (2, ["PERSON"])

    stale = save(client, selections(cohort, concept_set), resource_id=dataset, expected_version=1)
    assert stale.status_code == 409 and stale.json()["current_version"] == 2
    assert "the current version is 2" in stale.json()["error"]
    unchanged = save(client, changed, resource_id=dataset, expected_version=2)
    assert unchanged.json()["version"] == 2  # nothing changed: no new version
    assert save(client, changed, resource_id=dataset).status_code == 428

    no_description = save(client, selections(cohort, concept_set), name="Another", description="  ")
    assert no_description.status_code == 422
    assert [p["where"] for p in no_description.json()["problems"]] == ["description"]
    no_name = save(client, selections(cohort, concept_set), name="", description="")
    assert [p["where"] for p in no_name.json()["problems"]] == ["name", "description"]
    taken = save(client, selections(cohort, concept_set))
    assert taken.status_code == 422 and taken.json()["problems"][0]["where"] == "name"
    with cohort_ws.wb.db.session() as session:
        assert len(session.scalars(select(Resource).where(Resource.kind == "dataset")).all()) == 1


# -- bad selections -----------------------------------------------------------------------------------------------

def test_bad_selections_are_refused_naming_the_column_they_belong_to(cohort_ws, made):
    cohort, concept_set = made
    client = cohort_ws.client
    # no cohort: the Cohorts column
    for path, extra in (("preview", {"table": "PERSON"}), ("code", {"language": "python-pandas"})):
        refused = post(client, f"{BASE}/{path}", {"content": {"values": {"PERSON": ["person_id"]}}, **extra})
        assert refused.status_code == 422
        assert refused.json()["problems"] == [{"where": "content.cohorts",
                                               "message": "choose at least one cohort, or All participants"}]
    assert save(client, {"values": {"PERSON": ["person_id"]}}).json()["problems"] == [
        {"where": "content.cohorts", "message": "choose at least one cohort, or All participants"}]
    # a concept set of a domain whose columns are not chosen is fine
    fine = post(client, f"{BASE}/preview", {"table": "PERSON", "content": {
        "cohorts": [cohort], "concept_sets": [concept_set], "values": {"PERSON": ["person_id"]}}})
    assert fine.status_code == 200 and len(fine.json()["rows"]) == 6
    # a domain with columns but no concept set: refused naming values.DRUG, for the preview and the SQL
    drugs = {"cohorts": [cohort], "concept_sets": [concept_set], "values": {"PERSON": ["person_id"],
                                                                             "DRUG": ["person_id"]}}
    for path, extra in (("preview", {"table": "PERSON"}), ("code", {"language": "sql"})):
        refused = post(client, f"{BASE}/{path}", {"content": drugs, **extra})
        assert refused.status_code == 422, refused.text
        assert refused.json()["problems"] == [{"where": "content.values.DRUG", "message": NO_DRUG_SET}]
    # a column the catalogue does not have, a prepackaged set that does not exist
    bad = post(client, f"{BASE}/preview", {"table": "PERSON", "content": {
        "cohorts": [cohort], "prepackaged": ["everything"], "values": {"PERSON": ["shoe_size"]}}})
    assert sorted(p["where"] for p in bad.json()["problems"]) == ["content.prepackaged", "content.values.PERSON[0]"]
    # a table the selections do not have
    missing = post(client, f"{BASE}/preview", {"table": "DRUG", "content": selections(cohort, concept_set)})
    assert missing.status_code == 422 and missing.json()["problems"][0]["where"] == "table"
    # the cohort deleted while the page was open
    assert writer(cohort_ws).post(f"/api/workspaces/study/resources/{cohort}/delete").status_code == 204
    gone = post(client, f"{BASE}/preview", {"table": "PERSON", "content": selections(cohort, concept_set)})
    assert gone.status_code == 422
    assert gone.json()["problems"][0]["where"] == "content.cohorts[0]" and "was deleted" in gone.json()["problems"][0]["message"]
    refused = save(client, selections(cohort, concept_set))
    assert refused.status_code == 422 and refused.json()["problems"][0]["where"] == "content.cohorts[0]"
    # nothing was audited: no participant's row was shown
    assert [purpose for purpose, _ in accesses(cohort_ws)] == ["dataset_preview"]


def test_posts_need_the_csrf_header_and_json(cohort_ws, made):
    cohort, concept_set = made
    assert cohort_ws.client.post(f"{BASE}/code", json={"content": {}, "language": "r"}).status_code == 403
    as_form = cohort_ws.client.post(f"{BASE}/code", data={"language": "r"}, headers=csrf(cohort_ws.client))
    assert as_form.status_code == 415
