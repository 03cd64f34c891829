"""A dataset's rows of one domain as one SQLGlot statement: the CDR's rows of the domain's table, of the cohorts'
participants, of the concept sets' concepts, with the columns of the catalogue asked for.

Inputs, never formatted in: the participants (when the dataset is not all of them) as the table ``dataset_persons``
(``PERSONS_TABLE``: an Arrow table the runner registers on the connection — a cohort may hold every participant,
and a registered column costs a fifth of a list parameter of that size), ``$standard`` and ``$source`` (concept
ids, when the domain is narrowed by concept sets), and the CDR's tables read (``DomainQuery.tables``). The
statement names those tables; ``statement(files=True)`` (the embedded path, and the SQL the Dataset Builder shows)
reads each from its file bound as a parameter (``read_parquet($condition_occurrence)``), while on another engine
(Spark) the cohort engine registers them (``cohorts.engine_tables``). The person table of the search index
(``search_person``, a table of the cohort engine's) gives demographics and birth dates: the same participants and
ages as the Cohort Builder counts.

Which concept column a concept set narrows: a standard concept (with its descendants, resolved by the caller) the
event's standard concept; a source concept the event's source concept. A survey concept set names questions or
whole surveys. Physical measurements are the measurement rows whose source concept is of the PPI vocabulary, and
Measurements the others; surveys are the observation rows of a questionnaire response, and Observations the others
(as the search index splits them, ``index.events``).

Zip code socioeconomic status (Controlled Tier only; the tier is checked by the plan and the workspace layer): each
participant's latest answer to The Basics' zip question, cut to its three digits (``070**``: the Controlled Tier
holds nothing finer, and a raw five-digit answer is not passed on either), joined on those digits to the area
measures of ``zip3_ses_map``. A participant whose area has no measures keeps the row, with empty measures; one
who skipped the question or never answered it has no row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlglot import exp

from ..cdr.facts import PPI_VOCABULARY, Domain, EventTable, age_at, event_table_of
from ..cdr.model import cdm
from ..cdr.sql import alias, col, lit
from .columns import EVENT_COLUMNS, WEARABLE_TABLES, ZIP_SES_MEASURES, columns_of

PERSON_TABLE = "search_person"  # the index's person table, a view on the engine's connection
PERSONS_TABLE = "dataset_persons"  # the dataset's participants (``person_id``), registered by the runner
# The Basics: "What is your zip code?" (PPI StreetAddress_PIIZIP), the question curation generalises to three digits
# (its config's ``demographics.zip_question``; a test checks the two agree).
ZIP_QUESTION = 1585250
ZIP_SES_TABLE = "zip3_ses_map"


@dataclass(frozen=True)
class ConceptFilter:
    """The concepts a domain is narrowed to (from its concept sets); an empty filter keeps no rows."""

    standard: frozenset[int] = frozenset()
    source: frozenset[int] = frozenset()


@dataclass
class DomainQuery:
    """One domain's statement: ``rows`` picks the rows (filters, in the export's order) and ``columns`` makes the
    catalogue's columns of them. They are apart so that a preview's limit applies before the joins that name
    concepts and visits (20 rows joined, not every row of the cohort); ``tables``: the files read, each bound as
    the parameter of its name."""

    domain: Domain
    columns: list[str]
    rows: exp.Select
    make_columns: Callable[[_Joins], list[exp.Expression]]
    order: list[str]
    tables: list[str] = field(default_factory=list)

    def statement(self, limit: int | None = None, *, files: bool = True) -> exp.Select:
        """The domain's rows with their columns; the first ``limit`` of them when given. ``files``: each CDR table
        read from its file, a parameter of the table's name (DuckDB's ``read_parquet``); else named, for an engine
        that has them registered."""
        rows = self.rows.copy()
        if limit is not None:
            rows = rows.limit(limit)
        joins = _Joins(exp.select().from_(rows.subquery("e")), self.tables)
        columns = self.make_columns(joins)
        statement = joins.select.select(*columns).order_by(*[col(c, table="e") for c in self.order])
        return _read_files(statement, self.tables) if files else statement


def _param(name: str) -> exp.Placeholder:
    return exp.Placeholder(this=name)


def _read(table: str, alias_name: str) -> exp.Table:
    """``table AS alias_name``: a CDR table, by name (``statement`` says where it is read from)."""
    return exp.Table(this=exp.to_identifier(table), alias=exp.TableAlias(this=exp.to_identifier(alias_name)))


def _read_files(statement: exp.Expression, tables: list[str]) -> exp.Expression:
    """The statement with each CDR table of ``tables`` read as ``read_parquet($table)`` (the file bound as a
    parameter of the table's name), keeping its alias."""
    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and not node.args.get("db") and isinstance(node.this, exp.Identifier) \
                and node.name in tables:
            return exp.Table(this=exp.func("read_parquet", _param(node.name)), alias=node.args.get("alias"))
        return node

    return statement.transform(swap, copy=False)


def _in_param(column: exp.Expression, name: str) -> exp.Expression:
    """``column IN (SELECT unnest($name))``: a list parameter, hashed once (a cohort may hold every participant)."""
    return exp.In(this=column, query=exp.select(exp.Unnest(expressions=[_param(name)])).subquery())


def _of_persons() -> exp.Expression:
    """The row is of one of the dataset's participants."""
    return exp.In(this=col("person_id", table="e"),
                  query=exp.select(col("person_id")).from_(exp.to_table(PERSONS_TABLE)).subquery())


class _Joins:
    """The joins a statement needs, each added once, in the order first asked for."""

    def __init__(self, select: exp.Select, tables: list[str]):
        self.select, self.tables, self.done = select, tables, set()

    def concept(self, name: str, on: exp.Expression) -> str:
        if name not in self.done:
            self.done.add(name)
            self._need("concept")
            self.select = self.select.join(_read("concept", name), on=exp.EQ(this=col("concept_id", table=name),
                                                                            expression=on), join_type="left")
        return name

    def join(self, name: str, table: str, on: exp.Expression) -> str:
        if name not in self.done:
            self.done.add(name)
            self._need(table)
            self.select = self.select.join(_read(table, name), on=on, join_type="left")
        return name

    def person(self) -> str:
        if "sp" not in self.done:
            self.done.add("sp")
            self.select = self.select.join(exp.alias_(exp.to_table(PERSON_TABLE), "sp", table=True), on=exp.EQ(
                this=col("person_id", table="sp"), expression=col("person_id", table="e")), join_type="left")
        return "sp"

    def _need(self, table: str) -> None:
        if table not in self.tables:
            self.tables.append(table)


def _event_column(name: str, t: EventTable, joins: _Joins) -> exp.Expression:
    e = lambda c: col(c, table="e")  # noqa: E731  (the event row's column)
    concept_role = {"standard": t.concept, "source": t.source_concept}
    if name == "person_id":
        return e("person_id")
    if name == "event_id":
        return e(t.id)
    role, _, part = name.partition("_")
    if role in concept_role and part.startswith(("concept_", "vocabulary")):
        if part == "concept_id":
            return e(concept_role[role])
        where = joins.concept("c_" + role, e(concept_role[role]))
        return col({"concept_name": "concept_name", "concept_code": "concept_code", "vocabulary": "vocabulary_id"}[part],
                   table=where)
    simple = {"source_value": exp.cast(e(t.source_value), "VARCHAR"), "start_date": e(t.start_date),
              "start_datetime": e(t.start_datetime), "visit_occurrence_id": e(t.visit)}
    if name in simple:
        return simple[name]
    if name == "end_date" and t.end_date:
        return e(t.end_date)
    if name == "age_at_event":
        return exp.cast(age_at(col("birth_date", table=joins.person()), e(t.start_date)), "INTEGER")
    if name == "type_concept_name":
        return col("concept_name", table=joins.concept("c_type", e(t.type_concept)))
    if name == "visit_concept_name":
        visit = event_table_of(Domain.VISIT)
        v = joins.join("v", visit.table, exp.EQ(this=col(visit.id, table="v"), expression=e(t.visit)))
        return col("concept_name", table=joins.concept("c_visit", col(visit.concept, table=v)))
    if name == "value_as_number" and t.value_as_number:
        return e(t.value_as_number)
    if name == "value_as_concept_name" and t.value_as_concept:
        return col("concept_name", table=joins.concept("c_value", e(t.value_as_concept)))
    if name == "unit_concept_name" and t.unit_concept:
        return col("concept_name", table=joins.concept("c_unit", e(t.unit_concept)))
    raise KeyError(f"{t.domain.value}: no column {name!r}")


def _rows(table: str, tables: list[str]) -> _Joins:
    """``SELECT e.* FROM read_parquet($table) AS e``, to be narrowed (joins for the filters only)."""
    return _Joins(exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("e"))).from_(_read(table, "e")), tables)


