"""The public Data Browser: a FastAPI app over one results store.

``create_app(store_path)`` serves HTML pages (Jinja2 templates, charts as inline SVG, CSS and a little JS from
``static/``: nothing from elsewhere) and, behind every page, a JSON API under ``/api`` described by
``/api/openapi.json``. The store never changes once built, so responses are cached (bounded LRU) until a rebuild
replaces the file. Bad parameters get a 4xx with a message, for pages and API alike.
"""

from __future__ import annotations

import os

import threading
from collections import OrderedDict
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Path as PathParam, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from . import charts
from . import models as M
from .projects import PURPOSE_FLAGS
from .schema import ANCESTRY_LABELS, CONCEPT_DOMAINS, DOMAIN_LABELS
from .service import DATA_TYPE_LABELS, DIMENSION_LABELS, BadQuery, Browser, NotFound
from .store import Store

HERE = Path(__file__).parent
MAX_ID = 2**63 - 1
# Responses kept per process; RW_BROWSER_CACHE_SIZE=0 turns the cache off (benchmarks measure both ways).
CACHE_SIZE = int(os.environ.get("RW_BROWSER_CACHE_SIZE", "4096"))


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


ConceptId = Annotated[int, PathParam(ge=0, le=MAX_ID, description="An OMOP concept id")]
SearchText = Annotated[str, Query(min_length=1, max_length=200, description="Words of a name, a code or a synonym")]
ERRORS = {400: {"model": M.ErrorResponse}, 404: {"model": M.ErrorResponse}, 422: {"model": M.ErrorResponse}}


class ResponseCache:
    """A bounded LRU of rendered responses, keyed by store generation, path and query."""

    def __init__(self, size: int = CACHE_SIZE):
        self.size = size
        self.items: OrderedDict[tuple, bytes] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple, make: Callable[[], bytes]) -> bytes:
        if self.size <= 0:
            return make()
        with self.lock:
            hit = self.items.get(key)
            if hit is not None:
                self.items.move_to_end(key)
                return hit
        value = make()
        with self.lock:
            self.items[key] = value
            if len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


