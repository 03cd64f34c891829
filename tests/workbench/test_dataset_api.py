"""The dataset API and the SDK over it: a saved dataset's tables, preview, data and code; the code the Workbench
generates, run, gives the rows the Workbench previews (Python with pandas and polars, and the SQL); every read is
audited; a dataset whose cohort was deleted, or whose domain has no concept set, is refused naming the place.

The data is the Cohort Builder's fixture CDR (8 persons; ``tests/cohort_builder/fixture.py``); the cohort
"diabetes or hypertension" holds persons 1, 2, 3, 4, 6 and 7.
"""

from __future__ import annotations

import io
import json
from datetime import date

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from research_workbench.sdk import Workbench, WorkbenchError
from research_workbench.sdk import client as sdk_client
from research_workbench.state.models import AuditEvent

from .cohort_data import cohort_ws, fixture_cdr  # noqa: F401
from .test_resources import token
from .test_reviews import DM_OR_HTN, draw, save_cohort

DIABETES = {"domain": "CONDITION", "concepts": [{"conceptId": 201820, "standard": True}]}
CONDITION_COLUMNS = ["person_id", "event_id", "standard_concept_name", "start_date", "age_at_event"]


def make_dataset(client, cohort: int, **content) -> int:
    made = client.post("/api/workspaces/study/resources", json={"kind": "concept_set", "name": "Diabetes",
                                                                "content": DIABETES})
    assert made.status_code == 201, made.text
    body = {"cohorts": [cohort], "concept_sets": ["Diabetes"], "prepackaged": ["demographics"], "values": {
        "PERSON": ["person_id", "date_of_birth", "gender_concept_id"], "CONDITION": CONDITION_COLUMNS}, **content}
    made = client.post("/api/workspaces/study/resources", json={"kind": "dataset", "name": "DM data",
                                                                "content": body})
    assert made.status_code == 201, made.text
    return made.json()["id"]


def writer(cohort_ws):
    """The owner's API client with a personal token (no CSRF: the API's writes by token)."""
    return token(cohort_ws.wb, "owner@state.edu", "workspaces:read", "workspaces:write")


@pytest.fixture
def dataset(cohort_ws):
    cohort = save_cohort(cohort_ws.client, "DM or HTN", DM_OR_HTN)
    return cohort, make_dataset(writer(cohort_ws), cohort)


EXPECTED_CONDITIONS = [
    (1, 1, "Type 2 diabetes mellitus with renal complication", date(2010, 4, 11), 59),
    (1, 2, "Type 2 diabetes mellitus without complication", date(2011, 1, 1), 60),
    (2, 3, "Type 2 diabetes mellitus", date(2012, 5, 1), 52),
    (2, 4, "Type 2 diabetes mellitus", date(2012, 6, 1), 52),
    (2, 5, "Type 2 diabetes mellitus", date(2013, 1, 1), 53),
    (4, 8, "Diabetes mellitus", date(2000, 1, 1), 19),
    (6, 9, "Type 2 diabetes mellitus", date(2019, 1, 1), 18),
]


def accesses(cohort_ws) -> list[tuple[str, int]]:
    with cohort_ws.wb.db.session() as session:
        return [(e.details["purpose"], e.details["persons"]["count"] if e.details["persons"] else 0)
                for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "participant_access")
                                         .order_by(AuditEvent.seq))]


def test_the_catalogue_lists_every_domains_columns_with_their_dictionary_entry(cohort_ws):
    body = cohort_ws.client.get("/api/dataset-columns").json()
    condition = {c["name"]: c for c in body["domains"]["CONDITION"]}
    assert condition["age_at_event"] == {"name": "age_at_event", "type": "INTEGER", "default": False,
                                         "description": "The participant's age in whole years on the event's date."}
    assert condition["standard_concept_name"]["default"] is True
    assert set(body["prepackaged"]) == {"demographics", "all_surveys", "physical_measurements", "fitbit_activity",
                                        "fitbit_heart_rate_summary", "fitbit_heart_rate_level", "fitbit_intraday_steps",
                                        "fitbit_sleep_daily_summary", "fitbit_sleep_level", "fitbit_device",
                                        "zip_code_socioeconomic", "whole_genome"}
    assert "Controlled Tier only" in body["prepackaged"]["zip_code_socioeconomic"]
    assert [c["name"] for c in body["domains"]["ZIP_CODE_SOCIOECONOMIC"]][:3] == [
        "person_id", "observation_datetime", "zip3_as_string"]
    assert "Controlled Tier only" in body["prepackaged"]["whole_genome"]
    genotype = body["domains"]["WHOLE_GENOME_VARIANT"][-1]
    assert (genotype["name"], genotype["type"], genotype["default"]) == ("genotype", "TINYINT", True)
    assert "empty for a missing call" in genotype["description"]


