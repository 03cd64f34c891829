"""Cohort Review: drawing review sets (random and stratified, with the seed recorded), the snapshot and "changed
since", the participant table and its filters, a participant's page (tabs, filters, source/standard, qualifying
events), statuses, annotation fields and values, the export, the roles, and the audit of every participant-level view.

The data is the Cohort Builder's fixture CDR (``tests/cohort_builder/fixture.py``): 8 persons. The cohort used most
is "diabetes (any descendant of 201820) or hypertension": persons 1, 2, 3, 4, 6 and 7 — men 1, 4, 6; women 2, 3,
7; race 8527 for 1, 3, 7, 8516 for 2 and 6, 8515 for 4. The fixture has no concept rows for gender or race, so their
names are "Concept 8507" and so on.
"""

from __future__ import annotations

import io
import json
from datetime import date
from html import unescape

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from research_workbench.cohorts.builder.engine import CohortEngine
from research_workbench.cohorts.participant import Filters, ParticipantNotFound, ParticipantReader
from research_workbench.state.models import AuditEvent, DataVersion, Resource, ResourceVersion, Workspace
from research_workbench.workspaces import reviews as rv

from .cohort_data import cohort_ws, fixture_cdr  # noqa: F401
from .conftest import post

DM_OR_HTN = {"includes": [{"id": "g1", "items": [
    {"id": "i1", "type": "CONDITION", "searchParameters": [
        {"parameterId": "p1", "domain": "CONDITION", "type": "SNOMED", "conceptId": 201820, "group": True},
        {"parameterId": "p2", "domain": "CONDITION", "type": "SNOMED", "conceptId": 320128}]}]}]}
WOMEN = {"includes": [{"id": "g1", "items": [{"id": "i1", "type": "PERSON", "searchParameters": [
    {"parameterId": "p1", "domain": "PERSON", "type": "GENDER", "conceptId": 8532}]}]}]}
MAN, WOMAN = "Concept 8507", "Concept 8532"
M64 = 2**64


def reference_key(person_id: int, seed: int) -> int:
    """splitmix64(person_id + seed · φ), written out in plain Python integers (the sampler uses numpy)."""
    z = (person_id + seed * 0x9E3779B97F4A7C15) % M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % M64
    return z ^ (z >> 31)


# -- helpers ---------------------------------------------------------------------------------------------------------

def save_cohort(client, name: str, definition: dict) -> int:
    r = post(client, "/workspaces/study/resources", {"kind": "cohort", "name": name, "description": "",
                                                      "content": json.dumps(definition)}, form_page="/workspaces/study/data")
    assert r.status_code == 303, r.text[:3000]
    return int(r.headers["location"].rsplit("/", 1)[1])


def draw(client, cohort_id: int, **fields) -> tuple[int, object]:
    data = {"cohort": str(cohort_id), "name": "Review", "description": "", "size": "10", "method": "random",
            "stratify_by": "", "seed": "7", **fields}
    r = post(client, "/workspaces/study/reviews", data, form_page="/workspaces/study/reviews/new")
    review_id = int(r.headers["location"].rsplit("/", 1)[1]) if r.status_code == 303 else 0
    return review_id, r


def content_of(cohort_ws, review_id: int) -> dict:
    with cohort_ws.wb.db.session() as session:
        resource = session.get(Resource, review_id)
        return session.scalar(select(ResourceVersion.content).where(ResourceVersion.resource_id == review_id,
                                                                    ResourceVersion.version == resource.version))


def accesses(cohort_ws) -> list[dict]:
    with cohort_ws.wb.db.session() as session:
        return [e.details for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "participant_access")
                                                   .order_by(AuditEvent.seq))]


def set_status(client, review_id: int, person_id: int, status: str, form_page: str | None = None):
    base = f"/workspaces/study/reviews/{review_id}/participants/{person_id}"
    return post(client, f"{base}/status", {"status": status, "back": "tab=summary"}, form_page=form_page or base)


def add_field(client, review_id: int, name: str, kind: str, options: str = ""):
    base = f"/workspaces/study/reviews/{review_id}"
    return post(client, f"{base}/fields", {"field_name": name, "field_kind": kind, "field_options": options},
                form_page=base)


def field_ids(cohort_ws, review_id: int) -> dict[str, int]:
    with cohort_ws.wb.db.session() as session:
        return {f.name: f.id for f in rv.fields_of(session, session.get(Resource, review_id))}


def text_of(html: str, element_id: str) -> str:
    """The text inside the element with ``id`` (tags dropped, spaces collapsed)."""
    import re

    start = html.index(f'id="{element_id}"')
    tag = html.rfind("<", 0, start)
    name = re.match(r"<(\w+)", html[tag:]).group(1)
    depth, i = 0, tag
    for m in re.finditer(rf"<(/?){name}\b[^>]*>", html[tag:]):
        depth += -1 if m.group(1) else 1
        if depth == 0:
            i = tag + m.end()
            break
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html[tag:i])).split())


# -- sampling --------------------------------------------------------------------------------------------------------

