"""The Research Projects Directory: active workspaces' public purposes, researchers and institutions."""

from __future__ import annotations

from datetime import timedelta

from research_workbench.hub import directory
from research_workbench.state.models import DataVersion, Workspace, WorkspaceMember

from ..workbench.conftest import make_user

PURPOSE = {"disease_focused_research": True, "disease_of_focus": "Type 2 diabetes", "population_health": True,
           "intended_study": "Which social factors predict diabetes control?",
           "scientific_approach": "Survival models over EHR and survey data.",
           "anticipated_findings": "Targets for community programmes.",
           "aian_research_type": "NO_AI_AN_ANALYSIS", "aian_research_details": "private note",
           "review_requested": True}


def add_workspace(wb, namespace: str, name: str, members: list[tuple[str, str]], *, tier: str = "registered",
                  purpose: dict = PURPOSE, locked: bool = False, deleted: bool = False, minutes: int = 0) -> None:
    ids = {email: wb.user(email).id for email, _ in members}
    with wb.db.session() as session:
        version = session.query(DataVersion).filter_by(tier=tier).one_or_none()
        if version is None:
            version = DataVersion(name="2026Q4R1", tier=tier, release_number=1, cdr_path="/r", manifest_sha256="0" * 64,
                                  participant_count=1000, data_types=["ehr"], is_default=True, created_at=wb.clock.now)
            session.add(version)
            session.flush()
        when = wb.clock.now + timedelta(minutes=minutes)
        ws = Workspace(namespace=namespace, name=name, tier=tier, data_version_id=version.id, purpose=purpose,
                       created_by=ids[members[0][0]], created_at=when, updated_at=when,
                       locked_at=when if locked else None, locked_reason="check" if locked else None,
                       deleted_at=when if deleted else None)
        session.add(ws)
        session.flush()
        for email, role in members:
            session.add(WorkspaceMember(workspace_id=ws.id, user_id=ids[email], role=role, added_at=when))


def test_active_workspaces_are_listed_with_their_public_purpose_researchers_and_institutions(wb):
    make_user(wb, "ada@state.edu")
    make_user(wb, "bo@citylab.org", institution="city-lab")
    add_workspace(wb, "diabetes-social", "Diabetes and social factors", [("ada@state.edu", "OWNER"),
                                                                      ("bo@citylab.org", "READER")])
    add_workspace(wb, "hidden-locked", "Locked", [("ada@state.edu", "OWNER")], locked=True, minutes=1)
    add_workspace(wb, "hidden-deleted", "Deleted", [("ada@state.edu", "OWNER")], deleted=True, minutes=2)
    with wb.db.session() as session:
        [entry] = directory.entries(session)
    assert entry.namespace == "diabetes-social" and entry.data_version == "2026Q4R1"
    assert entry.purposes == ["Disease-focused research", "Population health / public health"]
    assert [(r.name, r.institution, r.role) for r in entry.researchers] == [
        ("Test Ada", "State University", "OWNER"), ("Test Bo", "City Health Lab", "READER")]
    assert entry.institutions == ["City Health Lab", "State University"]
    assert "aian_research_details" not in entry.purpose and "review_requested" not in entry.purpose
    assert entry.purpose["aian_research_type"] == "NO_AI_AN_ANALYSIS"


def test_search_and_filters(wb):
    make_user(wb, "ada@state.edu")
    make_user(wb, "bo@citylab.org", institution="city-lab")
    add_workspace(wb, "diabetes-social", "Diabetes and social factors", [("ada@state.edu", "OWNER")])
    add_workspace(wb, "sleep", "Sleep and heart rate", [("bo@citylab.org", "OWNER")], minutes=5,
                  purpose={"methods_development": True, "intended_study": "Wearable sleep staging.",
                           "scientific_approach": "Deep learning.", "anticipated_findings": "Better sleep metrics."})
    with wb.db.session() as session:
        names = lambda **kw: [e.namespace for e in directory.entries(session, **kw)]  # noqa: E731
        assert names() == ["sleep", "diabetes-social"]  # newest change first
        assert names(q="DIABETES control") == ["diabetes-social"]
        assert names(q="sleep staging") == ["sleep"]
        assert names(q="City Health") == ["sleep"]
        assert names(purpose="methods_development") == ["sleep"]
        assert names(institution="State University") == ["diabetes-social"]
        assert names(tier="controlled") == []


def test_the_public_page_and_api(wb):
    make_user(wb, "ada@state.edu")
    add_workspace(wb, "diabetes-social", "Diabetes and social factors", [("ada@state.edu", "OWNER")])
    c = wb.client()
    body = c.get("/api/hub/projects", params={"q": "diabetes"}).json()
    assert body["count"] == 1 and body["projects"][0]["researchers"][0]["institution"] == "State University"
    assert c.get("/api/hub/projects", params={"purpose": "nonsense"}).status_code == 422
    page = c.get("/hub/projects?purpose=population_health")
    assert page.status_code == 200 and "Diabetes and social factors" in page.text and "private note" not in page.text
    assert "1 project found." in page.text
