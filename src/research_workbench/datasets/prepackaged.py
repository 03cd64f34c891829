"""Prepackaged concept sets: what a dataset may take without building a concept set, as All of Us researchers know
them (Demographics, All Surveys, one survey, Physical Measurements). Each names a domain taken whole, or one survey
(its module concept): ``survey:<concept id>``.

Wearables, whole genomes and the zip-code socioeconomic table are not offered yet: they have no dataset columns
(``datasets.columns``) in this version.
"""

from __future__ import annotations

from ..cdr.facts import Domain

WHOLE_DOMAINS: dict[str, tuple[Domain, str]] = {
    "demographics": (Domain.PERSON, "Demographics: one row per participant"),
    "all_surveys": (Domain.SURVEY, "Every answer to every survey"),
    "physical_measurements": (Domain.PHYSICAL_MEASUREMENT, "The program's physical measurements (height, weight, "
                                                           "blood pressure, …)"),
}
SURVEY_PREFIX = "survey:"


def prepackaged_problem(name: str) -> str | None:
    """Why ``name`` is not a prepackaged concept set (None: it is one)."""
    if name in WHOLE_DOMAINS:
        return None
    if name.startswith(SURVEY_PREFIX):
        rest = name[len(SURVEY_PREFIX):]
        return None if rest.isdigit() and 0 < int(rest) < 2**63 else (
            f"{name!r}: a survey is named by its module's concept id, e.g. survey:1586134")
    return f"{name!r} is not a prepackaged concept set (one of {', '.join(WHOLE_DOMAINS)}, or survey:<concept id>)"


def domain_of(name: str) -> Domain:
    """The domain a prepackaged set draws from."""
    return Domain.SURVEY if name.startswith(SURVEY_PREFIX) else WHOLE_DOMAINS[name][0]


def survey_module(name: str) -> int | None:
    """The survey's module concept of ``survey:<id>`` (None for the other sets)."""
    return int(name[len(SURVEY_PREFIX):]) if name.startswith(SURVEY_PREFIX) else None
