"""Bad input gets a clear 4xx naming the parameter ({"error", "problems"} for the API, the error page for pages),
never a 500 and never a silent answer to a different question."""

from __future__ import annotations

import pytest

BAD = [
    # page numbers: from 1, at most 100,000, digits only
    ("/api/variants?q=APOE&page=99999999999999999999", 422, "query.page", "less than or equal to 100000"),
    ("/api/variants?q=APOE&page=" + "9" * 5000, 422, "query.page", "out of range"),
    ("/api/variants?q=APOE&page=-1", 422, "query.page", "greater than or equal to 1"),
    ("/api/variants?q=APOE&page=0", 422, "query.page", "greater than or equal to 1"),
    ("/api/variants?q=APOE&page=1.0", 422, "query.page", "valid integer"),
    ("/api/variants?q=APOE&page=1_0", 422, "query.page", "valid integer"),  # pydantic alone read this as 10
    ("/api/variants?q=APOE&page=%2B1", 422, "query.page", "valid integer"),
    # NaN and infinities in every numeric parameter
    ("/api/variants?q=APOE&page=NaN", 422, "query.page", "valid integer"),
    ("/api/variants?q=APOE&page_size=Infinity", 422, "query.page_size", "valid integer"),
    ("/api/search?q=a&limit=-inf", 422, "query.limit", "valid integer"),
    ("/api/search?q=a&limit=nan", 422, "query.limit", "valid integer"),
    ("/api/domains/drug/concepts?offset=inf", 422, "query.offset", "valid integer"),
    ("/api/domains/drug/concepts?limit=1e3", 422, "query.limit", "valid integer"),
    ("/api/concepts/NaN", 422, "path.concept_id", "valid integer"),
    ("/api/concepts/" + "9" * 5000, 422, "path.concept_id", "out of range"),
    # invalid UTF-8 and control characters, in values, names and paths
    ("/api/search?q=%ff", 400, "query.q", "not valid UTF-8"),
    ("/api/search?q=diab%e9tes", 400, "query.q", "not valid UTF-8"),  # Latin-1, not UTF-8
    ("/api/search?q=a%00b", 400, "query.q", "control character (U+0000)"),
    ("/api/search?q=a&%ff=1", 400, "query.\\xff", "parameter name is not valid UTF-8"),
    ("/api/variants?q=%c0%af", 400, "query.q", "not valid UTF-8"),  # an overlong "/"
    ("/api/variants/%ff%fe%fd", 400, "path", "not valid UTF-8"),
    ("/api/concepts/1%0a", 400, "path", "control character (U+000A)"),
    # a parameter given twice: only one value would be used
    ("/api/search?q=a&q=b", 422, "query.q", "given 2 times"),
    ("/api/variants?q=APOE&page=1&page=2", 422, "query.page", "given 2 times"),
    # positions past any chromosome
    ("/api/variants?q=1-99999999999999999999999-A-G", 400, "query.q", "position out of range"),
]


@pytest.mark.parametrize("url,status,where,words", BAD)
def test_bad_input_gets_a_4xx_naming_the_parameter(client, url, status, where, words):
    r = client.get(url)
    assert r.status_code == status, r.text[:300]
    body = r.json()
    assert set(body) == {"error", "problems"} and words in body["error"]
    assert [p["where"] for p in body["problems"]] == [where]


@pytest.mark.parametrize("url,status,where", [
    ("/genomes?q=APOE&page=99999999999999999999", 422, "query.page"),
    ("/genomes?q=APOE&page=0", 422, "query.page"),
    ("/genomes?q=APOE&page=nan", 422, "query.page"),
    ("/search?q=%ff%fe", 400, "query.q"),
    ("/concepts/%ff", 400, "path"),
    ("/domains/drug?offset=-inf", 422, "query.offset"),
])
def test_bad_input_to_a_page_gets_the_error_page_naming_the_parameter(client, url, status, where):
    r = client.get(url)
    assert r.status_code == status and r.headers["content-type"].startswith("text/html")
    assert f"<code>{where}</code>" in r.text and "Counts are rounded" in r.text


def test_pages_of_variants_are_numbered_from_1(client):
    first = client.get("/api/variants", params={"q": "APOE", "page_size": 5}).json()
    assert first["page"] == 1
    assert client.get("/api/variants", params={"q": "APOE", "page_size": 5, "page": 1}).json() == first
    second = client.get("/api/variants", params={"q": "APOE", "page_size": 5, "page": 2}).json()
    assert {v["variant_id"] for v in first["variants"]}.isdisjoint(v["variant_id"] for v in second["variants"])
    beyond = client.get("/api/variants", params={"q": "APOE", "page": 100_000}).json()
    assert beyond["variants"] == [] and beyond["total_results"] == first["total_results"]
    html = client.get("/genomes", params={"q": "APOE"}).text
    assert "page 1." in html and 'href="?q=APOE&amp;page=2">Next</a>' in html and "Previous" not in html