def test_sampling_keys_are_splitmix64_and_a_random_sample_is_the_smallest_keys():
    import numpy as np

    ids = list(range(1, 101))
    assert [int(k) for k in rv.sample_keys(np.array(ids), 42)] == [reference_key(i, 42) for i in ids]
    sample = rv.draw(ids, 10, 42)
    assert sample.participants == sorted(sorted(ids, key=lambda p: reference_key(p, 42))[:10])
    assert sample.participants == [11, 24, 26, 33, 50, 66, 70, 77, 83, 95]
    assert rv.draw(list(reversed(ids)), 10, 42).participants == sample.participants  # order of the input is no matter
    assert rv.draw(ids, 10, 43).participants != sample.participants
    assert rv.draw([5, 3, 9], 10, 1).participants == [3, 5, 9]  # a smaller population is taken whole
    assert (sample.population, sample.strata) == (100, {})


def test_a_stratified_sample_keeps_each_strata_share_by_largest_remainders():
    assert rv.allocate({"a": 3, "b": 2, "c": 1}, 3) == {"a": 2, "b": 1, "c": 0}  # 1.5, 1.0, 0.5: a tie goes to a
    assert rv.allocate({"a": 5, "b": 5}, 3) == {"a": 2, "b": 1}  # equal: the first label
    assert rv.allocate({"a": 60, "b": 30, "c": 10}, 10) == {"a": 6, "b": 3, "c": 1}
    assert rv.allocate({"a": 2, "b": 1}, 5) == {"a": 2, "b": 1}
    strata = {1: "M", 4: "M", 6: "M", 2: "F", 3: "F", 7: "F"}
    sample = rv.draw([1, 2, 3, 4, 6, 7], 4, 7, strata)
    # Keys for seed 7 order the persons 3, 6, 7, 2, 1, 4: the two smallest of each gender.
    assert sorted([1, 2, 3, 4, 6, 7], key=lambda p: reference_key(p, 7)) == [3, 6, 7, 2, 1, 4]
    assert sample.participants == [1, 3, 6, 7]
    assert sample.strata == {"F": [3, 2], "M": [3, 2]}


def test_a_draw_request_is_checked_field_by_field():
    def where(**kw):
        request = rv.DrawRequest(**{"cohort_id": 1, "name": "R", **kw})
        return [(p.where, p.message) for p in rv.check_request(request, max_size=500)]

    assert where(size=500) == []
    assert where(size=501) == [("size", "a whole number from 1 to 500")]
    assert where(size=0) == [("size", "a whole number from 1 to 500")]
    assert where(method="cluster") == [("method", "one of random, stratified")]
    assert where(method="stratified") == [
        ("stratify_by", "choose what to stratify by: one of sex_at_birth, gender, race, ethnicity, age_band")]
    assert where(method="random", stratify_by="race")[0][0] == "stratify_by"
    assert where(seed=-1) == [("seed", f"a whole number from 0 to {rv.SEED_MAX}")]
    assert where(name="a/b") == [("name", "no slash (/) in a review set's name")]
    assert rv.check_request(rv.DrawRequest(1, "R", size=10_001))[0].message == "a whole number from 1 to 10,000"


# -- drawing a review set --------------------------------------------------------------------------------------------

def test_a_writer_draws_a_stratified_review_set_that_keeps_its_snapshot(cohort_ws):
    cohort = save_cohort(cohort_ws.client, "DM or HTN", DM_OR_HTN)
    writer = cohort_ws.sign_in("writer@state.edu")
    page = writer.get(f"/workspaces/study/reviews/new?cohort={cohort}")
    assert page.status_code == 200 and f'<option value="{cohort}" selected>DM or HTN</option>' in page.text
    review_id, r = draw(writer, cohort, name="By gender", size="4", method="stratified", stratify_by="gender")
    assert r.status_code == 303, r.text[:3000]
    content = content_of(cohort_ws, review_id)
    with cohort_ws.wb.db.session() as session:
        stored_cohort = session.scalar(select(ResourceVersion.content).where(ResourceVersion.resource_id == cohort))
        data_version = session.scalar(select(Workspace.data_version_id).where(Workspace.namespace == "study"))
        created = session.scalars(select(AuditEvent).where(AuditEvent.action == "resource_created")).all()[-1]
    assert content == {"cohort": cohort, "size": 4, "participants": [1, 3, 6, 7], "cohort_version": 1,
                       "definition": stored_cohort, "data_version": data_version,
                       "sample": {"method": "stratified", "stratify_by": "gender", "seed": 7, "population": 6,
                                  "strata": {MAN: [3, 2], WOMAN: [3, 2]}}}
    assert created.details["resource_id"] == review_id and created.details["participants"] == 4
    assert created.details["sample"] == {"method": "stratified", "stratify_by": "gender", "seed": 7, "population": 6}
    page = writer.get(f"/workspaces/study/reviews/{review_id}")
    assert page.status_code == 200
    assert "Stratified sample (proportional) by gender, seed 7" in text_of(page.text, "review-facts")
    assert "4 of 6 in the cohort" in text_of(page.text, "review-facts")
    assert text_of(page.text, "strata") == (f"Strata: participants in the cohort and drawn Gender In the cohort Drawn "
                                            f"{MAN} 3 2 {WOMAN} 3 2")
    assert 'id="changed-since"' not in page.text
    # The same seed on the same cohort and data draws the same participants again; race strata share by remainders.
    again, _ = draw(writer, cohort, name="Again", size="4", method="stratified", stratify_by="gender")
    assert content_of(cohort_ws, again)["participants"] == [1, 3, 6, 7]
    by_race, _ = draw(writer, cohort, name="By race", size="3", method="stratified", stratify_by="race")
    assert content_of(cohort_ws, by_race)["sample"]["strata"] == {"Concept 8515": [1, 0], "Concept 8516": [2, 1],
                                                                  "Concept 8527": [3, 2]}
    assert content_of(cohort_ws, by_race)["participants"] == [3, 6, 7]
    random_one, _ = draw(writer, cohort, name="Random", size="3", seed="7")
    assert content_of(cohort_ws, random_one)["participants"] == [3, 6, 7]
    assert content_of(cohort_ws, random_one)["sample"] == {"method": "random", "seed": 7, "population": 6,
                                                           "strata": {}}


