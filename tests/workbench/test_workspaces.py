"""Workspaces: creating one with its research purpose (every limit named), editing under optimistic concurrency,
duplicating, deleting, sharing (only tier holders, always an owner), the Resource Access Board's reviews, admin
locks, the audit log, and the same through the JSON API with personal API tokens."""

from __future__ import annotations

import html
import re
import pytest
from sqlalchemy import select

from research_workbench.accounts.audit import AuditAction
from research_workbench.accounts.module_records import reset
from research_workbench.accounts.modules import Module
from research_workbench.state.models import AuditEvent, DataVersion, User, Workspace

from .conftest import ALL_RT, make_user, post

CT_MODULES = ALL_RT + (Module.CT_TRAINING,)
ANSWER = "We study how blood glucose trajectories differ across neighbourhoods, to find where prevention helps most."
PURPOSE = {"disease_focused_research": "on", "disease_of_focus": "Type 2 diabetes", "population_health": "on",
           "intended_study": ANSWER, "scientific_approach": "Cohort definitions, survival models in Python.",
           "anticipated_findings": "Maps of risk to guide clinic outreach.",
           "dissemination": ["PUBLICATION_PEER_REVIEWED_JOURNALS"], "research_outcomes": ["PROMOTE_HEALTHY_LIVING"],
           "population_focus": "no", "aian_research_type": "NO_AI_AN_ANALYSIS", "review_requested": "no"}
API_PURPOSE = {"disease_focused_research": True, "disease_of_focus": "Asthma", "intended_study": ANSWER,
               "scientific_approach": "Regression.", "anticipated_findings": "Better inhaler schedules."}


# -- helpers ----------------------------------------------------------------------------------------------------------

def add_version(wb, name: str, tier: str, number: int, *, default: bool = False, archived: bool = False) -> int:
    with wb.db.session() as session:
        version = DataVersion(name=name, tier=tier, release_number=number, cdr_path=f"/releases/{name}/{tier}",
                              index_path=None, aggregates_path=None, manifest_sha256="0" * 64,
                              participant_count=1000, data_types=[], is_default=default, created_at=wb.clock.now,
                              archived_at=wb.clock.now if archived else None)
        session.add(version)
        session.flush()
        return version.id


@pytest.fixture
def versions(wb) -> dict[str, int]:
    return {"rt1": add_version(wb, "2026Q1R1", "registered", 1, default=True),
            "rt2": add_version(wb, "2026Q3R1", "registered", 3),
            "rt_old": add_version(wb, "2025Q1R1", "registered", 0, archived=True),
            "ct1": add_version(wb, "2026Q1R1", "controlled", 2, default=True)}


def workspace(wb, namespace: str) -> Workspace:
    with wb.db.session() as session:
        found = session.scalar(select(Workspace).where(Workspace.namespace == namespace))
        _ = found.members, found.data_version
        return found


def events(wb, action: AuditAction) -> list[AuditEvent]:
    with wb.db.session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action.value)
                                    .order_by(AuditEvent.seq)))


def user_id(wb, email: str) -> int:
    return wb.user(email).id


def create(client, name: str, version: int, tier: str = "registered", **purpose):
    return post(client, "/workspaces/new", {"name": name, "tier": tier, "data_version": str(version),
                                            **PURPOSE, **purpose})


def etag_of(page_text: str) -> str:
    return re.search(r'name="etag" value="(\d+)"', page_text).group(1)


def problems_on(page_text: str) -> dict[str, str]:
    """The error summary's problems: {field: message}."""
    summary = re.search(r'<div class="error-summary".*?</div>', page_text, re.S)
    assert summary, "no error summary on the page"
    return {where: html.unescape(message.strip()) for where, message in
            re.findall(r'<li><a href="#[^"]*">([^<]+)</a>: ([^<]+)</li>', summary.group(0))}


@pytest.fixture
def ada(wb, versions):
    person = make_user(wb, "ada@state.edu", modules=ALL_RT)
    person.sign_in()
    return person


# -- creating ---------------------------------------------------------------------------------------------------------

def test_creating_a_workspace_makes_the_creator_its_owner_on_the_chosen_version_and_is_audited(wb, versions, ada):
    r = create(ada.client, "Glucose & Neighbourhoods", versions["rt2"])
    assert r.status_code == 303 and r.headers["location"] == "/workspaces/glucose-neighbourhoods", r.text[:3000]
    created = workspace(wb, "glucose-neighbourhoods")
    assert (created.name, created.tier, created.data_version.name, created.etag) == (
        "Glucose & Neighbourhoods", "registered", "2026Q3R1", 1)
    assert [(m.user_id, m.role) for m in created.members] == [(user_id(wb, "ada@state.edu"), "OWNER")]
    assert created.purpose["disease_of_focus"] == "Type 2 diabetes" and created.review_status is None
    [event] = events(wb, AuditAction.WORKSPACE_CREATED)
    assert event.actor_id == user_id(wb, "ada@state.edu")
    assert event.details == {"workspace_id": created.id, "namespace": "glucose-neighbourhoods",
                             "name": "Glucose & Neighbourhoods", "tier": "registered", "data_version": "2026Q3R1"}
    about = ada.client.get("/workspaces/glucose-neighbourhoods")
    assert about.status_code == 200
    for text in ("Registered Tier", "2026Q3R1", "Type 2 diabetes", ANSWER, "Owner", "ada@state.edu", "Not requested"):
        assert text in about.text, text


