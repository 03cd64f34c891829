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


# -- zip code socioeconomic status: the Controlled Tier only -------------------------------------------------------

ZIP_SET = "zip_code_socioeconomic"
ZIP_COLUMNS = ["person_id", "observation_datetime", "zip3_as_string", "median_income", "deprivation_index",
               "american_community_survey_year"]
ZIP_REFUSED = {
    "where": "content.prepackaged[0]",
    "message": "'zip_code_socioeconomic': Zip code socioeconomic status data is available in the Controlled Tier only "
               "(this workspace is Registered Tier)"}
ZIP_VALUES_REFUSED = {
    "where": "content.values.ZIP_CODE_SOCIOECONOMIC",
    "message": "ZIP_CODE_SOCIOECONOMIC: Zip code socioeconomic status data is available in the Controlled Tier only "
               "(this workspace is Registered Tier)"}


def zip_selections(**extra) -> dict:
    return {"all_participants": True, "prepackaged": [ZIP_SET], "values": {"ZIP_CODE_SOCIOECONOMIC": ZIP_COLUMNS},
            **extra}


def test_a_registered_tier_workspace_is_not_offered_the_zip_set_and_its_json_refuses_it(cohort_ws, made):
    client = cohort_ws.client
    page = client.get("/workspaces/study/datasets/new")
    config = page_config(page.text)
    assert ZIP_SET not in [p["name"] for p in config["prepackaged"]]
    assert (config["tier"], config["controlled_only"]) == ("registered", ["whole_genome", ZIP_SET])
    assert ("Zip code socioeconomic status and Whole genome variants are offered in Controlled Tier workspaces "
            "only.") in page.text
    for path, extra in (("preview", {"table": "ZIP_CODE_SOCIOECONOMIC"}), ("code", {"language": "python-pandas"})):
        refused = post(client, f"{BASE}/{path}", {"content": zip_selections(), **extra})
        assert refused.status_code == 422, refused.text
        assert refused.json()["problems"] == [ZIP_REFUSED, ZIP_VALUES_REFUSED]
    # the columns alone (no set) are refused too, and a save is refused before anything is written
    alone = post(client, f"{BASE}/preview", {"table": "PERSON", "content": {
        "all_participants": True, "values": {"PERSON": ["person_id"], "ZIP_CODE_SOCIOECONOMIC": ["person_id"]}}})
    assert alone.status_code == 422 and alone.json()["problems"] == [ZIP_VALUES_REFUSED]
    saved = save(client, zip_selections())
    assert saved.status_code == 422 and saved.json()["problems"] == [ZIP_REFUSED, ZIP_VALUES_REFUSED]
    with cohort_ws.wb.db.session() as session:
        assert session.scalars(select(Resource).where(Resource.kind == "dataset")).all() == []
    # one written through the resource API (which saves what is valid anywhere) is refused when read
    made_by_api = writer(cohort_ws).post("/api/workspaces/study/resources", json={
        "kind": "dataset", "name": "Zip", "content": zip_selections()})
    assert made_by_api.status_code == 201, made_by_api.text
    dataset = made_by_api.json()["id"]
    for path, params in (("preview", {"table": "ZIP_CODE_SOCIOECONOMIC"}), ("code", {"language": "sql"}),
                         ("data/ZIP_CODE_SOCIOECONOMIC", {})):
        read = client.get(f"/api/workspaces/study/datasets/{dataset}/{path}", params=params)
        assert read.status_code == 422, (path, read.text)
        assert read.json()["problems"] == [ZIP_REFUSED, ZIP_VALUES_REFUSED]
    assert accesses(cohort_ws) == []  # no participant's row was read


@pytest.fixture(scope="module")
def zip_ct_cdr(tmp_path_factory):
    """The zip fixture CDR (``tests/datasets/zip_fixture.py``) as the Controlled Tier of a release."""
    from research_workbench.cohorts.builder.engine import CohortEngine

    from ..datasets import zip_fixture

    cdr = zip_fixture.build(tmp_path_factory.mktemp("zip-ct"), tier="controlled")
    # See tests/datasets/test_zip_socioeconomic.py: the first engine of an index in a process is left unusable for
    # con.sql by the cohort engine; it is spent here.
    CohortEngine(cdr.parent / "cdr.index", cdr_dir=cdr).close()
    return cdr


