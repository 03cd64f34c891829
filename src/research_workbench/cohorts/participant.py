"""One participant's data, as Cohort Review shows it: a tab per domain, date and age filters, source or standard
concepts, summary counts for charts, and the events that made the participant qualify for a cohort.

Where the rows come from, and why: the CDR's own event tables (``cdr.facts.event_tables``), in one shape for every
table (``EVENT_COLUMNS``: one row per event, with both its standard and its source concept, so the source/standard
toggle only changes which concept is shown; units, source values and end dates kept). The search index's event table
would be simpler to query, but it is sorted by concept (a person's rows are spread over every row group) and keeps
neither units, source values nor end dates. For a review set's participants the rows are read from the set's
extract (``participant_extract``: the same rows in the same shape, copied once into a person-sorted file: about
10 ms a page at a million participants); without one, from the CDR's tables with ``person_id = ?`` (a scan of each
table's ``person_id`` column: about 55 ms warm at a million participants). Demographics come from the index's person
table (one row, sorted by person id); concept names from the CDR's concept table, kept per process once read; the
qualifying events from the index's event table through the Cohort Builder's own compiler (``Compiler.item_events``),
which reads only the row groups of the criteria's concepts, with the same semantics as the count.

Tabs: conditions, procedures, drugs, labs (measurements that are not vital signs), vitals (``cdr.facts.VITAL_SIGNS``),
physical measurements (measurements whose source concept is in the PPI vocabulary), surveys (observations with a
questionnaire response), observations, visits, devices, and a wearables summary (the daily tables; minute-level
tables are only flagged, from the person table, as reading them would be far slower than a page may take).
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import duckdb
import numpy as np
from sqlglot import exp

from ..cdr.facts import PPI_VOCABULARY, VITAL_SIGNS, EventTable, age_at, age_band, event_tables
from ..cdr.sql import alias, col, lit, num, table, union_all
from ..cdr.store import Cdr
from .builder.compile import Compiler
from .builder.model import CohortDefinition, SearchGroupItem
from .builder.semantics import ItemSource, counted_groups, item_source


@dataclass(frozen=True)
class Tab:
    slug: str
    label: str
    values: bool = False  # shows a value and unit column


TABS: tuple[Tab, ...] = (
    Tab("conditions", "Conditions"),
    Tab("procedures", "Procedures"),
    Tab("drugs", "Drugs"),
    Tab("labs", "Labs", values=True),
    Tab("vitals", "Vitals", values=True),
    Tab("physical_measurements", "Physical measurements", values=True),
    Tab("surveys", "Surveys", values=True),
    Tab("observations", "Observations", values=True),
    Tab("visits", "Visits"),
    Tab("devices", "Devices"),
)
TAB_SLUGS = {t.slug: t for t in TABS}
WEARABLES = Tab("wearables", "Wearables summary")
# The event tables' tabs (measurement and observation rows are split further by ``_tab_of``).
TABLE_TABS = {"condition_occurrence": "conditions", "procedure_occurrence": "procedures", "drug_exposure": "drugs",
              "device_exposure": "devices", "measurement": "labs", "observation": "observations",
              "visit_occurrence": "visits"}
# Daily wearable tables: (table, its date column, label, the value summarised (a column) and its label).
WEARABLE_DAILY = (
    ("activity_summary", "date", "Daily activity", "steps", "mean daily steps"),
    ("heart_rate_summary", "date", "Heart-rate zones", None, None),
    ("sleep_daily_summary", "sleep_date", "Sleep", "minute_asleep", "mean minutes asleep"),
    ("device", "device_date", "Device syncs", None, None),
)
# Minute-level and interval tables: shown as present or not (the person table's flags).
WEARABLE_FLAGS = (("has_steps_intraday", "Minute-level steps"), ("has_heart_rate_intraday", "Minute-level heart rate"),
                  ("has_sleep_level", "Sleep stages"))
NO_CONCEPT = "No matching concept"


@dataclass(frozen=True)
class Concept:
    id: int | None
    name: str
    code: str = ""
    vocabulary: str = ""

    @property
    def known(self) -> bool:
        return bool(self.id)


@dataclass(frozen=True)
class Event:
    """One event row of the CDR as a tab shows it."""

    tab: str
    table: str
    event_id: int
    date: dt.date
    end_date: dt.date | None
    age: int | None
    standard: Concept
    source: Concept
    source_value: str | None
    value: str | None
    unit: str | None
    visit: str | None
    survey: str | None
    qualifying: bool = False

    def concept(self, standard: bool) -> Concept:
        return self.standard if standard else self.source


@dataclass(frozen=True)
class Person:
    person_id: int
    birth_date: dt.date | None
    age_at_cdr: int | None
    age_band: str
    deceased: bool
    gender: Concept
    sex_at_birth: Concept
    race: Concept
    ethnicity: Concept
    flags: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class Filters:
    """What the participant page narrows the events to: dates (inclusive), ages at the event (inclusive)."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    age_min: int | None = None
    age_max: int | None = None

    def keeps(self, date: dt.date, age: int | None) -> bool:
        if self.date_from and date < self.date_from or self.date_to and date > self.date_to:
            return False
        too_young = self.age_min is not None and (age is None or age < self.age_min)
        too_old = self.age_max is not None and (age is None or age > self.age_max)
        return not (too_young or too_old)