def test_a_review_set_without_a_seed_records_the_one_it_drew_with(cohort_ws):
    cohort = save_cohort(cohort_ws.client, "DM or HTN", DM_OR_HTN)
    review_id, r = draw(cohort_ws.client, cohort, seed="", size="2")
    seed = content_of(cohort_ws, review_id)["sample"]["seed"]
    assert r.status_code == 303 and 0 <= seed < 2**31
    assert content_of(cohort_ws, review_id)["participants"] == rv.draw([1, 2, 3, 4, 6, 7], 2, seed).participants


def test_drawing_refuses_bad_input_naming_each_field(cohort_ws):
    cohort = save_cohort(cohort_ws.client, "DM or HTN", DM_OR_HTN)
    _, r = draw(cohort_ws.client, cohort, size="0", method="stratified", stratify_by="", seed="x", name="a/b")
    assert r.status_code == 422
    summary = text_of(r.text, "error-summary")
    assert "size : a whole number from 1 to 10,000" in summary
    assert "seed : 'x' is not a whole number from 0 to 9,223,372,036,854,775,807" in summary
    assert "stratify_by : choose what to stratify by" in summary and "name : no slash (/)" in summary
    _, r = draw(cohort_ws.client, 999)
    assert r.status_code == 422 and "cohort : no cohort with id 999 in this workspace" in text_of(r.text, "error-summary")
    _, r = draw(cohort_ws.client, cohort, size="10001")
    assert r.status_code == 422 and "size : a whole number from 1 to 10,000" in text_of(r.text, "error-summary")
    with cohort_ws.wb.db.session() as session:
        assert session.scalar(select(Resource).where(Resource.kind == "review_set")) is None


def test_a_review_set_says_cohort_changed_since_when_the_cohort_or_the_data_version_changes(cohort_ws):
    client = cohort_ws.client
    cohort = save_cohort(client, "DM or HTN", DM_OR_HTN)
    review_id, _ = draw(client, cohort, size="3")
    narrower = json.loads(json.dumps(DM_OR_HTN))
    narrower["includes"][0]["items"][0]["searchParameters"].pop()
    r = post(client, f"/workspaces/study/resources/{cohort}/update",
             {"name": "DM or HTN", "description": "", "content": json.dumps(narrower), "note": "", "version": "1"},
             form_page=f"/workspaces/study/resources/{cohort}")
    assert r.status_code == 303
    page = client.get(f"/workspaces/study/reviews/{review_id}")
    assert text_of(page.text, "changed-since") == (
        "Cohort changed since this review set was drawn. Cohort “DM or HTN” is at version 2; this review set was "
        "drawn from version 1, and its definition has changed since. The participants below are the ones drawn "
        "then; draw a new review set to review the cohort as it is now.")
    assert "Cohort changed since" in text_of(client.get("/workspaces/study/reviews").text, "review-sets")
    assert content_of(cohort_ws, review_id)["participants"] == [3, 6, 7]  # the snapshot is kept
    content = content_of(cohort_ws, review_id)
    with cohort_ws.wb.db.session() as session:
        dv = DataVersion(name="2027Q1", tier="registered", release_number=2, cdr_path="/elsewhere", index_path=None,
                         aggregates_path=None, manifest_sha256="1" * 64, participant_count=8, data_types=[],
                         is_default=False, created_at=cohort_ws.wb.clock.now)
        session.add(dv)
        session.flush()
        workspace = session.scalar(select(Workspace).where(Workspace.namespace == "study"))
        workspace.data_version_id = dv.id
        session.flush()
        session.refresh(workspace)
        text = rv.changes(session, workspace, content)
    assert text[-1] == "The workspace now uses data version 2027Q1; this review set was drawn on another data version."


# -- the participant table -------------------------------------------------------------------------------------------

