"""The HTML pages: Jinja2 templates on the web foundation's layout, charts as inline SVG, nothing inline for the
CSP to block. Each page is cached under its route and validated parameters (``site.Site.page``), except the
Research Projects Directory, read from the Research Hub on every request (``directory.py``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...web import QueryInt, SecureRouter
from ...workspaces.purpose import PURPOSE_FLAGS
from .directory import NO_DIRECTORY, DirectoryQuery
from .params import (ConceptDomain, ConceptId, DirectoryText, DirectoryTier, InstitutionName, MeasurementKind, Offset,
                     PurposeKey, SearchDomain, VariantId)
from .service import MAX_PAGE, BadQuery
from .site import SiteDep

# The page icon, served by a route (so browsers do not ask for a missing /favicon.ico and log an error).
FAVICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#2b6cb0"/>'
           '<rect x="3" y="8" width="2" height="5" fill="#fff"/><rect x="7" y="5" width="2" height="8" fill="#fff"/>'
           '<rect x="11" y="3" width="2" height="10" fill="#fff"/></svg>')

router = SecureRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def home(site: SiteDep):
    return await site.page(("home",), "home.html",
                     lambda: {"summary": site.browser.summary(), "demographics": site.browser.demographics()})


@router.get("/search", response_class=HTMLResponse)
async def search_page(site: SiteDep, q: Annotated[str, Query(max_length=200)] = "", domain: SearchDomain | None = None):
    d = domain.value if domain else None
    return await site.page(("search", q, d), "search.html", lambda: {
        "q": q, "domain": d, "results": site.browser.search(q, d, 100).results if q.strip() else [],
        "domains": [x.value for x in SearchDomain]})


@router.get("/domains/{domain}", response_class=HTMLResponse)
async def domain_page(domain: ConceptDomain, site: SiteDep, offset: Offset = 0):
    return await site.page(("domain", domain.value, offset), "domain.html",
                     lambda: {"listing": site.browser.concepts(domain.value, offset, 100)})


@router.get("/concepts/{concept_id}", response_class=HTMLResponse)
async def concept_page(concept_id: ConceptId, site: SiteDep, domain: ConceptDomain | None = None):
    d = domain.value if domain else None
    return await site.page(("concept", concept_id, d), "concept.html", lambda: {"c": site.browser.concept(concept_id, d)})


@router.get("/surveys", response_class=HTMLResponse)
async def surveys_page(site: SiteDep):
    return await site.page(("surveys",), "surveys.html", lambda: {"modules": site.browser.survey_modules()})


@router.get("/surveys/{module_id}", response_class=HTMLResponse)
async def survey_page(module_id: ConceptId, site: SiteDep):
    def make():
        browser = site.browser
        detail = browser.survey_module(module_id)
        questions = [browser.survey_question(module_id, q.question_concept_id).question for q in detail.questions]
        return {"module": detail.module, "questions": questions, "modules": browser.survey_modules()}

    return await site.page(("survey", module_id), "survey.html", make)


@router.get("/measurements", response_class=HTMLResponse)
async def measurements_page(site: SiteDep, kind: MeasurementKind | None = None):
    k = kind.value if kind else None
    return await site.page(("measurements", k), "measurements.html", lambda: {"kind": k, "items": site.browser.measurements(k)})


@router.get("/measurements/{kind}/{concept_id}", response_class=HTMLResponse)
async def measurement_page(kind: MeasurementKind, concept_id: ConceptId, site: SiteDep):
    return await site.page(("measurement", kind.value, concept_id), "measurement.html",
                     lambda: {"m": site.browser.measurement(kind.value, concept_id)})


@router.get("/wearables", response_class=HTMLResponse)
async def wearables_page(site: SiteDep):
    return await site.page(("wearables",), "wearables.html", lambda: {"w": site.browser.wearables()})


@router.get("/genomes", response_class=HTMLResponse)
async def genomes_page(site: SiteDep, q: Annotated[str, Query(max_length=200)] = "",
                 page_number: Annotated[QueryInt, Query(alias="page", ge=1, le=MAX_PAGE)] = 1):
    browser = site.browser

    def make(error: str | None = None):
        context: dict[str, Any] = {"g": browser.genomes(), "q": q, "search": None, "error": error}
        if q.strip() and error is None:
            context["search"] = browser.variants(q, page_number, 25, with_ancestries=True)
        return context

    if q.strip():
        try:
            browser.parse_variant_query(q)
        except BadQuery as err:  # a query that cannot be read: a 400 with the page and its message, never cached
            message = str(err)
            return await site.uncached_page("genomes.html", lambda: make(message), 400)
    return await site.page(("genomes", q, page_number), "genomes.html", make)


@router.get("/variants/{variant_id}", response_class=HTMLResponse)
async def variant_page(variant_id: VariantId, site: SiteDep):
    return await site.page(("variant", variant_id), "variant.html", lambda: {"v": site.browser.variant(variant_id)})


@router.get("/research-projects", response_class=HTMLResponse)
async def projects_page(site: SiteDep, q: DirectoryText = "", tier: DirectoryTier | Literal[""] = "",
                        purpose: PurposeKey | Literal[""] = "", institution: InstitutionName = ""):
    query = DirectoryQuery(q=q, tier=tier or None, purpose=purpose or None, institution=institution or None)
    found = NO_DIRECTORY if site.directory is None else await site.directory.read_in_thread(query, with_all=True)
    filtered = bool(q.strip() or tier or purpose or institution)
    return await site.uncached_page("projects.html", lambda: {
        "d": found, "query": query, "purposes": PURPOSE_FLAGS, "filtered": filtered}, 200)


@router.get("/about", response_class=HTMLResponse)
async def about_page(site: SiteDep):
    return await site.page(("about",), "about.html", lambda: {})


@router.get("/api", response_class=HTMLResponse)
async def api_page(request: Request, site: SiteDep):
    return await site.page(("api",), "api.html", lambda: {"openapi": request.app.openapi()})


@router.get("/favicon.svg")
async def favicon():
    return Response(FAVICON, media_type="image/svg+xml", headers={"cache-control": "public, max-age=86400"})


@router.get("/demographics")
async def demographics_page():
    return RedirectResponse("/#demographics")  # a relative location, never built from the Host header
