"""The JSON API and the pages: answers that match the store, 4xx (never 5xx) for bad parameters, OpenAPI."""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote, quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import BASE_URL

T2DM, HEIGHT_PPI = 201826, 903133


@pytest.fixture(scope="module")
def db(store_path: Path):
    con = sqlite3.connect(store_path)
    yield con
    con.close()


def test_summary_has_a_card_per_domain(client, db):
    body = client.get("/api/summary").json()
    total = db.execute("SELECT participant_count FROM demographics WHERE dimension = 'total'").fetchone()[0]
    assert body["participant_count"] == total
    assert [d["domain"] for d in body["domains"]] == ["condition", "drug", "procedure", "measurement", "observation", "survey",
                                                      "physical_measurement", "wearable", "genome"]
    assert body["info"]["bin_size"] == 20 and "rounded" in body["info"]["counts_note"]


def test_search_by_name_code_and_synonym(client):
    by_name = client.get("/api/search", params={"q": "type 2 diab"}).json()["results"]
    assert any(r["concept_id"] == T2DM for r in by_name)
    by_code = client.get("/api/search", params={"q": "44054006"}).json()["results"]
    assert by_code[0]["concept_id"] == T2DM  # an exact code comes first
    by_synonym = client.get("/api/search", params={"q": "T2DM"}).json()["results"]
    assert any(r["concept_id"] == T2DM for r in by_synonym)
    surveys = client.get("/api/search", params={"q": "smoke", "domain": "survey"}).json()["results"]
    assert surveys and {r["kind"] for r in surveys} <= {"survey_question", "survey_module"}
    assert client.get("/api/search", params={"q": "height"}).json()["results"][0]["kind"] in ("physical_measurement", "concept")
    # FTS5 syntax in the input is only text
    for q in ['"', "NEAR(a b)", "a OR", "*", "name:x", "(", "^x", "-", "''"]:
        r = client.get("/api/search", params={"q": q})
        assert r.status_code == 200, q


def test_concept_page_data(client, db):
    body = client.get(f"/api/concepts/{T2DM}").json()
    assert body["domain"] == "condition" and body["name"] == "Type 2 diabetes mellitus"
    assert set(body["strata"]) == {"gender", "sex_at_birth", "age", "year"}
    published = db.execute("SELECT participant_count FROM concept WHERE concept_id = ?", (T2DM,)).fetchone()[0]
    assert body["participant_count"] == published
    assert body["sources"] and all(s["participant_count"] % 20 == 0 for s in body["sources"])
    assert client.get(f"/api/concepts/{T2DM}", params={"domain": "drug"}).status_code == 404


def test_survey_explorer_data(client, db):
    modules = client.get("/api/surveys").json()
    assert modules and modules[0]["name"] == "The Basics"
    module = modules[0]["module_concept_id"]
    detail = client.get(f"/api/surveys/{module}").json()
    question = detail["questions"][0]
    q = client.get(f"/api/surveys/{module}/questions/{question['question_concept_id']}").json()
    answers = q["question"]["answers"]
    assert answers and all(set(a["strata"]) <= {"gender", "sex_at_birth", "age"} for a in answers)
    assert sum(a["participant_count"] for a in answers) >= q["question"]["participant_count"]
    assert client.get(f"/api/surveys/{module}/questions/1").status_code == 404


def test_measurement_histograms(client):
    items = client.get("/api/measurements", params={"kind": "physical"}).json()
    assert {i["concept_id"] for i in items} >= {HEIGHT_PPI}
    m = client.get(f"/api/measurements/physical/{HEIGHT_PPI}").json()
    assert m["measurement"]["unit"] == "cm"
    assert "all" in m["histograms"] and len(m["histograms"]["all"]) >= 5
    bins = m["histograms"]["all"]
    assert bins[0]["open_low"] and bins[-1]["open_high"]
    assert all(b["high"] == pytest.approx(b["low"] + m["bin_width"]) for b in bins)
    small = [s for s in m["stats"] if s["participant_count"] <= 20]
    assert all(s["mean"] is None for s in small)