def test_a_dataset_is_described_previewed_and_read_whole_and_every_read_is_audited(cohort_ws, dataset):
    client, (_, dataset_id) = cohort_ws.client, dataset
    info = client.get(f"/api/workspaces/study/datasets/{dataset_id}").json()
    assert (info["name"], info["version"], info["data_version"], info["tables"]) == ("DM data", 1, "2026Q4",
                                                                                      ["PERSON", "CONDITION"])
    preview = client.get(f"/api/workspaces/study/datasets/{dataset_id}/preview", params={"table": "CONDITION"}).json()
    assert preview["columns"] == CONDITION_COLUMNS
    assert [tuple(r.values()) for r in preview["rows"]] == [
        (p, e, n, d.isoformat(), a) for p, e, n, d, a in EXPECTED_CONDITIONS]
    data = client.get(f"/api/workspaces/study/datasets/{dataset_id}/data/CONDITION")
    assert data.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(data.content))
    assert [tuple(r.values()) for r in table.to_pylist()] == EXPECTED_CONDITIONS
    person = pq.read_table(io.BytesIO(client.get(f"/api/workspaces/study/datasets/{dataset_id}/data/PERSON").content))
    assert person.column("person_id").to_pylist() == [1, 2, 3, 4, 6, 7]
    assert accesses(cohort_ws) == [("dataset_preview", 4), ("dataset_read", 4), ("dataset_read", 6)]


def test_review_statuses_and_annotations_are_a_table_of_the_dataset(cohort_ws, dataset):
    client, (cohort, _) = cohort_ws.client, dataset
    review_id, r = draw(client, cohort, size="3")
    assert r.status_code == 303
    made = writer(cohort_ws).post("/api/workspaces/study/resources", json={"kind": "dataset", "name": "With review", "content": {
        "cohorts": [cohort], "reviews": [review_id], "values": {"PERSON": ["person_id"]}}})
    assert made.status_code == 201, made.text
    dataset_id = made.json()["id"]
    info = client.get(f"/api/workspaces/study/datasets/{dataset_id}").json()
    assert info["tables"] == ["PERSON", f"review_{review_id}"]
    table = pq.read_table(io.BytesIO(client.get(f"/api/workspaces/study/datasets/{dataset_id}/data/review_{review_id}").content))
    assert table.column_names == ["person_id", "status"] and set(table.column("status").to_pylist()) == {"unreviewed"}