def test_the_participant_table_filters_by_every_column_and_status(cohort_ws):
    client = cohort_ws.client
    cohort = save_cohort(client, "DM or HTN", DM_OR_HTN)
    review_id, _ = draw(client, cohort, size="10")  # the whole cohort
    base = f"/workspaces/study/reviews/{review_id}"
    assert set_status(client, review_id, 2, "excluded").status_code == 303

    def shown(query: str = "") -> list[int]:
        r = client.get(base + ("?" + query if query else ""))
        assert r.status_code == 200, r.text[:2000]
        import re
        return [int(x) for x in re.findall(r'<tr id="participant-(\d+)">', r.text)]

    assert shown() == [1, 2, 3, 4, 6, 7]
    assert shown(f"gender={MAN}") == [1, 4, 6]
    assert shown("race=Concept+8516") == [2, 6]
    assert shown("ethnicity=Concept+38003564") == [1, 2, 3, 4, 6, 7]
    assert shown("sex_at_birth=No+matching+concept") == [1, 2, 3, 4, 6, 7]
    assert shown("age_band=60-69") == [1, 2]
    assert shown("deceased=yes") == [6]
    assert shown("birth_year=1970") == [3]
    assert shown("person_id=4") == [4]
    assert shown("status=excluded") == [2]
    assert shown("status=unreviewed&gender=" + WOMAN) == [3, 7]
    r = client.get(base + "?person_id=x&deceased=maybe")
    assert r.status_code == 422
    assert text_of(r.text, "error-summary") == ("Please correct 2 problems person_id : a participant id is a whole "
                                                "number deceased : yes or no")
    fragment = client.get(base + "?gender=" + MAN, headers={"hx-request": "true"})
    assert fragment.text.lstrip().startswith('<div id="participants"') and "<html" not in fragment.text
    assert text_of(fragment.text, "table-count") == "3 participants match the filters · page 1 of 1"


def test_the_participant_table_pages(cohort_ws):
    cohort = save_cohort(cohort_ws.client, "DM or HTN", DM_OR_HTN)
    review_id, _ = draw(cohort_ws.client, cohort, size="10")
    content = content_of(cohort_ws, review_id)
    with cohort_ws.wb.db.session() as session:
        review = session.get(Resource, review_id)
        first = rv.table_page(session, review, content, {}, rv.TableFilters(), page=1, page_size=4)
        second = rv.table_page(session, review, content, {}, rv.TableFilters(), page=2, page_size=4)
        past = rv.table_page(session, review, content, {}, rv.TableFilters(), page=9, page_size=4)
    assert [r.person_id for r in first.rows] == [1, 2, 3, 4] and (first.total, first.pages) == (6, 2)
    assert [r.person_id for r in second.rows] == [6, 7] and [r.position for r in second.rows] == [5, 6]
    assert past.page == 2


# -- one participant -------------------------------------------------------------------------------------------------

def test_the_participant_page_has_a_tab_per_domain_filters_and_the_qualifying_events(cohort_ws):
    client = cohort_ws.client
    cohort = save_cohort(client, "DM or HTN", DM_OR_HTN)
    review_id, _ = draw(client, cohort, size="10")
    base = f"/workspaces/study/reviews/{review_id}/participants"
    page = client.get(f"{base}/1")
    assert page.status_code == 200
    assert text_of(page.text, "position") == "1 of 6"
    assert 'id="previous-participant"' not in page.text and f'href="{base}/2?tab=summary" id="next-participant"' in page.text
    assert text_of(page.text, "person-facts") == ("Birth date 1950-04-12 Age at the data's cut-off 69 (60-69) Deceased No "
                                                  "Sex at birth No matching concept Gender Concept 8507 Race Concept 8527 "
                                                  "Ethnicity Concept 38003564")
    assert "Registered Tier: the dates shown are this data version's, shifted" in page.text
    assert text_of(page.text, "qualifying-count").startswith("2 events matching the cohort's include criteria are marked")
    assert text_of(page.text, "summary-chart-table") == ("Events per domain Item Events Conditions 2 Procedures 0 Drugs 1 "
                                                         "Labs 1 Vitals 2 Physical measurements 0 Surveys 0 "
                                                         "Observations 0 Visits 2 Devices 0")
    conditions = client.get(f"{base}/1?tab=conditions")
    assert text_of(conditions.text, "events") == (
        "Conditions, newest first (standard concepts) Date Age Concept Code Vocabulary Visit Source value Qualifying "
        "2011-01-01 60 Type 2 diabetes mellitus without complication 313436004 SNOMED Outpatient Visit Qualifying "
        "2010-04-11 59 Type 2 diabetes mellitus with renal complication 420279001 SNOMED Outpatient Visit Qualifying")
    assert conditions.text.count('<tr class="qualifying">') == 2
    source = client.get(f"{base}/1?tab=conditions&concepts=source")
    assert "2010-04-11 59 Type 2 diabetes mellitus without complications E11.9 ICD10CM" in text_of(source.text, "events")
    assert "2011-01-01 60 No matching concept" in text_of(source.text, "events")
    later = client.get(f"{base}/1?tab=conditions&date_from=2011-01-01")
    assert text_of(later.text, "events-count") == "1 event" and "2011-01-01 60" in text_of(later.text, "events")
    younger = client.get(f"{base}/1?tab=conditions&age_max=59")
    assert text_of(younger.text, "events-count") == "1 event" and "2010-04-11 59" in text_of(younger.text, "events")
    assert text_of(younger.text, "tab-summary") == "Summary"
    assert text_of(younger.text, "tab-visits") == "Visits (1)"
    labs = client.get(f"{base}/1?tab=labs")
    assert "2010-04-11 59 Hemoglobin A1c 4548-4 LOINC 7.2 Outpatient Visit" in text_of(labs.text, "events")
    vitals = client.get(f"{base}/1?tab=vitals")
    rows = text_of(vitals.text, "events")
    assert "Systolic blood pressure 8480-6 LOINC 150" in rows and "Diastolic blood pressure 8462-4 LOINC 95" in rows
    bad = client.get(f"{base}/1?tab=nothing&date_from=2011-02-30&age_min=5&age_max=3")
    assert bad.status_code == 422
    assert text_of(bad.text, "error-summary") == (
        "Please correct 3 problems tab : 'nothing' is not a tab date_from : '2011-02-30' is not a date (YYYY-MM-DD) "
        "age_max : the lowest age is above the highest")
    assert client.get(f"{base}/5").status_code == 404  # not in the review set