def test_wearables_genomes_variants_projects(client):
    w = client.get("/api/wearables").json()
    assert w["data_types"][0]["data_type"] == "any"
    g = client.get("/api/genomes").json()
    assert {t["data_type"] for t in g["data_types"]} == {"any", "wgs", "array"} and g["variant_count"] == 10000
    by_rsid = client.get("/api/variants", params={"q": "rs429358"}).json()
    assert by_rsid["query_type"] == "rsid" and by_rsid["variants"][0]["gene"] == "APOE"
    variant = client.get(by_rsid["variants"][0]["url"].replace("/variants/", "/api/variants/")).json()
    assert [a["ancestry"] for a in variant["ancestries"]] == ["afr", "amr", "eas", "eur", "mid", "sas", "oth", "total"]
    by_gene = client.get("/api/variants", params={"q": "apoe", "page_size": 5, "ancestries": "true"}).json()
    assert by_gene["query_type"] == "gene" and by_gene["total_results"] > 5 and len(by_gene["variants"]) == 5
    assert all(len(v["ancestries"]) == 8 for v in by_gene["variants"])
    region = client.get("/api/variants", params={"q": "chr19:44,908,000-44,909,000"}).json()
    assert region["query_type"] == "region" and any(v["rsid"] == "rs429358" for v in region["variants"])
    assert client.get("/api/variants", params={"q": "19-44908684-T-C"}).json()["total_results"] == 1
    assert client.get("/api/research-projects").json() == {"available": False, "count": 0, "projects": []}


@pytest.mark.parametrize("url,status,words", [
    ("/api/search", 422, "query.q"),
    ("/api/search?q=", 422, "at least 1 character"),
    ("/api/search?q=a&limit=0", 422, "query.limit"),
    ("/api/search?q=a&limit=abc", 422, "valid integer"),
    ("/api/search?q=a&domain=planets", 422, "query.domain"),
    ("/api/search?q=" + "x" * 201, 422, "at most 200"),
    ("/api/concepts/abc", 422, "path.concept_id"),
    ("/api/concepts/-1", 422, "greater than or equal to 0"),
    ("/api/concepts/99999999999999999999", 422, "less than or equal"),
    ("/api/concepts/1", 404, "no participants"),
    ("/api/concepts/201826?domain=x", 422, "query.domain"),
    ("/api/domains/planets/concepts", 422, "path.domain"),
    ("/api/domains/drug/concepts?offset=-1", 422, "query.offset"),
    ("/api/surveys/1", 404, "no survey module"),
    ("/api/measurements/foo/1", 422, "physical"),
    ("/api/measurements/lab/1", 404, "no lab measurement"),
    ("/api/variants?q=chr1:50-10", 400, "start"),
    ("/api/variants?q=chr1:abc", 400, "region"),
    ("/api/variants?q=%25%25", 400, "rsID"),
    ("/api/variants?q=rs1&page=-1", 422, "query.page"),
    ("/api/variants?q=rs1&page_size=1000", 422, "query.page_size"),
    ("/api/variants/1-2-A-G", 404, "no variant"),
    ("/api/nothing", 404, "no such page"),
])
def test_bad_parameters_get_a_4xx_with_a_clear_message(client, url, status, words):
    r = client.get(url)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=60), number=st.one_of(st.integers(), st.text(max_size=12)))
def test_no_input_makes_a_server_error(client, text, number):
    for path, params in (("/api/search", {"q": text, "limit": number}), ("/api/variants", {"q": text, "page": number}),
                         ("/genomes", {"q": text}), ("/search", {"q": text, "domain": text})):
        assert client.get(path, params=params).status_code < 500
    safe = "".join(ch for ch in text if ch.isalnum() or ch in "-_.")
    for path in (f"/api/concepts/{safe or 0}", f"/api/variants/{safe or 'x'}x1", f"/concepts/{safe or 0}", f"/surveys/{safe or 0}"):
        assert client.get(path).status_code < 500


