"""Prepackaged concept sets: what a dataset may take without building a concept set, as All of Us researchers know
them (Demographics, All Surveys, one survey, Physical Measurements, each Fitbit table). Each names a domain taken
whole, or one survey (its module concept): ``survey:<concept id>``.

Whole genomes (issue 16's genomics) and the zip-code socioeconomic table (no such table in the CDR model yet) are
not offered in this version.
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
