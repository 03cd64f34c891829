"""The workspace authorization matrix: every route whose path starts with ``/workspaces`` or ``/api/workspaces`` ×
role (none, READER, WRITER, OWNER) × tier state (holding the tier; lost it), for a Registered Tier workspace and a
Controlled Tier one. 0 leaks: who may not see a workspace gets the same 404 as for one that does not exist (and
never its name); a role too low is a 403; a member without the workspace's tier is treated as no member at all —
a Controlled Tier workspace is invisible to a Registered-only member even when listed as one.

Each allowed request is a probe that changes nothing (a stale etag: 409; an empty name: 422), so the matrix walks
every route in any order. Routes of other areas under these prefixes (workspace resources) are held to the
no-leak half: whoever may not see the workspace is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select

from research_workbench.accounts.module_records import reset
from research_workbench.accounts.modules import Module
from research_workbench.state.models import User, Workspace, WorkspaceMember
from research_workbench.workbench.guards import ACCESS_HEADER

from .conftest import ALL_RT, make_user, post
from .test_workspaces import PURPOSE, add_version, create

CT_MODULES = ALL_RT + (Module.CT_TRAINING,)
ROLES = ("none", "READER", "WRITER", "OWNER")
RANK = {"none": 0, "READER": 1, "WRITER": 2, "OWNER": 3}
WORKSPACES = {"registered": ("rt-matrix", "Matrix RT secret name"),
              "controlled": ("ct-matrix", "Matrix CT secret name")}
OTHER_SAMPLES = {"resource_id": "1", "version": "1", "person_id": "1", "field_id": "1", "table": "PERSON", "export_id": "1",
                 "notebook": "Sample.ipynb", "job_id": "1", "file_name": "results.tsv"}

# (method, path) → (the least role it needs: None when it is not about one workspace; the probe; its status when
# allowed). Form probes are posted with the CSRF field; API probes as JSON with the CSRF header.
STALE = {"etag": "0"}
TABLE: dict[tuple[str, str], tuple[str | None, dict | None, int]] = {
    ("GET", "/workspaces"): (None, None, 200),
    ("GET", "/workspaces/new"): (None, None, 200),
    ("POST", "/workspaces/new"): (None, {}, 422),
    ("GET", "/workspaces/{namespace}"): ("READER", None, 200),
    ("GET", "/workspaces/{namespace}/edit"): ("WRITER", None, 200),
    ("POST", "/workspaces/{namespace}/edit"): ("WRITER", {**PURPOSE, "name": "Taken over", **STALE}, 409),
    ("GET", "/workspaces/{namespace}/duplicate"): ("READER", None, 200),
    ("POST", "/workspaces/{namespace}/duplicate"): ("READER", {**PURPOSE, "name": ""}, 422),
    ("GET", "/workspaces/{namespace}/delete"): ("OWNER", None, 200),
    ("POST", "/workspaces/{namespace}/delete"): ("OWNER", STALE, 409),
    ("GET", "/workspaces/{namespace}/share"): ("OWNER", None, 200),
    ("POST", "/workspaces/{namespace}/share"): ("OWNER", STALE, 409),
    ("GET", "/api/workspaces"): (None, None, 200),
    ("POST", "/api/workspaces"): (None, {}, 422),
    ("GET", "/api/workspaces/{namespace}"): ("READER", None, 200),
    ("POST", "/api/workspaces/{namespace}/update"): ("WRITER", {"etag": 0, "name": "Taken over"}, 409),
    ("POST", "/api/workspaces/{namespace}/duplicate"): ("READER", {"name": ""}, 422),
    ("POST", "/api/workspaces/{namespace}/delete"): ("OWNER", {"etag": 0}, 409),
    ("POST", "/api/workspaces/{namespace}/share"): ("OWNER", {"etag": 0, "items": [{"email": "creator@citylab.org",
                                                                                    "role": "OWNER"}]}, 409),
    ("GET", "/api/workspaces/{namespace}/users"): ("OWNER", None, 200),
}


@dataclass
class Persona:
    name: str
    role: str  # in both workspaces
    state: str  # holding: both tiers; lost_ct: Registered Tier only; lost_rt: no tier; rt_only: never had CT
    client: object

    def sees(self, tier: str) -> bool:
        if self.state == "lost_rt":
            return False
        if tier == "controlled" and self.state in ("lost_ct", "rt_only"):
            return False
        return True


def workspace_routes(app) -> list[tuple[str, str]]:
    out = []
    for route in app.routes:
        if isinstance(route, APIRoute) and (route.path.startswith("/workspaces") or route.path.startswith("/api/workspaces")):
            out += [(method, route.path) for method in sorted(route.methods)]
    return out


@pytest.fixture
def matrix(make_workbench):
    wb = make_workbench(limits={"signin": "10000/minute", "totp": "10000/minute", "forms": "100000/minute"})
    rt = add_version(wb, "2026Q1R1", "registered", 1, default=True)
    ct = add_version(wb, "2026Q1R1", "controlled", 2, default=True)
    creator = make_user(wb, "creator@citylab.org", institution="city-lab", modules=CT_MODULES)
    client = creator.sign_in()
    for tier, version in (("registered", rt), ("controlled", ct)):
        namespace, name = WORKSPACES[tier]
        r = create(client, name, version, tier=tier)
        assert r.status_code == 303, r.text[:2000]
        with wb.db.session() as session:  # the namespace the tests use
            ws = session.scalar(select(Workspace).where(Workspace.name == name))
            ws.namespace = namespace
    people = []
    for state in ("holding", "lost_ct", "lost_rt", "rt_only"):
        for role in ROLES:
            email = f"{role.lower()}-{state.replace('_', '')}@" + ("state.edu" if state == "rt_only" else "citylab.org")
            modules = ALL_RT if state == "rt_only" else CT_MODULES
            signed = make_user(wb, email, institution="state-u" if state == "rt_only" else "city-lab",
                               modules=modules)
            people.append((email, role, state, signed))
    with wb.db.session() as session:  # roles set directly: sharing (rightly) refuses a Registered-only user for CT
        workspaces = list(session.scalars(select(Workspace)))
        for email, role, state, _ in people:
            user = session.scalar(select(User).where(User.email == email))
            if role != "none":
                for ws in workspaces:
                    session.add(WorkspaceMember(workspace_id=ws.id, user_id=user.id, role=role, added_at=wb.clock.now))
            if state == "lost_ct":
                reset(session, user, Module.CT_TRAINING)
            elif state == "lost_rt":
                reset(session, user, Module.DUCC)
    personas = [Persona(f"{role}/{state}", role, state, signed.sign_in()) for _, role, state, signed in people]
    return wb, personas


def csrf_of(client) -> str:
    client.get("/profile")
    return client.cookies.get("csrftoken")


def call(persona: Persona, method: str, path: str, probe: dict | None, token: str):
    if method == "GET":
        return persona.client.get(path)
    if path.startswith("/api/"):
        return persona.client.post(path, json=probe or {}, headers={"x-csrftoken": token})
    return persona.client.post(path, data={"csrftoken": token, **(probe or {})})


def guard_refused(response) -> bool:
    return ACCESS_HEADER in response.headers and response.status_code in (303, 401, 403)


def test_every_workspace_route_by_role_and_tier_state_has_no_leak(matrix):
    wb, personas = matrix
    routes = workspace_routes(wb.app)
    mine = [r for r in routes if r in TABLE]
    assert sorted(mine) == sorted(TABLE), "a workspace route is missing from the table (or gone)"
    leaks, wrong = [], []
    checked = 0
    for persona in personas:
        token = csrf_of(persona.client)
        for tier, (namespace, secret) in WORKSPACES.items():
            for method, template in routes:
                if "{namespace}" not in template and tier == "controlled":
                    continue  # not about one workspace: once per persona is enough
                path = template.replace("{namespace}", namespace)
                path = re.sub(r"\{(\w+)\}", lambda m: OTHER_SAMPLES[m.group(1)], path)
                least, probe, allowed_status = TABLE.get((method, template), ("READER", None, None))
                response = call(persona, method, path, probe, token)
                checked += 1
                where = f"{persona.name}: {method} {path} → {response.status_code}"
                # The matrix's data versions have no search index: routes that read one say so (503, the reason)
                unindexed = response.status_code == 503 and "has no search index" in response.text
                assert response.status_code < 500 or unindexed, (where, response.text[:1000])
                if persona.state == "lost_rt":  # no tier at all: the route's guard refuses
                    if not guard_refused(response):
                        leaks.append(where)
                    continue
                if least is None:
                    if (method, template) in TABLE and response.status_code != allowed_status:
                        wrong.append(f"{where} (expected {allowed_status})")
                    continue
                may_see = persona.sees(tier) and persona.role != "none"
                if not may_see:
                    if response.status_code != 404:
                        leaks.append(f"{where} (expected 404)")
                    elif secret in response.text:
                        leaks.append(f"{where}: the 404 names the workspace")
                    continue
                if (method, template) not in TABLE:
                    continue  # another area's route: its own tests pin what members get
                if RANK[persona.role] >= RANK[least]:
                    if response.status_code != allowed_status:
                        wrong.append(f"{where} (expected {allowed_status})")
                elif response.status_code != 403 or ACCESS_HEADER in response.headers:
                    leaks.append(f"{where} (expected the role's 403)")
    assert leaks == [], "\n".join(leaks)
    assert wrong == [], "\n".join(wrong)
    assert checked > 600


def test_the_list_shows_exactly_the_workspaces_each_persona_may_open(matrix):
    wb, personas = matrix
    for persona in personas:
        page = persona.client.get("/workspaces")
        api = persona.client.get("/api/workspaces")
        if persona.state == "lost_rt":
            assert guard_refused(page) and guard_refused(api), persona.name
            continue
        expected = {tier for tier in WORKSPACES if persona.role != "none" and persona.sees(tier)}
        shown = {tier for tier, (_, secret) in WORKSPACES.items() if secret in page.text}
        assert shown == expected, persona.name
        assert {w["tier"] for w in api.json()} == expected, persona.name


def test_a_registered_only_member_gets_404_on_the_controlled_tier_workspace_even_as_its_owner(matrix):
    wb, personas = matrix
    owner = next(p for p in personas if p.role == "OWNER" and p.state == "rt_only")
    namespace, secret = WORKSPACES["controlled"]
    for path in (f"/workspaces/{namespace}", f"/workspaces/{namespace}/share", f"/api/workspaces/{namespace}"):
        response = owner.client.get(path)
        assert response.status_code == 404 and secret not in response.text, path
    assert owner.client.get(f"/workspaces/{WORKSPACES['registered'][0]}/share").status_code == 200
    assert post(owner.client, f"/workspaces/{namespace}/delete", {"etag": "1"},
                form_page=f"/workspaces/{WORKSPACES['registered'][0]}").status_code == 404
    with wb.db.session() as session:
        assert session.scalar(select(Workspace).where(Workspace.namespace == namespace)).deleted_at is None
