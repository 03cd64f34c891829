"""Facts derived from the data model, written once: domains, the event tables' roles, birth date, age and age band.

Curation, the search index, both cohort engines and the Data Browser read these; none of them spells a domain, an
event table's concept or date column, a blood-pressure concept or an age rule of its own. The event tables' roles
are data (``schema/event_tables.csv``, beside ``tables.csv``); a test checks every column named there exists in
the model.

Age is one rule everywhere: whole years, birthday-aware (a participant born on 1990-06-01 is 30 on 2020-06-01 and
29 the day before), from the birth date below. The Data Browser's age groups and the Cohort Builder's age bands
are the same bands, computed at the same date (the release's cut-off).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, fields
from enum import Enum
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlglot import exp

# SQLGlot is imported by the builders below, not here: the CLI reads Domain to build its help before any command
# runs, and ``workbench --help`` must not pay for the SQL machinery.


class Domain(str, Enum):
    """What a criterion, a concept or a search result is about. The value is the API spelling; ``slug`` the URL one."""

    CONDITION = "CONDITION"
    PROCEDURE = "PROCEDURE"
    DRUG = "DRUG"
    MEASUREMENT = "MEASUREMENT"
    OBSERVATION = "OBSERVATION"
    VISIT = "VISIT"
    DEVICE = "DEVICE"
    SURVEY = "SURVEY"
    PHYSICAL_MEASUREMENT = "PHYSICAL_MEASUREMENT"
    PERSON = "PERSON"
    FITBIT = "FITBIT"
    FITBIT_ACTIVITY = "FITBIT_ACTIVITY"
    FITBIT_HEART_RATE_SUMMARY = "FITBIT_HEART_RATE_SUMMARY"
    FITBIT_HEART_RATE_LEVEL = "FITBIT_HEART_RATE_LEVEL"
    FITBIT_INTRADAY_STEPS = "FITBIT_INTRADAY_STEPS"
    FITBIT_SLEEP_DAILY_SUMMARY = "FITBIT_SLEEP_DAILY_SUMMARY"
    FITBIT_SLEEP_LEVEL = "FITBIT_SLEEP_LEVEL"
    FITBIT_DEVICE = "FITBIT_DEVICE"
    WHOLE_GENOME_VARIANT = "WHOLE_GENOME_VARIANT"
    ARRAY_DATA = "ARRAY_DATA"
    ZIP_CODE_SOCIOECONOMIC = "ZIP_CODE_SOCIOECONOMIC"

    @property
    def slug(self) -> str:
        """The lower-case spelling used in URLs and the Data Browser store (``physical_measurement``)."""
        return self.value.lower()

    @property
    def label(self) -> str:
        return DOMAIN_LABELS.get(self, self.value.replace("_", " ").title())


DOMAIN_LABELS: dict[Domain, str] = {
    Domain.CONDITION: "Conditions",
    Domain.DRUG: "Drug exposures",
    Domain.PROCEDURE: "Procedures",
    Domain.MEASUREMENT: "Labs and measurements",
    Domain.OBSERVATION: "Observations",
    Domain.SURVEY: "Surveys",
    Domain.PHYSICAL_MEASUREMENT: "Physical measurements",
    Domain.VISIT: "Visits",
    Domain.DEVICE: "Devices",
    Domain.ZIP_CODE_SOCIOECONOMIC: "Zip code socioeconomic status",
}

# Domains of the event index: an event row per concept, matched by concept id. Surveys are observation rows with a
# questionnaire response; physical measurements are measurement rows with a PPI source concept.
EVENT_DOMAINS: frozenset[Domain] = frozenset({
    Domain.CONDITION, Domain.PROCEDURE, Domain.DRUG, Domain.MEASUREMENT, Domain.OBSERVATION, Domain.VISIT,
    Domain.DEVICE, Domain.SURVEY, Domain.PHYSICAL_MEASUREMENT,
})

# Blood pressure: EHR LOINC codes and the program's physical-measurement (PPI) codes.
SYSTOLIC: tuple[int, ...] = (3004249, 903118)
DIASTOLIC: tuple[int, ...] = (3012888, 903115)

# Vital signs (standard LOINC concepts): the measurements Cohort Review shows under Vitals rather than Labs.
# Blood pressure, heart rate, respiratory rate, body temperature, weight, height, BMI, oxygen saturation.
VITAL_SIGNS: frozenset[int] = frozenset({*SYSTOLIC, *DIASTOLIC, 3027018, 3024171, 3020891, 3025315, 3036277, 3038553,
                                         40762499, 3016502})

# The vocabulary of the program's own physical measurements and survey questions.
PPI_VOCABULARY = "PPI"


@dataclass(frozen=True)
class EventTable:
    """The columns that play each role in one OMOP event table (None: the table has no such column)."""

    table: str
    domain: Domain
    id: str
    concept: str
    source_concept: str
    start_date: str
    start_datetime: str
    end_date: str | None
    type_concept: str
    source_value: str
    visit: str
    value_as_number: str | None
    value_as_concept: str | None
    value_source_concept: str | None
    unit_concept: str | None


@cache
def event_tables() -> dict[str, EventTable]:
    """Event tables by name, in the order of ``schema/event_tables.csv``."""
    text = resources.files(__package__).joinpath("schema/event_tables.csv").read_text(encoding="utf-8")
    names = {f.name for f in fields(EventTable)}
    tables: dict[str, EventTable] = {}
    for row in csv.DictReader(text.splitlines()):
        assert set(row) == names, f"event_tables.csv: columns {sorted(set(row) ^ names)} differ from EventTable"
        values = {k: (v or None) for k, v in row.items()}
        values["domain"] = Domain(row["domain"])
        tables[row["table"]] = EventTable(**values)  # type: ignore[arg-type]
    return tables


def event_table(name: str) -> EventTable:
    try:
        return event_tables()[name]
    except KeyError:
        raise KeyError(f"{name!r} is not an event table (one of {', '.join(event_tables())})") from None


def event_table_of(domain: Domain) -> EventTable:
    """The OMOP table holding a domain's events (surveys in observation, physical measurements in measurement)."""
    base = {Domain.SURVEY: Domain.OBSERVATION, Domain.PHYSICAL_MEASUREMENT: Domain.MEASUREMENT}.get(domain, domain)
    for table in event_tables().values():
        if table.domain is base:
            return table
    raise KeyError(f"{domain.value} has no event table")