@dataclass(frozen=True)
class WearableSummary:
    label: str
    days: int
    first: dt.date | None
    last: dt.date | None
    measure: str | None = None  # "mean daily steps 8,012"
    present: bool = True


@dataclass
class ParticipantData:
    person: Person
    events: list[Event]
    wearables: list[WearableSummary]
    qualifying_criteria: list[str] = field(default_factory=list)  # the include items met by the person's own row

    def shown(self, filters: Filters, tab: str | None = None) -> list[Event]:
        """The events the filters keep (of one tab), newest first, then by table and id (a stable order)."""
        kept = [e for e in self.events if (tab is None or e.tab == tab) and filters.keeps(e.date, e.age)]
        return sorted(kept, key=lambda e: (-e.date.toordinal(), e.table, e.event_id))

    def counts(self, filters: Filters) -> dict[str, int]:
        """Events per tab that the filters keep, every tab listed (the summary chart)."""
        counts = Counter(e.tab for e in self.shown(filters))
        return {t.slug: counts.get(t.slug, 0) for t in TABS}

    def top_concepts(self, filters: Filters, tab: str, standard: bool, limit: int = 10) -> list[tuple[Concept, int]]:
        """The tab's most frequent concepts (most events first, then by name), for the tab's chart."""
        counts = Counter(e.concept(standard) for e in self.shown(filters, tab))
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].name, kv[0].id or 0))[:limit]


class ParticipantNotFound(LookupError):
    """No such person in the data version."""


# -- reading --------------------------------------------------------------------------------------------------------

def _param(name: str) -> exp.Placeholder:
    return exp.Placeholder(this=name)


def _typed_null(sql_type: str) -> exp.Expression:
    return exp.cast(exp.Null(), sql_type)


# An event row as a page reads it: every table's rows in one shape (``ParticipantReader._event`` unpacks it).
EVENT_COLUMNS = ("table_name", "event_id", "start_date", "end_date", "age", "standard_concept_id", "source_concept_id",
                 "source_value", "visit_occurrence_id", "value_as_number", "value_as_concept_id",
                 "value_source_concept_id", "value_as_string", "unit_concept_id", "questionnaire_response_id")
# A review set's extract (``participant_extract``): its participants' event rows and daily wearable summaries.
EXTRACT_EVENTS, EXTRACT_WEARABLES = "events.parquet", "wearables.parquet"


def _of_person(select: exp.Select, one_person: bool) -> exp.Select:
    return select.where(exp.EQ(this=col("person_id"), expression=_param("person"))) if one_person else select