def test_the_namespace_is_a_unique_slug_fixed_at_creation(wb, versions, ada):
    assert create(ada.client, "Heart study", versions["rt1"]).headers["location"] == "/workspaces/heart-study"
    assert create(ada.client, "Heart  Study!", versions["rt1"]).headers["location"] == "/workspaces/heart-study-2"
    assert create(ada.client, "New", versions["rt1"]).headers["location"] == "/workspaces/new-2"
    edit = ada.client.get("/workspaces/heart-study/edit")
    r = post(ada.client, "/workspaces/heart-study/edit", {"name": "Renamed", "etag": etag_of(edit.text), **PURPOSE})
    assert r.status_code == 303 and r.headers["location"] == "/workspaces/heart-study"
    assert workspace(wb, "heart-study").name == "Renamed"
    assert create(ada.client, "Heart study", versions["rt1"]).headers["location"] == "/workspaces/heart-study-3"


def test_the_create_form_has_every_section_counters_and_a_draft(wb, versions, ada):
    page = ada.client.get("/workspaces/new")
    assert page.status_code == 200
    assert 'data-draft="workspace-new"' in page.text
    for heading in ("Name and data", "Primary purpose of the project", "Summary of the research",
                    "Dissemination and outcomes", "Population of interest",
                    "American Indian and Alaska Native research", "Request a review of your research purpose"):
        assert heading in page.text, heading
    for field in ("intended_study", "scientific_approach", "anticipated_findings", "aian_research_details"):
        assert re.search(rf'<textarea id="{field}" name="{field}"[^>]*maxlength="1000"[^>]*data-counter="{field}-count"',
                         page.text), field
        assert f'id="{field}-count"' in page.text
    for label in ("Disease-focused research", "Race or ethnicity", "Peer-reviewed journals",
                  "Improve health equity in underrepresented populations", "No analysis specific to American Indian"):
        assert label in page.text, label
    assert "2026Q1R1 (Registered Tier, release 1, default)" in page.text
    assert "2025Q1R1" not in page.text  # archived
    assert "Controlled Tier" not in page.text  # not held


LONG = "x" * 1001


@pytest.mark.parametrize("change, field, message", [
    ({"intended_study": LONG}, "intended_study", "at most 1000 characters (1001 given)"),
    ({"scientific_approach": LONG}, "scientific_approach", "at most 1000 characters (1001 given)"),
    ({"anticipated_findings": LONG}, "anticipated_findings", "at most 1000 characters (1001 given)"),
    ({"aian_research_details": LONG}, "aian_research_details", "at most 1000 characters (1001 given)"),
    ({"intended_study": "   "}, "intended_study",
     "required: answer “What are the research questions, and why are they important?”"),
    ({"anticipated_findings": ""}, "anticipated_findings",
     "required: answer “What findings are anticipated, and how will they be used?”"),
    ({"disease_of_focus": ""}, "disease_of_focus", "name the disease for disease-focused research"),
    ({"disease_of_focus": "d" * 201}, "disease_of_focus", "at most 200 characters (201 given)"),
    ({"disease_focused_research": "", "population_health": ""}, "purposes", "choose at least one primary purpose"),
    ({"other_purpose": "on"}, "other_purpose_details", "describe the other purpose"),
    ({"population_details": ["AGE_GROUPS"]}, "population_details", "only when the study focuses on a population"),
    ({"population_focus": "yes", "population_details": ["OTHER"]}, "other_population_details",
     "describe the other population"),
    ({"research_outcomes": ["NONE_APPLY", "PROMOTE_HEALTHY_LIVING"]}, "research_outcomes",
     "'None of these apply' goes alone"),
    ({"dissemination": ["CARRIER_PIGEON"]}, "dissemination", "'CARRIER_PIGEON' is not one of the choices"),
    ({"aian_research_type": "SOMETIMES"}, "aian_research_type", "'SOMETIMES' is not one of the choices"),
    ({"name": ""}, "name", "give the workspace a name (1 to 80 characters)"),
    ({"name": "n" * 81}, "name", "at most 80 characters (81 given)"),
])
def test_each_purpose_limit_is_named_on_the_422_page_and_kept_as_a_draft(wb, versions, ada, change, field, message):
    values = {"name": "Limits", "tier": "registered", "data_version": str(versions["rt1"]), **PURPOSE, **change}
    r = post(ada.client, "/workspaces/new", values)
    assert r.status_code == 422, r.text[:2000]
    assert problems_on(r.text) == {field: message}
    assert workspace_count(wb) == 0
    again = ada.client.get("/workspaces/new")  # the server-side draft: what was typed comes back
    assert ANSWER in again.text or "intended_study" in change


def test_a_refused_form_comes_back_as_typed_until_the_workspace_is_created(wb, versions, ada):
    r = create(ada.client, "Draft name", versions["rt2"], intended_study=LONG, dissemination=["PRESS_RELEASE"],
               population_focus="yes", population_details=["AGE_GROUPS"], review_requested="yes")
    assert r.status_code == 422
    again = ada.client.get("/workspaces/new")
    assert 'value="Draft name"' in again.text and LONG in again.text
    assert re.search(r'name="dissemination" value="PRESS_RELEASE" checked', again.text)
    assert re.search(r'name="population_details" value="AGE_GROUPS" checked', again.text)
    assert re.search(r'name="review_requested" value="yes" checked', again.text)
    assert re.search(rf'<option value="{versions["rt2"]}" selected>', again.text)
    assert create(ada.client, "Draft name", versions["rt2"]).status_code == 303
    assert 'value="Draft name"' not in ada.client.get("/workspaces/new").text