def create_app(store_path: Path | str) -> FastAPI:
    store = Store(Path(store_path))
    browser = Browser(store)
    cache = ResponseCache()
    app = FastAPI(
        title="Research Workbench Data Browser",
        version=__version__,
        description="Public, small-count-protected aggregates of a research program's data. Every count is rounded up "
                    "to a multiple of the bin size (default 20); counts from 1 to the bin are published as the bin.",
        docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
    )
    app.state.store = store
    app.state.browser = browser
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals.update(
        charts=charts, fmt_number=charts.fmt_number, DOMAIN_LABELS=DOMAIN_LABELS, DIMENSION_LABELS=DIMENSION_LABELS,
        DATA_TYPE_LABELS=DATA_TYPE_LABELS, ANCESTRY_LABELS=ANCESTRY_LABELS, PURPOSE_FLAGS=PURPOSE_FLAGS,
        CONCEPT_DOMAINS=CONCEPT_DOMAINS, version=__version__, pairs=pairs,
        stacked_rows=stacked_rows, histogram_items=histogram_items,
    )

    def key(request: Request) -> tuple:
        return (store.current_generation(), request.url.path, tuple(sorted(request.query_params.multi_items())))

    def api(request: Request, make: Callable[[], BaseModel]) -> Response:
        body = cache.get(("api", *key(request)), lambda: make().model_dump_json().encode())
        return Response(body, media_type="application/json")

    def page(request: Request, template: str, make: Callable[[], dict[str, Any]], status: int = 200) -> HTMLResponse:
        def render() -> bytes:
            context = {"info": browser.info(), "fmt": lambda v: charts.fmt_count(v, store.bin_size), "bin": store.bin_size,
                       "request_path": request.url.path}
            context.update(make())
            return env.get_template(template).render(**context).encode()

        return HTMLResponse(cache.get(("page", *key(request)), render), status_code=status)

    def error_page(request: Request, status: int, message: str, problems: list[dict] | None = None) -> Response:
        if request.url.path.startswith("/api"):
            return JSONResponse({"error": message, "problems": problems or []}, status_code=status)
        context = {"info": browser.info(), "status": status, "message": message, "problems": problems or [],
                   "fmt": lambda v: charts.fmt_count(v, store.bin_size), "bin": store.bin_size, "request_path": request.url.path}
        return HTMLResponse(env.get_template("error.html").render(**context), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        problems = []
        for e in exc.errors():
            where = ".".join(str(x) for x in e.get("loc", ()))
            problems.append({"where": where, "message": e.get("msg", "invalid value")})
        text = "; ".join(f"{p['where']}: {p['message']}" for p in problems)
        return error_page(request, 422, f"invalid request: {text}", problems)

    @app.exception_handler(BadQuery)
    async def bad_query(request: Request, exc: BadQuery):
        return error_page(request, 400, str(exc))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound):
        return error_page(request, 404, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        message = "no such page" if exc.status_code == 404 else str(exc.detail)
        return error_page(request, exc.status_code, message)

    # ---- JSON API ----------------------------------------------------------------------------------------
    @app.get("/api/info", response_model=M.StoreInfo, tags=["overview"])
    async def api_info(request: Request):
        """The release, bin size and build time of the results store."""
        return api(request, browser.info)

    @app.get("/api/summary", response_model=M.Summary, tags=["overview"])
    async def api_summary(request: Request):
        """Participants in total and one card per domain."""
        return api(request, browser.summary)

    @app.get("/api/demographics", response_model=M.Demographics, tags=["overview"])
    async def api_demographics(request: Request):
        """Participants by gender, sex at birth, race, ethnicity, age group and state."""
        return api(request, browser.demographics)

    @app.get("/api/search", response_model=M.SearchResponse, responses=ERRORS, tags=["search"])
    async def api_search(request: Request, q: SearchText,
                         domain: Annotated[SearchDomain | None, Query(description="Only this domain")] = None,
                         limit: Annotated[int, Query(ge=1, le=250)] = 50):
        """Concepts, survey modules and questions and physical measurements whose name, code or synonym matches."""
        return api(request, lambda: browser.search(q, domain.value if domain else None, limit))

    @app.get("/api/domains/{domain}/concepts", response_model=M.ConceptList, responses=ERRORS, tags=["concepts"])
    async def api_domain(request: Request, domain: ConceptDomain, offset: Annotated[int, Query(ge=0, le=10**7)] = 0,
                         limit: Annotated[int, Query(ge=1, le=500)] = 50):
        """The concepts of a domain, most participants first."""
        return api(request, lambda: browser.concepts(domain.value, offset, limit))

    @app.get("/api/concepts/{concept_id}", response_model=M.ConceptDetail, responses=ERRORS, tags=["concepts"])
    async def api_concept(request: Request, concept_id: ConceptId, domain: ConceptDomain | None = None):
        """Participants with a concept, by gender, sex at birth, age at first occurrence and year, and its source codes."""
        return api(request, lambda: browser.concept(concept_id, domain.value if domain else None))

    @app.get("/api/surveys", response_model=list[M.SurveyModule], tags=["surveys"])
    async def api_surveys(request: Request):
        """Survey modules."""
        return api(request, lambda: _ListModel(browser.survey_modules()))

    @app.get("/api/surveys/{module_id}", response_model=M.SurveyModuleDetail, responses=ERRORS, tags=["surveys"])
    async def api_survey(request: Request, module_id: ConceptId):
        """A module's questions with their answer distributions."""
        return api(request, lambda: browser.survey_module(module_id))

    @app.get("/api/surveys/{module_id}/questions/{question_id}", response_model=M.SurveyQuestionDetail, responses=ERRORS,
             tags=["surveys"])
    async def api_question(request: Request, module_id: ConceptId, question_id: ConceptId):
        """One question's answers, by gender, sex at birth and age at the survey."""
        return api(request, lambda: browser.survey_question(module_id, question_id))

    @app.get("/api/measurements", response_model=list[M.MeasurementSummary], tags=["measurements"])
    async def api_measurements(request: Request, kind: MeasurementKind | None = None):
        """Physical measurements and labs with numeric values."""
        return api(request, lambda: _ListModel(browser.measurements(kind.value if kind else None)))

    @app.get("/api/measurements/{kind}/{concept_id}", response_model=M.MeasurementDetail, responses=ERRORS,
             tags=["measurements"])
    async def api_measurement(request: Request, kind: MeasurementKind, concept_id: ConceptId):
        """Value histograms and summary statistics, overall and by sex at birth."""
        return api(request, lambda: browser.measurement(kind.value, concept_id))

    @app.get("/api/wearables", response_model=M.Wearables, tags=["wearables"])
    async def api_wearables(request: Request):
        """Participants with each kind of wearable data, by gender, sex at birth and age."""
        return api(request, browser.wearables)

    @app.get("/api/genomes", response_model=M.Genomes, tags=["genomes"])
    async def api_genomes(request: Request):
        """Participants with whole-genome and array data, by gender, sex at birth, age and genetic ancestry."""
        return api(request, browser.genomes)

    @app.get("/api/variants", response_model=M.VariantSearch, responses=ERRORS, tags=["genomes"])
    async def api_variants(request: Request,
                           q: Annotated[str, Query(min_length=1, max_length=200,
                                                   description="rsID, gene, region chr:start-end or variant id")],
                           page: Annotated[int, Query(ge=0, le=100_000)] = 0,
                           page_size: Annotated[int, Query(ge=1, le=100)] = 25,
                           ancestries: bool = False):
        """Variants by rsID, gene or region, with allele counts and frequencies (per ancestry with ancestries=true)."""
        return api(request, lambda: browser.variants(q, page, page_size, ancestries))

    @app.get("/api/variants/{variant_id}", response_model=M.Variant, responses=ERRORS, tags=["genomes"])
    async def api_variant(request: Request, variant_id: Annotated[str, PathParam(min_length=3, max_length=300)]):
        """One variant with allele count, allele number, frequency and homozygotes per ancestry group."""
        return api(request, lambda: browser.variant(variant_id))

    @app.get("/api/research-projects", response_model=M.ResearchProjects, tags=["research projects"])
    async def api_projects(request: Request):
        """The public research purposes of workspaces (the Research Projects Directory)."""
        return api(request, browser.research_projects)

    # ---- pages -------------------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def home(request: Request):
        return page(request, "home.html", lambda: {"summary": browser.summary(), "demographics": browser.demographics()})

    @app.get("/search", response_class=HTMLResponse, include_in_schema=False)
    async def search_page(request: Request, q: Annotated[str, Query(max_length=200)] = "",
                          domain: SearchDomain | None = None):
        return page(request, "search.html", lambda: {
            "q": q, "domain": domain.value if domain else None,
            "results": browser.search(q, domain.value if domain else None, 100).results if q.strip() else [],
            "domains": [d.value for d in SearchDomain]})

    @app.get("/domains/{domain}", response_class=HTMLResponse, include_in_schema=False)
    async def domain_page(request: Request, domain: ConceptDomain, offset: Annotated[int, Query(ge=0, le=10**7)] = 0):
        return page(request, "domain.html", lambda: {"listing": browser.concepts(domain.value, offset, 100)})

    @app.get("/concepts/{concept_id}", response_class=HTMLResponse, include_in_schema=False)
    async def concept_page(request: Request, concept_id: ConceptId, domain: ConceptDomain | None = None):
        return page(request, "concept.html", lambda: {"c": browser.concept(concept_id, domain.value if domain else None)})

    @app.get("/surveys", response_class=HTMLResponse, include_in_schema=False)
    async def surveys_page(request: Request):
        return page(request, "surveys.html", lambda: {"modules": browser.survey_modules()})

    @app.get("/surveys/{module_id}", response_class=HTMLResponse, include_in_schema=False)
    async def survey_page(request: Request, module_id: ConceptId):
        def make():
            detail = browser.survey_module(module_id)
            questions = [browser.survey_question(module_id, q.question_concept_id).question for q in detail.questions]
            return {"module": detail.module, "questions": questions, "modules": browser.survey_modules()}

        return page(request, "survey.html", make)

    @app.get("/measurements", response_class=HTMLResponse, include_in_schema=False)
    async def measurements_page(request: Request, kind: MeasurementKind | None = None):
        return page(request, "measurements.html", lambda: {"kind": kind.value if kind else None,
                                                           "items": browser.measurements(kind.value if kind else None)})

    @app.get("/measurements/{kind}/{concept_id}", response_class=HTMLResponse, include_in_schema=False)
    async def measurement_page(request: Request, kind: MeasurementKind, concept_id: ConceptId):
        return page(request, "measurement.html", lambda: {"m": browser.measurement(kind.value, concept_id)})

    @app.get("/wearables", response_class=HTMLResponse, include_in_schema=False)
    async def wearables_page(request: Request):
        return page(request, "wearables.html", lambda: {"w": browser.wearables()})

    @app.get("/genomes", response_class=HTMLResponse, include_in_schema=False)
    async def genomes_page(request: Request, q: Annotated[str, Query(max_length=200)] = "",
                           page_number: Annotated[int, Query(alias="page", ge=0, le=100_000)] = 0):
        def make():
            context: dict[str, Any] = {"g": browser.genomes(), "q": q, "search": None, "error": None}
            if q.strip():
                try:
                    context["search"] = browser.variants(q, page_number, 25, with_ancestries=True)
                except BadQuery as err:
                    context["error"] = str(err)
            return context

        result = page(request, "genomes.html", make)
        if q.strip():  # a query that cannot be read is a 400, with the page and its message
            try:
                browser.parse_variant_query(q)
            except BadQuery:
                result.status_code = 400
        return result

    @app.get("/variants/{variant_id}", response_class=HTMLResponse, include_in_schema=False)
    async def variant_page(request: Request, variant_id: Annotated[str, PathParam(min_length=3, max_length=300)]):
        return page(request, "variant.html", lambda: {"v": browser.variant(variant_id)})

    @app.get("/research-projects", response_class=HTMLResponse, include_in_schema=False)
    async def projects_page(request: Request):
        return page(request, "projects.html", lambda: {"p": browser.research_projects()})

    @app.get("/about", response_class=HTMLResponse, include_in_schema=False)
    async def about_page(request: Request):
        return page(request, "about.html", lambda: {})

    @app.get("/api", response_class=HTMLResponse, include_in_schema=False)
    async def api_page(request: Request):
        return page(request, "api.html", lambda: {"openapi": app.openapi()})

    @app.get("/demographics", include_in_schema=False)
    async def demographics_page():
        return RedirectResponse("/#demographics")

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