def _event_rows(name: str, t: EventTable, one_person: bool) -> exp.Select:
    """Table ``name``'s rows (in the file ``$<name>``) in the events' shape, ``person_id`` first and no age: of the
    person ``$person`` (``one_person``) or of everyone in the file."""
    def role(column: str | None, sql_type: str) -> exp.Expression:
        return col(column) if column else _typed_null(sql_type)

    observation = name == "observation"
    return _of_person(exp.select(
        col("person_id"),
        alias(lit(name), "table_name"),
        alias(col(t.id), "event_id"),
        alias(col(t.start_date), "start_date"),
        alias(role(t.end_date, "DATE"), "end_date"),
        alias(col(t.concept), "standard_concept_id"),
        alias(col(t.source_concept), "source_concept_id"),
        alias(exp.cast(col(t.source_value), "VARCHAR"), "source_value"),
        alias(col(t.visit), "visit_occurrence_id"),
        alias(role(t.value_as_number, "DOUBLE"), "value_as_number"),
        alias(role(t.value_as_concept, "BIGINT"), "value_as_concept_id"),
        alias(role(t.value_source_concept, "BIGINT"), "value_source_concept_id"),
        alias(col("value_as_string") if observation else _typed_null("VARCHAR"), "value_as_string"),
        alias(role(t.unit_concept, "BIGINT"), "unit_concept_id"),
        alias(col("questionnaire_response_id") if observation else _typed_null("BIGINT"), "questionnaire_response_id"),
    ).from_(exp.func("read_parquet", _param(name))), one_person)


def _survey_rows(one_person: bool) -> exp.Select:
    """The survey responses (``table_name`` survey_conduct) in the events' shape: response id → module."""
    nulls = {"end_date": "DATE", "source_concept_id": "BIGINT", "source_value": "VARCHAR",
             "visit_occurrence_id": "BIGINT", "value_as_number": "DOUBLE", "value_as_concept_id": "BIGINT",
             "value_source_concept_id": "BIGINT", "value_as_string": "VARCHAR", "unit_concept_id": "BIGINT",
             "questionnaire_response_id": "BIGINT"}
    columns = [col("person_id"), alias(lit("survey_conduct"), "table_name"), alias(col("survey_conduct_id"), "event_id"),
               alias(col("survey_end_date"), "start_date"), alias(_typed_null("DATE"), "end_date"),
               alias(col("survey_concept_id"), "standard_concept_id")]
    columns += [alias(_typed_null(t), n) for n, t in list(nulls.items())[1:]]
    return _of_person(exp.select(*columns).from_(exp.func("read_parquet", _param("survey_conduct"))), one_person)


def event_rows(names: list[str], surveyed: bool, one_person: bool) -> exp.Expression:
    """The rows of the event tables ``names`` (and the survey responses when ``surveyed``), one statement."""
    tables = event_tables()
    return union_all([_event_rows(n, tables[n], one_person) for n in names] + ([_survey_rows(one_person)] if surveyed else []))


def _page_events(source: exp.Expression) -> str:
    """The person ``$person``'s rows of ``source`` (rows in the events' shape) with their age at each event (born
    ``$birth``), as ``EVENT_COLUMNS``."""
    columns = [alias(age_at(exp.cast(_param("birth"), "DATE"), col("start_date")), "age") if c == "age" else col(c)
               for c in EVENT_COLUMNS]
    query = exp.select(*columns).from_(source).where(exp.EQ(this=col("person_id"), expression=_param("person")))
    return query.sql(dialect="duckdb")


@lru_cache(maxsize=16)
def _events_sql(names: tuple[str, ...], surveyed: bool) -> str:
    """A page's events statement on the CDR, built once per set of tables (a page binds the person and the files)."""
    return _page_events(event_rows(list(names), surveyed, one_person=True).subquery("e"))


EXTRACT_EVENTS_SQL = _page_events(exp.func("read_parquet", _param("events")))


def wearable_rows(present: tuple, one_person: bool) -> exp.Expression:
    """The daily wearable tables ``present`` (``WEARABLE_DAILY`` entries) summarised per person and table: days,
    first and last day, the mean of the table's measure."""
    selects = []
    for name, date_column, _label, measure, _ in present:
        mean = exp.cast(exp.func("AVG", col(measure)), "DOUBLE") if measure else _typed_null("DOUBLE")
        selects.append(_of_person(
            exp.select(col("person_id"), alias(lit(name), "table_name"),
                       alias(exp.func("COUNT", exp.Distinct(expressions=[col(date_column)])), "days"),
                       alias(exp.cast(exp.func("MIN", col(date_column)), "DATE"), "first"),
                       alias(exp.cast(exp.func("MAX", col(date_column)), "DATE"), "last"), alias(mean, "mean"))
            .from_(exp.func("read_parquet", _param(name))), one_person).group_by(col("person_id")))
    return union_all(selects)