def _narrowed(joins: _Joins, where: list[exp.Expression], order: list[str]) -> exp.Select:
    select = joins.select
    for condition in where:
        select = select.where(condition)
    return select.order_by(*[col(c, table="e") for c in order])


def _event_query(domain: Domain, names: list[str], persons: bool, concepts: ConceptFilter | None) -> DomainQuery:
    t = event_table_of(domain)
    tables = [t.table]
    rows = _rows(t.table, tables)
    where: list[exp.Expression] = []
    if domain in (Domain.MEASUREMENT, Domain.PHYSICAL_MEASUREMENT):
        ppi = exp.EQ(this=col("vocabulary_id", table=rows.concept("c_ppi", col(t.source_concept, table="e"))),
                     expression=lit(PPI_VOCABULARY))
        where.append(ppi if domain is Domain.PHYSICAL_MEASUREMENT else exp.not_(exp.func("COALESCE", ppi, exp.false())))
    if domain is Domain.OBSERVATION:
        where.append(exp.Is(this=col("questionnaire_response_id", table="e"), expression=exp.Null()))
    if persons:
        where.append(_of_persons())
    if concepts is not None:
        where.append(exp.or_(_in_param(col(t.concept, table="e"), "standard"),
                             _in_param(col(t.source_concept, table="e"), "source")))
    order = ["person_id", t.id]
    return DomainQuery(domain, names, _narrowed(rows, where, order),
                       lambda joins: [alias(_event_column(n, t, joins), n) for n in names], order, tables)


