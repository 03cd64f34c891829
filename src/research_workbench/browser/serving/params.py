"""The path and query parameters of the pages and the API: their types, bounds and descriptions.

Domains are spelled as in URLs (``Domain.slug``: ``condition``, ``physical_measurement``); the enums below are
built from ``browser.domains`` so that a domain is spelled once.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import Path as PathParam, Query

from ...web import QueryInt
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