# What a numeric parameter may be sent as: any integer (huge ones included), float spellings, NaN and infinities in
# every spelling, numbers with signs, spaces, underscores or exponents, other digits, arbitrary text.
NUMBERS = st.one_of(
    st.integers(min_value=-10**30, max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "NaN", "-nan", "inf", "-inf", "+inf", "Infinity", "-Infinity", "1e3", "1.0", "+1", "1_0",
                     " 1", "1 ", "0x10", "", "٣", "１", "9" * 5000, "-0", "00001"]),
    st.text(max_size=12),
)
NUMERIC = {"/api/search?q=a": ("limit", 1, 250), "/api/variants?q=APOE": ("page", 1, 100_000),
           "/api/domains/drug/concepts?limit=1": ("offset", 0, 10**7), "/genomes?q=APOE": ("page", 1, 100_000)}


def _expected_number(value: str, low: int, high: int) -> bool:
    return bool(re.fullmatch(r"-?[0-9]+", value)) and len(value) < 40 and low <= int(value) <= high


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=NUMBERS)
def test_numeric_parameters_take_plain_digits_in_range_and_refuse_anything_else_naming_the_parameter(client, value):
    """Never a 500, never a silent answer: a value that is not plain digits within the declared range gets a 4xx
    whose problems name the parameter (JSON for the API, the error page for pages)."""
    for base, (name, low, high) in NUMERIC.items():
        r = client.get(f"{base}&{name}={quote(value, safe='')}")
        assert r.status_code < 500, (base, value)
        if _expected_number(value, low, high):
            assert r.status_code == 200, (base, value, r.text[:300])
            continue
        assert 400 <= r.status_code < 500, (base, value)
        if base.startswith("/api"):
            body = r.json()
            assert set(body) == {"error", "problems"}
            assert any(p["where"] == f"query.{name}" for p in body["problems"]), (base, value, body)
        else:
            assert f"query.{name}" in r.text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=40))
def test_text_that_is_not_clean_utf8_is_refused_naming_the_parameter(client, raw):
    """Any bytes, percent-encoded into the query and the path: never a 500; bytes that are not UTF-8, or hold a
    control character, get a 400 naming where they were (Starlette would have replaced them with U+FFFD)."""
    try:
        text = raw.decode("utf-8")
        clean = not re.search(r"[\x00-\x1f\x7f]", text)
    except UnicodeDecodeError:
        clean = False
    encoded = quote_from_bytes(raw, safe="")
    for url, where in ((f"/api/search?q={encoded}", "query.q"), (f"/api/variants?q={encoded}", "query.q"),
                       (f"/search?q={encoded}", "query.q"), (f"/genomes?q={encoded}", "query.q"),
                       (f"/api/search?q=a&{encoded}=1", None), (f"/api/variants/x{encoded}", "path"),
                       (f"/concepts/{encoded}", "path")):
        r = client.get(url)
        assert r.status_code < 500, (url, r.text[:300])
        if clean:
            assert r.status_code != 400 or "UTF-8" not in r.text, url
            continue
        if where is None and not raw:
            continue
        assert r.status_code == 400, (url, r.status_code)
        if url.startswith("/api"):
            problems = r.json()["problems"]
            assert problems and all(p["where"].startswith(where or "query.") for p in problems), (url, problems)
        else:
            assert where in r.text


def test_every_api_endpoint_is_in_the_openapi_document(client):
    doc = client.get("/api/openapi.json").json()
    paths = set(doc["paths"])
    assert paths == {
        "/api/info", "/api/summary", "/api/demographics", "/api/search", "/api/domains/{domain}/concepts",
        "/api/concepts/{concept_id}", "/api/surveys", "/api/surveys/{module_id}",
        "/api/surveys/{module_id}/questions/{question_id}", "/api/measurements", "/api/measurements/{kind}/{concept_id}",
        "/api/wearables", "/api/genomes", "/api/variants", "/api/variants/{variant_id}", "/api/research-projects",
    }
    assert all("200" in ops["get"]["responses"] for ops in doc["paths"].values())