@pytest.fixture
def ct_ws(wb, zip_ct_cdr):
    """A Controlled Tier workspace ``ct-study`` on the zip fixture, owned by ct@citylab.org (signed in)."""
    from research_workbench.accounts.modules import Module

    from .cohort_data import add_workspace, register_data_version

    owner = make_user(wb, "ct@citylab.org", institution="city-lab", modules=ALL_RT + (Module.CT_TRAINING,))
    dv = register_data_version(wb, zip_ct_cdr, name="2026Q4", tier="controlled")
    add_workspace(wb, "ct-study", dv, {"ct@citylab.org": "OWNER"}, tier="controlled")
    return owner.sign_in()


def ct_post(client, path: str, body: dict):
    client.get("/workspaces/ct-study/data")
    return client.post(f"/workspaces/ct-study/dataset-builder/{path}", json=body,
                       headers={"x-csrftoken": client.cookies.get("csrftoken")})


def test_a_controlled_tier_workspace_is_offered_the_zip_set_previews_its_rows_and_writes_its_code(ct_ws):
    from ..datasets import zip_fixture

    page = ct_ws.get("/workspaces/ct-study/datasets/new")
    assert page.status_code == 200, page.text[:500]
    config = page_config(page.text)
    assert config["tier"] == "controlled" and "offered in Controlled Tier workspaces only" not in page.text
    offered = {p["name"]: p for p in config["prepackaged"]}
    assert offered[ZIP_SET]["label"] == "Zip code socioeconomic status"
    assert offered[ZIP_SET]["domain"] == "ZIP_CODE_SOCIOECONOMIC" and config["prepackaged"][-1]["name"] == ZIP_SET
    columns = config["catalogue"]["ZIP_CODE_SOCIOECONOMIC"]["columns"]
    assert columns[2]["name"] == "zip3_as_string" and all(c["default"] for c in columns)

    preview = ct_post(ct_ws, "preview", {"content": zip_selections(), "table": "ZIP_CODE_SOCIOECONOMIC"})
    assert preview.status_code == 200, preview.text
    assert preview.json()["columns"] == ZIP_COLUMNS
    expected = [(p, when.isoformat(), area, income, deprivation, year)
                for p, when, area, _, _, income, _, _, _, deprivation, year in zip_fixture.EXPECTED]
    assert [tuple(r.values()) for r in preview.json()["rows"]] == expected
    assert expected[0] == (1, "2019-03-01T10:30:00", "070**", 71250.0, 0.41, 2017)

    for language in LANGUAGES:
        code = ct_post(ct_ws, "code", {"content": zip_selections(), "language": language})
        assert code.status_code == 200, (language, code.text)
        if language == "sql":
            assert "-- ZIP_CODE_SOCIOECONOMIC" in code.text and "READ_PARQUET($zip3_ses_map)" in code.text
        else:
            assert 'zip_code_socioeconomic_df' in code.text and '"ZIP_CODE_SOCIOECONOMIC"' in code.text

    saved = ct_post(ct_ws, "save", {"name": "Zip", "description": "Area measures.", "content": zip_selections()})
    assert saved.status_code == 200, saved.text
    data = ct_ws.get(f"/api/workspaces/ct-study/datasets/{saved.json()['resource_id']}/data/ZIP_CODE_SOCIOECONOMIC")
    assert data.status_code == 200, data.text
    import io

    import pyarrow.parquet as pq
    table = pq.read_table(io.BytesIO(data.content))
    assert [r["person_id"] for r in table.to_pylist()] == [1, 2, 5] and table.column_names == ZIP_COLUMNS


# -- whole genome variants: the Controlled Tier only, with a variant selection --------------------------------------

GENOME_SET = "whole_genome"
GENOME_COLUMNS = ["person_id", "variant_id", "rsid", "genotype"]
GENOME_REFUSED = {
    "where": "content.prepackaged[0]",
    "message": "'whole_genome': Whole Genome Variant data is available in the Controlled Tier only (this workspace is "
               "Registered Tier)"}
