"""The public Data Browser: a FastAPI app over one results store.

``create_app(store_path)`` serves HTML pages (Jinja2 templates, charts as inline SVG, CSS and a little JS from
``static/``: nothing from elsewhere, nothing inline) and, behind every page, a JSON API under ``/api`` described by
``/api/openapi.json``. It is a ``web.SecureApp``: security headers on every response, a trusted-host allow-list,
strict UTF-8 input, relative redirects only (see ``research_workbench.web``).

The store never changes once built, so responses are cached until a rebuild replaces the file. The cache is
keyed by each route's *validated* parameters (junk parameters and their order make no new entries; a request that
fails validation never reaches it) and bounded in bytes (``RW_BROWSER_CACHE_BYTES``, default 64 MiB) and entries
(``RW_BROWSER_CACHE_SIZE``, default 4096; 0 turns the cache off). Bad parameters get a 4xx with a message, for
pages and API alike.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Hashable, Iterable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

from fastapi import Path as PathParam, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from .. import __version__
from ..web import QueryInt, ResponseCache, SecureApp, WebSettings
from ..web.hosts import DEFAULT_ALLOWED_HOSTS
from . import charts
from . import models as M
from .projects import PURPOSE_FLAGS
from .schema import ANCESTRY_LABELS, CONCEPT_DOMAINS, DOMAIN_LABELS
from .service import DATA_TYPE_LABELS, DIMENSION_LABELS, MAX_PAGE, BadQuery, Browser, NotFound
from .store import Store

HERE = Path(__file__).parent
MAX_ID = 2**63 - 1
DEFAULT_CACHE_ENTRIES = 4096
DEFAULT_CACHE_BYTES = 64 * 1024 * 1024
ALLOWED_HOSTS_ENV = "RW_BROWSER_ALLOWED_HOSTS"  # a JSON list, set by `workbench browser serve` for its workers
# The page icon, served by a route (so browsers do not ask for a missing /favicon.ico and log an error).
FAVICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#2b6cb0"/>'
           '<rect x="3" y="8" width="2" height="5" fill="#fff"/><rect x="7" y="5" width="2" height="8" fill="#fff"/>'
           '<rect x="11" y="3" width="2" height="10" fill="#fff"/></svg>')


class ConceptDomain(str, Enum):
    condition = "condition"
    drug = "drug"
    procedure = "procedure"
    measurement = "measurement"
    observation = "observation"


class SearchDomain(str, Enum):
    condition = "condition"
    drug = "drug"
    procedure = "procedure"
    measurement = "measurement"
    observation = "observation"
    survey = "survey"
    physical_measurement = "physical_measurement"


class MeasurementKind(str, Enum):
    physical = "physical"
    lab = "lab"


ConceptId = Annotated[QueryInt, PathParam(ge=0, le=MAX_ID, description="An OMOP concept id")]
SearchText = Annotated[str, Query(min_length=1, max_length=200, description="Words of a name, a code or a synonym")]
PageNumber = Annotated[QueryInt, Query(ge=1, le=MAX_PAGE, description="Page number, from 1")]
ERRORS = {400: {"model": M.ErrorResponse}, 404: {"model": M.ErrorResponse}, 422: {"model": M.ErrorResponse}}


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise ValueError(f"{name} must be a whole number of {'bytes' if 'BYTES' in name else 'entries'}, not {raw!r}")
    return int(raw)


def cache_from_env() -> ResponseCache:
    """The response cache sized by RW_BROWSER_CACHE_BYTES and RW_BROWSER_CACHE_SIZE (either 0: no cache)."""
    return ResponseCache(max_bytes=_env_int("RW_BROWSER_CACHE_BYTES", DEFAULT_CACHE_BYTES),
                         max_entries=_env_int("RW_BROWSER_CACHE_SIZE", DEFAULT_CACHE_ENTRIES))


def allowed_hosts_from_env() -> tuple[str, ...]:
    raw = os.environ.get(ALLOWED_HOSTS_ENV)
    if not raw:
        return DEFAULT_ALLOWED_HOSTS
    names = json.loads(raw)
    if not isinstance(names, list):
        raise ValueError(f"{ALLOWED_HOSTS_ENV} must be a JSON list of host names")
    return tuple(str(n) for n in names)


def create_app(store_path: Path | str, *, allowed_hosts: Iterable[str] | None = None,
               cache: ResponseCache | None = None) -> SecureApp:
    """The Data Browser over the results store at ``store_path``.

    A stale store is refused (``store.StaleStoreError``). ``allowed_hosts``: host names the app answers for
    (default: RW_BROWSER_ALLOWED_HOSTS, else 127.0.0.1 and localhost). ``cache``: default from the environment.
    """
    store = Store(Path(store_path))
    browser = Browser(store)
    cache = cache if cache is not None else cache_from_env()
    hosts = tuple(allowed_hosts) if allowed_hosts is not None else allowed_hosts_from_env()
    app = SecureApp(
        web=WebSettings(allowed_hosts=hosts),
        title="Research Workbench Data Browser",
        version=__version__,
        description="Public, small-count-protected aggregates of a research program's data. Every count is rounded up "
                    "to a multiple of the bin size (default 20); counts from 1 to the bin are published as the bin.",
        docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
    )
    app.state.store = store
    app.state.browser = browser
    app.state.cache = cache
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals.update(
        charts=charts, fmt_number=charts.fmt_number, DOMAIN_LABELS=DOMAIN_LABELS, DIMENSION_LABELS=DIMENSION_LABELS,
        DATA_TYPE_LABELS=DATA_TYPE_LABELS, ANCESTRY_LABELS=ANCESTRY_LABELS, PURPOSE_FLAGS=PURPOSE_FLAGS,
        CONCEPT_DOMAINS=CONCEPT_DOMAINS, version=__version__, pairs=pairs,
        stacked_rows=stacked_rows, histogram_items=histogram_items,
    )

    def api(key: tuple[Hashable, ...], make: Callable[[], BaseModel]) -> Response:
        """A JSON answer cached under ``key``: the route and its validated parameters, nothing else."""
        body = cache.get(("api", store.current_generation(), *key), lambda: make().model_dump_json().encode())
        return Response(body, media_type="application/json")

    def render(template: str, context: dict[str, Any]) -> bytes:
        full = {"info": browser.info(), "fmt": lambda v: charts.fmt_count(v, store.bin_size), "bin": store.bin_size}
        full.update(context)
        return env.get_template(template).render(**full).encode()

    def page(key: tuple[Hashable, ...], template: str, make: Callable[[], dict[str, Any]], status: int = 200) -> HTMLResponse:
        """A page cached under ``key`` (the route and its validated parameters); it may depend on nothing else."""
        body = cache.get(("page", store.current_generation(), template, *key), lambda: render(template, make()))
        return HTMLResponse(body, status_code=status)

    def error_body(path: str, status: int, message: str, problems: list[dict] | None = None) -> Response:
        if path == "/api" or path.startswith("/api/"):
            return JSONResponse({"error": message, "problems": problems or []}, status_code=status)
        body = render("error.html", {"status": status, "message": message, "problems": problems or []})
        return HTMLResponse(body, status_code=status)

    def error_page(request: Request, status: int, message: str, problems: list[dict] | None = None) -> Response:
        return error_body(request.url.path, status, message, problems)

    def middleware_error(scope: Scope, status: int, message: str, problems: list[dict]) -> Response:
        """Errors of the web foundation (bad Host, unreadable input): the same page or JSON as the app's own."""
        return error_body(scope.get("path", ""), status, message, problems)

    app.error_response = middleware_error

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        problems = []
        for e in exc.errors():
            where = ".".join(str(x) for x in e.get("loc", ()))
            message = str(e.get("msg", "invalid value")).removeprefix("Value error, ")
            problems.append({"where": where, "message": message})
        text = "; ".join(f"{p['where']}: {p['message']}" for p in problems)
        return error_page(request, 422, f"invalid request: {text}", problems)

    @app.exception_handler(BadQuery)
    async def bad_query(request: Request, exc: BadQuery):
        return error_page(request, 400, str(exc), [{"where": exc.where, "message": str(exc)}] if exc.where else [])

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound):
        return error_page(request, 404, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        message = "no such page" if exc.status_code == 404 else str(exc.detail)
        return error_page(request, exc.status_code, message)

    # ---- JSON API ----------------------------------------------------------------------------------------
    # Each route caches under its name and its validated parameters (a request that fails validation never gets
    # here, and parameters a route does not declare are not part of any key).
    @app.get("/api/info", response_model=M.StoreInfo, tags=["overview"])
    async def api_info():
        """The release, bin size and build time of the results store."""
        return api(("info",), browser.info)

    @app.get("/api/summary", response_model=M.Summary, tags=["overview"])
    async def api_summary():
        """Participants in total and one card per domain."""
        return api(("summary",), browser.summary)

    @app.get("/api/demographics", response_model=M.Demographics, tags=["overview"])
    async def api_demographics():
        """Participants by gender, sex at birth, race, ethnicity, age group and state."""
        return api(("demographics",), browser.demographics)

    @app.get("/api/search", response_model=M.SearchResponse, responses=ERRORS, tags=["search"])
    async def api_search(q: SearchText,
                         domain: Annotated[SearchDomain | None, Query(description="Only this domain")] = None,
                         limit: Annotated[QueryInt, Query(ge=1, le=250)] = 50):
        """Concepts, survey modules and questions and physical measurements whose name, code or synonym matches."""
        d = domain.value if domain else None
        return api(("search", q, d, limit), lambda: browser.search(q, d, limit))

    @app.get("/api/domains/{domain}/concepts", response_model=M.ConceptList, responses=ERRORS, tags=["concepts"])
    async def api_domain(domain: ConceptDomain, offset: Annotated[QueryInt, Query(ge=0, le=10**7)] = 0,
                         limit: Annotated[QueryInt, Query(ge=1, le=500)] = 50):
        """The concepts of a domain, most participants first."""
        return api(("domain", domain.value, offset, limit), lambda: browser.concepts(domain.value, offset, limit))

    @app.get("/api/concepts/{concept_id}", response_model=M.ConceptDetail, responses=ERRORS, tags=["concepts"])
    async def api_concept(concept_id: ConceptId, domain: ConceptDomain | None = None):
        """Participants with a concept, by gender, sex at birth, age at first occurrence and year, and its source codes."""
        d = domain.value if domain else None
        return api(("concept", concept_id, d), lambda: browser.concept(concept_id, d))

    @app.get("/api/surveys", response_model=list[M.SurveyModule], tags=["surveys"])
    async def api_surveys():
        """Survey modules."""
        return api(("surveys",), lambda: _ListModel(browser.survey_modules()))

    @app.get("/api/surveys/{module_id}", response_model=M.SurveyModuleDetail, responses=ERRORS, tags=["surveys"])
    async def api_survey(module_id: ConceptId):
        """A module's questions with their answer distributions."""
        return api(("survey", module_id), lambda: browser.survey_module(module_id))

    @app.get("/api/surveys/{module_id}/questions/{question_id}", response_model=M.SurveyQuestionDetail, responses=ERRORS,
             tags=["surveys"])
    async def api_question(module_id: ConceptId, question_id: ConceptId):
        """One question's answers, by gender, sex at birth and age at the survey."""
        return api(("question", module_id, question_id), lambda: browser.survey_question(module_id, question_id))

    @app.get("/api/measurements", response_model=list[M.MeasurementSummary], tags=["measurements"])
    async def api_measurements(kind: MeasurementKind | None = None):
        """Physical measurements and labs with numeric values."""
        k = kind.value if kind else None
        return api(("measurements", k), lambda: _ListModel(browser.measurements(k)))

    @app.get("/api/measurements/{kind}/{concept_id}", response_model=M.MeasurementDetail, responses=ERRORS,
             tags=["measurements"])
    async def api_measurement(kind: MeasurementKind, concept_id: ConceptId):
        """Value histograms and summary statistics, overall and by sex at birth (only for groups of at least the bin)."""
        return api(("measurement", kind.value, concept_id), lambda: browser.measurement(kind.value, concept_id))

    @app.get("/api/wearables", response_model=M.Wearables, tags=["wearables"])
    async def api_wearables():
        """Participants with each kind of wearable data, by gender, sex at birth and age."""
        return api(("wearables",), browser.wearables)

    @app.get("/api/genomes", response_model=M.Genomes, tags=["genomes"])
    async def api_genomes():
        """Participants with whole-genome and array data, by genetic ancestry, and by gender, sex at birth and age in
        the Registered Tier's categories."""
        return api(("genomes",), browser.genomes)

    @app.get("/api/variants", response_model=M.VariantSearch, responses=ERRORS, tags=["genomes"])
    async def api_variants(q: Annotated[str, Query(min_length=1, max_length=200,
                                                   description="rsID, gene, region chr:start-end or variant id")],
                           page: PageNumber = 1,
                           page_size: Annotated[QueryInt, Query(ge=1, le=100)] = 25,
                           ancestries: bool = False):
        """Variants by rsID, gene or region, with allele counts and frequencies (per ancestry with ancestries=true).
        Pages are numbered from 1."""
        return api(("variants", q, page, page_size, ancestries), lambda: browser.variants(q, page, page_size, ancestries))

    @app.get("/api/variants/{variant_id}", response_model=M.Variant, responses=ERRORS, tags=["genomes"])
    async def api_variant(variant_id: Annotated[str, PathParam(min_length=3, max_length=300)]):
        """One variant with allele count, allele number, frequency and homozygote count per ancestry group."""
        return api(("variant", variant_id), lambda: browser.variant(variant_id))

    @app.get("/api/research-projects", response_model=M.ResearchProjects, tags=["research projects"])
    async def api_projects():
        """The public research purposes of workspaces (the Research Projects Directory)."""
        return api(("projects",), browser.research_projects)

    # ---- pages -------------------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def home():
        return page(("home",), "home.html", lambda: {"summary": browser.summary(), "demographics": browser.demographics()})

    @app.get("/search", response_class=HTMLResponse, include_in_schema=False)
    async def search_page(q: Annotated[str, Query(max_length=200)] = "", domain: SearchDomain | None = None):
        d = domain.value if domain else None
        return page(("search", q, d), "search.html", lambda: {
            "q": q, "domain": d, "results": browser.search(q, d, 100).results if q.strip() else [],
            "domains": [x.value for x in SearchDomain]})

    @app.get("/domains/{domain}", response_class=HTMLResponse, include_in_schema=False)
    async def domain_page(domain: ConceptDomain, offset: Annotated[QueryInt, Query(ge=0, le=10**7)] = 0):
        return page(("domain", domain.value, offset), "domain.html",
                    lambda: {"listing": browser.concepts(domain.value, offset, 100)})

    @app.get("/concepts/{concept_id}", response_class=HTMLResponse, include_in_schema=False)
    async def concept_page(concept_id: ConceptId, domain: ConceptDomain | None = None):
        d = domain.value if domain else None
        return page(("concept", concept_id, d), "concept.html", lambda: {"c": browser.concept(concept_id, d)})

    @app.get("/surveys", response_class=HTMLResponse, include_in_schema=False)
    async def surveys_page():
        return page(("surveys",), "surveys.html", lambda: {"modules": browser.survey_modules()})

    @app.get("/surveys/{module_id}", response_class=HTMLResponse, include_in_schema=False)
    async def survey_page(module_id: ConceptId):
        def make():
            detail = browser.survey_module(module_id)
            questions = [browser.survey_question(module_id, q.question_concept_id).question for q in detail.questions]
            return {"module": detail.module, "questions": questions, "modules": browser.survey_modules()}

        return page(("survey", module_id), "survey.html", make)

    @app.get("/measurements", response_class=HTMLResponse, include_in_schema=False)
    async def measurements_page(kind: MeasurementKind | None = None):
        k = kind.value if kind else None
        return page(("measurements", k), "measurements.html", lambda: {"kind": k, "items": browser.measurements(k)})

    @app.get("/measurements/{kind}/{concept_id}", response_class=HTMLResponse, include_in_schema=False)
    async def measurement_page(kind: MeasurementKind, concept_id: ConceptId):
        return page(("measurement", kind.value, concept_id), "measurement.html",
                    lambda: {"m": browser.measurement(kind.value, concept_id)})

    @app.get("/wearables", response_class=HTMLResponse, include_in_schema=False)
    async def wearables_page():
        return page(("wearables",), "wearables.html", lambda: {"w": browser.wearables()})

    @app.get("/genomes", response_class=HTMLResponse, include_in_schema=False)
    async def genomes_page(q: Annotated[str, Query(max_length=200)] = "", page_number: Annotated[QueryInt, Query(alias="page", ge=1, le=MAX_PAGE)] = 1):
        def make(error: str | None = None):
            context: dict[str, Any] = {"g": browser.genomes(), "q": q, "search": None, "error": error}
            if q.strip() and error is None:
                context["search"] = browser.variants(q, page_number, 25, with_ancestries=True)
            return context

        if q.strip():
            try:
                browser.parse_variant_query(q)
            except BadQuery as err:  # a query that cannot be read: a 400 with the page and its message, never cached
                return HTMLResponse(render("genomes.html", make(str(err))), status_code=400)
        return page(("genomes", q, page_number), "genomes.html", make)

    @app.get("/variants/{variant_id}", response_class=HTMLResponse, include_in_schema=False)
    async def variant_page(variant_id: Annotated[str, PathParam(min_length=3, max_length=300)]):
        return page(("variant", variant_id), "variant.html", lambda: {"v": browser.variant(variant_id)})

    @app.get("/research-projects", response_class=HTMLResponse, include_in_schema=False)
    async def projects_page():
        return page(("projects",), "projects.html", lambda: {"p": browser.research_projects()})

    @app.get("/about", response_class=HTMLResponse, include_in_schema=False)
    async def about_page():
        return page(("about",), "about.html", lambda: {})

    @app.get("/api", response_class=HTMLResponse, include_in_schema=False)
    async def api_page():
        return page(("api",), "api.html", lambda: {"openapi": app.openapi()})

    @app.get("/favicon.svg", include_in_schema=False)
    async def favicon():
        return Response(FAVICON, media_type="image/svg+xml", headers={"cache-control": "public, max-age=86400"})

    @app.get("/demographics", include_in_schema=False)
    async def demographics_page():
        return RedirectResponse("/#demographics")  # a relative location, never built from the Host header

    return app


def pairs(items, label: str = "label", value: str = "participant_count") -> list[tuple[str, int]]:
    """(label, count) pairs for a chart."""
    return [(getattr(i, label), getattr(i, value)) for i in items]


def histogram_items(bins) -> list[tuple[str, int]]:
    """(label, count) per histogram bin; the first and last bins are open-ended."""
    items = []
    for b in bins:
        low, high = charts.fmt_number(b.low), charts.fmt_number(b.high)
        if b.open_low and b.open_high:
            label = "all values"
        elif b.open_low:
            label = f"< {high}"
        elif b.open_high:
            label = f"≥ {low}"
        else:
            label = f"{low}–{high}"
        items.append((label, b.participant_count))
    return items


def stacked_rows(answers, dimension: str) -> list[tuple[str, list[tuple[str, int]]]]:
    """Rows of a stacked chart: per stratum of ``dimension``, each answer's published count (0 when absent)."""
    totals: dict[str, int] = {}
    labels: dict[str, str] = {}
    cells: dict[tuple[str, int], int] = {}
    for a in answers:
        for s in (a.strata or {}).get(dimension, []):
            totals[s.stratum] = totals.get(s.stratum, 0) + s.participant_count
            labels[s.stratum] = s.label
            cells[(s.stratum, a.answer_concept_id)] = s.participant_count

    def order(stratum: str):
        if dimension == "age":
            head = stratum.split("-")[0].rstrip("+")
            return (0, int(head) if head.isdigit() else 999, stratum)
        return (stratum in ("0", "unknown"), -totals[stratum], labels[stratum])

    return [(labels[s], [(a.name, cells.get((s, a.answer_concept_id), 0)) for a in answers]) for s in sorted(totals, key=order)]


class _ListModel(BaseModel):
    """A list of models serialised as a JSON array (for cached list endpoints)."""

    items: list[Any]

    def __init__(self, items: list[Any]):
        super().__init__(items=items)

    def model_dump_json(self, **kwargs) -> str:  # type: ignore[override]
        import json

        return json.dumps([i.model_dump(mode="json") for i in self.items])
