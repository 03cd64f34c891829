"""Workspace resources: version histories, restore, stale updates, roles, copying between workspaces (tier and data
version rules), copy_all, content validation per kind with its limits, and the JSON API with personal tokens.

Workspaces, members and data versions are made directly in the database here (``workspace`` below): the workspace
pages and services are another area's."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from research_workbench.accounts import api_tokens
from research_workbench.accounts.modules import Module
from research_workbench.state.models import (
    AuditEvent, DataVersion, Resource, ResourceVersion, User, Workspace, WorkspaceMember,
)
from research_workbench.workspaces import resources as res

from .conftest import ALL_RT, make_user, post

COHORT = {"includes": [{"id": "g1", "items": [{"id": "i1", "type": "CONDITION", "searchParameters": [
    {"parameterId": "p1", "domain": "CONDITION", "type": "SNOMED", "conceptId": 201826}]}]}]}
COHORT_2 = {"includes": [{"id": "g1", "items": [{"id": "i1", "type": "CONDITION", "searchParameters": [
    {"parameterId": "p1", "domain": "CONDITION", "type": "SNOMED", "conceptId": 316866}]}]}]}
NO_CONCEPT = {"includes": [{"id": "g1", "items": [{"id": "i1", "type": "CONDITION", "searchParameters": [
    {"parameterId": "p1", "domain": "CONDITION", "type": "SNOMED"}]}]}]}
STORED = res.validate_content("cohort", COHORT)
STORED_2 = res.validate_content("cohort", COHORT_2)


# -- fixtures: data versions, workspaces and members straight into the database ------------------------------------

def data_version(wb, name: str, tier: str, release: int) -> int:
    with wb.db.session() as session:
        found = session.scalar(select(DataVersion).where(DataVersion.name == name, DataVersion.tier == tier))
        if found is not None:
            return found.id
        row = DataVersion(name=name, tier=tier, release_number=release, cdr_path=f"/cdr/{name}/{tier}",
                          index_path=None, aggregates_path=None, manifest_sha256="0" * 64, participant_count=100,
                          data_types=[], is_default=False, created_at=wb.clock.now, archived_at=None)
        session.add(row)
        session.flush()
        return row.id


def workspace(wb, namespace: str, members: dict[str, str], *, tier: str = "registered", release: str = "2026Q3",
              locked: str | None = None) -> None:
    """A workspace ``namespace`` on data version ``release`` of ``tier`` (release numbers: 2026Q1 = 1, 2026Q3 = 3),
    with ``members`` (email → OWNER / WRITER / READER)."""
    dv = data_version(wb, release, tier, {"2026Q1": 1, "2026Q3": 3}[release])
    now = wb.clock.now
    with wb.db.session() as session:
        ids = {email: session.scalar(select(User.id).where(User.email == email)) for email in members}
        owner = next(ids[e] for e, r in members.items() if r == "OWNER")
        ws = Workspace(namespace=namespace, name=namespace.replace("-", " ").title(), tier=tier, data_version_id=dv,
                       purpose={}, etag=1, created_by=owner, created_at=now, updated_by=owner, updated_at=now,
                       locked_at=now if locked else None, locked_reason=locked, locked_by=owner if locked else None)
        session.add(ws)
        session.flush()
        for email, role in members.items():
            session.add(WorkspaceMember(workspace_id=ws.id, user_id=ids[email], role=role, added_at=now,
                                        added_by=owner))


def token(wb, email: str, *scopes: str):
    """A client calling the API with a personal token of ``scopes``."""
    with wb.db.session() as session:
        user = session.scalar(select(User).where(User.email == email))
        plain, _ = api_tokens.create_token(session, user, name="test", scopes=list(scopes), days=30, now=wb.clock.now,
                                           pepper=wb.app.state.services.keys.tokens)
    client = wb.client()
    client.headers["authorization"] = f"Bearer {plain}"
    return client


@pytest.fixture
def team(wb):
    """ada (owner) and bob (writer) and cat (reader) of rt-study; eve holds the tier but is no member."""
    people = {e: make_user(wb, e, modules=ALL_RT) for e in ("ada@state.edu", "bob@state.edu", "cat@state.edu",
                                                            "eve@state.edu")}
    workspace(wb, "rt-study", {"ada@state.edu": "OWNER", "bob@state.edu": "WRITER", "cat@state.edu": "READER"})
    return people


def create(client, namespace: str, kind: str, name: str, content, description: str = ""):
    return post(client, f"/workspaces/{namespace}/resources",
                {"kind": kind, "name": name, "description": description,
                 "content": content if isinstance(content, str) else json.dumps(content)},
                form_page=f"/workspaces/{namespace}/data")


def resource_id(wb, name: str, namespace: str = "rt-study") -> int:
    with wb.db.session() as session:
        return session.scalar(select(Resource.id).join(Workspace, Workspace.id == Resource.workspace_id)
                              .where(Workspace.namespace == namespace, Resource.name == name,
                                     Resource.deleted_at.is_(None)))


def versions(wb, rid: int) -> list[tuple]:
    with wb.db.session() as session:
        return [(v.version, v.name, v.note, v.content) for v in session.scalars(
            select(ResourceVersion).where(ResourceVersion.resource_id == rid).order_by(ResourceVersion.version))]


def audit_actions(wb) -> list[str]:
    with wb.db.session() as session:
        return [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.seq))
                if e.action.startswith("resource_")]


# -- histories ----------------------------------------------------------------------------------------------------

def test_a_resource_keeps_an_exact_history_of_who_changed_what_and_when(wb, team):
    ada, bob = team["ada@state.edu"].sign_in(), team["bob@state.edu"].sign_in()
    start = wb.clock.now
    r = create(ada, "rt-study", "cohort", "Diabetes", COHORT, "type 2")
    rid = resource_id(wb, "Diabetes")
    assert r.status_code == 303 and r.headers["location"] == f"/workspaces/rt-study/resources/{rid}"
    wb.clock.advance(minutes=5)
    page = f"/workspaces/rt-study/resources/{rid}"
    r = post(bob, f"{page}/update", {"version": "1", "name": "Diabetes", "description": "type 2",
                                     "content": json.dumps(COHORT_2), "note": "hypertension instead"}, form_page=page)
    assert r.status_code == 303
    wb.clock.advance(minutes=5)
    r = post(ada, f"{page}/update", {"version": "2", "name": "Diabetes (T2)", "description": "type 2",
                                     "content": json.dumps(COHORT_2), "note": ""}, form_page=page)
    assert r.status_code == 303

    history = token(wb, "cat@state.edu", "workspaces:read").get(f"/api/workspaces/rt-study/resources/{rid}/history")
    assert history.status_code == 200
    ids = {e: wb.user(e).id for e in ("ada@state.edu", "bob@state.edu")}
    assert [(h["version"], h["name"], h["created_by"], h["created_at"], h["note"], h["current"]) for h in history.json()] == [
        (3, "Diabetes (T2)", ids["ada@state.edu"], (start + timedelta(minutes=10)).isoformat().replace("+00:00", "Z"),
         "edited", True),
        (2, "Diabetes", ids["bob@state.edu"], (start + timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
         "hypertension instead", False),
        (1, "Diabetes", ids["ada@state.edu"], start.isoformat().replace("+00:00", "Z"), "created", False),
    ]
    assert history.json()[1]["author"] == "Test Bob (bob@state.edu)"
    assert [v[3] for v in versions(wb, rid)] == [STORED, STORED_2, STORED_2]
    assert audit_actions(wb) == ["resource_created", "resource_updated", "resource_updated"]

    shown = ada.get(page)
    assert shown.status_code == 200
    assert "Restore version 2" in shown.text and "Restore version 1" in shown.text and "Restore version 3" not in shown.text
    assert "hypertension instead" in shown.text and "Test Bob (bob@state.edu)" in shown.text
    assert "Participants who have [concept 316866]." in shown.text


def test_saving_the_same_content_writes_no_new_version(wb, team):
    ada = team["ada@state.edu"].sign_in()
    create(ada, "rt-study", "cohort", "Diabetes", COHORT)
    rid = resource_id(wb, "Diabetes")
    page = f"/workspaces/rt-study/resources/{rid}"
    r = post(ada, f"{page}/update", {"version": "1", "name": "Diabetes", "description": "", "content": json.dumps(COHORT)},
             form_page=page)
    assert r.status_code == 303
    assert "Nothing changed: still version 1." in ada.get(page).text
    assert [v[0] for v in versions(wb, rid)] == [1]


def test_restoring_version_1_makes_version_3_with_version_1s_content(wb, team):
    ada = team["ada@state.edu"].sign_in()
    create(ada, "rt-study", "cohort", "Diabetes", COHORT, "first")
    rid = resource_id(wb, "Diabetes")
    page = f"/workspaces/rt-study/resources/{rid}"
    post(ada, f"{page}/update", {"version": "1", "name": "Renamed", "description": "second",
                                 "content": json.dumps(COHORT_2)}, form_page=page)
    r = post(ada, f"{page}/restore", {"version": "2", "restore": "1"}, form_page=page)
    assert r.status_code == 303 and r.headers["location"] == page
    assert versions(wb, rid) == [(1, "Diabetes", "created", STORED), (2, "Renamed", "edited", STORED_2),
                                 (3, "Diabetes", "restored version 1", STORED)]
    assert "Version 1 restored as version 3." in ada.get(page).text
    with wb.db.session() as session:
        resource = session.get(Resource, rid)
        assert (resource.version, resource.name, resource.description) == (3, "Diabetes", "first")
    # Through the API: restoring version 2 makes version 4; the current version cannot be restored.
    api = token(wb, "ada@state.edu", "workspaces:read", "workspaces:write")
    r = api.post(f"/api/workspaces/rt-study/resources/{rid}/restore", json={"version": 2})
    assert r.status_code == 200 and r.json()["version"] == 4 and r.json()["content"] == STORED_2
    assert r.headers["etag"] == '"4"'
    r = api.post(f"/api/workspaces/rt-study/resources/{rid}/restore", json={"version": 4})
    assert r.status_code == 422
    assert r.json()["problems"] == [{"where": "body.version", "message": "version 4 is already the current version"}]
    r = api.post(f"/api/workspaces/rt-study/resources/{rid}/restore", json={"version": 9})
    assert r.status_code == 404 and r.json()["error"] == "cohort %d has no version 9 (the current version is 4)" % rid
    assert audit_actions(wb) == ["resource_created", "resource_updated", "resource_restored", "resource_restored"]


# -- two writers -------------------------------------------------------------------------------------------------

def test_an_update_from_an_old_version_is_409_naming_the_current_version(wb, team):
    ada, bob = team["ada@state.edu"].sign_in(), team["bob@state.edu"].sign_in()
    create(ada, "rt-study", "cohort", "Diabetes", COHORT)
    rid = resource_id(wb, "Diabetes")
    page = f"/workspaces/rt-study/resources/{rid}"
    # Both opened version 1; bob saves first.
    assert post(bob, f"{page}/update", {"version": "1", "name": "Diabetes", "content": json.dumps(COHORT_2)},
                form_page=page).status_code == 303
    r = post(ada, f"{page}/update", {"version": "1", "name": "Diabetes", "content": json.dumps(COHORT),
                                     "note": "mine"}, form_page=page)
    assert r.status_code == 409
    assert ("This cohort changed since you opened it: you changed version 1, but the current version is 2. "
            "Reload version 2 and make your change again.") in r.text
    assert '<input type="hidden" name="version" value="2">' in r.text  # ada's text kept, to save over version 2
    assert [v[0] for v in versions(wb, rid)] == [1, 2]

    # The API: the version in the body, or If-Match.
    api = token(wb, "ada@state.edu", "workspaces:write", "workspaces:read")
    r = api.post(f"/api/workspaces/rt-study/resources/{rid}", json={"version": 1, "content": COHORT})
    assert r.status_code == 409
    assert r.json() == {"error": "This cohort changed since you opened it: you changed version 1, but the current "
                                 "version is 2. Reload version 2 and make your change again.",
                        "problems": [{"where": "body.version", "message": "the current version is 2"}]}
    r = api.post(f"/api/workspaces/rt-study/resources/{rid}", json={"content": COHORT}, headers={"if-match": '"1"'})
    assert r.status_code == 409
    r = api.post(f"/api/workspaces/rt-study/resources/{rid}", json={"content": COHORT})
    assert r.status_code == 428
    r = api.post(f"/api/workspaces/rt-study/resources/{rid}", json={"content": COHORT}, headers={"if-match": '"2"'})
    assert r.status_code == 200 and r.json()["version"] == 3 and r.headers["etag"] == '"3"'
    r = api.post(f"/api/workspaces/rt-study/resources/{rid}/delete", headers={"if-match": '"2"'})
    assert r.status_code == 409
    r = api.post(f"/api/workspaces/rt-study/resources/{rid}/delete", headers={"if-match": '"3"'})
    assert r.status_code == 204
    assert api.get(f"/api/workspaces/rt-study/resources/{rid}").status_code == 404


# -- roles -------------------------------------------------------------------------------------------------------

def test_a_reader_reads_but_cannot_change_anything(wb, team):
    ada, cat = team["ada@state.edu"].sign_in(), team["cat@state.edu"].sign_in()
    create(ada, "rt-study", "cohort", "Diabetes", COHORT)
    rid = resource_id(wb, "Diabetes")
    page = f"/workspaces/rt-study/resources/{rid}"
    shown = cat.get(page)
    assert shown.status_code == 200 and "Diabetes" in shown.text
    assert "Restore version" not in shown.text and "/update" not in shown.text and "Delete cohort" not in shown.text
    assert "You are a Reader in this workspace" in cat.get("/workspaces/rt-study/data").text
    refused = "This needs the Writer role in the workspace; you are a Reader."
    for path, data in (("/workspaces/rt-study/resources", {"kind": "cohort", "name": "X", "content": json.dumps(COHORT)}),
                       (f"{page}/update", {"version": "1", "name": "X", "content": json.dumps(COHORT)}),
                       (f"{page}/restore", {"version": "1", "restore": "1"}),
                       (f"{page}/delete", {"version": "1"})):
        r = post(cat, path, data, form_page=page)
        assert r.status_code == 403 and refused in r.text, path
    api = token(wb, "cat@state.edu", "workspaces:read", "workspaces:write")
    r = api.post("/api/workspaces/rt-study/resources", json={"kind": "cohort", "name": "X", "content": COHORT})
    assert r.status_code == 403 and r.json()["error"] == refused
    r = api.post(f"/api/workspaces/rt-study/resources/{rid}", json={"version": 1, "name": "X"})
    assert r.status_code == 403 and r.json()["error"] == refused
    assert api.get(f"/api/workspaces/rt-study/resources/{rid}").status_code == 200
    assert versions(wb, rid) == [(1, "Diabetes", "created", STORED)]


def test_someone_outside_the_workspace_gets_404_everywhere(wb, team):
    ada, eve = team["ada@state.edu"].sign_in(), team["eve@state.edu"].sign_in()
    create(ada, "rt-study", "cohort", "Diabetes", COHORT)
    rid = resource_id(wb, "Diabetes")
    assert eve.get("/workspaces/rt-study/data").status_code == 404
    assert eve.get(f"/workspaces/rt-study/resources/{rid}").status_code == 404
    assert ada.get(f"/workspaces/rt-study/resources/{rid + 100}").status_code == 404
    assert ada.get("/workspaces/no-such/data").status_code == 404
    api = token(wb, "eve@state.edu", "workspaces:read", "workspaces:write")
    r = api.get(f"/api/workspaces/rt-study/resources/{rid}")
    assert r.status_code == 404 and r.json()["error"] == "no workspace 'rt-study' that you are a member of"
    assert api.post(f"/api/workspaces/rt-study/resources/{rid}/copy", json={"target": "x"}).status_code == 404


def test_a_locked_workspace_answers_403_with_the_reason(wb, team):
    workspace(wb, "locked-one", {"ada@state.edu": "OWNER"}, locked="under review for a DUCC breach")
    ada = team["ada@state.edu"].sign_in()
    r = ada.get("/workspaces/locked-one/data")
    assert r.status_code == 403
    assert "This workspace is locked by an administrator: under review for a DUCC breach" in r.text
    r = token(wb, "ada@state.edu", "workspaces:read").get("/api/workspaces/locked-one/resources")
    assert r.status_code == 403
    assert r.json()["error"] == "This workspace is locked by an administrator: under review for a DUCC breach"


# -- copying -----------------------------------------------------------------------------------------------------

@pytest.fixture
def both_tiers(wb):
    """dan (City Health Lab: both tiers) owns an RT workspace on 2026Q3, an RT one on 2026Q1 (older), one on 2026Q3
    of the CT, and is a Reader of another RT one."""
    dan = make_user(wb, "dan@citylab.org", institution="city-lab", modules=ALL_RT + (Module.CT_TRAINING,))
    make_user(wb, "fay@citylab.org", institution="city-lab", modules=ALL_RT + (Module.CT_TRAINING,))
    workspace(wb, "rt-new", {"dan@citylab.org": "OWNER"})
    workspace(wb, "rt-old", {"dan@citylab.org": "OWNER"}, release="2026Q1")
    workspace(wb, "ct-new", {"dan@citylab.org": "OWNER"}, tier="controlled")
    workspace(wb, "rt-read", {"fay@citylab.org": "OWNER", "dan@citylab.org": "READER"})
    return SimpleNamespace(api=token(wb, "dan@citylab.org", "workspaces:read", "workspaces:write"), dan=dan)


def test_copy_is_refused_to_another_tier_and_to_an_older_data_version(wb, both_tiers):
    api = both_tiers.api
    made = api.post("/api/workspaces/rt-new/resources", json={"kind": "cohort", "name": "Diabetes", "content": COHORT})
    assert made.status_code == 201
    rid = made.json()["id"]
    r = api.post(f"/api/workspaces/rt-new/resources/{rid}/copy", json={"target": "ct-new"})
    assert r.status_code == 422
    assert r.json()["problems"] == [{"where": "body.target", "message":
                                     "Ct New is a Controlled Tier workspace: resources of a Registered Tier workspace "
                                     "can be copied only to another Registered Tier workspace."}]
    r = api.post(f"/api/workspaces/rt-new/resources/{rid}/copy", json={"target": "rt-old"})
    assert r.status_code == 422
    assert r.json()["problems"] == [{"where": "body.target", "message":
                                     "Rt Old uses data version 2026Q1, older than this workspace's 2026Q3: resources "
                                     "can be copied only to a workspace on the same or a newer data version of the "
                                     "Registered Tier."}]
    r = api.post(f"/api/workspaces/rt-new/resources/{rid}/copy", json={"target": "rt-read"})
    assert r.status_code == 403 and r.json()["error"] == "This needs the Writer role in the workspace; you are a Reader."
    with wb.db.session() as session:
        assert session.scalar(select(Resource.id).where(Resource.id != rid)) is None

    # The pages say the same beside the form.
    page = f"/workspaces/rt-new/resources/{rid}"
    dan = both_tiers.dan.sign_in()
    shown = dan.get(page)
    assert 'value="ct-new"' in shown.text and 'value="rt-old"' in shown.text and 'value="rt-read"' not in shown.text
    r = post(dan, f"{page}/copy", {"target": "ct-new", "name": ""}, form_page=page)
    assert r.status_code == 422
    assert ("Ct New is a Controlled Tier workspace: resources of a Registered Tier workspace can be copied only to "
            "another Registered Tier workspace.") in r.text


def test_copy_to_the_same_or_a_newer_data_version_makes_version_1_with_a_note(wb, both_tiers):
    api = both_tiers.api
    workspace(wb, "rt-old-2", {"dan@citylab.org": "OWNER"}, release="2026Q1")
    made = api.post("/api/workspaces/rt-old-2/resources", json={"kind": "cohort", "name": "Diabetes", "content": COHORT})
    rid = made.json()["id"]
    api.post(f"/api/workspaces/rt-old-2/resources/{rid}", json={"version": 1, "content": COHORT_2})
    r = api.post(f"/api/workspaces/rt-old-2/resources/{rid}/copy", json={"target": "rt-new", "name": "Diabetes copy"})
    assert r.status_code == 201
    copy = r.json()
    assert (copy["workspace"], copy["name"], copy["version"], copy["content"]) == ("rt-new", "Diabetes copy", 1, STORED_2)
    assert versions(wb, copy["id"]) == [(1, "Diabetes copy", f"copied from Rt Old 2 (rt-old-2), cohort {rid} version 2",
                                         STORED_2)]
    # Same data version (a copy into the same workspace needs a new name).
    r = api.post(f"/api/workspaces/rt-old-2/resources/{rid}/copy", json={"target": "rt-old-2"})
    assert r.status_code == 422
    assert r.json()["problems"] == [{"where": "body.name", "message": "this workspace already has a cohort named 'Diabetes'"}]
    assert api.post(f"/api/workspaces/rt-old-2/resources/{rid}/copy", json={"target": "rt-old"}).status_code == 201
    assert audit_actions(wb)[-2:] == ["resource_copied", "resource_copied"]


def test_copy_all_copies_every_live_resource_and_points_references_at_the_copies(wb, both_tiers):
    api = both_tiers.api
    cohort = api.post("/api/workspaces/rt-old/resources", json={"kind": "cohort", "name": "Diabetes", "content": COHORT}).json()
    sets = api.post("/api/workspaces/rt-old/resources", json={"kind": "concept_set", "name": "Metformin", "content": {
        "domain": "DRUG", "concepts": [{"conceptId": 1503297}]}}).json()
    dataset = api.post("/api/workspaces/rt-old/resources", json={"kind": "dataset", "name": "Analysis", "content": {
        "cohorts": [cohort["id"]], "concept_sets": ["Metformin"], "values": {"DRUG": ["standard_concept_id"]}}})
    assert dataset.status_code == 201, dataset.text
    gone = api.post("/api/workspaces/rt-old/resources", json={"kind": "notebook", "name": "Scratch", "content": {
        "language": "r", "source": "1 + 1"}}).json()
    assert api.post(f"/api/workspaces/rt-old/resources/{gone['id']}/delete").status_code == 204
    workspace(wb, "rt-dup", {"dan@citylab.org": "OWNER"})
    with wb.db.session() as session:
        source = session.scalar(select(Workspace).where(Workspace.namespace == "rt-old"))
        target = session.scalar(select(Workspace).where(Workspace.namespace == "rt-dup"))
        user = session.scalar(select(User).where(User.email == "dan@citylab.org"))
        pairs = res.copy_all(session, source, target, user, wb.clock.now)
        assert [(a.name, b.name, b.version) for a, b in pairs] == [("Diabetes", "Diabetes", 1),
                                                                    ("Metformin", "Metformin", 1),
                                                                    ("Analysis", "Analysis", 1)]
        new_ids = {a.id: b.id for a, b in pairs}
    listed = api.get("/api/workspaces/rt-dup/resources").json()
    assert [(r["kind"], r["name"], r["content"]) for r in listed] == [("cohort", "Diabetes", None),
                                                                      ("concept_set", "Metformin", None),
                                                                      ("dataset", "Analysis", None)]
    copied = api.get(f"/api/workspaces/rt-dup/resources/{new_ids[dataset.json()['id']]}").json()
    assert copied["content"] == {"cohorts": [new_ids[cohort["id"]]], "concept_sets": ["Metformin"],
                                 "values": {"DRUG": ["standard_concept_id"]}}
    history = api.get(f"/api/workspaces/rt-dup/resources/{new_ids[sets['id']]}/history").json()
    assert [h["note"] for h in history] == [f"copied from Rt Old (rt-old), concept set {sets['id']} version 1"]
    # A duplicate into the other tier, or onto an older data version, is refused the same way.
    with wb.db.session() as session:
        source = session.scalar(select(Workspace).where(Workspace.namespace == "rt-new"))
        for namespace in ("ct-new", "rt-old"):
            target = session.scalar(select(Workspace).where(Workspace.namespace == namespace))
            with pytest.raises(res.CopyRefused):
                res.copy_all(session, source, target, user, wb.clock.now)


# -- content ------------------------------------------------------------------------------------------------------

def test_invalid_cohort_content_is_422_naming_the_json_path(wb, team):
    ada = team["ada@state.edu"].sign_in()
    r = create(ada, "rt-study", "cohort", "Broken", NO_CONCEPT)
    assert r.status_code == 422
    assert "content.includes[0].items[0].searchParameters[0].conceptId: a CONDITION parameter needs a concept id" in r.text
    r = create(ada, "rt-study", "cohort", "Broken", '{"includes": [], "includes": []}')
    assert r.status_code == 422
    assert 'content.includes: duplicate key &#34;includes&#34; (a repeated key is refused, not overwritten)' in r.text
    r = create(ada, "rt-study", "cohort", "Broken", '{"includes": [')
    assert r.status_code == 422 and "line 1, column 15: Expecting value" in r.text
    api = token(wb, "ada@state.edu", "workspaces:write")
    r = api.post("/api/workspaces/rt-study/resources", json={"kind": "cohort", "name": "Broken", "content": NO_CONCEPT})
    assert r.status_code == 422
    assert r.json()["problems"] == [{"where": "body.content.includes[0].items[0].searchParameters[0].conceptId",
                                     "message": "a CONDITION parameter needs a concept id"}]
    r = api.post("/api/workspaces/rt-study/resources", content=b'{"kind": "cohort", "kind": "notebook"}',
                 headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["problems"][0]["where"] == "body.kind"
    r = api.post("/api/workspaces/rt-study/resources", json={"kind": "cohort", "name": "X", "content": COHORT, "x": 1})
    assert r.status_code == 422 and r.json()["problems"] == [{"where": "body.x", "message": "Extra inputs are not permitted"}]
    with wb.db.session() as session:
        assert session.scalar(select(Resource.id)) is None


def test_names_are_unique_per_kind_among_live_resources(wb, team):
    api = token(wb, "ada@state.edu", "workspaces:write", "workspaces:read")
    first = api.post("/api/workspaces/rt-study/resources", json={"kind": "cohort", "name": "Diabetes", "content": COHORT})
    r = api.post("/api/workspaces/rt-study/resources", json={"kind": "cohort", "name": " diabetes ", "content": COHORT})
    assert r.status_code == 422
    assert r.json()["problems"] == [{"where": "body.name", "message": "this workspace already has a cohort named 'diabetes'"}]
    other_kind = api.post("/api/workspaces/rt-study/resources", json={"kind": "concept_set", "name": "Diabetes",
                                                                      "content": {"domain": "CONDITION",
                                                                                  "concepts": [{"conceptId": 1}]}})
    assert other_kind.status_code == 201
    api.post(f"/api/workspaces/rt-study/resources/{first.json()['id']}/delete")
    assert api.post("/api/workspaces/rt-study/resources",
                    json={"kind": "cohort", "name": "Diabetes", "content": COHORT}).status_code == 201
    r = api.post("/api/workspaces/rt-study/resources", json={"kind": "cohort", "name": "x" * 81, "content": COHORT})
    assert r.json()["problems"] == [{"where": "body.name", "message": "1 to 80 characters"}]


def problems(kind, content, **kw):
    with pytest.raises(res.ResourceError) as caught:
        res.validate_content(kind, content, **kw)
    return [(p.where, p.message) for p in caught.value.problems]


def test_each_kind_has_its_limits_named():
    # concept sets: the Cohort Builder's own model, without the name
    assert problems("concept_set", {"domain": "DRUG", "concepts": [{"conceptId": i} for i in range(1001)]}) == [
        ("content.concepts", "List should have at most 1000 items after validation, not 1001 (limit MAX_CONCEPTS_PER_SET)")]
    assert problems("concept_set", {"domain": "PERSON", "concepts": [{"conceptId": 1}], "name": "x"}) == [
        ("content.name", "a concept set's name is the resource's own name: leave it out of the content")]
    assert problems("concept_set", {"domain": "PERSON", "concepts": [{"conceptId": 1}]}) == [
        ("content.domain", "a concept set holds concepts of an event domain, not PERSON")]
    # datasets
    assert problems("dataset", {"cohorts": list(range(res.DATASET_MAX_COHORTS + 1))}) == [
        ("content.cohorts", "List should have at most 50 items after validation, not 51 (limit DATASET_MAX_COHORTS)")]
    assert problems("dataset", {"cohorts": [1], "concept_sets": list(range(101))}) == [
        ("content.concept_sets", "List should have at most 100 items after validation, not 101 (limit DATASET_MAX_CONCEPT_SETS)")]
    assert problems("dataset", {"cohorts": [1], "values": {"DRUG": [f"c{i}" for i in range(201)]}}) == [
        ("content.values.DRUG", "201 columns, more than 200 (limit DATASET_MAX_COLUMNS)")]
    assert problems("dataset", {"cohorts": [1.5, ""], "values": {"NOPE": ["x"]}}) == [
        ("content.cohorts[0]", "must be a resource id (a whole number) or a name (1 to 80 characters)"),
        ("content.cohorts[1]", "must be a resource id (a whole number) or a name (1 to 80 characters)"),
        ("content.values.NOPE", "'NOPE' is not a domain: one of " + ", ".join(d.value for d in res.Domain))]
    assert problems("dataset", {"cohorts": [1, 1], "values": {"PERSON": ["Person_ID"]}}) == [
        ("content.values.PERSON[0]", "'Person_ID' is not a column name (lower-case letters, digits and _, starting with "
                                     "a letter, at most 63)")]
    assert problems("dataset", {"cohorts": [1, 1]}) == [("content.cohorts[1]", "1 is listed twice")]
    # review sets
    assert problems("review_set", {"cohort": 1, "size": 10_001}) == [
        ("content.size", "Input should be less than or equal to 10000 (limit REVIEW_SET_MAX_SIZE)")]
    assert problems("review_set", {"cohort": 1, "size": 2, "participants": [5, 5, 6]}) == [
        ("content.participants", "3 participants, more than the set's size 2"),
        ("content.participants[1]", "participant 5 is listed twice")]
    assert problems("review_set", {"cohort": 1, "size": 0, "extra": True}) == [
        ("content.size", "Input should be greater than or equal to 1"), ("content.extra", "Extra inputs are not permitted")]
    assert res.validate_content("review_set", {"cohort": 1, "size": 10_000}) == {"cohort": 1, "size": 10_000,
                                                                                  "participants": []}
    # notebooks
    assert problems("notebook", {"language": "julia", "source": ""}) == [("content.language", "Input should be 'python' or 'r'")]
    assert problems("notebook", {"language": "r", "source": "é" * 500_001}) == [
        ("content.source", "1,000,002 bytes, more than the limit of 1,000,000 (NOTEBOOK_MAX_SOURCE_BYTES)")]
    assert res.validate_content("notebook", {"language": "r", "source": "x" * 1_000_000})["language"] == "r"
    # every kind: an object, and at most MAX_CONTENT_BYTES
    assert problems("cohort", [1]) == [("content", "must be a JSON object")]
    assert problems("dataset", {"cohorts": ["x" * 80] * 30_000}) == [
        ("content", "2,490,013 bytes of JSON, more than the limit of 2,000,000 (MAX_CONTENT_BYTES)")]


def test_references_must_name_live_resources_of_the_workspace(wb, team):
    api = token(wb, "ada@state.edu", "workspaces:write", "workspaces:read")
    cohort = api.post("/api/workspaces/rt-study/resources", json={"kind": "cohort", "name": "Diabetes", "content": COHORT}).json()
    r = api.post("/api/workspaces/rt-study/resources", json={"kind": "dataset", "name": "D", "content": {
        "cohorts": [cohort["id"], "Nope", 9999], "concept_sets": ["Diabetes"]}})
    assert r.status_code == 422
    assert r.json()["problems"] == [
        {"where": "body.content.cohorts[1]", "message": "no cohort named 'Nope' in this workspace"},
        {"where": "body.content.cohorts[2]", "message": "no cohort with id 9999 in this workspace"},
        {"where": "body.content.concept_sets[0]", "message": "no concept set named 'Diabetes' in this workspace"}]
    r = api.post("/api/workspaces/rt-study/resources", json={"kind": "review_set", "name": "R", "content": {
        "cohort": "diabetes", "size": 3, "participants": [1, 2]}})
    assert r.status_code == 201 and r.json()["content"] == {"cohort": "diabetes", "size": 3, "participants": [1, 2]}


# -- the Data tab and the API -------------------------------------------------------------------------------------

def test_the_data_tab_lists_resources_by_kind(wb, team):
    ada = team["ada@state.edu"].sign_in()
    create(ada, "rt-study", "cohort", "Diabetes", COHORT)
    create(ada, "rt-study", "notebook", "Analysis", {"language": "python", "source": "print(1)"})
    every = ada.get("/workspaces/rt-study/data")
    assert every.status_code == 200
    assert "Diabetes" in every.text and "Analysis" in every.text and "Cohorts (1)" in every.text
    assert "Notebooks (1)" in every.text and "Create resource" in every.text
    cohorts = ada.get("/workspaces/rt-study/data?kind=cohort")
    assert "Diabetes" in cohorts.text and ">Analysis<" not in cohorts.text
    assert "No datasets yet." in ada.get("/workspaces/rt-study/data?kind=dataset").text
    assert ada.get("/workspaces/rt-study/data?kind=bogus").status_code == 422


def test_the_api_needs_the_right_token_scope_and_is_in_the_openapi_document(wb, team):
    reading = token(wb, "ada@state.edu", "workspaces:read")
    r = reading.post("/api/workspaces/rt-study/resources", json={"kind": "cohort", "name": "X", "content": COHORT})
    assert r.status_code == 403 and "workspaces:write" in r.json()["error"]
    assert token(wb, "ada@state.edu", "profile:read").get("/api/workspaces/rt-study/resources").status_code == 403
    assert reading.get("/api/workspaces/rt-study/resources").json() == []
    document = wb.client().get("/api/openapi.json").json()
    paths = document["paths"]
    assert set(paths["/api/workspaces/{namespace}/resources"]) == {"get", "post"}
    assert set(paths["/api/workspaces/{namespace}/resources/{resource_id}"]) == {"get", "post"}
    for tail in ("delete", "restore", "copy"):
        assert set(paths["/api/workspaces/{namespace}/resources/{resource_id}/" + tail]) == {"post"}
    assert set(paths["/api/workspaces/{namespace}/resources/{resource_id}/history"]) == {"get"}
    create_body = paths["/api/workspaces/{namespace}/resources"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "description" in create_body["properties"]["content"]
    assert "/workspaces/{namespace}/data" not in paths