def test_surveys_physical_measurements_wearables_and_criteria_on_the_persons_own_row(cohort_ws):
    client = cohort_ws.client
    cohort = save_cohort(client, "Women", WOMEN)
    review_id, _ = draw(client, cohort, size="10")
    assert content_of(cohort_ws, review_id)["participants"] == [2, 3, 5, 7]
    base = f"/workspaces/study/reviews/{review_id}/participants"
    surveys = client.get(f"{base}/5?tab=surveys")
    assert text_of(surveys.text, "events") == (
        "Surveys, newest first (standard concepts) Date Age Concept Code Vocabulary Survey Value Unit Visit Source value "
        "Qualifying 2018-06-01 27 Smoking: 100 Cigs Lifetime Smoking_100CigsLifetime PPI The Basics "
        "100 Cigs Lifetime: Yes")
    measures = client.get(f"{base}/5?tab=physical_measurements")
    assert "2018-06-01 27 Body height 8302-2 LOINC 165" in text_of(measures.text, "events")
    source = client.get(f"{base}/5?tab=physical_measurements&concepts=source")
    assert "2018-06-01 27 Height height PPI 165" in text_of(source.text, "events")
    wearables = client.get(f"{base}/5?tab=wearables")
    assert text_of(wearables.text, "wearables") == ("Wearable data Data Days First day Last day Summary Minute-level steps "
                                                    "Present (minute-level data is not summarised here)")
    assert text_of(wearables.text, "person-criteria") == "Include group 1: Person (GENDER 8532)"
    assert text_of(wearables.text, "qualifying-count").startswith("0 events matching")


def test_a_participant_reader_gives_every_event_once_with_both_concepts(fixture_cdr):
    engine = CohortEngine(fixture_cdr.parent / "cdr.index", cdr_dir=fixture_cdr)
    try:
        reader = ParticipantReader(engine.con, fixture_cdr)
        data = reader.read(1)
        rows = [(e.tab, e.date.isoformat(), e.age, e.standard.id, e.source.id, e.value, e.visit)
                for e in data.shown(Filters())]
        assert rows == [
            ("conditions", "2011-01-01", 60, 4193704, None, None, "Outpatient Visit"),
            ("visits", "2011-01-01", 60, 9202, None, None, None),
            ("drugs", "2010-04-20", 60, 40163924, None, None, None),
            ("conditions", "2010-04-11", 59, 443732, 45533023, None, "Outpatient Visit"),
            ("labs", "2010-04-11", 59, 3004410, None, "7.2", "Outpatient Visit"),
            ("vitals", "2010-04-11", 59, 3004249, None, "150", "Outpatient Visit"),
            ("vitals", "2010-04-11", 59, 3012888, None, "95", "Outpatient Visit"),
            ("visits", "2010-04-11", 59, 9202, None, None, None),
        ]
        assert data.counts(Filters(date_to=date(2010, 12, 31))) == {
            "conditions": 1, "procedures": 0, "drugs": 1, "labs": 1, "vitals": 2, "physical_measurements": 0,
            "surveys": 0, "observations": 0, "visits": 1, "devices": 0}
        assert [(c.name, n) for c, n in data.top_concepts(Filters(), "vitals", True)] == [
            ("Diastolic blood pressure", 1), ("Systolic blood pressure", 1)]
        lab = reader.read(2).shown(Filters(), "labs")[0]
        assert (lab.value, lab.date) == ("6", date(2012, 5, 1))  # a value as a number wins over its concept
        assert set(reader.persons([1, 6, 99])) == {1, 6} and reader.persons([6])[6].deceased
        with pytest.raises(ParticipantNotFound):
            reader.read(99)
    finally:
        engine.close()


# -- statuses --------------------------------------------------------------------------------------------------------