def test_bad_datasets_are_refused_naming_the_place(cohort_ws, dataset):
    client, (cohort, dataset_id) = cohort_ws.client, dataset
    api = writer(cohort_ws)
    refused = api.post("/api/workspaces/study/resources", json={"kind": "dataset", "name": "Bad", "content": {
        "cohorts": [], "values": {"DRUG": ["nonsense"]}, "prepackaged": ["everything"]}})
    assert refused.status_code == 422
    assert sorted((p["where"], p["message"]) for p in refused.json()["problems"]) == [
        ("body.content.prepackaged", "[0]: 'everything' is not a prepackaged concept set (one of demographics, "
                                     "all_surveys, physical_measurements, fitbit_activity, fitbit_heart_rate_summary, "
                                     "fitbit_heart_rate_level, fitbit_intraday_steps, fitbit_sleep_daily_summary, "
                                     "fitbit_sleep_level, fitbit_device, zip_code_socioeconomic, whole_genome, or "
                                     "survey:<concept id>)"),
        ("body.content.values.DRUG[0]", "no column 'nonsense' in DRUG (see the column catalogue)"),
    ]
    refused = api.post("/api/workspaces/study/resources", json={"kind": "dataset", "name": "Bad", "content": {
        "values": {"DRUG": ["person_id"]}}})
    assert [(p["where"], p["message"]) for p in refused.json()["problems"]] == [
        ("body.content", "choose at least one cohort, or all_participants")]
    # A domain without a concept set: saved (the builder may be half done) but not run.
    made = api.post("/api/workspaces/study/resources", json={"kind": "dataset", "name": "Drugs", "content": {
        "cohorts": [cohort], "values": {"DRUG": ["person_id"]}}})
    drugs = made.json()["id"]
    answer = client.get(f"/api/workspaces/study/datasets/{drugs}/preview", params={"table": "DRUG"})
    assert answer.status_code == 422 and answer.json()["problems"] == [{"where": "values.DRUG", "message": (
        "no concept set of the DRUG domain is chosen: choose one (or the domain's prepackaged set) or leave its "
        "columns out")}]
    # The cohort deleted after the dataset was saved.
    assert api.post(f"/api/workspaces/study/resources/{cohort}/delete").status_code == 204
    gone = client.get(f"/api/workspaces/study/datasets/{dataset_id}/data/CONDITION")
    assert gone.status_code == 422
    assert gone.json()["problems"][0]["where"] == "content.cohorts[0]"
    assert "was deleted" in gone.json()["problems"][0]["message"]
    assert client.get(f"/api/workspaces/study/datasets/{dataset_id}/preview").status_code == 422  # no table named
    assert client.get(f"/api/workspaces/study/datasets/{dataset_id}/code", params={"language": "cobol"}).status_code == 422


def sdk(cohort_ws, monkeypatch) -> None:
    """Point the SDK at the test app with the owner's personal token (what a notebook's environment holds)."""
    api = token(cohort_ws.wb, "owner@state.edu", "workspaces:read", "data:read")
    monkeypatch.setenv(sdk_client.ENV_URL, str(api.base_url))
    monkeypatch.setenv(sdk_client.ENV_TOKEN, api.headers["authorization"].removeprefix("Bearer "))

    def client(base_url, headers, timeout):
        assert headers["authorization"] == api.headers["authorization"]
        return api

    monkeypatch.setattr(sdk_client.httpx2, "Client", client)


def test_the_sdk_reads_datasets_by_name_and_gives_session_info(cohort_ws, dataset, monkeypatch):
    sdk(cohort_ws, monkeypatch)
    wb = Workbench(workspace="study")
    found = wb.dataset("DM data")
    assert (found.tables, found.version, found.data_version) == (["PERSON", "CONDITION"], 1, "2026Q4")
    frame = found.to_pandas("CONDITION")
    assert list(frame.columns) == CONDITION_COLUMNS and frame["person_id"].tolist() == [1, 1, 2, 2, 2, 4, 6]
    assert found.to_polars("PERSON")["person_id"].to_list() == [1, 2, 3, 4, 6, 7]
    info = wb.session_info()
    assert info["data_version"]["name"] == "2026Q4" and info["packages"]["pandas"]
    with pytest.raises(WorkbenchError, match="404: no dataset named 'nope'"):
        wb.dataset("nope")
    with pytest.raises(WorkbenchError, match="no table 'DRUG'"):
        found.to_arrow("DRUG")
    with pytest.raises(ValueError, match="RW_WORKSPACE"):
        Workbench()


@pytest.mark.parametrize("language", ["python-pandas", "python-polars"])
def test_the_generated_python_gives_the_rows_the_workbench_previews(cohort_ws, dataset, monkeypatch, language):
    _, dataset_id = dataset
    sdk(cohort_ws, monkeypatch)
    code = cohort_ws.client.get(f"/api/workspaces/study/datasets/{dataset_id}/code", params={"language": language})
    assert code.status_code == 200 and f"dataset = wb.dataset({dataset_id}, version=1)" in code.text
    namespace: dict = {}
    exec(compile(code.text, "generated", "exec"), namespace)
    frame = namespace["condition_df"]
    rows = frame.to_dicts() if language == "python-polars" else frame.to_dict("records")
    preview = cohort_ws.client.get(f"/api/workspaces/study/datasets/{dataset_id}/preview",
                                   params={"table": "CONDITION"}).json()["rows"]
    as_text = [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()} for r in rows]
    assert as_text == preview
    assert len(namespace["person_df"]) == 6


