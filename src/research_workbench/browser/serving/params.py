"""The path and query parameters of the pages and the API: their types, bounds and descriptions.

Domains are spelled as in URLs (``Domain.slug``: ``condition``, ``physical_measurement``); the enums below are
built from ``browser.domains`` so that a domain is spelled once.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Literal

from fastapi import Path as PathParam, Query

from ...hub.directory import MAX_QUERY
from ...web import QueryInt
from ...workspaces.purpose import PURPOSE_FLAGS
from ..domains import CONCEPT_DOMAINS, SEARCH_DOMAINS
from .service import MAX_PAGE

MAX_ID = 2**63 - 1

# No docstrings: the OpenAPI document would show them as descriptions of the enums.
ConceptDomain = Enum("ConceptDomain", {d.slug: d.slug for d in CONCEPT_DOMAINS}, type=str)  # type: ignore[misc]
SearchDomain = Enum("SearchDomain", {d.slug: d.slug for d in SEARCH_DOMAINS}, type=str)  # type: ignore[misc]


class MeasurementKind(str, Enum):
    physical = "physical"
    lab = "lab"


ConceptId = Annotated[QueryInt, PathParam(ge=0, le=MAX_ID, description="An OMOP concept id")]
SearchText = Annotated[str, Query(min_length=1, max_length=200, description="Words of a name, a code or a synonym")]
PageNumber = Annotated[QueryInt, Query(ge=1, le=MAX_PAGE, description="Page number, from 1")]
Offset = Annotated[QueryInt, Query(ge=0, le=10**7)]
VariantId = Annotated[str, PathParam(min_length=3, max_length=300)]

# The Research Projects Directory's search and filters (a page's form sends "" for "any").
DirectoryText = Annotated[str, Query(max_length=MAX_QUERY, description="Words of a project's name, purpose, "
                                     "researchers or institutions (every word must match)")]
DirectoryTier = Literal["registered", "controlled"]
PurposeKey = Literal[tuple(PURPOSE_FLAGS)]  # type: ignore[valid-type]
InstitutionName = Annotated[str, Query(max_length=200, description="An institution's name, as listed")]
OptionalInstitutionName = Annotated[str | None, Query(max_length=200, description="An institution's name, as listed")]