GENOME_VALUES_REFUSED = {
    "where": "content.values.WHOLE_GENOME_VARIANT",
    "message": "WHOLE_GENOME_VARIANT: Whole Genome Variant data is available in the Controlled Tier only (this "
               "workspace is Registered Tier)"}
# The fixture's calls at TCF7L2 (rs7903146: 1 het, 2 hom, 4 het, 6 missing; rs34872471: 3 het), by person
TCF7L2_ROWS = [(1, "10-114758349-C-T", "rs7903146", 1), (2, "10-114758349-C-T", "rs7903146", 2),
               (3, "10-114800000-G-A", "rs34872471", 1), (4, "10-114758349-C-T", "rs7903146", 1),
               (6, "10-114758349-C-T", "rs7903146", None)]


def genome_selections(selection: dict | None = None, **extra) -> dict:
    return {"all_participants": True, "prepackaged": [GENOME_SET], "values": {"WHOLE_GENOME_VARIANT": GENOME_COLUMNS},
            "genome_selection": selection if selection is not None else {"genes": ["TCF7L2"]}, **extra}


def test_a_registered_tier_workspace_is_not_offered_whole_genome_variants_and_its_json_refuses_them(cohort_ws):
    client = cohort_ws.client
    config = page_config(client.get("/workspaces/study/datasets/new").text)
    assert GENOME_SET not in [p["name"] for p in config["prepackaged"]]
    for path, extra in (("preview", {"table": "WHOLE_GENOME_VARIANT"}), ("code", {"language": "sql"})):
        refused = post(client, f"{BASE}/{path}", {"content": genome_selections(), **extra})
        assert refused.status_code == 422, refused.text
        assert refused.json()["problems"] == [GENOME_REFUSED, GENOME_VALUES_REFUSED]
    saved = save(client, genome_selections())
    assert saved.status_code == 422 and saved.json()["problems"] == [GENOME_REFUSED, GENOME_VALUES_REFUSED]
    made_by_api = writer(cohort_ws).post("/api/workspaces/study/resources", json={
        "kind": "dataset", "name": "Genomes", "content": genome_selections()})
    assert made_by_api.status_code == 201, made_by_api.text
    for path, params in (("preview", {"table": "WHOLE_GENOME_VARIANT"}), ("data/WHOLE_GENOME_VARIANT", {})):
        read = client.get(f"/api/workspaces/study/datasets/{made_by_api.json()['id']}/{path}", params=params)
        assert read.status_code == 422, (path, read.text)
        assert read.json()["problems"] == [GENOME_REFUSED, GENOME_VALUES_REFUSED]
    assert accesses(cohort_ws) == []  # no participant's genotype was read


@pytest.fixture(scope="module")
def genome_ct_cdr(tmp_path_factory):
    """The Cohort Builder's fixture with genomes (persons 1–6), for a Controlled Tier data version."""
    from research_workbench.cohorts.builder.engine import CohortEngine

    cdr = f.build(tmp_path_factory.mktemp("genome-ct"), genomes=True)
    CohortEngine(cdr.parent / "cdr.index", cdr_dir=cdr).close()  # spent: see zip_ct_cdr
    return cdr


@pytest.fixture
def genome_ws(wb, genome_ct_cdr):
    """A Controlled Tier workspace ``ct-genomes`` on the fixture with genomes, owned by gen@citylab.org (signed in)."""
    from research_workbench.accounts.modules import Module

    from .cohort_data import add_workspace, register_data_version

    owner = make_user(wb, "gen@citylab.org", institution="city-lab", modules=ALL_RT + (Module.CT_TRAINING,))
    dv = register_data_version(wb, genome_ct_cdr, name="2026Q4", tier="controlled")
    add_workspace(wb, "ct-genomes", dv, {"gen@citylab.org": "OWNER"}, tier="controlled")
    return owner.sign_in()


def genome_post(client, path: str, body: dict):
    client.get("/workspaces/ct-genomes/data")
    return client.post(f"/workspaces/ct-genomes/dataset-builder/{path}", json=body,
                       headers={"x-csrftoken": client.cookies.get("csrftoken")})


