"""The Data Browser's domains: the home page's cards, their order and their names.

Concept domains, surveys and physical measurements are ``cdr.facts.Domain``s: their spelling in URLs and in the
store is ``Domain.slug`` (``condition``, ``physical_measurement``) and their name ``Domain.label``. Wearables and
genomes are kinds of data, not domains of criteria: their cards keep a spelling and a name of their own.
"""

from __future__ import annotations

from ..cdr.facts import Domain

# Domains whose concepts the browser counts, in the order of the home page's cards.
CONCEPT_DOMAINS: tuple[Domain, ...] = (Domain.CONDITION, Domain.DRUG, Domain.PROCEDURE, Domain.MEASUREMENT,
                                       Domain.OBSERVATION)
# What the search box can be limited to: the concept domains, survey modules and questions, physical measurements.
SEARCH_DOMAINS: tuple[Domain, ...] = (*CONCEPT_DOMAINS, Domain.SURVEY, Domain.PHYSICAL_MEASUREMENT)
DATA_TYPE_CARDS: dict[str, str] = {"wearable": "Fitbit and other wearables", "genome": "Genomes"}

CONCEPT_DOMAIN_SLUGS: tuple[str, ...] = tuple(d.slug for d in CONCEPT_DOMAINS)
# Every card of the home page, in order (the store's domain_summary.domain values).
CARDS: tuple[str, ...] = (*(d.slug for d in SEARCH_DOMAINS), *DATA_TYPE_CARDS)
DOMAIN_LABELS: dict[str, str] = {**{d.slug: d.label for d in SEARCH_DOMAINS}, **DATA_TYPE_CARDS}
