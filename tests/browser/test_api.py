"""The JSON API and the pages: answers that match the store, 4xx (never 5xx) for bad parameters, OpenAPI."""

from __future__ import annotations

import re
import sqlite3
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
    assert client.get("/api/research-projects").json() == {"count": 0, "projects": []}


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


def test_the_research_projects_directory_lists_validated_projects(synth_cdr: Path, tmp_path: Path):
    import json

    from fastapi.testclient import TestClient

    from research_workbench.browser.serving.app import create_app
    from research_workbench.browser.building.writer import build_store

    project = {"project_id": "aou-rw-1234", "name": "Sleep and blood pressure", "access_tier": "registered",
               "created": "2024-05-01T10:00:00Z",
               "research_purpose": {"population_health": True, "intended_study": "Does sleep predict hypertension?",
                                    "scientific_approach": "Cohort study of wearable sleep data.",
                                    "anticipated_findings": "Shorter sleep, higher blood pressure."}}
    projects = tmp_path / "projects.json"
    projects.write_text(json.dumps([project]))
    store = build_store(synth_cdr, tmp_path / "s.sqlite", projects=projects).path
    client = TestClient(create_app(store), base_url=BASE_URL)
    body = client.get("/api/research-projects").json()
    assert body["count"] == 1 and body["projects"][0]["name"] == "Sleep and blood pressure"
    assert "Population health" in client.get("/research-projects").text
    projects.write_text(json.dumps([{**project, "access_tier": "public"}]))
    with pytest.raises(ValueError, match="access_tier"):
        build_store(synth_cdr, tmp_path / "t.sqlite", projects=projects)


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
