"""The JSON API under ``/api``: every page is built from these endpoints (described by ``/api/openapi.json``).

Each route caches its answer under its name and its validated parameters (``site.Site.json``), except the
Research Projects Directory, read from the Research Hub on every request (``directory.py``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel

from ...web import ERROR_RESPONSES as ERRORS, QueryInt, SecureRouter
from . import models as M
from .directory import NO_DIRECTORY, DirectoryQuery
from .params import (ConceptDomain, ConceptId, DirectoryText, DirectoryTier, MeasurementKind, Offset,
                     OptionalInstitutionName, PageNumber, PurposeKey, SearchDomain, SearchText, VariantId)
from .site import SiteDep

router = SecureRouter(prefix="/api")


@router.get("/info", response_model=M.StoreInfo, tags=["overview"])
async def api_info(site: SiteDep):
    """The release, bin size and build time of the results store."""
    return await site.json(("info",), site.browser.info)


@router.get("/summary", response_model=M.Summary, tags=["overview"])
async def api_summary(site: SiteDep):
    """Participants in total and one card per domain."""
    return await site.json(("summary",), site.browser.summary)


@router.get("/demographics", response_model=M.Demographics, tags=["overview"])
async def api_demographics(site: SiteDep):
    """Participants by gender, sex at birth, race, ethnicity, age group and state."""
    return await site.json(("demographics",), site.browser.demographics)


@router.get("/search", response_model=M.SearchResponse, responses=ERRORS, tags=["search"])
async def api_search(q: SearchText,
               site: SiteDep,
               domain: Annotated[SearchDomain | None, Query(description="Only this domain")] = None,
               limit: Annotated[QueryInt, Query(ge=1, le=250)] = 50):
    """Concepts, survey modules and questions and physical measurements whose name, code or synonym matches."""
    d = domain.value if domain else None
    return await site.json(("search", q, d, limit), lambda: site.browser.search(q, d, limit))


@router.get("/domains/{domain}/concepts", response_model=M.ConceptList, responses=ERRORS, tags=["concepts"])
async def api_domain(domain: ConceptDomain, site: SiteDep, offset: Offset = 0,
               limit: Annotated[QueryInt, Query(ge=1, le=500)] = 50):
    """The concepts of a domain, most participants first."""
    return await site.json(("domain", domain.value, offset, limit), lambda: site.browser.concepts(domain.value, offset, limit))


@router.get("/concepts/{concept_id}", response_model=M.ConceptDetail, responses=ERRORS, tags=["concepts"])
async def api_concept(concept_id: ConceptId, site: SiteDep, domain: ConceptDomain | None = None):
    """Participants with a concept, by gender, sex at birth, age at first occurrence and year, and its source codes."""
    d = domain.value if domain else None
    return await site.json(("concept", concept_id, d), lambda: site.browser.concept(concept_id, d))


@router.get("/surveys", response_model=list[M.SurveyModule], tags=["surveys"])
async def api_surveys(site: SiteDep):
    """Survey modules."""
    return await site.json(("surveys",), lambda: ListModel(site.browser.survey_modules()))


@router.get("/surveys/{module_id}", response_model=M.SurveyModuleDetail, responses=ERRORS, tags=["surveys"])
async def api_survey(module_id: ConceptId, site: SiteDep):
    """A module's questions with their answer distributions."""
    return await site.json(("survey", module_id), lambda: site.browser.survey_module(module_id))


@router.get("/surveys/{module_id}/questions/{question_id}", response_model=M.SurveyQuestionDetail, responses=ERRORS,
            tags=["surveys"])
async def api_question(module_id: ConceptId, question_id: ConceptId, site: SiteDep):
    """One question's answers, by gender, sex at birth and age at the survey."""
    return await site.json(("question", module_id, question_id), lambda: site.browser.survey_question(module_id, question_id))


@router.get("/measurements", response_model=list[M.MeasurementSummary], tags=["measurements"])
async def api_measurements(site: SiteDep, kind: MeasurementKind | None = None):
    """Physical measurements and labs with numeric values."""
    k = kind.value if kind else None
    return await site.json(("measurements", k), lambda: ListModel(site.browser.measurements(k)))


@router.get("/measurements/{kind}/{concept_id}", response_model=M.MeasurementDetail, responses=ERRORS,
            tags=["measurements"])
async def api_measurement(kind: MeasurementKind, concept_id: ConceptId, site: SiteDep):
    """Value histograms and summary statistics, overall and by sex at birth (only for groups of at least the bin)."""
    return await site.json(("measurement", kind.value, concept_id), lambda: site.browser.measurement(kind.value, concept_id))


@router.get("/wearables", response_model=M.Wearables, tags=["wearables"])
async def api_wearables(site: SiteDep):
    """Participants with each kind of wearable data, by gender, sex at birth and age."""
    return await site.json(("wearables",), site.browser.wearables)


@router.get("/genomes", response_model=M.Genomes, tags=["genomes"])
async def api_genomes(site: SiteDep):
    """Participants with whole-genome and array data, by genetic ancestry, and by gender, sex at birth and age in
    the Registered Tier's categories."""
    return await site.json(("genomes",), site.browser.genomes)


@router.get("/variants", response_model=M.VariantSearch, responses=ERRORS, tags=["genomes"])
async def api_variants(q: Annotated[str, Query(min_length=1, max_length=200,
                                         description="rsID, gene, region chr:start-end or variant id")],
                 site: SiteDep,
                 page: PageNumber = 1,
                 page_size: Annotated[QueryInt, Query(ge=1, le=100)] = 25,
                 ancestries: bool = False):
    """Variants by rsID, gene or region, with allele counts and frequencies (per ancestry with ancestries=true).
    Pages are numbered from 1."""
    return await site.json(("variants", q, page, page_size, ancestries),
                     lambda: site.browser.variants(q, page, page_size, ancestries))


@router.get("/variants/{variant_id}", response_model=M.Variant, responses=ERRORS, tags=["genomes"])
async def api_variant(variant_id: VariantId, site: SiteDep):
    """One variant with allele count, allele number, frequency and homozygote count per ancestry group."""
    return await site.json(("variant", variant_id), lambda: site.browser.variant(variant_id))


@router.get("/research-projects", response_model=M.ResearchProjects, responses=ERRORS, tags=["research projects"])
async def api_projects(site: SiteDep, q: DirectoryText = "",
                       tier: Annotated[DirectoryTier | None, Query(description="The data tier a project uses")] = None,
                       purpose: Annotated[PurposeKey | None, Query(description="A primary purpose")] = None,
                       institution: OptionalInstitutionName = None):
    """The Research Projects Directory, from the Research Hub: every active workspace's public research purpose,
    researchers and institutions, the most recently changed first. Read afresh on every request (never cached).
    ``available`` is false when this Data Browser is served without the directory."""
    if site.directory is None:
        return site.uncached_json(NO_DIRECTORY.found)
    query = DirectoryQuery(q=q, tier=tier, purpose=purpose, institution=institution)
    return site.uncached_json((await site.directory.read_in_thread(query)).found)


class ListModel(BaseModel):
    """A list of models serialised as a JSON array (for cached list endpoints)."""

    items: list[Any]

    def __init__(self, items: list[Any]):
        super().__init__(items=items)

    def model_dump_json(self, **kwargs) -> str:  # type: ignore[override]
        import json

        return json.dumps([i.model_dump(mode="json") for i in self.items])