def _page_wearables(source: exp.Expression) -> str:
    return (exp.select(*[col(c) for c in ("table_name", "days", "first", "last", "mean")]).from_(source)
            .where(exp.EQ(this=col("person_id"), expression=_param("person"))).sql(dialect="duckdb"))


@lru_cache(maxsize=16)
def _wearables_sql(present: tuple) -> str:
    """A page's wearable summaries on the CDR, built once per set of tables."""
    return _page_wearables(wearable_rows(present, one_person=True).subquery("w"))


EXTRACT_WEARABLES_SQL = _page_wearables(exp.func("read_parquet", _param("wearables")))


def extract_queries(cdr: Cdr) -> dict[str, tuple[exp.Expression, dict[str, object]]]:
    """What a review set's extract holds, per file: the statement over every person (the caller keeps the set's
    participants) and its parameters (the CDR's files)."""
    tables = cdr.manifest.tables
    names = [n for n in event_tables() if n in tables]
    surveyed = "survey_conduct" in tables
    files: dict[str, object] = {n: str(cdr.table_file(n)) for n in names + (["survey_conduct"] if surveyed else [])}
    out = {}
    if names or surveyed:
        out[EXTRACT_EVENTS] = (event_rows(names, surveyed, one_person=False), files)
    present = tuple(w for w in WEARABLE_DAILY if w[0] in tables)
    if present:
        out[EXTRACT_WEARABLES] = (wearable_rows(present, one_person=False),
                                  {w[0]: str(cdr.table_file(w[0])) for w in present})
    return out


# What a sample may be stratified by, besides the age band: the person table's concept columns.
STRATUM_COLUMNS = {"sex_at_birth": "sex_at_birth_concept_id", "gender": "gender_concept_id", "race": "race_concept_id",
                   "ethnicity": "ethnicity_concept_id"}
PERSON_COLUMNS = ("person_id", "birth_date", "age_at_cdr", "is_deceased", "gender_concept_id", "sex_at_birth_concept_id",
                  "race_concept_id", "ethnicity_concept_id")


def _person_select(where: exp.Expression) -> exp.Select:
    return (exp.select(*[col(c) for c in PERSON_COLUMNS], alias(age_band(col("age_at_cdr")), "age_band"),
                       *[col(f) for f, _ in WEARABLE_FLAGS], col("has_fitbit"))
            .from_(table("search_person")).where(where))


class _ConceptCache:
    """Concepts already read from one CDR's concept table, kept for the process (a CDR never changes; the entries
    are bounded, the least recently used dropped first). ``None`` marks an id the table does not hold."""

    MAX_ENTRIES = 200_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[int, Concept | None] = OrderedDict()

    def get_many(self, ids: set[int]) -> tuple[dict[int, Concept], set[int]]:
        """(the known concepts of ``ids``, the ids not seen yet)."""
        found, unseen = {}, set()
        with self._lock:
            for i in ids:
                if i in self._entries:
                    self._entries.move_to_end(i)
                    if self._entries[i] is not None:
                        found[i] = self._entries[i]
                else:
                    unseen.add(i)
        return found, unseen

    def put_many(self, concepts: dict[int, Concept], missing: set[int]) -> None:
        with self._lock:
            self._entries.update(concepts)
            self._entries.update(dict.fromkeys(missing))
            while len(self._entries) > self.MAX_ENTRIES:
                self._entries.popitem(last=False)


@lru_cache(maxsize=8)
def _concept_cache(cdr_path: str, created_at: str) -> _ConceptCache:
    """One cache per CDR (its path and the manifest's creation time: a CDR rebuilt in place is another)."""
    return _ConceptCache()