def participant_accesses(wb) -> list[tuple[str, list[int]]]:
    with wb.db.session() as session:
        return [(e.details["purpose"], e.details["persons"]["ids"] if e.details["persons"] else [])
                for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "participant_access")
                                         .order_by(AuditEvent.seq))]


def test_a_controlled_tier_workspace_with_genomes_is_offered_the_set_and_its_variant_form(genome_ws):
    page = genome_ws.get("/workspaces/ct-genomes/datasets/new")
    assert page.status_code == 200, page.text[:500]
    config = page_config(page.text)
    offered = {p["name"]: p for p in config["prepackaged"]}
    assert (offered[GENOME_SET]["label"], offered[GENOME_SET]["domain"]) == ("Whole genome variants",
                                                                             "WHOLE_GENOME_VARIANT")
    assert [p["name"] for p in config["prepackaged"]][-2:] == [ZIP_SET, GENOME_SET]
    assert config["genome"] == {"set": GENOME_SET, "domain": "WHOLE_GENOME_VARIANT", "max_variants": 5000}
    assert config["catalogue"]["WHOLE_GENOME_VARIANT"]["label"] == "Whole genome variants"
    form = re.search(r'<fieldset id="genome-selection".*?</fieldset>', page.text, re.S).group(0)
    assert " hidden " in form and "at most 5,000 variants" in form and "Genomics page" in form
    assert re.findall(r'data-genome-field="([a-z_]+)"', form) == ["rsids", "genes", "regions", "variant_ids", "min_af",
                                                                  "max_af"]
    assert "<script>" not in page.text and "style=" not in page.text  # CSP: no inline script or style
    script = genome_ws.get("/static/dataset_builder.js").text
    assert "window.RW.el" in script and "genome_selection" in script