def workspace_count(wb) -> int:
    with wb.db.session() as session:
        return len(list(session.scalars(select(Workspace))))


def test_a_too_long_answer_and_a_missing_disease_are_named_together(wb, versions, ada):
    r = create(ada.client, "Both", versions["rt1"], intended_study=LONG, disease_of_focus="")
    assert r.status_code == 422
    assert problems_on(r.text) == {"intended_study": "at most 1000 characters (1001 given)",
                                   "disease_of_focus": "name the disease for disease-focused research"}


def test_line_breaks_count_once_as_the_counter_counts_them(wb, versions, ada):
    text = ("a" * 9 + "\r\n") * 100  # 1000 characters once CRLF is one line break
    assert create(ada.client, "Lines", versions["rt1"], intended_study=text).status_code == 303
    assert workspace(wb, "lines").purpose["intended_study"] == ("a" * 9 + "\n") * 99 + "a" * 9
    assert "aaaaaaaaa<br>aaaaaaaaa<br>" in ada.client.get("/workspaces/lines").text


def test_the_tier_must_be_held_and_the_version_must_be_a_live_one_of_that_tier(wb, versions, ada):
    r = create(ada.client, "CT try", versions["ct1"], tier="controlled")
    assert r.status_code == 422
    assert problems_on(r.text) == {"tier": "you do not have Controlled Tier access, so you cannot create a "
                                           "workspace there"}
    r = create(ada.client, "Wrong tier", versions["ct1"])
    assert r.status_code == 422
    assert problems_on(r.text)["data_version"].startswith("2026Q1R1 is a Controlled Tier data version and this "
                                                          "workspace is in the Registered Tier")
    r = create(ada.client, "Archived", versions["rt_old"])
    assert problems_on(r.text)["data_version"] == "2025Q1R1 is archived: choose one of 2026Q3R1, 2026Q1R1"
    r = create(ada.client, "No tier", versions["rt1"], tier="")
    assert problems_on(r.text) == {"tier": "choose the workspace's data tier: Registered Tier, Controlled Tier"}
    assert workspace_count(wb) == 0 and events(wb, AuditAction.WORKSPACE_CREATED) == []


def test_a_controlled_tier_researcher_creates_a_controlled_tier_workspace(wb, versions):
    cat = make_user(wb, "cat@citylab.org", institution="city-lab", modules=CT_MODULES)
    client = cat.sign_in()
    r = create(client, "Genomes", versions["ct1"], tier="controlled")
    assert r.status_code == 303
    assert workspace(wb, "genomes").tier == "controlled"


# -- the list ---------------------------------------------------------------------------------------------------------

def test_the_list_shows_name_tier_version_role_last_change_and_the_buttons_each_role_may_use(wb, versions, ada):
    create(ada.client, "Mine", versions["rt1"])
    bob = make_user(wb, "bob@state.edu", modules=ALL_RT)
    bob_client = bob.sign_in()
    create(bob_client, "Bobs", versions["rt2"])
    share_roles(bob_client, "bobs", {user_id(wb, "ada@state.edu"): "READER"})
    page = ada.client.get("/workspaces")
    assert page.status_code == 200
    mine = card(page.text, "mine")
    assert all(t in mine for t in ("Registered Tier", "2026Q1R1", "Owner", "2 Mar 2026"))
    assert [b for b in ("Duplicate", "Edit", "Share", "Delete") if f">{b}</a>" in mine] == [
        "Duplicate", "Edit", "Share", "Delete"]
    theirs = card(page.text, "bobs")
    assert "Reader" in theirs and "2026Q3R1" in theirs
    assert [b for b in ("Duplicate", "Edit", "Share", "Delete") if f">{b}</a>" in theirs] == ["Duplicate"]


def card(text: str, namespace: str) -> str:
    match = re.search(rf'<section class="panel workspace-card" id="ws-{namespace}".*?</section>', text, re.S)
    assert match, f"no card for {namespace}"
    return match.group(0)


def share_roles(client, namespace: str, roles: dict[int, str], etag: str | None = None):
    page = client.get(f"/workspaces/{namespace}/share")
    assert page.status_code == 200, page.text[:500]
    data = {"etag": etag or etag_of(page.text), **{f"role.{k}": v for k, v in roles.items()}}
    r = post(client, f"/workspaces/{namespace}/share", data, form_page=f"/workspaces/{namespace}/share")
    return r


# -- editing and concurrency ------------------------------------------------------------------------------------------