def _survey_module(joins: _Joins) -> exp.Expression:
    """The survey (module) concept of the answer's questionnaire response."""
    conduct = joins.join("sc", "survey_conduct", exp.EQ(this=col("survey_conduct_id", table="sc"),
                                                         expression=col("questionnaire_response_id", table="e")))
    return col("survey_concept_id", table=conduct)


def _survey_column(name: str, t: EventTable, joins: _Joins) -> exp.Expression:
    e = lambda c: col(c, table="e")  # noqa: E731  (the answer's observation row)
    answer_id = exp.func("COALESCE", e(t.value_source_concept), e(t.value_as_concept))
    if name in ("person_id", "questionnaire_response_id"):
        return e(name)
    if name == "survey_datetime":
        return e(t.start_date)
    if name == "survey":
        return col("concept_name", table=joins.concept("c_survey", _survey_module(joins)))
    if name == "question_concept_id":
        return e(t.source_concept)
    if name == "question":
        return col("concept_name", table=joins.concept("c_question", e(t.source_concept)))
    if name == "answer_concept_id":
        return answer_id
    if name == "answer":
        return exp.func("COALESCE", col("concept_name", table=joins.concept("c_answer", answer_id)),
                        e("value_as_string"), exp.cast(e(t.value_as_number), "VARCHAR"))
    raise KeyError(f"SURVEY: no column {name!r}")


def _survey_query(names: list[str], persons: bool, concepts: ConceptFilter | None) -> DomainQuery:
    t = event_table_of(Domain.SURVEY)  # observation rows of a questionnaire response
    tables = [t.table]
    rows = _rows(t.table, tables)
    where: list[exp.Expression] = [exp.not_(exp.Is(this=col("questionnaire_response_id", table="e"),
                                                   expression=exp.Null()))]
    if persons:
        where.append(_of_persons())
    if concepts is not None:  # questions, or whole surveys
        where.append(exp.or_(_in_param(col(t.source_concept, table="e"), "source"),
                             _in_param(col(t.concept, table="e"), "standard"),
                             _in_param(_survey_module(rows), "source")))
    order = ["person_id", t.id]
    return DomainQuery(Domain.SURVEY, names, _narrowed(rows, where, order),
                       lambda joins: [alias(_survey_column(n, t, joins), n) for n in names], order, tables)


PERSON_NAMED = {"gender": "gender_concept_id", "sex_at_birth": "sex_at_birth_concept_id", "race": "race_concept_id",
                "ethnicity": "ethnicity_concept_id"}


def _person_column(name: str, joins: _Joins) -> exp.Expression:
    if name in PERSON_NAMED:
        return col("concept_name", table=joins.concept("c_" + name, col(PERSON_NAMED[name], table="e")))
    return col("birth_date" if name == "date_of_birth" else name, table="e")


def _person_query(names: list[str], persons: bool) -> DomainQuery:
    tables: list[str] = []
    rows = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("e"))).from_(
        exp.alias_(exp.to_table(PERSON_TABLE), "e", table=True))
    where = [_of_persons()] if persons else []
    rows = _narrowed(_Joins(rows, tables), where, ["person_id"])
    return DomainQuery(Domain.PERSON, names, rows, lambda joins: [alias(_person_column(n, joins), n) for n in names],
                       ["person_id"], tables)


