"""Every route of the Workbench × every kind of visitor, generated from the app's route table: a route added
without a guard, or a guard that lets the wrong visitor in, fails here. 0 leaks."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi.routing import APIRoute

from research_workbench.accounts.modules import Module
from research_workbench.state.models import User
from research_workbench.workbench.guards import ACCESS_HEADER, Access, route_access

from .conftest import ALL_RT, make_user, post, sign_in

PATH_SAMPLES = {"tier": "registered", "step": "terms", "kind": "terms", "short_name": "state-u", "provider": "none",
                "slug": "intro", "id": "1", "user_id": "1", "module": "identity",
                "namespace": "ws-sample", "resource_id": "1", "version": "1",
                "version_id": "1",
                "person_id": "1", "field_id": "1", "table": "PERSON", "export_id": "1",
                "notebook": "Sample.ipynb", "job_id": "1", "file_name": "results.tsv"}


def routes(app) -> list[APIRoute]:
    return [r for r in app.routes if isinstance(r, APIRoute)]


def test_every_route_declares_exactly_one_guard(wb):
    missing = [f"{sorted(r.methods)} {r.path}: {route_access(r)}" for r in routes(wb.app) if len(route_access(r)) != 1]
    assert missing == []


@dataclass
class Visitor:
    name: str
    client: object
    access: set  # the levels this visitor must be let through
    scopes: tuple | None = None  # an API token's scopes: only routes naming one of them (and public ones)

    def expected(self, route) -> bool:
        level = route_access(route)[0]
        if level not in self.access:
            return False
        if self.scopes is None or level is Access.PUBLIC:
            return True
        scope = next(d.call.scope for d in route.dependant.dependencies if hasattr(d.call, "access"))
        return scope in self.scopes


def visitors(wb) -> list[Visitor]:
    out = [Visitor("anonymous", wb.client(), {Access.PUBLIC})]
    newcomer = make_user(wb, "new@state.edu", totp=False)
    out.append(Visitor("registered without modules", newcomer.sign_in(), {Access.PUBLIC, Access.SIGNED_IN}))
    rt = make_user(wb, "rt@state.edu", modules=ALL_RT)
    out.append(Visitor("Registered Tier", rt.sign_in(), {Access.PUBLIC, Access.SIGNED_IN, Access.REGISTERED}))
    ct = make_user(wb, "ct@citylab.org", institution="city-lab", modules=ALL_RT + (Module.CT_TRAINING,))
    out.append(Visitor("Controlled Tier", ct.sign_in(),
                       {Access.PUBLIC, Access.SIGNED_IN, Access.REGISTERED, Access.CONTROLLED}))
    expired = make_user(wb, "old@state.edu", modules=ALL_RT, completed_days_ago=400)
    out.append(Visitor("expired", expired.sign_in(), {Access.PUBLIC, Access.SIGNED_IN}))
    disabled = make_user(wb, "gone@state.edu", modules=ALL_RT)
    disabled_client = disabled.sign_in()
    with wb.db.session() as session:
        user = session.query(User).filter_by(email="gone@state.edu").one()
        user.disabled_at, user.disabled_reason = wb.clock.now, "matrix test"
    out.append(Visitor("disabled", disabled_client, {Access.PUBLIC}))
    admin = make_user(wb, "admin@state.edu", admin=True)
    out.append(Visitor("admin", admin.sign_in(), {Access.PUBLIC, Access.SIGNED_IN, Access.ADMIN}))
    holder = make_user(wb, "token@state.edu", modules=ALL_RT)
    holder_client = holder.sign_in()
    created = post(holder_client, "/account/tokens", {"action": "create", "name": "matrix", "days": "30",
                                                     "scopes": ["profile:read", "data:read"]})
    token = re.search(r'id="new-token">(rwpat_[^<]+)<', created.text).group(1)
    api = wb.client()
    api.headers["authorization"] = f"Bearer {token}"
    out.append(Visitor("API token (profile:read, data:read) of a Registered Tier user", api,
                       {Access.PUBLIC, Access.SIGNED_IN, Access.REGISTERED}, ("profile:read", "data:read")))
    pending = make_user(wb, "pending@state.edu")
    client = pending.client = wb.client()
    assert sign_in(client, pending.email).headers["location"] == "/signin/second-step"
    out.append(Visitor("between password and second step", client, {Access.PUBLIC, Access.SECOND_STEP}))
    return out


def csrf_cookie(client) -> str:
    """The visitor's CSRF token: the signed cookie any page with a form sets (the sign-in page, or the sign-out
    button on every page once signed in)."""
    client.get("/signin")
    client.get("/")
    return client.cookies.get("csrftoken")


def denied(response) -> bool:
    """A guard's refusal: 401/403, or 303 to the sign-in page, marked with the level the route needs (an
    app-level answer such as a wrong password's 401 is not a refusal of access)."""
    if ACCESS_HEADER not in response.headers:
        return False
    if response.status_code == 303:
        assert re.match(r"^/signin(\?|/second-step|$)", response.headers["location"]), response.headers["location"]
    else:
        assert response.status_code in (401, 403), response.status_code
    return True


def fill(path: str) -> str:
    def sample(match):
        name = match.group(1).split(":")[0]
        assert name in PATH_SAMPLES, f"add a sample value for path parameter {name!r} of {path}"
        return PATH_SAMPLES[name]

    return re.sub(r"\{([^}]+)\}", sample, path)


def test_the_matrix_has_no_leak_and_no_wrong_refusal(wb):
    people = visitors(wb)
    # A POST may change what a visitor is (sign out, turn off two-step...): GETs first, then POSTs, sign-out last.
    table = sorted(routes(wb.app), key=lambda r: ("POST" in r.methods, r.path == "/signout", r.path))
    leaks, refusals = [], []
    for visitor in people:
        token = None
        for route in table:
            level = route_access(route)[0]
            path = fill(route.path)
            expected = visitor.expected(route)
            if "GET" in route.methods:
                response = visitor.client.get(path)
            else:
                token = token or csrf_cookie(visitor.client)
                response = visitor.client.post(path, data={"csrftoken": token})
            if denied(response) and expected:
                refusals.append(f"{visitor.name}: {sorted(route.methods)} {path} ({level}) → {response.status_code}")
            if not denied(response) and not expected:
                leaks.append(f"{visitor.name}: {sorted(route.methods)} {path} ({level}) → {response.status_code}")
            assert response.status_code < 500, (visitor.name, path, response.text[:500])
    assert leaks == [], "\n".join(leaks)
    assert refusals == [], "\n".join(refusals)
    assert len(table) >= 60 and len(people) == 9