def test_two_writers_with_the_same_etag_the_first_wins_the_second_gets_a_clear_conflict(wb, versions, ada):
    create(ada.client, "Shared", versions["rt1"])
    bob = make_user(wb, "bob@state.edu", modules=ALL_RT)
    bob_client = bob.sign_in()
    assert share_roles(ada.client, "shared", {user_id(wb, "bob@state.edu"): "WRITER"}).status_code == 303
    ada_form = ada.client.get("/workspaces/shared/edit")
    bob_form = bob_client.get("/workspaces/shared/edit")
    assert etag_of(ada_form.text) == etag_of(bob_form.text) == "2"
    first = post(ada.client, "/workspaces/shared/edit",
                 {"name": "Shared (Ada)", "etag": "2", **PURPOSE, "intended_study": "Ada's question."},
                 form_page="/workspaces/shared/edit")
    assert first.status_code == 303
    second = post(bob_client, "/workspaces/shared/edit",
                  {"name": "Shared (Bob)", "etag": "2", **PURPOSE, "intended_study": "Bob's question."},
                  form_page="/workspaces/shared/edit")
    assert second.status_code == 409
    assert "Someone else changed this workspace" in second.text
    assert "Nothing was saved" in second.text and "you had version 2; it is now version 3" in second.text
    assert "Shared (Ada)" in second.text and "Ada&#39;s question." in second.text  # their version
    assert "Bob&#39;s question." in second.text  # what Bob sent, to copy
    assert 'href="/workspaces/shared/edit">Reload the workspace</a>' in second.text
    now = workspace(wb, "shared")
    assert (now.name, now.purpose["intended_study"], now.etag) == ("Shared (Ada)", "Ada's question.", 3)
    assert len(events(wb, AuditAction.WORKSPACE_UPDATED)) == 1


def test_a_stale_etag_on_share_and_delete_is_a_conflict_and_changes_nothing(wb, versions, ada):
    create(ada.client, "Stale", versions["rt1"])
    make_user(wb, "bob@state.edu", modules=ALL_RT)
    r = share_roles(ada.client, "stale", {user_id(wb, "bob@state.edu"): "READER"}, etag="7")
    assert r.status_code == 409 and "Cancel sharing" in r.text
    r = post(ada.client, "/workspaces/stale/delete", {"etag": "0"}, form_page="/workspaces/stale/delete")
    assert r.status_code == 409
    ws = workspace(wb, "stale")
    assert ws.deleted_at is None and len(ws.members) == 1 and ws.etag == 1


def test_editing_needs_a_writer_and_keeps_the_tier_and_version(wb, versions, ada):
    create(ada.client, "Roles", versions["rt1"])
    rita = make_user(wb, "rita@state.edu", modules=ALL_RT)
    rita_client = rita.sign_in()
    share_roles(ada.client, "roles", {user_id(wb, "rita@state.edu"): "READER"})
    page = rita_client.get("/workspaces/roles/edit")
    assert page.status_code == 403
    assert "This needs the Writer role in the workspace; you are a Reader." in page.text
    r = post(rita_client, "/workspaces/roles/edit", {"name": "Hijack", "etag": "2", **PURPOSE},
             form_page="/workspaces/roles")
    assert r.status_code == 403 and workspace(wb, "roles").name == "Roles"


def test_an_edit_that_breaks_a_limit_is_a_422_naming_it(wb, versions, ada):
    create(ada.client, "Limits", versions["rt1"])
    r = post(ada.client, "/workspaces/limits/edit", {"name": "Limits", "etag": "1", **PURPOSE, "scientific_approach": LONG},
             form_page="/workspaces/limits/edit")
    assert r.status_code == 422
    assert problems_on(r.text) == {"scientific_approach": "at most 1000 characters (1001 given)"}
    assert workspace(wb, "limits").etag == 1


# -- duplicating ------------------------------------------------------------------------------------------------------

def test_duplicating_to_a_newer_version_with_or_without_collaborators(wb, versions, ada):
    create(ada.client, "Source", versions["rt1"])
    make_user(wb, "bob@state.edu", modules=ALL_RT)
    make_user(wb, "gone@state.edu", modules=ALL_RT)
    share_roles(ada.client, "source", {user_id(wb, "bob@state.edu"): "WRITER", user_id(wb, "gone@state.edu"): "READER"})
    with wb.db.session() as session:  # gone@ loses the tier
        person = session.scalar(select(User).where(User.email == "gone@state.edu"))
        reset(session, person, Module.DUCC)
    page = ada.client.get("/workspaces/source/duplicate")
    assert page.status_code == 200 and "Duplicate of Source" in page.text
    assert "2026Q3R1" in page.text and "2025Q1R1" not in page.text
    r = post(ada.client, "/workspaces/source/duplicate",
             {"name": "Alone", "data_version": str(versions["rt2"]), **PURPOSE}, form_page="/workspaces/source/duplicate")
    assert r.status_code == 303 and r.headers["location"] == "/workspaces/alone"
    alone = workspace(wb, "alone")
    assert alone.data_version.name == "2026Q3R1" and [m.role for m in alone.members] == ["OWNER"]
    r = post(ada.client, "/workspaces/source/duplicate",
             {"name": "Together", "data_version": str(versions["rt1"]), "include_collaborators": "on", **PURPOSE},
             form_page="/workspaces/source/duplicate")
    assert r.status_code == 303
    together = workspace(wb, "together")
    assert sorted((m.user_id, m.role) for m in together.members) == sorted(
        [(user_id(wb, "ada@state.edu"), "OWNER"), (user_id(wb, "bob@state.edu"), "WRITER")])
    [_, second] = events(wb, AuditAction.WORKSPACE_DUPLICATED)
    assert second.details["source"] == "source" and second.details["include_collaborators"] is True
    assert second.details["left_out"] == [user_id(wb, "gone@state.edu")]