def _wearable_query(domain: Domain, names: list[str], persons: bool) -> DomainQuery:
    """A wearable table's rows, whole (its domain is only ever a prepackaged set), in person and day order."""
    table = cdm().table(WEARABLE_TABLES[domain])
    tables = [table.name]
    rows = _rows(table.name, tables)
    order = ["person_id"] + ([table.event_date_column] if table.event_date_column else [])
    return DomainQuery(domain, names, _narrowed(rows, [_of_persons()] if persons else [], order),
                       lambda joins: [alias(col(n, table="e"), n) for n in names], order, tables)


def _zip3(e: str = "e") -> exp.Expression:
    """The first three characters of the zip answer: the area (the answer is ``NNN**`` in the Controlled Tier)."""
    return exp.func("left", col("value_as_string", table=e), exp.Literal.number(3))


def zip3_valid(zip3: exp.Expression) -> exp.Expression:
    """The answer's area is three ASCII digits: anchored, because DuckDB's REGEXP_MATCHES and Spark's RLIKE both find
    a match anywhere in the text (DuckDB's regexp_full_match is not Spark's)."""
    return exp.RegexpLike(this=zip3, expression=lit("^[0-9]{3}$"))


def _zip_column(name: str, t: EventTable, joins: _Joins) -> exp.Expression:
    e = lambda c: col(c, table="e")  # noqa: E731  (the answer's observation row)
    if name == "person_id":
        return e("person_id")
    if name == "observation_datetime":
        return exp.func("COALESCE", e(t.start_datetime), exp.cast(e(t.start_date), "TIMESTAMP"))
    if name == "zip3_as_string":
        return exp.func("CONCAT", _zip3(), lit("**"))
    if name in ZIP_SES_MEASURES:
        z = joins.join("z", ZIP_SES_TABLE, exp.EQ(this=col("zip3", table="z"), expression=_zip3()))
        return col(ZIP_SES_MEASURES[name], table=z)
    raise KeyError(f"ZIP_CODE_SOCIOECONOMIC: no column {name!r}")


def _zip_query(names: list[str], persons: bool) -> DomainQuery:
    """Each participant's latest zip answer with three leading digits (a skipped or malformed answer has none)."""
    t = event_table_of(Domain.OBSERVATION)
    # The map is read only when a measure is asked for; named up front so the plan checks the data version has it.
    tables = [t.table] + ([ZIP_SES_TABLE] if any(n in ZIP_SES_MEASURES for n in names) else [])
    where: list[exp.Expression] = [
        exp.EQ(this=col(t.source_concept, table="e"), expression=exp.Literal.number(ZIP_QUESTION)),
        zip3_valid(_zip3()),
    ]
    if persons:
        where.append(_of_persons())
    latest = exp.Window(this=exp.RowNumber(), partition_by=[col("person_id", table="e")], order=exp.Order(
        expressions=[exp.Ordered(this=col(t.start_date, table="e"), desc=True),
                     exp.Ordered(this=col(t.start_datetime, table="e"), desc=True, nulls_first=False),
                     exp.Ordered(this=col(t.id, table="e"), desc=True)]))
    answers = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("e")), alias(latest, "answer_rank")) \
        .from_(_read(t.table, "e"))
    for condition in where:
        answers = answers.where(condition)
    rows = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("e"))).from_(answers.subquery("e")).where(
        exp.EQ(this=col("answer_rank", table="e"), expression=exp.Literal.number(1))).order_by(col("person_id", table="e"))
    return DomainQuery(Domain.ZIP_CODE_SOCIOECONOMIC, names, rows,
                       lambda joins: [alias(_zip_column(n, t, joins), n) for n in names], ["person_id"], tables)


def domain_query(domain: Domain, names: list[str], *, persons: bool, concepts: ConceptFilter | None) -> DomainQuery:
    """The statement for ``domain``'s rows with the columns ``names`` (catalogue names, in that order).

    ``persons``: keep the participants of ``PERSONS_TABLE`` (false: everyone in the data version). ``concepts``: keep the
    events of those concepts (None: every row of the domain — a prepackaged concept set such as all surveys)."""
    known = {c.name for c in columns_of(domain)}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise KeyError(f"{domain.value}: no column {unknown[0]!r} (see the column catalogue)")
    if domain is Domain.PERSON:
        return _person_query(names, persons)
    if domain is Domain.SURVEY:
        return _survey_query(names, persons, concepts)
    if domain in EVENT_COLUMNS:
        return _event_query(domain, names, persons, concepts)
    if domain in WEARABLE_TABLES:
        return _wearable_query(domain, names, persons)
    if domain is Domain.ZIP_CODE_SOCIOECONOMIC:
        return _zip_query(names, persons)
    raise KeyError(f"{domain.value} has no dataset rows")