def test_a_controlled_tier_workspace_without_genomes_is_not_offered_the_set_and_refuses_it(ct_ws):
    config = page_config(ct_ws.get("/workspaces/ct-study/datasets/new").text)
    assert GENOME_SET not in [p["name"] for p in config["prepackaged"]]
    refused = ct_post(ct_ws, "preview", {"content": genome_selections(), "table": "WHOLE_GENOME_VARIANT"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["problems"] == [{
        "where": "content.values.WHOLE_GENOME_VARIANT",
        "message": "this data version has no whole genome variants (its index has no wgs genotype store): "
                   "WHOLE_GENOME_VARIANT cannot be read from it"}]


def test_the_page_previews_the_genotypes_of_the_selection_and_audits_the_read(genome_ws, wb):
    preview = genome_post(genome_ws, "preview", {"content": genome_selections(), "table": "WHOLE_GENOME_VARIANT"})
    assert preview.status_code == 200, preview.text
    assert preview.json()["columns"] == GENOME_COLUMNS
    assert [tuple(r.values()) for r in preview.json()["rows"]] == TCF7L2_ROWS
    assert participant_accesses(wb) == [("dataset_preview", [1, 2, 3, 4, 6])]
    # every variant of the fixture: 15 calls, the preview's first 20 are all of them, in person then genome order
    everything = genome_post(genome_ws, "preview", {"content": genome_selections({"regions": [
        "chr10", "chr16", "chr19", "chr22"]}), "table": "WHOLE_GENOME_VARIANT"}).json()["rows"]
    assert len(everything) == 15 and [r["person_id"] for r in everything] == sorted(r["person_id"] for r in everything)
    assert [r["rsid"] for r in everything if r["person_id"] == 6] == ["rs7903146", "rs9939609", "rs429358", None]


def test_the_pages_json_refuses_a_bad_or_missing_selection_naming_its_place(genome_ws, wb):
    def problems(content: dict) -> list[dict]:
        answer = genome_post(genome_ws, "preview", {"content": content, "table": "WHOLE_GENOME_VARIANT"})
        assert answer.status_code == 422, answer.text
        return answer.json()["problems"]

    assert problems(genome_selections({"regions": ["chr10:9-1"], "rsids": ["rs1", "x"]})) == [
        {"where": "content.genome_selection.rsids[1]", "message": "not an rsID: 'x' (rs followed by digits)"},
        {"where": "content.genome_selection.regions[0]",
         "message": "'chr10:9-1': the region must start at 1 or later and end at or after its start"}]
    required = {"where": "content.genome_selection", "message": "choose the variants: rsIDs, genes, regions or "
                "variant ids (an allele-frequency range alone would mean most of the genome)"}
    assert problems(genome_selections({"min_af": 0.1})) == [required]
    no_selection = genome_selections()
    del no_selection["genome_selection"]
    assert problems(no_selection) == [required]
    assert problems(genome_selections({"genes": ["BRCA2"]})) == [{
        "where": "content.genome_selection",
        "message": "no variant of this data version is gene BRCA2: check the rsIDs, genes, regions and variant ids"}]
    saved = genome_post(genome_ws, "save", {"name": "G", "description": "d", "content": no_selection})
    assert saved.status_code == 422 and saved.json()["problems"] == [required]
    assert participant_accesses(wb) == []


def test_a_saved_genome_dataset_reads_the_same_rows_through_the_api_the_code_and_the_sdk(genome_ws, wb, monkeypatch):
    import io

    import pyarrow.parquet as pq

    from research_workbench.sdk import client as sdk_client

    from .test_resources import token

    saved = genome_post(genome_ws, "save", {"name": "TCF7L2 calls", "description": "Genotypes at TCF7L2.",
                                            "content": genome_selections()})
    assert saved.status_code == 200, saved.text
    dataset = saved.json()["resource_id"]
    base = f"/api/workspaces/ct-genomes/datasets/{dataset}"
    info = genome_ws.get(base).json()
    assert info["tables"] == ["WHOLE_GENOME_VARIANT"]
    assert info["definition"]["genome_selection"] == {"genes": ["TCF7L2"]}
    data = genome_ws.get(f"{base}/data/WHOLE_GENOME_VARIANT")
    assert data.status_code == 200, data.text
    assert [tuple(r.values()) for r in pq.read_table(io.BytesIO(data.content)).to_pylist()] == TCF7L2_ROWS
    sql = genome_ws.get(f"{base}/code", params={"language": "sql"}).text
    assert "-- WHOLE_GENOME_VARIANT\n-- These rows come from the data version's genotype store" in sql
    assert f'dataset({dataset}, version=1).to_pandas("WHOLE_GENOME_VARIANT")' in sql
    genome_block = sql.split("\n\n-- WHOLE_GENOME_VARIANT\n", 1)[1]
    assert genome_block.endswith("-- Variants: gene TCF7L2.\n")
    assert all(line.startswith("--") for line in genome_block.splitlines())  # a comment, no statement

    # the generated Python, run against this Workbench through the SDK, gives the rows the page previews
    api = token(wb, "gen@citylab.org", "workspaces:read", "data:read")
    monkeypatch.setenv(sdk_client.ENV_URL, str(api.base_url))
    monkeypatch.setenv(sdk_client.ENV_TOKEN, api.headers["authorization"].removeprefix("Bearer "))
    monkeypatch.setattr(sdk_client.httpx2, "Client", lambda base_url, headers, timeout: api)
    for language in ("python-pandas", "python-polars"):
        code = genome_ws.get(f"{base}/code", params={"language": language})
        assert code.status_code == 200 and 'whole_genome_variant_df = dataset.' in code.text
        namespace: dict = {}
        exec(compile(code.text, "generated", "exec"), namespace)
        frame = namespace["whole_genome_variant_df"]
        records = frame.to_dicts() if language == "python-polars" else frame.to_dict("records")
        # pandas turns the nullable int8 column with a null into floats (NaN): compare as the values they are
        as_tuples = [tuple(None if v != v else (int(v) if isinstance(v, float) else v) for v in r.values())
                     for r in records]
        assert as_tuples == TCF7L2_ROWS, language
    r_code = genome_ws.get(f"{base}/code", params={"language": "r"}).text
    assert 'whole_genome_variant_df <- read_table("WHOLE_GENOME_VARIANT")' in r_code
    purposes = [purpose for purpose, _ in participant_accesses(wb)]
    assert purposes.count("dataset_read") == 3 and set(purposes) == {"dataset_read"}
