"""The CDR data model, read from the CSV files in ``schema/``.

The model is written once, as data (``schema/tables.csv`` and ``schema/columns.csv``): OMOP CDM 5.4 plus
the program's extensions. Everything else (DDL per engine, loaders, validation) is derived from it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from typing import Literal

ColumnType = Literal["int", "float", "string", "date", "datetime", "bool"]
COLUMN_TYPES: tuple[ColumnType, ...] = ("int", "float", "string", "date", "datetime", "bool")

# The engine-neutral type of each column, as SQLGlot type names (rendered per dialect by SQLGlot).
# Every OMOP "integer" is stored as 64-bit: program ids outgrow 32 bits long before concept ids do.
SQL_TYPES: dict[str, str] = {
    "int": "BIGINT",
    "float": "DOUBLE",
    "string": "TEXT",
    "date": "DATE",
    "datetime": "TIMESTAMP",
    "bool": "BOOLEAN",
}

# The SQL engines the model's DDL and the cohort compiler render for (SQLGlot dialect names).
Dialect = Literal["duckdb", "postgres", "spark"]
DIALECTS: tuple[Dialect, ...] = ("duckdb", "postgres", "spark")


def arrow_type(column_type: ColumnType):
    """The Arrow type a column is stored as in Parquet (what DuckDB writes for the SQL type)."""
    import pyarrow as pa

    return {
        "int": pa.int64(),
        "float": pa.float64(),
        "string": pa.string(),
        "date": pa.date32(),
        "datetime": pa.timestamp("us"),
        "bool": pa.bool_(),
    }[column_type]


CATEGORIES = (
    "clinical",
    "health_system",
    "health_economics",
    "derived",
    "metadata",
    "vocabulary",
    "results",
    "extension",
    "program",
    "wearable",
    "genomics",
)


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    required: bool
    origin: str  # "cdm54" or "aou" (a program extension)

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.type]


@dataclass(frozen=True)
class Table:
    name: str
    category: str
    origin: str
    primary_key: tuple[str, ...]
    person_column: str | None
    event_date_column: str | None
    description: str
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"table {self.name} has no column {name!r}")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def arrow_schema(self):
        """The Arrow schema of this table's Parquet file; writers that stream chunks use it."""
        import pyarrow as pa

        return pa.schema([pa.field(c.name, arrow_type(c.type), nullable=not c.required) for c in self.columns])

    @property
    def is_vocabulary(self) -> bool:
        return self.category == "vocabulary"


class UnknownTableError(KeyError):
    pass


IdentifierKind = Literal["person", "row", "response", "device", "site", "sample", "source", "none"]
IDENTIFIER_KINDS: tuple[IdentifierKind, ...] = ("person", "row", "response", "device", "site", "sample", "source", "none")


@dataclass(frozen=True)
class Identifier:
    """A column that identifies something, and what: the rule de-identification and the release scanner share.

    - ``person``: a participant (each table's person column, from ``tables.csv``);
    - ``row``: a row of a person-level table (its key, a reference to one, or a provider, care site or location);
    - ``response``: a survey response (questionnaire_response_id and the columns that repeat it);
    - ``device``: a wearable device; ``sample``: a genomic sample; ``site``: the site a row came from (``src_id``);
    - ``source``: an identifier of the source systems that curation empties (a serial number, a barcode);
    - ``none``: named like an identifier but identifying no participant (a cohort definition, a domain name).
    """

    table: str
    column: str
    kind: IdentifierKind
    note: str = ""


@dataclass(frozen=True)
class CdmModel:
    version: str
    tables: dict[str, Table]

    def table(self, name: str) -> Table:
        try:
            return self.tables[name.lower()]
        except KeyError:
            raise UnknownTableError(f"no table {name!r} in the CDR model") from None

    def __contains__(self, name: str) -> bool:
        return name.lower() in self.tables

    def by_category(self, *categories: str) -> list[Table]:
        return [t for t in self.tables.values() if t.category in categories]

    @property
    def vocabulary_tables(self) -> list[Table]:
        return self.by_category("vocabulary")

    def identifiers(self, *kinds: IdentifierKind) -> list[Identifier]:
        """The identifier columns (of ``kinds``, or all), in model order."""
        return [i for i in self._identifier_columns if not kinds or i.kind in kinds]

    @cached_property
    def _identifier_columns(self) -> tuple[Identifier, ...]:
        return _identifiers(self)


def _read_csv(name: str) -> list[dict[str, str]]:
    text = resources.files(__package__).joinpath("schema", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def _identifiers(model: CdmModel) -> tuple[Identifier, ...]:
    """``schema/identifiers.csv``, plus every person column (``tables.csv``) and every ``src_id`` (a site)."""
    listed: dict[tuple[str, str], Identifier] = {}
    for row in _read_csv("identifiers.csv"):
        where = f"schema/identifiers.csv: {row['table']}.{row['column']}"
        if row["kind"] not in IDENTIFIER_KINDS or row["kind"] in ("person", "site"):
            raise ValueError(f"{where}: kind {row['kind']!r} is not one of {[k for k in IDENTIFIER_KINDS if k not in ('person', 'site')]}")
        model.table(row["table"]).column(row["column"])  # raises on a typo
        if (row["table"], row["column"]) in listed:
            raise ValueError(f"{where} is listed twice")
        listed[(row["table"], row["column"])] = Identifier(row["table"], row["column"], row["kind"], row["note"])  # type: ignore[arg-type]
    found = []
    for table in model.tables.values():
        for col in table.columns:
            key = (table.name, col.name)
            if col.name == table.person_column or col.name == "src_id":
                if key in listed:
                    raise ValueError(f"schema/identifiers.csv: {table.name}.{col.name} is derived (person column or src_id); do not list it")
                found.append(Identifier(table.name, col.name, "person" if col.name == table.person_column else "site"))
            elif key in listed:
                found.append(listed[key])
    return tuple(found)


@cache
def cdm() -> CdmModel:
    """The CDR model: OMOP CDM 5.4 and the program's extension tables."""
    columns: dict[str, list[Column]] = {}
    for row in _read_csv("columns.csv"):
        if row["type"] not in COLUMN_TYPES:
            raise ValueError(f"schema/columns.csv: column {row['table']}.{row['column']} has unknown type {row['type']!r}")
        columns.setdefault(row["table"], []).append(
            Column(row["column"], row["type"], row["required"] == "true", row["origin"])  # type: ignore[arg-type]
        )
    tables: dict[str, Table] = {}
    for row in _read_csv("tables.csv"):
        name = row["table"]
        if row["category"] not in CATEGORIES:
            raise ValueError(f"schema/tables.csv: table {name} has unknown category {row['category']!r}")
        table = Table(
            name=name,
            category=row["category"],
            origin=row["origin"],
            primary_key=tuple(k for k in row["primary_key"].split("|") if k),
            person_column=row["person_column"] or None,
            event_date_column=row["event_date_column"] or None,
            description=row["description"],
            columns=tuple(columns.pop(name, ())),
        )
        for key in (*table.primary_key, table.person_column, table.event_date_column):
            if key:
                table.column(key)  # raises on a typo in tables.csv
        tables[name] = table
    if columns:
        raise ValueError(f"schema/columns.csv names tables missing from tables.csv: {sorted(columns)}")
    return CdmModel(version="5.4", tables=tables)