# --- birth date and age -----------------------------------------------------------------------------------------


def birth_date(table: str | None = "p") -> exp.Expression:
    """A person's birth date from the person table: ``birth_datetime`` when present, else year/month/day (a missing
    or impossible month or day counts as 1, so the Registered Tier's year-only births are 1 January)."""
    from sqlglot import exp

    from .sql import col, num

    def made(month: exp.Expression, day: exp.Expression) -> exp.Expression:
        return date_or_null(col("year_of_birth", table=table), month, day)

    return exp.func(
        "COALESCE",
        exp.cast(col("birth_datetime", table=table), "DATE"),
        made(exp.func("COALESCE", col("month_of_birth", table=table), num(1)),
             exp.func("COALESCE", col("day_of_birth", table=table), num(1))),
        made(num(1), num(1)),
    )


def date_or_null(year: exp.Expression, month: exp.Expression, day: exp.Expression) -> exp.Expression:
    """The date of the parts, or NULL when they are not a date (31 April, month 13, a NULL part), on every engine:
    a TRY_CAST of ``YYYY-MM-DD`` text, which DuckDB and Spark parse alike and strictly (DuckDB's ``TRY(make_date(…))``
    has no Spark spelling). The one definition: ``engines.portable.try_date_from_parts`` is this function (the data
    model's layer sits below ``engines`` and cannot import it)."""
    from sqlglot import exp

    from .sql import num

    def padded(part: exp.Expression, width: int) -> exp.Expression:
        return exp.Pad(this=exp.cast(part.copy(), "TEXT"), expression=num(width), fill_pattern=exp.Literal.string("0"),
                       is_left=True)

    text = exp.DPipe(this=exp.DPipe(this=exp.DPipe(this=exp.DPipe(
        this=padded(year, 4), expression=exp.Literal.string("-")), expression=padded(month, 2)),
        expression=exp.Literal.string("-")), expression=padded(day, 2), safe=True)
    in_range = exp.and_(
        exp.Between(this=year.copy(), low=num(1), high=num(9999)),
        exp.Between(this=month.copy(), low=num(1), high=num(12)),
        exp.Between(this=day.copy(), low=num(1), high=num(31)),
    )
    return exp.Case(ifs=[exp.If(this=in_range, true=exp.TryCast(this=text, to=exp.DataType.build("DATE")))])


def age_at(birth: exp.Expression, on: exp.Expression) -> exp.Expression:
    """Age in whole years on a date, birthday-aware, in any dialect: the year difference, minus 1 before the
    birthday (a 29 February birthday falls on 1 March in other years)."""
    from sqlglot import exp

    from .sql import num
    years = exp.Sub(this=exp.Year(this=on.copy()), expression=exp.Year(this=birth.copy()))
    month_on, month_birth = exp.Month(this=on.copy()), exp.Month(this=birth.copy())
    before_birthday = exp.or_(
        exp.LT(this=month_on, expression=month_birth),
        exp.and_(exp.EQ(this=month_on.copy(), expression=month_birth.copy()),
                 exp.LT(this=exp.Day(this=on.copy()), expression=exp.Day(this=birth.copy()))),
    )
    return exp.Sub(this=years, expression=exp.Case(ifs=[exp.If(this=before_birthday, true=num(1))], default=num(0)))


# Age bands, youngest first: (label, lowest age, highest age or None). Under 18 is one band (participants are
# adults at consent; an under-18 age means a data error or an age at an early event), then 18-29, then decades,
# then 90 and over (HIPAA Safe Harbor groups every age from 90).
AGE_BANDS: tuple[tuple[str, int, int | None], ...] = (
    ("0-17", 0, 17),
    ("18-29", 18, 29),
    ("30-39", 30, 39),
    ("40-49", 40, 49),
    ("50-59", 50, 59),
    ("60-69", 60, 69),
    ("70-79", 70, 79),
    ("80-89", 80, 89),
    ("90+", 90, None),
)
UNKNOWN_AGE = "unknown"


def age_band(age: exp.Expression) -> exp.Expression:
    """The band label of an age expression; NULL age is ``unknown``."""
    from sqlglot import exp

    from .sql import num
    ifs = [exp.If(this=exp.Is(this=age.copy(), expression=exp.Null()), true=exp.Literal.string(UNKNOWN_AGE))]
    for label, _low, high in AGE_BANDS[:-1]:
        ifs.append(exp.If(this=exp.LTE(this=age.copy(), expression=num(high)), true=exp.Literal.string(label)))  # type: ignore[arg-type]
    return exp.Case(ifs=ifs, default=exp.Literal.string(AGE_BANDS[-1][0]))
