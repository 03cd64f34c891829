"""CREATE TABLE statements for every engine, generated from the one CDR model with SQLGlot."""

from __future__ import annotations

from sqlglot import exp

from .model import DIALECTS, Dialect, Table, cdm

__all__ = ["DIALECTS", "Dialect", "create_table", "ddl"]


def create_table(table: Table, dialect: Dialect, schema: str | None = None, *, primary_key: bool = True) -> exp.Create:
    """The CREATE TABLE expression of one table.

    Spark's file-based tables cannot enforce keys or NOT NULL, so for Spark the statement carries column types
    only (with ``USING parquet``); the loaders enforce the constraints before data reaches any engine.
    ``primary_key=False`` leaves the key out, for a table known to hold duplicate keys.
    """
    enforce = dialect != "spark"
    defs: list[exp.Expression] = []
    for col in table.columns:
        constraints = []
        if enforce and col.required:
            constraints.append(exp.ColumnConstraint(kind=exp.NotNullColumnConstraint()))
        defs.append(
            exp.ColumnDef(
                this=exp.to_identifier(col.name, quoted=True),
                kind=exp.DataType.build(col.sql_type),
                constraints=constraints,
            )
        )
    if enforce and primary_key and table.primary_key:
        defs.append(exp.PrimaryKey(expressions=[exp.to_identifier(k, quoted=True) for k in table.primary_key]))
    target = exp.Table(
        this=exp.to_identifier(table.name, quoted=True),
        db=exp.to_identifier(schema, quoted=True) if schema else None,
    )
    properties = None
    if dialect == "spark":
        properties = exp.Properties(expressions=[exp.FileFormatProperty(this=exp.Var(this="PARQUET"))])
    return exp.Create(kind="TABLE", this=exp.Schema(this=target, expressions=defs), properties=properties)


def ddl(dialect: Dialect, schema: str | None = None, tables: list[str] | None = None) -> list[str]:
    """CREATE TABLE statements (SQL text) for the given tables, or all of them."""
    model = cdm()
    names = tables or list(model.tables)
    return [create_table(model.table(n), dialect, schema).sql(dialect=dialect) for n in names]