def test_duplicating_to_an_older_version_or_another_tier_is_refused(wb, versions, ada):
    create(ada.client, "Newer", versions["rt2"])
    r = post(ada.client, "/workspaces/newer/duplicate", {"name": "Older", "data_version": str(versions["rt1"]), **PURPOSE},
             form_page="/workspaces/newer/duplicate")
    assert r.status_code == 422
    assert problems_on(r.text)["data_version"].startswith("2026Q1R1 is older than this workspace's 2026Q3R1")
    r = post(ada.client, "/workspaces/newer/duplicate", {"name": "CT", "data_version": str(versions["ct1"]), **PURPOSE},
             form_page="/workspaces/newer/duplicate")
    assert r.status_code == 422 and "is a Controlled Tier data version" in problems_on(r.text)["data_version"]


def test_a_reader_may_duplicate_and_becomes_the_owner_of_the_copy(wb, versions, ada):
    create(ada.client, "Readable", versions["rt1"])
    rita = make_user(wb, "rita@state.edu", modules=ALL_RT)
    rita_client = rita.sign_in()
    share_roles(ada.client, "readable", {user_id(wb, "rita@state.edu"): "READER"})
    r = post(rita_client, "/workspaces/readable/duplicate", {"name": "Ritas copy", **PURPOSE},
             form_page="/workspaces/readable/duplicate")
    assert r.status_code == 303
    assert [(m.user_id, m.role) for m in workspace(wb, "ritas-copy").members] == [(user_id(wb, "rita@state.edu"), "OWNER")]


# -- deleting ---------------------------------------------------------------------------------------------------------

def test_an_owner_deletes_a_workspace_it_disappears_for_everyone_and_is_audited(wb, versions, ada):
    create(ada.client, "Doomed", versions["rt1"])
    bob = make_user(wb, "bob@state.edu", modules=ALL_RT)
    bob_client = bob.sign_in()
    share_roles(ada.client, "doomed", {user_id(wb, "bob@state.edu"): "WRITER"})
    r = post(bob_client, "/workspaces/doomed/delete", {"etag": "2"}, form_page="/workspaces/doomed")
    assert r.status_code == 403  # writers do not delete
    page = ada.client.get("/workspaces/doomed/delete")
    assert page.status_code == 200 and "its 1 other collaborator" in page.text
    r = post(ada.client, "/workspaces/doomed/delete", {"etag": etag_of(page.text)}, form_page="/workspaces/doomed/delete")
    assert r.status_code == 303 and r.headers["location"] == "/workspaces"
    assert workspace(wb, "doomed").deleted_at == wb.clock.now
    assert bob_client.get("/workspaces/doomed").status_code == 404
    assert "doomed" not in bob_client.get("/workspaces").text
    [event] = events(wb, AuditAction.WORKSPACE_DELETED)
    assert event.details["namespace"] == "doomed" and event.actor_id == user_id(wb, "ada@state.edu")


# -- sharing ----------------------------------------------------------------------------------------------------------

def test_the_user_search_lists_only_tier_holders_never_disabled_users_or_members(wb, versions, ada):
    create(ada.client, "Search", versions["rt1"])
    make_user(wb, "sam@state.edu", modules=ALL_RT)
    make_user(wb, "sally@state.edu")  # no tier yet
    make_user(wb, "saul@state.edu", modules=ALL_RT)
    with wb.db.session() as session:
        saul = session.scalar(select(User).where(User.email == "saul@state.edu"))
        saul.disabled_at, saul.disabled_reason = wb.clock.now, "test"
    page = ada.client.get("/workspaces/search/share?q=sa")
    assert page.status_code == 200
    assert "sam@state.edu" in page.text
    assert "sally@state.edu" not in page.text and "saul@state.edu" not in page.text
    fragment = ada.client.get("/workspaces/search/share?q=Sam", headers={"hx-request": "true"})
    assert fragment.text.lstrip().startswith('<div id="search-results"') and "sam@state.edu" in fragment.text
    assert "ada@state.edu" not in ada.client.get("/workspaces/search/share?q=ada").text.split('id="search-results"')[1]
    assert "Type at least 2 characters" in ada.client.get("/workspaces/search/share?q=s").text


def test_sharing_refuses_someone_without_the_tier_and_never_leaves_no_owner(wb, versions, ada):
    create(ada.client, "Guarded", versions["rt1"])
    make_user(wb, "sally@state.edu")
    sally = user_id(wb, "sally@state.edu")
    r = share_roles(ada.client, "guarded", {sally: "READER"})
    assert r.status_code == 422
    assert problems_on(r.text) == {f"role.{sally}": "sally@state.edu does not have Registered Tier access: only "
                                                    "people holding the workspace's tier can be collaborators"}
    r = share_roles(ada.client, "guarded", {user_id(wb, "ada@state.edu"): "WRITER"})
    assert r.status_code == 422
    assert problems_on(r.text) == {"owners": "a workspace needs at least one owner: keep or make someone an Owner"}
    r = share_roles(ada.client, "guarded", {user_id(wb, "ada@state.edu"): "remove"})
    assert r.status_code == 422
    assert [(m.role) for m in workspace(wb, "guarded").members] == ["OWNER"]
    assert events(wb, AuditAction.WORKSPACE_SHARED) == []