class ParticipantReader:
    """Reads participants of one data version: ``con`` is a DuckDB connection on its index (the Cohort Builder's
    ``CohortEngine.con``), ``cdr_dir`` its CDR."""

    def __init__(self, con: duckdb.DuckDBPyConnection, cdr_dir: Path, extract: Path | None = None):
        self.con = con
        self.cdr = Cdr(Path(cdr_dir))
        # A review set's participants' rows copied out of the CDR (``participant_extract``): read instead, when given.
        self.extract = Path(extract) if extract is not None else None
        # A data version's files never change: their Parquet footers are read once per process, not per page.
        con.execute("SET GLOBAL parquet_metadata_cache = true")  # the process's database instance: every connection
        self._known = _concept_cache(str(self.cdr.path), self.cdr.manifest.created_at.isoformat())

    # -- concepts -------------------------------------------------------------------------------------------
    def concepts(self, ids: set[int | None]) -> dict[int, Concept]:
        """The concepts ``ids`` from the CDR's concept table (ids the table does not hold are left out); those read
        before in this process come from its cache (participants share most of their concepts)."""
        asked = {int(i) for i in ids if i}
        out, wanted = self._known.get_many(asked)
        if wanted:
            found = self._read_concepts(sorted(wanted))
            self._known.put_many(found, missing=wanted - found.keys())
            out.update(found)
        return out

    def _read_concepts(self, wanted: list[int]) -> dict[int, Concept]:
        query = (exp.select(col("concept_id"), col("concept_name"), col("concept_code"), col("vocabulary_id"))
                 .from_(exp.func("read_parquet", _param("file")))
                 # Literal ids (numbers read from the data, never a user's text): the list prunes row groups.
                 .where(exp.In(this=col("concept_id"), expressions=[num(i) for i in wanted])))
        with self.cdr.query_errors():
            rows = self.con.execute(query.sql(dialect="duckdb"), {"file": str(self.cdr.table_file("concept"))}).fetchall()
        return {r[0]: Concept(r[0], r[1] or "", r[2] or "", r[3] or "") for r in rows}

    def _concept(self, names: dict[int, Concept], concept_id: int | None) -> Concept:
        if not concept_id:
            return Concept(None, NO_CONCEPT)
        return names.get(concept_id, Concept(concept_id, f"Concept {concept_id}"))

    # -- persons --------------------------------------------------------------------------------------------
    def persons(self, person_ids: list[int]) -> dict[int, Person]:
        """The demographics of ``person_ids`` (those the data version holds), with concept names."""
        if not person_ids:
            return {}
        # A semi-join on the list unnested (hashed once), not a list search per row: up to a whole cohort of ids.
        listed = exp.select(exp.Unnest(expressions=[_param("ids")]))
        where = exp.In(this=col("person_id"), query=listed.subquery())
        rows = self.con.execute(_person_select(where).sql(dialect="duckdb"), {"ids": list(person_ids)}).fetchall()
        return self._persons(rows)

    def strata(self, person_ids: Iterable[int], by: str) -> dict[int, str]:
        """Each of ``person_ids``' stratum label by ``by`` (a demographic's concept name, or ``age_band``): the
        person table read whole (one column) and kept to the ids, as a cohort may hold every participant."""
        if by == "age_band":
            value = age_band(col("age_at_cdr"))
        elif by in STRATUM_COLUMNS:
            value = col(STRATUM_COLUMNS[by])
        else:
            raise ValueError(f"cannot stratify by {by!r}: one of age_band, {', '.join(STRATUM_COLUMNS)}")
        query = exp.select(col("person_id"), alias(value, "v")).from_(table("search_person"))
        found = self.con.execute(query.sql(dialect="duckdb")).fetchnumpy()
        wanted = np.fromiter(person_ids, dtype=np.int64)
        keep = np.isin(np.asarray(found["person_id"], dtype=np.int64), wanted)
        raw = found["v"]  # a masked array where some are NULL
        values = (raw.astype(object).filled(None) if np.ma.isMaskedArray(raw) else np.asarray(raw, dtype=object))[keep]
        ids = np.asarray(found["person_id"])[keep]
        if by != "age_band":
            names = self.concepts({int(v) for v in set(values) if v is not None})
            labels = {v: self._concept(names, None if v is None else int(v)).name for v in set(values)}
            values = np.array([labels[v] for v in values], dtype=object)
        return {int(i): str(v) for i, v in zip(ids, values)}

    def person(self, person_id: int) -> Person:
        where = exp.EQ(this=col("person_id"), expression=_param("id"))
        rows = self.con.execute(_person_select(where).sql(dialect="duckdb"), {"id": person_id}).fetchall()
        found = self._persons(rows)
        if person_id not in found:
            raise ParticipantNotFound(f"no participant {person_id} in this data version")
        return found[person_id]

    def _persons(self, rows: list[tuple]) -> dict[int, Person]:
        ids = {c for r in rows for c in r[4:8]}
        names = self.concepts(ids)
        # One Concept per id, shared by every person who has it (a review set's table holds up to 10,000 persons).
        shared = {c: self._concept(names, c) for c in ids}
        flags = [f for f, _ in WEARABLE_FLAGS] + ["has_fitbit"]
        out = {}
        for r in rows:
            out[r[0]] = Person(person_id=r[0], birth_date=r[1], age_at_cdr=r[2], deceased=bool(r[3]),
                               gender=shared[r[4]], sex_at_birth=shared[r[5]], race=shared[r[6]],
                               ethnicity=shared[r[7]], age_band=r[8], flags=dict(zip(flags, map(bool, r[9:]))))
        return out

    # -- events ---------------------------------------------------------------------------------------------
    def read(self, person_id: int) -> ParticipantData:
        """Every event of the participant (unfiltered) and their wearables summary; ParticipantNotFound if the data
        version has no such person. Four statements: the person, the events (with the survey modules), the
        wearable summaries, the concepts' names."""
        person = self.person(person_id)
        params: dict[str, object] = {"person": person_id, "birth": person.birth_date}
        if self.extract is not None:
            sql, params["events"] = EXTRACT_EVENTS_SQL, str(self.extract / EXTRACT_EVENTS)
        else:
            tables = self.cdr.manifest.tables
            names = [n for n in event_tables() if n in tables]
            surveyed = "survey_conduct" in tables
            params.update({n: str(self.cdr.table_file(n)) for n in names + (["survey_conduct"] if surveyed else [])})
            sql = _events_sql(tuple(names), surveyed)
        with self.cdr.query_errors():
            rows = self.con.execute(sql, params).fetchall()
        surveys = {r[1]: r[5] for r in rows if r[0] == "survey_conduct"}
        rows = [r for r in rows if r[0] != "survey_conduct"]
        visit_concepts = {r[1]: r[5] for r in rows if r[0] == "visit_occurrence"}
        ids: set[int | None] = set(surveys.values())
        for r in rows:
            ids.update((r[5], r[6], r[10], r[11], r[13]))
        names_of = self.concepts(ids)
        events = [self._event(r, names_of, visit_concepts, surveys) for r in rows]
        return ParticipantData(person, events, self._wearables(person))

    def _event(self, r: tuple, names: dict[int, Concept], visits: dict[int, int], surveys: dict[int, int]) -> Event:
        (table_name, event_id, start, end, age, standard_id, source_id, source_value, visit_id, number, value_concept,
         value_source_concept, value_string, unit, response) = r
        standard, source = self._concept(names, standard_id), self._concept(names, source_id)
        tab = _tab_of(table_name, standard_id, source, response)
        value = None
        if tab == "surveys":
            answer = value_source_concept or value_concept
            value = (self._concept(names, answer).name if answer else value_string
                     if value_string else _number(number))
        elif number is not None:
            value = _number(number)
        elif value_concept:
            value = self._concept(names, value_concept).name
        elif value_string:
            value = value_string
        visit = visits.get(visit_id) if visit_id is not None and table_name != "visit_occurrence" else None
        return Event(tab=tab, table=table_name, event_id=event_id, date=start, end_date=end, age=age,
                     standard=standard, source=source, source_value=source_value, value=value,
                     unit=self._concept(names, unit).name if unit else None,
                     visit=self._concept(names, visit).name if visit else None,
                     survey=self._concept(names, surveys[response]).name if response in surveys else None)

    def _wearables(self, person: Person) -> list[WearableSummary]:
        """The daily wearable tables summarised (days, first and last day, a mean), one statement; then the
        minute-level data the person table flags."""
        tables = self.cdr.manifest.tables
        present = tuple(w for w in WEARABLE_DAILY if w[0] in tables)
        out = []
        if present:
            params: dict[str, object] = {"person": person.person_id}
            if self.extract is not None:
                sql, params["wearables"] = EXTRACT_WEARABLES_SQL, str(self.extract / EXTRACT_WEARABLES)
            else:
                sql = _wearables_sql(present)
                params.update({name: str(self.cdr.table_file(name)) for name, *_ in present})
            with self.cdr.query_errors():
                rows = {r[0]: r[1:] for r in self.con.execute(sql, params).fetchall()}
            for name, _date, label, measure, measure_label in present:
                days, first, last, average = rows.get(name, (0, None, None, None))
                if days:
                    shown = f"{measure_label} {average:,.0f}" if measure and average is not None else None
                    out.append(WearableSummary(label, days, first, last, shown))
        for flag, label in WEARABLE_FLAGS:
            if person.flags.get(flag):
                out.append(WearableSummary(label, 0, None, None, None, present=True))
        return out

    # -- why the person qualified ---------------------------------------------------------------------------
    def qualifying(self, data: ParticipantData, definition: CohortDefinition, expand) -> ParticipantData:
        """``data`` with the events that match the definition's include criteria marked ``qualifying``: each counted
        include item's matching events (``Compiler.item_events``: concepts, values, modifiers as the count has them)
        of this person, in one statement, matched to the CDR rows by domain, date and concept. Criteria on the
        person's own row (demographics, has-data flags) are listed in ``qualifying_criteria`` instead."""
        includes, _ = counted_groups(definition)
        compiler = Compiler(expand)
        person = compiler.bind(data.person.person_id)
        selects: list[exp.Expression] = []
        person_level: list[str] = []
        for g, group in enumerate(includes):
            for item in group.items:
                if item.suppressed:
                    continue
                if item_source(item) in (ItemSource.PERSON, ItemSource.VARIANTS):  # no events: facts of the person
                    person_level.append(_item_label(g, group.name, item))
                    continue
                events = compiler.item_events(item, ["person_id", "entry_date", "is_standard", "concept_id", "domain"])
                selects.append(exp.select(col("domain", table="q"), col("entry_date", table="q"),
                                          col("is_standard", table="q"), col("concept_id", table="q"))
                               .from_(events.subquery("q", copy=False))
                               .where(exp.EQ(this=col("person_id", table="q"), expression=person.copy())))
        keys: set[tuple[str, dt.date, bool, int]] = set()
        if selects:
            rows = self.con.execute(union_all(selects).sql(dialect="duckdb"), compiler.params).fetchall()
            keys = {(domain, date, bool(standard), concept) for domain, date, standard, concept in rows}
        events = [replace(e, qualifying=_matches(e, keys)) for e in data.events]
        return ParticipantData(data.person, events, data.wearables, person_level)


