"""Route guards: every route declares exactly one ``Access`` level with ``requires(level)``; the answer comes from
the viewer, whose access the one evaluator computed. The authorization matrix test reads each route's level from
the route table (``route_access``), so a route without a guard fails it.

What a refusal looks like: a page sends an anonymous visitor to sign in (303, coming back afterwards) and a
signed-in user without the tier to a 403 page naming the next step; the API answers 401 or 403 JSON.
"""

from __future__ import annotations

from enum import StrEnum
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.routing import APIRoute

from ..accounts.modules import Tier
from .viewer import Viewer


class Access(StrEnum):
    PUBLIC = "public"  # anyone, signed in or not
    SECOND_STEP = "second_step"  # between the password and the second factor
    SIGNED_IN = "signed_in"  # a signed-in account, whatever its access (profile, access steps, renewal)
    REGISTERED = "registered"  # Registered Tier data: the tier granted and a second factor this session
    CONTROLLED = "controlled"
    ADMIN = "admin"


class NotSignedIn(Exception):
    def __init__(self, next_path: str, second_step: bool = False, level: Access = Access.SIGNED_IN):
        self.next_path, self.second_step, self.level = next_path, second_step, level
        super().__init__("sign in first")


class Forbidden(Exception):
    def __init__(self, message: str, tier: Tier | None = None, level: Access = Access.SIGNED_IN):
        self.tier, self.level = tier, level
        super().__init__(message)


ACCESS_HEADER = "x-access-required"  # on every guard refusal: the level the route needs (clients and tests read it)


def viewer_of(request: Request) -> Viewer:
    return request.state.viewer


def _next_path(request: Request) -> str:
    path = request.url.path
    if request.method == "GET" and request.url.query:
        path += "?" + request.url.query
    return quote(path, safe="/?=&")


def check(viewer: Viewer, level: Access, request: Request, scope: str | None = None) -> None:
    if level is Access.PUBLIC:
        return
    if viewer.token is not None and (scope is None or scope not in viewer.token.scopes):
        raise Forbidden("This API token does not allow this: it needs the scope " + repr(scope) if scope
                        else "API tokens work only for the API's routes that name a scope.", level=level)
    if level is Access.SECOND_STEP:
        if viewer.user is None or not viewer.mfa_pending:
            raise NotSignedIn(_next_path(request), level=level)
        return
    if viewer.user is None or viewer.mfa_pending:
        raise NotSignedIn(_next_path(request), second_step=viewer.mfa_pending and viewer.user is not None,
                          level=level)
    if level is Access.SIGNED_IN:
        return
    if level is Access.ADMIN:
        if not viewer.is_admin:
            raise Forbidden("This page is for administrators" + ("" if viewer.strong or not viewer.user.is_admin
                                                                  else " signed in with two-step verification") + ".",
                            level=level)
        return
    tier = Tier(level.value)
    if not viewer.has_tier(tier):
        if viewer.access is not None and tier in viewer.access.granted and not viewer.strong:
            raise Forbidden(f"The {tier.label} needs a sign-in with two-step verification.", tier, level)
        raise Forbidden(f"You do not have {tier.label} access yet.", tier, level)


def requires(level: Access, *, scope: str | None = None):
    """The dependency declaring (and enforcing) a route's access level, and the scope an API token needs for it
    (a route without a scope cannot be used with a token)."""

    async def guard(request: Request) -> Viewer:  # async: pure computation, no worker-thread hop
        viewer = viewer_of(request)
        check(viewer, level, request, scope)
        return viewer

    guard.access = level  # type: ignore[attr-defined]
    guard.scope = scope  # type: ignore[attr-defined]
    return Depends(guard)


def route_access(route: APIRoute) -> list[Access]:
    """The access levels a route declares (exactly one, for every route of the app)."""
    found = []
    for dep in route.dependant.dependencies:
        level = getattr(dep.call, "access", None)
        if level is not None:
            found.append(level)
    return found
