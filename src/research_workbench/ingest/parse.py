"""Text → typed value expressions (SQLGlot) for each model column type, with strict rules.

Each parser returns NULL where the text is not a valid value, so one expression serves both to convert and to
find bad values (text present, parse NULL).
"""

from __future__ import annotations

from sqlglot import exp

from ..cdr.model import ColumnType

TYPE_WORDS: dict[str, str] = {
    "int": "an integer",
    "float": "a number",
    "string": "text",
    "date": "a date",
    "datetime": "a date-time",
    "bool": "true or false",
}


def _trimmed(value: exp.Expression) -> exp.Expression:
    return exp.func("TRIM", value)


def parse_value(value: exp.Expression, column_type: ColumnType, date_format: str | None = None) -> exp.Expression:
    """An expression turning VARCHAR ``value`` into ``column_type``, or NULL when it is not valid."""
    text = _trimmed(value)
    if column_type == "string":
        return value
    if column_type == "int":
        # DuckDB would round '12.5' to 13; only whole numbers (optionally written '12.0') are integers.
        whole = exp.func("REGEXP_FULL_MATCH", text, exp.Literal.string(r"[+-]?[0-9]+(\.0*)?"))
        as_int = exp.TryCast(this=exp.TryCast(this=text, to=exp.DataType.build("DOUBLE")), to=exp.DataType.build("BIGINT"))
        plain = exp.TryCast(this=text, to=exp.DataType.build("BIGINT"))
        return exp.Case(ifs=[exp.If(this=whole, true=exp.func("COALESCE", plain, as_int))])
    if column_type == "float":
        number = exp.TryCast(this=text, to=exp.DataType.build("DOUBLE"))
        return exp.Case(ifs=[exp.If(this=exp.func("ISFINITE", number), true=number)])
    if column_type == "bool":
        return exp.TryCast(this=text, to=exp.DataType.build("BOOLEAN"))
    if column_type == "date":
        if date_format:
            return exp.cast(exp.func("TRY_STRPTIME", text, exp.Literal.string(date_format)), "DATE")
        # A date column may hold a date-time at midnight ('2001-02-03 00:00:00'), as many exports write it.
        return exp.func(
            "COALESCE",
            exp.TryCast(this=text, to=exp.DataType.build("DATE")),
            exp.cast(exp.TryCast(this=text, to=exp.DataType.build("TIMESTAMP")), "DATE"),
        )
    if column_type == "datetime":
        if date_format:
            return exp.cast(exp.func("TRY_STRPTIME", text, exp.Literal.string(date_format)), "TIMESTAMP")
        return exp.TryCast(this=text, to=exp.DataType.build("TIMESTAMP"))
    raise ValueError(f"no parser for column type {column_type!r}")
