"""Prepackaged concept sets: what a dataset may take without building a concept set, as All of Us researchers know
them (Demographics, All Surveys, one survey, Physical Measurements, each Fitbit table, Zip code socioeconomic
status, Whole genome variants). Each names a domain taken whole, or one survey (its module concept):
``survey:<concept id>``.

Some sets exist in the Controlled Tier only (``CONTROLLED_TIER_ONLY``): the zip-code socioeconomic set joins each
participant's three-digit zip area to area measures, and the Registered Tier releases neither (curation removes
its zip answers and empties ``zip3_ses_map``); the whole genome variants set reads the genotype store that only a
Controlled Tier release's index has. ``tier_problem`` says why such a set is refused elsewhere; the workspace layer
asks it with the workspace's tier, the dataset plan with the data version's.

Whole genome variants is "whole" in its domain only: its rows are the calls at the variants the dataset's
``genome_selection`` names (``datasets.genotypes``: by identifier, at most ``MAX_DATASET_VARIANTS``), never the
whole genome, which is the Genomics page's extract.
"""

from __future__ import annotations

from ..cdr.facts import Domain

WHOLE_DOMAINS: dict[str, tuple[Domain, str]] = {
    "demographics": (Domain.PERSON, "Demographics: one row per participant"),
    "all_surveys": (Domain.SURVEY, "Every answer to every survey"),
    "physical_measurements": (Domain.PHYSICAL_MEASUREMENT, "The program's physical measurements (height, weight, "
                                                           "blood pressure, …)"),
    "fitbit_activity": (Domain.FITBIT_ACTIVITY, "Fitbit: daily activity (steps, active minutes, calories)"),
    "fitbit_heart_rate_summary": (Domain.FITBIT_HEART_RATE_SUMMARY, "Fitbit: daily minutes per heart-rate zone"),
    "fitbit_heart_rate_level": (Domain.FITBIT_HEART_RATE_LEVEL, "Fitbit: heart rate minute by minute"),
    "fitbit_intraday_steps": (Domain.FITBIT_INTRADAY_STEPS, "Fitbit: steps minute by minute"),
    "fitbit_sleep_daily_summary": (Domain.FITBIT_SLEEP_DAILY_SUMMARY, "Fitbit: nightly sleep totals"),
    "fitbit_sleep_level": (Domain.FITBIT_SLEEP_LEVEL, "Fitbit: sleep stages as intervals"),
    "fitbit_device": (Domain.FITBIT_DEVICE, "Fitbit: devices and their sync state"),
    "zip_code_socioeconomic": (Domain.ZIP_CODE_SOCIOECONOMIC, "Zip code socioeconomic status: each participant's "
                                                              "three-digit zip area and its American Community "
                                                              "Survey measures (Controlled Tier only)"),
    "whole_genome": (Domain.WHOLE_GENOME_VARIANT, "Whole genome variants: each participant's genotype calls at the "
                                                  "variants you choose (rsIDs, genes, regions or variant ids; "
                                                  "Controlled Tier only)"),
}
SURVEY_PREFIX = "survey:"
CONTROLLED = "controlled"  # the tier's spelling in a workspace, a data version and a release's manifest
# The domains (and so the prepackaged sets) only a Controlled Tier workspace or data version may read.
CONTROLLED_TIER_DOMAINS: frozenset[Domain] = frozenset({Domain.ZIP_CODE_SOCIOECONOMIC,
                                                      Domain.WHOLE_GENOME_VARIANT})
CONTROLLED_TIER_ONLY: frozenset[str] = frozenset(name for name, (domain, _) in WHOLE_DOMAINS.items()
                                                 if domain in CONTROLLED_TIER_DOMAINS)


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


def tier_problem(domain: Domain, tier: str | None, *, what: str, holder: str) -> str | None:
    """Why ``domain`` may not be read by ``holder`` ("workspace", "data version") of ``tier`` ("registered",
    "controlled"; None: a CDR that records no tier, such as a raw or test CDR, which holds what it holds), or None
    when it may. ``what`` names the refused thing as the caller's input named it (``'zip_code_socioeconomic'``)."""
    if domain not in CONTROLLED_TIER_DOMAINS or tier is None or tier == CONTROLLED:
        return None
    return (f"{what}: {domain.label} data is available in the Controlled Tier only (this {holder} is "
            f"{tier.title()} Tier)")