def test_pages_render_and_show_binned_counts_as_at_most_20(client):
    for url in ("/", "/search?q=diabetes", f"/concepts/{T2DM}", "/surveys", "/surveys/1586134", "/measurements",
                f"/measurements/physical/{HEIGHT_PPI}", "/wearables", "/genomes", "/genomes?q=APOE", "/research-projects",
                "/about", "/api", "/domains/drug"):
        r = client.get(url)
        assert r.status_code == 200, url
        assert "Counts are rounded" in r.text
        assert "cdn" not in r.text.lower() and "https://" not in r.text  # every asset is the app's own
    assert "≤ 20" in client.get("/wearables").text
    assert client.get("/genomes?q=chr2:9-1").status_code == 400
    assert client.get("/concepts/1").status_code == 404
    assert client.get("/static/style.css").status_code == 200 and client.get("/static/app.js").status_code == 200


PURPOSE = {"social_behavioral": True, "population_health": True, "intended_study": "Does sleep predict hypertension?",
           "scientific_approach": "Cohort study of wearable sleep data.",
           "anticipated_findings": "Shorter sleep, higher blood pressure.",
           "aian_research_type": "NO_AI_AN_ANALYSIS", "aian_research_details": "a private note", "review_requested": True}
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def workbench_database(path: Path, *, migrate: bool = True):
    """A Researcher Workbench database (no Workbench app): two institutions, a researcher at each, a data version."""
    from research_workbench.state import Database, sqlite_url
    from research_workbench.state.models import DataVersion, Institution, User

    db = Database(sqlite_url(path))
    if not migrate:
        return db
    db.upgrade()
    with db.session() as session:
        for short, name, email, given in [("state-u", "State University", "ada@state.edu", "Ada"),
                                          ("city-lab", "City Health Lab", "bo@citylab.org", "Bo")]:
            institution = Institution(short_name=short, display_name=name, kind="academic", created_at=NOW)
            session.add(institution)
            session.flush()
            session.add(User(email=email, email_verified_at=NOW, institution_id=institution.id, given_name=given,
                             family_name="Researcher", created_at=NOW))
        session.add(DataVersion(name="2026Q1R1", tier="registered", release_number=1, cdr_path="/r",
                                manifest_sha256="0" * 64, participant_count=600, is_default=True, created_at=NOW))
    return db


def add_workspace(db, namespace: str, name: str, members: list[tuple[str, str]], *, locked: bool = False,
                  minutes: int = 0, purpose: dict = PURPOSE) -> None:
    from research_workbench.state.models import DataVersion, User, Workspace, WorkspaceMember

    when = NOW + timedelta(minutes=minutes)
    with db.session() as session:
        users = {u.email: u for u in session.query(User)}
        version = session.query(DataVersion).one()
        workspace = Workspace(namespace=namespace, name=name, tier="registered", data_version_id=version.id,
                              purpose=purpose, created_by=users[members[0][0]].id, created_at=when, updated_at=when,
                              locked_at=when if locked else None, locked_reason="under review" if locked else None)
        session.add(workspace)
        session.flush()
        for email, role in members:
            session.add(WorkspaceMember(workspace_id=workspace.id, user_id=users[email].id, role=role, added_at=when))