def test_statuses_are_set_changed_cleared_and_counted(cohort_ws):
    writer = cohort_ws.sign_in("writer@state.edu")
    cohort = save_cohort(cohort_ws.client, "DM or HTN", DM_OR_HTN)
    review_id, _ = draw(writer, cohort, size="10")
    r = set_status(writer, review_id, 3, "included")
    assert r.status_code == 303 and r.headers["location"] == f"/workspaces/study/reviews/{review_id}/participants/3?tab=summary"
    set_status(writer, review_id, 4, "needs_review")
    set_status(writer, review_id, 6, "excluded")
    set_status(writer, review_id, 6, "included")
    set_status(writer, review_id, 4, "")
    page = writer.get(f"/workspaces/study/reviews/{review_id}")
    assert text_of(page.text, "progress") == "Included : 2 Excluded : 0 Needs further review : 0 Not reviewed : 4"
    participant = writer.get(f"/workspaces/study/reviews/{review_id}/participants/6")
    assert text_of(participant.text, "current-status") == "Included"
    assert 'value="included" data-key="1" class="" aria-pressed="true">1 · Included</button>' in participant.text
    assert set_status(writer, review_id, 3, "maybe").status_code == 422
    elsewhere = f"/workspaces/study/reviews/{review_id}/participants/3"
    assert set_status(writer, review_id, 5, "included", form_page=elsewhere).status_code == 404  # not in the set
    with cohort_ws.wb.db.session() as session:
        assert rv.statuses(session, session.get(Resource, review_id)) == {3: "included", 6: "included"}


def test_a_reader_reads_and_exports_but_changes_nothing(cohort_ws):
    cohort = save_cohort(cohort_ws.client, "DM or HTN", DM_OR_HTN)
    review_id, _ = draw(cohort_ws.client, cohort, size="10")
    add_field(cohort_ws.client, review_id, "Notes", "text")
    reader = cohort_ws.sign_in("reader@state.edu")
    base = f"/workspaces/study/reviews/{review_id}"
    assert reader.get(base).status_code == 200
    page = reader.get(f"{base}/participants/1")
    assert page.status_code == 200 and 'id="status-form"' not in page.text and 'id="annotation-form"' not in page.text
    assert text_of(page.text, "annotation-values") == "Notes not set"
    assert reader.get(f"{base}/export.csv").status_code == 200
    assert reader.get("/workspaces/study/reviews/new").status_code == 403
    token = {"status": "included", "back": ""}
    for path, data in ((f"{base}/participants/1/status", token),
                       (f"{base}/participants/1/annotations", {"annotation-1": "x"}),
                       (f"{base}/fields", {"field_name": "X", "field_kind": "text"}),
                       (f"{base}/fields/1/delete", {}), (f"{base}/fields/copy", {"source": "1"}),
                       ("/workspaces/study/reviews", {"cohort": str(cohort), "name": "R", "size": "2", "method": "random"})):
        assert post(reader, path, data, form_page=base).status_code == 403, path
    outsider_free = cohort_ws.wb.client()
    assert outsider_free.get(base).status_code == 303  # not signed in: to the sign-in page


# -- annotations -----------------------------------------------------------------------------------------------------

def test_annotation_fields_are_checked_and_values_refused_naming_the_field(cohort_ws):
    client = cohort_ws.client
    cohort = save_cohort(client, "DM or HTN", DM_OR_HTN)
    review_id, _ = draw(client, cohort, size="10")
    for name, kind, options in (("Smoker", "list", "Yes\nNo\nUnknown"), ("Diagnosed on", "date", ""),
                                ("Confirmed", "yes_no", ""), ("HbA1c", "number", ""), ("Notes", "text", "")):
        assert add_field(client, review_id, name, kind, options).status_code == 303
    refused = {
        ("status", "text", ""): "field_name : 'status' is a column of the export already: choose another name",
        ("smoker", "text", ""): "field_name : this review set already has a field named 'smoker'",
        ("Stage", "list", ""): "field_options : a list field needs at least one option (one per line)",
        ("Stage", "list", "I\nII\nI"): "field_options : option 'I' is listed twice",
        ("When", "date", "x"): "field_options : only a list field has options; a date field has none",
        ("Odd", "colour", ""): "field_kind : one of text, list, date, yes_no, number",
    }
    for (name, kind, options), message in refused.items():
        r = add_field(client, review_id, name, kind, options)
        assert r.status_code == 422 and message in text_of(r.text, "error-summary"), (name, r.text[-3000:])
    ids = field_ids(cohort_ws, review_id)
    base = f"/workspaces/study/reviews/{review_id}/participants/3"
    values = {f"annotation-{ids['Smoker']}": "Maybe", f"annotation-{ids['Diagnosed on']}": "2020-13-01",
              f"annotation-{ids['Confirmed']}": "perhaps", f"annotation-{ids['HbA1c']}": "7,5",
              f"annotation-{ids['Notes']}": "fine", "back": "tab=conditions"}
    r = post(client, f"{base}/annotations", values, form_page=base)
    assert r.status_code == 422
    summary = text_of(r.text, "error-summary")
    assert summary == (
        f"Please correct 4 problems annotation-{ids['Smoker']} : Smoker: 'Maybe' is not one of its options: Yes, No, "
        f"Unknown annotation-{ids['Diagnosed on']} : Diagnosed on: '2020-13-01' is not a date (YYYY-MM-DD) "
        f"annotation-{ids['Confirmed']} : Confirmed: 'perhaps' is not yes or no annotation-{ids['HbA1c']} : HbA1c: "
        "'7,5' is not a number")
    assert 'value="2020-13-01"' in r.text  # what was typed stays in the form
    with cohort_ws.wb.db.session() as session:
        assert rv.annotations(session, session.get(Resource, review_id)) == {}  # nothing was saved
    values.update({f"annotation-{ids['Smoker']}": "No", f"annotation-{ids['Diagnosed on']}": "2015-01-01",
                   f"annotation-{ids['Confirmed']}": "Yes", f"annotation-{ids['HbA1c']}": "7.50"})
    r = post(client, f"{base}/annotations", values, form_page=base)
    assert r.status_code == 303 and r.headers["location"].endswith("/participants/3?tab=conditions")
    with cohort_ws.wb.db.session() as session:
        stored = rv.annotations(session, session.get(Resource, review_id))
    assert stored == {3: {ids["Smoker"]: "No", ids["Diagnosed on"]: "2015-01-01", ids["Confirmed"]: "yes",
                          ids["HbA1c"]: "7.5", ids["Notes"]: "fine"}}
    r = post(client, f"{base}/annotations", {f"annotation-{ids['Notes']}": ""}, form_page=base)
    with cohort_ws.wb.db.session() as session:
        assert ids["Notes"] not in rv.annotations(session, session.get(Resource, review_id))[3]  # emptied: removed