def test_sharing_adds_changes_and_removes_roles_each_audited(wb, versions, ada):
    create(ada.client, "Team", versions["rt1"])
    make_user(wb, "bob@state.edu", modules=ALL_RT)
    bob = user_id(wb, "bob@state.edu")
    assert share_roles(ada.client, "team", {bob: "READER"}).status_code == 303
    assert share_roles(ada.client, "team", {bob: "OWNER"}).status_code == 303
    left = share_roles(ada.client, "team", {user_id(wb, "ada@state.edu"): "remove"})
    assert left.status_code == 303 and left.headers["location"] == "/workspaces"  # she left it
    ws = workspace(wb, "team")
    assert [(m.user_id, m.role) for m in ws.members] == [(bob, "OWNER")] and ws.etag == 4
    shared = [(e.target_user_id, e.details["role_before"], e.details["role_after"])
              for e in events(wb, AuditAction.WORKSPACE_SHARED)]
    assert shared == [(bob, None, "READER"), (bob, "READER", "OWNER"), (user_id(wb, "ada@state.edu"), "OWNER", None)]
    assert ada.client.get("/workspaces/team").status_code == 404


def test_a_member_who_loses_the_tier_loses_the_workspace(wb, versions):
    cat = make_user(wb, "cat@citylab.org", institution="city-lab", modules=CT_MODULES)
    cat_client = cat.sign_in()
    create(cat_client, "Genomes", versions["ct1"], tier="controlled")
    dan = make_user(wb, "dan@citylab.org", institution="city-lab", modules=CT_MODULES)
    dan.sign_in()
    share_roles(cat_client, "genomes", {user_id(wb, "dan@citylab.org"): "WRITER"})
    assert dan.client.get("/workspaces/genomes").status_code == 200
    with wb.db.session() as session:
        person = session.scalar(select(User).where(User.email == "dan@citylab.org"))
        reset(session, person, Module.CT_TRAINING)
    client = dan.sign_in()  # the old session ended with the tier; Registered Tier only now
    assert client.get("/workspaces/genomes").status_code == 404
    assert "Genomes" not in client.get("/workspaces").text
    r = share_roles(cat_client, "genomes", {user_id(wb, "dan@citylab.org"): "OWNER"})
    assert r.status_code == 422 and "does not have Controlled Tier access" in r.text


# -- reviews and locks ------------------------------------------------------------------------------------------------

@pytest.fixture
def admin(wb):
    person = make_user(wb, "root@state.edu", admin=True)
    person.sign_in()
    return person


def test_a_requested_review_queues_for_the_board_and_its_decision_shows_on_the_about_page(wb, versions, ada, admin):
    r = create(ada.client, "Reviewed", versions["rt1"], review_requested="yes")
    assert r.status_code == 303
    assert workspace(wb, "reviewed").review_status == "pending"
    queue = admin.client.get("/admin/reviews")
    assert queue.status_code == 200 and 'id="review-reviewed"' in queue.text and ANSWER in queue.text
    r = post(admin.client, "/admin/reviews/reviewed", {"decision": "changes_requested", "note": ""},
             form_page="/admin/reviews")
    assert r.status_code == 422 and "give a note saying what to change" in r.text
    r = post(admin.client, "/admin/reviews/reviewed",
             {"decision": "changes_requested", "note": "Name the cohort's age range."}, form_page="/admin/reviews")
    assert r.status_code == 303
    ws = workspace(wb, "reviewed")
    assert (ws.review_status, ws.review_note, ws.reviewed_by) == (
        "changes_requested", "Name the cohort's age range.", user_id(wb, "root@state.edu"))
    about = ada.client.get("/workspaces/reviewed")
    assert "Changes requested on 2 Mar 2026" in about.text and "Name the cohort&#39;s age range." in about.text
    r = post(admin.client, "/admin/reviews/reviewed", {"decision": "approved", "note": ""}, form_page="/admin/reviews")
    assert r.status_code == 409 and "no review is pending" in r.text
    # the owners change the purpose: the review is pending again
    edit = ada.client.get("/workspaces/reviewed/edit")
    r = post(ada.client, "/workspaces/reviewed/edit",
             {"name": "Reviewed", "etag": etag_of(edit.text), **PURPOSE, "review_requested": "yes",
              "intended_study": "Adults aged 40 to 65."}, form_page="/workspaces/reviewed/edit")
    assert r.status_code == 303 and workspace(wb, "reviewed").review_status == "pending"
    r = post(admin.client, "/admin/reviews/reviewed", {"decision": "approved", "note": ""}, form_page="/admin/reviews")
    assert r.status_code == 303 and workspace(wb, "reviewed").review_status == "approved"
    assert [e.details.get("decision") for e in events(wb, AuditAction.REVIEW_DECIDED)] == [
        "changes_requested", "approved"]
    assert len(events(wb, AuditAction.REVIEW_REQUESTED)) == 2