def test_the_research_projects_directory_reads_the_research_hub(store_path: Path, tmp_path: Path):
    from fastapi.testclient import TestClient

    from research_workbench.browser.serving.app import create_app
    from research_workbench.state import sqlite_url
    from research_workbench.web import ResponseCache

    db = workbench_database(tmp_path / "workbench.sqlite")
    add_workspace(db, "sleep-bp", "Sleep and blood pressure", [("ada@state.edu", "OWNER"), ("bo@citylab.org", "READER")])
    add_workspace(db, "locked-study", "A locked study", [("ada@state.edu", "OWNER")], locked=True, minutes=1)
    cache = ResponseCache(max_bytes=2**20, max_entries=100)
    client = TestClient(create_app(store_path, directory_url=sqlite_url(tmp_path / "workbench.sqlite"), cache=cache),
                        base_url=BASE_URL)

    body = client.get("/api/research-projects").json()
    assert body["available"] is True and body["count"] == 1
    [project] = body["projects"]
    assert project["namespace"] == "sleep-bp" and project["name"] == "Sleep and blood pressure"
    assert project["tier"] == "registered" and project["data_version"] == "2026Q1R1"
    assert project["purposes"] == ["Social / behavioral research", "Population health / public health"]
    assert [(r["name"], r["institution"], r["role"]) for r in project["researchers"]] == [
        ("Ada Researcher", "State University", "OWNER"), ("Bo Researcher", "City Health Lab", "READER")]
    assert project["institutions"] == ["City Health Lab", "State University"]
    assert "aian_research_details" not in project["purpose"] and "review_requested" not in project["purpose"]

    page = client.get("/research-projects")
    assert page.status_code == 200 and 'id="project-sleep-bp"' in page.text
    for shown in ("Sleep and blood pressure", "Social / behavioral research", "Population health / public health",
                  "Does sleep predict hypertension?", "Ada Researcher (State University)",
                  "Bo Researcher (City Health Lab)", "Institutions:</strong> City Health Lab; State University",
                  "1 project."):
        assert shown in page.text, shown
    assert "A locked study" not in page.text and "a private note" not in page.text

    # search and filters, for the API and the page (a form sends "" for "any")
    count = lambda **params: client.get("/api/research-projects", params=params).json()["count"]  # noqa: E731
    assert [count(q="SLEEP hypertension"), count(q="asthma"), count(institution="City Health Lab"),
            count(purpose="population_health"), count(purpose="ethics"), count(tier="controlled")] == [1, 0, 1, 1, 0, 0]
    assert client.get("/api/research-projects", params={"purpose": "nonsense"}).status_code == 422
    assert client.get("/research-projects?q=&tier=&purpose=&institution=").status_code == 200
    filtered = client.get("/research-projects", params={"purpose": "ethics"}).text
    assert "0 of 1 project match." in filtered and 'id="no-match"' in filtered
    assert '>City Health Lab</option>' in filtered and '>State University</option>' in filtered

    # never cached: a new workspace shows at once, while the store's answers are cached as before
    add_workspace(db, "diabetes", "Diabetes and diet", [("bo@citylab.org", "OWNER")], minutes=2,
                  purpose={"disease_focused_research": True, "disease_of_focus": "Type 2 diabetes",
                           "intended_study": "Diet.", "scientific_approach": "Models.", "anticipated_findings": "Advice."})
    assert [p["namespace"] for p in client.get("/api/research-projects").json()["projects"]] == ["diabetes", "sleep-bp"]
    assert "Disease of focus: Type 2 diabetes" in client.get("/research-projects").text
    client.get("/api/info")
    assert len(cache) == 1 and all(key[0] == "api" and key[2] == "info" for key in cache.items)

    schemas = client.get("/api/openapi.json").json()["components"]["schemas"]
    assert schemas["ResearchProjects"]["properties"]["available"]["description"].startswith("Whether this Data Browser")
    assert "DirectoryEntry" in schemas and "Researcher" in schemas


def test_without_a_directory_the_page_says_it_is_on_the_research_hub(client):
    page = client.get("/research-projects")
    assert page.status_code == 200 and 'id="no-directory"' in page.text
    assert "kept on the Research Hub of the Researcher Workbench" in page.text