def test_the_generated_r_reads_the_same_dataset_through_reticulate(cohort_ws, dataset):
    _, dataset_id = dataset
    code = cohort_ws.client.get(f"/api/workspaces/study/datasets/{dataset_id}/code", params={"language": "r"}).text
    assert 'sdk <- import("research_workbench.sdk")' in code
    assert f"dataset <- wb$dataset({dataset_id}L, version = 1L)" in code
    assert 'condition_df <- read_table("CONDITION")' in code and "data.table::fread(path" in code


def test_the_generated_sql_run_on_duckdb_gives_the_same_rows(cohort_ws, dataset):
    _, dataset_id = dataset
    sql = cohort_ws.client.get(f"/api/workspaces/study/datasets/{dataset_id}/code", params={"language": "sql"}).text
    statements = {}
    for block in sql.split("\n\n")[1:]:
        name, *rest = block.split("\n")
        bound = {line.split(" = ", 1)[0].strip("- $"): line.split(" = ", 1)[1] for line in rest if line.startswith("--   $")}
        statements[name.removeprefix("-- ")] = ("\n".join(l for l in rest if not l.startswith("--")), bound)
    statement, bound = statements["CONDITION"]
    con = duckdb.connect()
    view = next(line for line in sql.splitlines() if "CREATE VIEW search_person" in line).split(": ", 1)[1]
    con.execute(view)  # as the header says
    con.register("dataset_persons", pa.table({"person_id": [1, 2, 3, 4, 6, 7]}))
    rows = con.execute(statement.rstrip(";\n"), {k: json.loads(v) for k, v in bound.items()}).fetchall()
    assert [tuple(r[:5]) for r in rows] == EXPECTED_CONDITIONS


def test_a_notebooks_kernels_token_reaches_its_own_workspace_only(cohort_ws, dataset):
    from research_workbench.accounts import api_tokens
    from research_workbench.state.models import User, Workspace

    from .cohort_data import add_workspace

    _, dataset_id = dataset
    wb = cohort_ws.wb
    with wb.db.session() as session:
        version = session.scalar(select(Workspace.data_version_id).where(Workspace.namespace == "study"))
    add_workspace(wb, "other", version, {"owner@state.edu": "OWNER"})
    with wb.db.session() as session:
        user = session.scalar(select(User).where(User.email == "owner@state.edu"))
        study = session.scalar(select(Workspace.id).where(Workspace.namespace == "study"))
        plain, _ = api_tokens.create_token(session, user, name="notebook kernels in study", scopes=[
            "workspaces:read", "data:read"], days=1, now=wb.clock.now, pepper=wb.app.state.services.keys.tokens,
            for_kernels=True, workspace_id=study)
    kernels = wb.client()
    kernels.headers["authorization"] = f"Bearer {plain}"
    assert kernels.get(f"/api/workspaces/study/datasets/{dataset_id}/data/PERSON").status_code == 200
    refused = kernels.get("/api/workspaces/other/resources")
    assert (refused.status_code, refused.json()["error"]) == (404, "no workspace 'other' that this token reaches")
    assert writer(cohort_ws).get("/api/workspaces/other/resources").status_code == 200  # a personal token: all of them


def test_the_sdk_runs_a_cohort_definition_or_a_saved_cohort(cohort_ws, dataset, monkeypatch):
    cohort, _ = dataset
    sdk(cohort_ws, monkeypatch)
    wb = Workbench(workspace="study")
    assert wb.cohort_count(DM_OR_HTN) == wb.cohort_count(cohort) == wb.cohort_count("DM or HTN") == 6
    assert wb.cohort_participants(cohort).column("person_id").to_pylist() == [1, 2, 3, 4, 6, 7]
    with pytest.raises(WorkbenchError) as refused:
        wb.cohort_count({"includes": [{"id": "g1", "items": [{"id": "i1", "type": "CONDITION",
                                                              "searchParameters": []}]}]})
    assert refused.value.status == 422
    assert refused.value.problems[0]["where"].startswith("body.definition.includes[0].items[0]")
    with pytest.raises(WorkbenchError, match="404: no cohort 'nope'"):
        wb.cohort_count("nope")
    assert accesses(cohort_ws) == [("cohort_participants", 6)]