def test_a_locked_workspace_shows_its_members_only_the_about_page_with_the_reason(wb, versions, ada, admin):
    create(ada.client, "Lockable", versions["rt1"])
    page = admin.client.get("/admin/workspaces?q=lock")
    assert page.status_code == 200 and "Lock Lockable" in page.text
    r = post(admin.client, "/admin/workspaces/lockable/lock", {"reason": "x"}, form_page="/admin/workspaces")
    assert r.status_code == 422 and "too short: at least 5 characters" in r.text
    r = post(admin.client, "/admin/workspaces/lockable/lock", {"reason": "Suspected data export outside policy."},
             form_page="/admin/workspaces")
    assert r.status_code == 303
    about = ada.client.get("/workspaces/lockable")
    assert about.status_code == 200 and 'id="lock-banner"' in about.text
    assert "Suspected data export outside policy." in about.text and ">Edit</a>" not in about.text
    for path in ("/workspaces/lockable/edit", "/workspaces/lockable/share", "/workspaces/lockable/duplicate",
                 "/workspaces/lockable/delete"):
        refused = ada.client.get(path)
        assert refused.status_code == 403 and "Suspected data export outside policy." in refused.text, path
    r = post(ada.client, "/workspaces/lockable/edit", {"name": "Escaped", "etag": "1", **PURPOSE},
             form_page="/workspaces/lockable")
    assert r.status_code == 403 and workspace(wb, "lockable").name == "Lockable"
    assert "Locked" in card(ada.client.get("/workspaces").text, "lockable")
    api = token_client(wb, ada)
    got = api.get("/api/workspaces/lockable")
    assert got.status_code == 200 and got.json()["locked"] is True
    assert got.json()["locked_reason"] == "Suspected data export outside policy."
    refused = api.post("/api/workspaces/lockable/update", json={"etag": 1, "name": "Escaped"})
    assert refused.status_code == 403 and "Suspected data export outside policy." in refused.json()["error"]
    r = post(admin.client, "/admin/workspaces/lockable/unlock", {"reason": "Reviewed: no export happened."},
             form_page="/admin/workspaces")
    assert r.status_code == 303
    assert ada.client.get("/workspaces/lockable/edit").status_code == 200
    [locked] = events(wb, AuditAction.WORKSPACE_LOCKED)
    [unlocked] = events(wb, AuditAction.WORKSPACE_UNLOCKED)
    assert locked.details["reason"] == "Suspected data export outside policy."
    assert unlocked.details["was"]["reason"] == "Suspected data export outside policy."


def test_every_workspace_action_is_in_the_audit_log(wb, versions, ada, admin):
    create(ada.client, "Audited", versions["rt1"], review_requested="yes")
    make_user(wb, "bob@state.edu", modules=ALL_RT)
    share_roles(ada.client, "audited", {user_id(wb, "bob@state.edu"): "READER"})
    edit = ada.client.get("/workspaces/audited/edit")
    post(ada.client, "/workspaces/audited/edit", {"name": "Audited 2", "etag": etag_of(edit.text), **PURPOSE,
                                                  "review_requested": "yes"}, form_page="/workspaces/audited/edit")
    post(ada.client, "/workspaces/audited/duplicate", {"name": "Audited copy", **PURPOSE},
         form_page="/workspaces/audited/duplicate")
    post(admin.client, "/admin/reviews/audited", {"decision": "approved", "note": "Fine."}, form_page="/admin/reviews")
    post(admin.client, "/admin/workspaces/audited/lock", {"reason": "Checking."}, form_page="/admin/workspaces")
    post(admin.client, "/admin/workspaces/audited/unlock", {"reason": "Checked."}, form_page="/admin/workspaces")
    page = ada.client.get("/workspaces/audited/delete")
    post(ada.client, "/workspaces/audited/delete", {"etag": etag_of(page.text)}, form_page="/workspaces/audited/delete")
    with wb.db.session() as session:
        actions = [a for a in session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq))
                   if a.startswith("workspace_") or a.startswith("review_")]
    assert actions == ["workspace_created", "review_requested", "workspace_shared", "workspace_updated",
                       "workspace_duplicated", "review_decided", "workspace_locked", "workspace_unlocked",
                       "workspace_deleted"]


# -- the API ----------------------------------------------------------------------------------------------------------

def token_client(wb, person, scopes=("workspaces:read", "workspaces:write")):
    created = post(person.client, "/account/tokens", {"action": "create", "name": "sdk", "days": "30",
                                                      "scopes": list(scopes)})
    token = re.search(r'id="new-token">(rwpat_[^<]+)<', created.text).group(1)
    client = wb.client()
    client.headers["authorization"] = f"Bearer {token}"
    return client


def test_the_api_does_every_action_with_a_personal_token(wb, versions, ada):
    api = token_client(wb, ada)
    r = api.post("/api/workspaces", json={"name": "API study", "tier": "registered", "purpose": API_PURPOSE})
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["namespace"], body["role"], body["etag"], body["data_version"]["name"]) == (
        "api-study", "OWNER", 1, "2026Q1R1")
    assert r.headers["etag"] == '"1"'
    assert [w["namespace"] for w in api.get("/api/workspaces").json()] == ["api-study"]
    got = api.get("/api/workspaces/api-study")
    assert got.status_code == 200 and got.json()["purpose"]["disease_of_focus"] == "Asthma"
    r = api.post("/api/workspaces/api-study/update", json={"name": "API study 2"}, headers={"if-match": '"1"'})
    assert r.status_code == 200 and r.json()["name"] == "API study 2" and r.json()["etag"] == 2
    stale = api.post("/api/workspaces/api-study/update", json={"name": "Lost", "etag": 1})
    assert stale.status_code == 409
    assert stale.json()["etag"] == 2 and stale.json()["problems"][0]["where"] == "etag"
    make_user(wb, "bob@state.edu", modules=ALL_RT)
    assert [u["email"] for u in api.get("/api/workspaces/api-study/users?q=bob").json()] == ["bob@state.edu"]
    r = api.post("/api/workspaces/api-study/share", json={"etag": 2, "items": [{"email": "bob@state.edu",
                                                                                 "role": "WRITER"}]})
    assert r.status_code == 200 and [m["role"] for m in r.json()["members"]] == ["OWNER", "WRITER"]
    make_user(wb, "sally@state.edu")
    r = api.post("/api/workspaces/api-study/share", json={"etag": 3, "items": [{"email": "sally@state.edu",
                                                                                 "role": "READER"}]})
    assert r.status_code == 422 and r.json()["problems"][0]["where"] == "items[0]"
    r = api.post("/api/workspaces/api-study/duplicate", json={"name": "API copy", "data_version": "2026Q3R1",
                                                              "include_collaborators": True})
    assert r.status_code == 201 and r.json()["data_version"]["name"] == "2026Q3R1"
    assert len(r.json()["members"]) == 2
    assert api.post("/api/workspaces/api-study/delete", headers={"if-match": '"1"'}).status_code == 409
    assert api.post("/api/workspaces/api-study/delete", headers={"if-match": '"3"'}).status_code == 204
    assert api.get("/api/workspaces/api-study").status_code == 404