def test_an_empty_or_unreadable_directory(store_path: Path, tmp_path: Path):
    from fastapi.testclient import TestClient

    from research_workbench.browser.serving.app import create_app
    from research_workbench.state import sqlite_url

    workbench_database(tmp_path / "empty.sqlite")
    empty = TestClient(create_app(store_path, directory_url=sqlite_url(tmp_path / "empty.sqlite")), base_url=BASE_URL)
    assert empty.get("/api/research-projects").json() == {"available": True, "count": 0, "projects": []}
    assert 'id="no-projects"' in empty.get("/research-projects").text

    workbench_database(tmp_path / "unmigrated.sqlite", migrate=False).engine.connect().close()  # an empty file
    broken = TestClient(create_app(store_path, directory_url=sqlite_url(tmp_path / "unmigrated.sqlite")),
                        base_url=BASE_URL)
    api = broken.get("/api/research-projects")
    assert api.status_code == 503 and "cannot be read just now" in api.json()["error"]
    page = broken.get("/research-projects")
    assert page.status_code == 503 and "cannot be read just now" in page.text
    assert broken.get("/api/info").status_code == 200 and broken.get("/").status_code == 200  # the rest is unaffected


def test_cli_serve_passes_the_directory_to_its_workers_and_refuses_one_it_cannot_read(store_path: Path, tmp_path: Path,
                                                                                     monkeypatch):
    import os

    from typer.testing import CliRunner

    from research_workbench.cli.browser import app_from_env
    from research_workbench.cli.commands import app
    from research_workbench.state import sqlite_url

    seen = {}
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: seen.update(directory=os.environ.get("RW_BROWSER_DIRECTORY")))
    monkeypatch.setenv("RW_BROWSER_DIRECTORY", "sqlite:////left/over.sqlite")
    runner = CliRunner()
    assert runner.invoke(app, ["browser", "serve", str(store_path)]).exit_code == 0
    assert seen["directory"] is None  # only --directory names the directory
    workbench_database(tmp_path / "workbench.sqlite")
    url = sqlite_url(tmp_path / "workbench.sqlite")
    served = runner.invoke(app, ["browser", "serve", str(store_path), "--directory", url])
    assert served.exit_code == 0, served.output
    assert seen["directory"] == url
    assert app_from_env().state.directory.url == url

    missing = runner.invoke(app, ["browser", "serve", str(store_path), "--directory", sqlite_url(tmp_path / "no.sqlite")])
    assert missing.exit_code == 1 and "no such database file" in missing.output
    assert not (tmp_path / "no.sqlite").exists()  # not created by looking
    workbench_database(tmp_path / "old.sqlite", migrate=False).engine.connect().close()
    behind = runner.invoke(app, ["browser", "serve", str(store_path), "--directory", sqlite_url(tmp_path / "old.sqlite")])
    assert behind.exit_code == 1 and "workbench admin migrate" in behind.output
    foreign = runner.invoke(app, ["browser", "serve", str(store_path), "--directory", "mysql://x@host/db"])
    assert foreign.exit_code == 1 and "unsupported database" in foreign.output


def test_a_rebuilt_store_is_picked_up_by_a_running_app(synth_cdr: Path, tmp_path: Path):
    from fastapi.testclient import TestClient

    from research_workbench.browser.serving.app import create_app
    from research_workbench.browser.building.writer import build_store

    path = build_store(synth_cdr, tmp_path / "s.sqlite", bin_size=20).path
    client = TestClient(create_app(path), base_url=BASE_URL)
    assert client.get("/api/info").json()["bin_size"] == 20
    build_store(synth_cdr, path, bin_size=50, replace=True)
    assert client.get("/api/info").json()["bin_size"] == 50
    assert client.get("/api/summary").json()["participant_count"] % 50 == 0


def test_cli_build_and_serve_refuses_a_missing_store(synth_cdr: Path, tmp_path: Path):
    from typer.testing import CliRunner

    from research_workbench.cli.commands import app

    runner = CliRunner()
    out = tmp_path / "cli.sqlite"
    result = runner.invoke(app, ["browser", "build", str(synth_cdr), "--out", str(out), "--bin-size", "10", "--json"])
    assert result.exit_code == 0, result.output
    assert '"bin_size": 10' in result.output and out.is_file()
    again = runner.invoke(app, ["browser", "build", str(synth_cdr), "--out", str(out), "--json"])
    assert again.exit_code == 1 and "--replace" in again.output
    missing = runner.invoke(app, ["browser", "serve", str(tmp_path / "none.sqlite")])
    assert missing.exit_code == 1