def _item_label(g: int, name: str | None, item: SearchGroupItem) -> str:
    params = ", ".join(p.name or (p.variant.describe() if p.variant is not None else
                                  f"{p.type} {p.conceptId if p.conceptId is not None else ''}".strip())
                       for p in item.searchParameters)
    return f"Include {name or f'group {g + 1}'}: {item.name or item.type.label} ({params})"


# The domains of the index's event rows, by tab (a qualifying index row is matched to the CDR row shown).
INDEX_DOMAINS = {"conditions": "CONDITION", "procedures": "PROCEDURE", "drugs": "DRUG", "labs": "MEASUREMENT",
                 "vitals": "MEASUREMENT", "physical_measurements": "PHYSICAL_MEASUREMENT", "surveys": "SURVEY",
                 "observations": "OBSERVATION", "visits": "VISIT", "devices": "DEVICE"}


def _matches(event: Event, keys: set[tuple[str, dt.date, bool, int]]) -> bool:
    domain = INDEX_DOMAINS[event.tab]
    return ((event.standard.id is not None and (domain, event.date, True, event.standard.id) in keys)
            or (event.source.id is not None and (domain, event.date, False, event.source.id) in keys))


def _tab_of(table_name: str, standard_id: int | None, source: Concept, response: int | None) -> str:
    if table_name == "measurement":
        if source.vocabulary == PPI_VOCABULARY:
            return "physical_measurements"
        return "vitals" if standard_id in VITAL_SIGNS else "labs"
    if table_name == "observation" and response is not None:
        return "surveys"
    return TABLE_TABS[table_name]


def _number(value: float | None) -> str | None:
    if value is None or not math.isfinite(value):
        return None
    return f"{value:g}" if abs(value) < 1e15 else f"{value:.6g}"