def test_fields_are_reused_from_another_review_set_and_deleting_one_deletes_its_values(cohort_ws):
    client = cohort_ws.client
    cohort = save_cohort(client, "DM or HTN", DM_OR_HTN)
    first, _ = draw(client, cohort, name="First", size="10")
    second, _ = draw(client, cohort, name="Second", size="2")
    add_field(client, first, "Smoker", "list", "Yes\nNo")
    add_field(client, first, "Notes", "text")
    add_field(client, second, "notes", "text")
    r = post(client, f"/workspaces/study/reviews/{second}/fields/copy", {"source": str(first)},
             form_page=f"/workspaces/study/reviews/{second}")
    assert r.status_code == 303
    page = client.get(f"/workspaces/study/reviews/{second}")
    assert "1 field copied from “First”; already here, not copied: Notes." in page.text
    assert text_of(page.text, "fields-table") == ("Annotation fields Name Kind Options Action notes Free text Delete field "
                                                  "notes Smoker List (choose one) Yes, No Delete field Smoker")
    ids = field_ids(cohort_ws, first)
    base = f"/workspaces/study/reviews/{first}/participants/1"
    post(client, f"{base}/annotations", {f"annotation-{ids['Smoker']}": "Yes", f"annotation-{ids['Notes']}": "n"},
         form_page=base)
    r = post(client, f"/workspaces/study/reviews/{first}/fields/{ids['Smoker']}/delete", {},
             form_page=f"/workspaces/study/reviews/{first}")
    assert r.status_code == 303
    with cohort_ws.wb.db.session() as session:
        assert rv.annotations(session, session.get(Resource, first)) == {1: {ids["Notes"]: "n"}}
    r = post(client, f"/workspaces/study/reviews/{second}/fields/copy", {"source": str(second)},
             form_page=f"/workspaces/study/reviews/{second}")
    assert r.status_code == 422
    assert text_of(r.text, "error-summary") == ("Please correct 1 problem source : choose another review set to copy the "
                                                "fields from")


# -- export ----------------------------------------------------------------------------------------------------------

