"""The JSON API under ``/api``: what the pages show, for the SDK and notebooks (personal API tokens or the
session cookie). Its models say what each field means; the OpenAPI document is at ``/api/openapi.json``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import Query, Request
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from ...accounts import institutions as inst
from ...accounts.access import AccessState
from ...accounts.modules import MODULES, Tier
from ...web import ERROR_RESPONSES, SecureRouter
from ..guards import Access, requires

router = SecureRouter(prefix="/api", tags=["workbench"], responses=ERROR_RESPONSES)


class TierRuleOut(BaseModel):
    tier: str = Field(description="registered or controlled")
    rule: str = Field(description="domains: listed email domains (and their subdomains); addresses: listed "
                                  "addresses; none: nobody at this institution may reach the tier")
    summary: str = Field(description="the rule in words, as the public page shows it (addresses are not listed)")


class InstitutionOut(BaseModel):
    short_name: str
    display_name: str
    kind: str
    agreement_expires_on: date | None = Field(description="after this day the agreement, and access through it, ends")
    rules: list[TierRuleOut]


class TierAnswer(BaseModel):
    institution: str
    email: str
    tiers: list[str] = Field(description="the tiers this institution's agreement lets this email reach (the "
                                         "registration steps are still needed)")


class ModuleOut(BaseModel):
    module: str
    title: str
    status: str = Field(description="complete, bypassed, expired, not_started or not_allowed")
    completed_at: datetime | None
    expires_at: datetime | None = Field(description="when it stops counting unless renewed")


class TierOut(BaseModel):
    tier: str
    granted: bool
    missing: list[str] = Field(description="modules still needed, in the order to do them")
    next_step: str | None = Field(description="the one thing to do next for this tier (null when granted)")
    expires_at: datetime | None = Field(description="when this tier lapses unless something is renewed")


class AccessOut(BaseModel):
    at: datetime
    disabled: bool
    next_step: str | None = Field(description="the one next step across tiers")
    tiers: list[TierOut]
    modules: list[ModuleOut]


class MeOut(BaseModel):
    id: int
    email: str
    given_name: str
    family_name: str
    institution: str | None
    is_admin: bool
    access: AccessOut


def access_out(state: AccessState) -> AccessOut:
    return AccessOut(
        at=state.at, disabled=state.disabled, next_step=state.next_step,
        tiers=[TierOut(tier=t.tier.value, granted=t.granted, missing=[m.value for m in t.missing],
                       next_step=t.next_step.value if t.next_step else None, expires_at=t.expires_at)
               for t in state.tiers.values()],
        modules=[ModuleOut(module=m.module.value, title=MODULES[m.module].title, status=m.status.value,
                           completed_at=m.completed_at, expires_at=m.expires_at) for m in state.modules.values()])


@router.get("/institutions", response_model=list[InstitutionOut], dependencies=[requires(Access.PUBLIC)])
def institutions(request: Request) -> list[InstitutionOut]:
    """Every institution with an agreement, and per tier who of its people may reach it."""
    services = request.app.state.services
    with services.db.reading() as session:
        return [InstitutionOut(short_name=i.short_name, display_name=i.display_name, kind=i.kind,
                               agreement_expires_on=i.agreement_expires_on,
                               rules=[TierRuleOut(tier=r.tier, rule=r.kind, summary=inst.describe_rule(r))
                                      for r in i.rules])
                for i in inst.all_institutions(session)]


@router.get("/institutions/{short_name}/tiers", response_model=TierAnswer, dependencies=[requires(Access.PUBLIC)])
def institution_tiers(request: Request, short_name: str,
                      email: Annotated[str, Query(min_length=3, max_length=254)]) -> TierAnswer:
    """What tier does my institution allow me? (``email``: your institutional address.)"""
    from ...cdr.problems import Problem, ProblemsError

    services = request.app.state.services
    with services.db.reading() as session:
        found = inst.by_short_name(session, short_name)
        if found is None:
            raise HTTPException(404)
        if not inst.is_email(email):
            raise ProblemsError([Problem("not an email address", "query.email")], "invalid request: query.email")
        tiers = inst.allowed_tiers(found, email, services.now().date())
        return TierAnswer(institution=found.display_name, email=inst.normalise_email(email),
                          tiers=[t.value for t in Tier if t in tiers])


@router.get("/me", response_model=MeOut, dependencies=[requires(Access.SIGNED_IN, scope="profile:read")])
def me(request: Request) -> MeOut:
    """The signed-in user (or the API token's owner) and their access."""
    viewer = request.state.viewer
    user = viewer.user
    return MeOut(id=user.id, email=user.email, given_name=user.given_name, family_name=user.family_name,
                 institution=user.institution.display_name if user.institution else None, is_admin=user.is_admin,
                 access=access_out(viewer.access))


@router.get("/me/access", response_model=AccessOut, dependencies=[requires(Access.SIGNED_IN, scope="profile:read")])
def my_access(request: Request) -> AccessOut:
    """Per tier: granted or not, the missing modules, the next step and what expires when."""
    return access_out(request.state.viewer.access)


class TierDataOut(BaseModel):
    tier: str
    granted: bool = True
    expires_at: datetime | None


@router.get("/data/registered", response_model=TierDataOut, dependencies=[requires(Access.REGISTERED, scope="data:read")])
def registered_data(request: Request) -> TierDataOut:
    """Registered Tier data (the workspaces' data sources come with the next issues)."""
    return TierDataOut(tier="registered", expires_at=request.state.viewer.access.tiers[Tier.REGISTERED].expires_at)


@router.get("/data/controlled", response_model=TierDataOut, dependencies=[requires(Access.CONTROLLED, scope="data:read")])
def controlled_data(request: Request) -> TierDataOut:
    return TierDataOut(tier="controlled", expires_at=request.state.viewer.access.tiers[Tier.CONTROLLED].expires_at)