def test_the_api_names_the_purpose_problems_and_needs_the_scopes(wb, versions, ada):
    api = token_client(wb, ada)
    r = api.post("/api/workspaces", json={"name": "Bad", "tier": "registered",
                                          "purpose": {**API_PURPOSE, "intended_study": LONG}})
    assert r.status_code == 422
    assert any("intended_study" in p["where"] for p in r.json()["problems"])
    reader = token_client(wb, ada, scopes=("workspaces:read",))
    r = reader.post("/api/workspaces", json={"name": "No", "tier": "registered", "purpose": API_PURPOSE})
    assert r.status_code == 403 and "workspaces:write" in r.json()["error"]
    assert reader.get("/api/workspaces").status_code == 200
    profile_only = token_client(wb, ada, scopes=("profile:read",))
    assert profile_only.get("/api/workspaces").status_code == 403


def test_every_workspace_api_route_is_in_the_openapi_document_with_its_scope(wb):
    doc = wb.client().get("/api/openapi.json").json()
    paths = doc["paths"]
    for path, method in [("/api/workspaces", "get"), ("/api/workspaces", "post"), ("/api/workspaces/{namespace}", "get"),
                         ("/api/workspaces/{namespace}/update", "post"), ("/api/workspaces/{namespace}/duplicate", "post"),
                         ("/api/workspaces/{namespace}/delete", "post"), ("/api/workspaces/{namespace}/share", "post"),
                         ("/api/workspaces/{namespace}/users", "get")]:
        assert method in paths[path], (path, method)
        assert paths[path][method].get("description") or paths[path][method].get("summary")
    purpose = doc["components"]["schemas"]["ResearchPurpose"]["properties"]
    assert purpose["intended_study"]["maxLength"] == 1000 and purpose["intended_study"]["description"]


def test_a_token_holder_who_loses_the_controlled_tier_gets_404_for_its_workspaces(wb, versions):
    cat = make_user(wb, "cat@citylab.org", institution="city-lab", modules=CT_MODULES)
    cat.sign_in()
    api = token_client(wb, cat)
    r = api.post("/api/workspaces", json={"name": "CT", "tier": "controlled", "purpose": API_PURPOSE})
    assert r.status_code == 201
    wb.clock.advance(days=1)
    with wb.db.session() as session:
        person = session.scalar(select(User).where(User.email == "cat@citylab.org"))
        reset(session, person, Module.CT_TRAINING)
    assert api.get("/api/workspaces/ct").status_code == 404
    assert api.get("/api/workspaces").json() == []


# -- a real race, on PostgreSQL ---------------------------------------------------------------------------------------

def test_two_writers_racing_with_the_same_etag_on_postgresql_one_wins_the_other_gets_stale_etag(make_workbench,
                                                                                                pg_state_url):
    """Both transactions read etag 1; the first commits; the second's conditional UPDATE finds etag 2 and is
    refused (``StaleEtag`` naming etag 2), though its own read was stale: no silent overwrite."""
    from research_workbench.workspaces import service

    wb = make_workbench(database_url=pg_state_url)
    assert wb.db.dialect == "postgresql"
    add_version(wb, "2026Q1R1", "registered", 1, default=True)
    make_user(wb, "ada@state.edu", modules=ALL_RT)
    make_user(wb, "bob@state.edu", modules=ALL_RT)
    services = wb.app.state.services
    ctx = service.Context(services.audit, lambda u: services.evaluator.state(u, wb.clock.now), wb.clock.now)
    with wb.db.session() as session:
        ada = session.scalar(select(User).where(User.email == "ada@state.edu"))
        bob = session.scalar(select(User).where(User.email == "bob@state.edu"))
        service.create(session, ctx, ada, name="Race", tier="registered", data_version=None,
                       purpose=API_PURPOSE)
        service.share(session, ctx, ada, "race", etag=1, changes=[(bob.id, "WRITER")])
    second = wb.db.sessions()
    second.begin()
    try:
        bob_user = second.scalar(select(User).where(User.email == "bob@state.edu"))
        seen = second.scalar(select(Workspace).where(Workspace.namespace == "race"))
        assert seen.etag == 2
        with wb.db.session() as first:  # Ada's edit commits while Bob's transaction holds its stale read
            ada_user = first.scalar(select(User).where(User.email == "ada@state.edu"))
            service.update_workspace(first, ctx, ada_user, "race", etag=2, name="Ada's race")
        with pytest.raises(service.StaleEtag) as refused:
            service.update_workspace(second, ctx, bob_user, "race", etag=2, name="Bob's race")
        assert refused.value.current == 3
        second.rollback()
    finally:
        second.close()
    final = workspace(wb, "race")
    assert (final.name, final.etag) == ("Ada's race", 3)
    assert len(events(wb, AuditAction.WORKSPACE_UPDATED)) == 1