def test_the_export_holds_statuses_and_typed_annotations_in_csv_and_parquet(cohort_ws):
    client = cohort_ws.client
    cohort = save_cohort(client, "DM or HTN", DM_OR_HTN)
    review_id, _ = draw(client, cohort, name="Chart review", size="3")  # persons 3, 6, 7
    for name, kind, options in (("Smoker", "list", "Yes\nNo"), ("Diagnosed on", "date", ""),
                                ("Confirmed", "yes_no", ""), ("HbA1c", "number", ""), ("Notes", "text", "")):
        add_field(client, review_id, name, kind, options)
    ids = field_ids(cohort_ws, review_id)
    set_status(client, review_id, 3, "included")
    set_status(client, review_id, 7, "needs_review")
    for person, values in ((3, {"Smoker": "No", "Diagnosed on": "2015-01-01", "Confirmed": "yes", "HbA1c": "7",
                                "Notes": 'said "no", twice'}),
                           (7, {"HbA1c": "6.25", "Confirmed": "no"})):
        base = f"/workspaces/study/reviews/{review_id}/participants/{person}"
        r = post(client, f"{base}/annotations", {f"annotation-{ids[k]}": v for k, v in values.items()}, form_page=base)
        assert r.status_code == 303
    csv = client.get(f"/workspaces/study/reviews/{review_id}/export.csv")
    assert csv.status_code == 200 and csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert csv.headers["content-disposition"] == f'attachment; filename="Chart-review-{review_id}.csv"'
    assert csv.text == ("person_id,status,Smoker,Diagnosed on,Confirmed,HbA1c,Notes\n"
                        '3,included,No,2015-01-01,true,7,"said ""no"", twice"\n'
                        "6,unreviewed,,,,,\n"
                        "7,needs_review,,,false,6.25,\n")
    parquet = client.get(f"/workspaces/study/reviews/{review_id}/export.parquet")
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.schema == pa.schema([("person_id", pa.int64()), ("status", pa.string()), ("Smoker", pa.string()),
                                      ("Diagnosed on", pa.date32()), ("Confirmed", pa.bool_()),
                                      ("HbA1c", pa.float64()), ("Notes", pa.string())])
    assert table.to_pylist() == [
        {"person_id": 3, "status": "included", "Smoker": "No", "Diagnosed on": date(2015, 1, 1), "Confirmed": True,
         "HbA1c": 7.0, "Notes": 'said "no", twice'},
        {"person_id": 6, "status": "unreviewed", "Smoker": None, "Diagnosed on": None, "Confirmed": None,
         "HbA1c": None, "Notes": None},
        {"person_id": 7, "status": "needs_review", "Smoker": None, "Diagnosed on": None, "Confirmed": False,
         "HbA1c": 6.25, "Notes": None},
    ]
    content = content_of(cohort_ws, review_id)
    with cohort_ws.wb.db.session() as session:  # what the Dataset Builder will call
        assert rv.export_table(session, session.get(Resource, review_id), content).equals(table)


# -- the audit log ---------------------------------------------------------------------------------------------------

def test_every_participant_level_view_and_change_is_audited(cohort_ws):
    client = cohort_ws.client
    cohort = save_cohort(client, "DM or HTN", DM_OR_HTN)
    review_id, _ = draw(client, cohort, size="10")
    before = len(accesses(cohort_ws))
    base = f"/workspaces/study/reviews/{review_id}"
    client.get(base + "?gender=" + MAN)
    client.get(f"{base}/participants/4?tab=labs")
    set_status(client, review_id, 4, "included")  # its form page is a view too
    client.get(f"{base}/export.parquet")
    client.get(base + "?person_id=5")  # no row shown: nothing to record
    events = accesses(cohort_ws)[before:]
    common = {"tier": "registered", "workspace_id": "study", "cohort": cohort, "cdr_version": "2026Q4"}
    assert [(e["purpose"], e["persons"]["ids"]) for e in events] == [
        ("cohort_review_table", [1, 4, 6]),
        ("cohort_review_participant", [4]),
        ("cohort_review_participant", [4]),
        ("cohort_review_status", [4]),
        ("cohort_review_export", [1, 2, 3, 4, 6, 7]),
    ]
    assert all({k: e[k] for k in common} == common for e in events)
    with cohort_ws.wb.db.session() as session:
        actors = session.scalars(select(AuditEvent.actor_id).where(AuditEvent.action == "participant_access")).all()
    assert set(actors) == {cohort_ws.wb.user("owner@state.edu").id}


# -- a review set written by hand ------------------------------------------------------------------------------------

def test_a_review_set_written_as_json_opens_without_a_snapshot(cohort_ws):
    client = cohort_ws.client
    cohort = save_cohort(client, "DM or HTN", DM_OR_HTN)
    r = post(client, "/workspaces/study/resources", {"kind": "review_set", "name": "By hand", "description": "",
                                                      "content": json.dumps({"cohort": cohort, "size": 5,
                                                                             "participants": [7, 2]})},
             form_page="/workspaces/study/data")
    review_id = int(r.headers["location"].rsplit("/", 1)[1])
    data = client.get("/workspaces/study/data")
    assert f'href="/workspaces/study/reviews/{review_id}" id="review-{review_id}">Review participants</a>' in data.text
    page = client.get(f"/workspaces/study/reviews/{review_id}")
    assert "Listed by hand (no snapshot of the cohort)" in text_of(page.text, "review-facts")
    assert 'id="changed-since"' not in page.text
    participant = client.get(f"/workspaces/study/reviews/{review_id}/participants/2")
    assert text_of(participant.text, "position") == "2 of 2"
    assert text_of(participant.text, "qualifying-count").startswith("This review set keeps no Cohort Builder definition")
    bad = post(client, "/workspaces/study/resources", {"kind": "review_set", "name": "Bad", "description": "",
                                                        "content": json.dumps({"cohort": cohort, "size": 5,
                                                                               "sample": {"method": "cluster", "seed": -1,
                                                                                          "population": 1}})},
               form_page="/workspaces/study/data")
    assert bad.status_code == 422
    assert "content.sample.method: Input should be &#39;random&#39; or &#39;stratified&#39;" in bad.text
    assert "content.sample.seed: Input should be greater than or equal to 0" in bad.text
    assert client.get(f"/workspaces/study/reviews/{cohort}").status_code == 404  # a cohort is not a review set
