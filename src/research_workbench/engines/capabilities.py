"""What each engine can run, and the check every engine makes before it runs a SQLGlot tree.

Our SQL is written once, as SQLGlot trees, and each engine renders it in its dialect. Most of a tree means the
same everywhere; what does not falls in two kinds, and ``check_portable`` refuses both before anything runs,
raising ``UnsupportedConstruct`` naming each construct and the engine:

- **constructs an engine cannot run** (a DuckDB macro, ``COPY … TO``, ``UPDATE``, a DuckDB-only function such as
  ``LIST_DISTINCT``, ``TRY``): refused by that engine only, so code may still use them behind
  ``supports(engine, key)``. The capability table below lists them; function calls are checked against each
  engine's own catalogue (DuckDB's ``duckdb_functions()``, Spark's ``SHOW FUNCTIONS`` in ``spark_catalogue``).
- **constructs that run everywhere but answer differently** (``DATE_DIFF`` in months, years, quarters or weeks,
  or on timestamps; DuckDB's ``date_sub(part, a, b)``; ``DATE ± INTERVAL``; ``HASH``; epoch seconds; random
  values; ``LIST``/``ARRAY_AGG`` and NULLs): refused by **every** engine, since no engine's answer is "the"
  answer. ``portable`` has the builders that replace them.

A DATE_DIFF in days is portable only between DATEs (on timestamps DuckDB counts midnights crossed, Spark whole
24-hour periods), so the check types the tree with the engine's table schemas: an argument that is not shown to
be a DATE is refused (``portable.days_between`` casts its arguments).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from .errors import Finding, UnsupportedConstruct
from .rendering import render
from .row_hash import RowHash
from .spark_catalogue import SPARK_FUNCTIONS



class EngineLike(Protocol):
    """What the check needs of an engine (``base.Engine`` has it; named here so this module need not import it)."""

    name: str

    def has_function(self, name: str) -> bool: ...

    def schemas(self) -> dict[str, dict[str, str]]: ...

ENGINE_NAMES: tuple[str, ...] = ("duckdb", "spark")
ALL = frozenset(ENGINE_NAMES)


@dataclass(frozen=True)
class Capability:
    """One row of the capability table. ``probe``: DuckDB-dialect SQL exercising the construct, rendered for each
    engine and run by ``tests/engines/test_capabilities.py``, which checks it runs exactly where the table says."""

    key: str
    construct: str
    duckdb: bool
    spark: bool
    note: str = ""
    probe: str | None = None

    def supported_by(self, engine: str) -> bool:
        return bool(getattr(self, engine))


CAPABILITIES: tuple[Capability, ...] = (
    Capability("qualify", "QUALIFY", True, True,
               "Spark has no QUALIFY; SQLGlot rewrites it into a filtered sub-query",
               "SELECT x FROM (SELECT 1 AS x) AS t QUALIFY row_number() OVER (ORDER BY x) = 1"),
    Capability("star_exclude", "SELECT * EXCLUDE (…)", True, True, "written SELECT * EXCEPT (…) for Spark 4",
               "SELECT * EXCLUDE (a) FROM (SELECT 1 AS a, 2 AS b) AS t"),
    Capability("star_replace", "SELECT * REPLACE (…)", True, False, "Spark has none: name the columns",
               "SELECT * REPLACE (a + 1 AS a) FROM (SELECT 1 AS a) AS t"),
    Capability("group_by_all", "GROUP BY ALL", True, True, "", "SELECT a, count(*) FROM (SELECT 1 AS a) AS t GROUP BY ALL"),
    Capability("arrays", "array literals and parameters, ARRAY_CONTAINS", True, True,
               "DuckDB's list_contains and [..] are written ARRAY_CONTAINS and ARRAY(..) for Spark",
               "SELECT list_contains([1, 2], 2)"),
    Capability("list_functions", "DuckDB list_* functions built by name (exp.func('list_distinct', …)) or not mapped by "
               "SQLGlot (list_has_any, list_filter…)", True, False,
               "written unchanged (or as `a && b`) for Spark, which has neither; Spark's array_* functions differ in "
               "NULL handling and order", "SELECT list_has_any([1], [1])"),
    Capability("window_frames", "window functions and frames (ROWS / RANGE BETWEEN)", True, True, "",
               "SELECT sum(x) OVER (ORDER BY x ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM (SELECT 1 AS x) AS t"),
    Capability("filter_clause", "aggregate FILTER (WHERE …)", True, True, "",
               "SELECT count(*) FILTER (WHERE x > 0) FROM (SELECT 1 AS x) AS t"),
    Capability("macros", "CREATE MACRO", True, False, "Spark has no macros", "CREATE TEMP MACRO rw_probe_macro(a) AS a + 1"),
    Capability("temp_functions", "CREATE TEMP FUNCTION (one tree for both)", True, False,
               "DuckDB's CREATE FUNCTION is a macro; Spark 4's SQL functions need typed arguments and RETURN, "
               "so no one tree is both", "CREATE TEMP FUNCTION rw_probe_function(a) AS a + 1"),
    Capability("try", "TRY(expression)", True, False,
               "Spark has no TRY; SQLGlot drops it, so an error DuckDB turns into NULL fails on Spark",
               "SELECT try(CAST('x' AS INTEGER))"),
    Capability("read_parquet", "read_parquet(…) in FROM", True, False,
               "SQLGlot writes one path as parquet.`path` and a list as nothing; register files with register_parquet"),
    Capability("copy_to", "COPY … TO", True, False, "use Engine.write_parquet"),
    Capability("dml", "INSERT, UPDATE, DELETE, MERGE", True, False,
               "Spark's temporary views are read-only: materialise the table's new rows instead"),
    Capability("ddl", "CREATE TABLE / VIEW, DROP, ALTER", True, False,
               "Spark would create warehouse tables on disk: use Engine.materialise and Engine.drop"),
    Capability("named_parameters", "named bound parameters", True, True,
               "rendered $name for DuckDB, :name for Spark (spark.sql(sql, args=…)); positional ? is refused"),
    Capability("spilling", "operators larger than memory spill to disk", True, True,
               "DuckDB: temp_directory (cdr.engine.connect); Spark: spark.local.dir and shuffle spill"),
    Capability("nanosecond_timestamps", "TIMESTAMP_NS values", True, False,
               "refused at the boundary on both engines (engines.schemas)",
               "SELECT CAST(TIMESTAMP '2020-01-01 00:00:00' AS TIMESTAMP_NS)"),
)
CAPABILITY = {c.key: c for c in CAPABILITIES}


def supports(engine: str, key: str) -> bool:
    """Whether ``engine`` (a name of ``ENGINE_NAMES``) supports capability ``key``."""
    try:
        return CAPABILITY[key].supported_by(engine)
    except KeyError:
        raise KeyError(f"unknown capability {key!r} (one of {', '.join(CAPABILITY)})") from None


def capabilities_of(engine: str) -> frozenset[str]:
    if engine not in ENGINE_NAMES:
        raise KeyError(f"unknown engine {engine!r} (one of {', '.join(ENGINE_NAMES)})")
    return frozenset(c.key for c in CAPABILITIES if c.supported_by(engine))


def _lacking(key: str) -> frozenset[str]:
    return frozenset(e for e in ENGINE_NAMES if not supports(e, key))


# --- function catalogues -------------------------------------------------------------------------------------

# Written with SQL syntax of their own rather than as catalogue functions on some engine.
_SQL_FORMS = frozenset({"coalesce", "cast", "try_cast", "case", "exists", "if", "timestampdiff", "extract"})


@functools.cache
def duckdb_functions() -> frozenset[str]:
    """DuckDB's built-in function names (lower case), from a fresh in-memory connection."""
    import duckdb

    con = duckdb.connect()
    try:
        return frozenset(r[0].lower() for r in con.sql("SELECT DISTINCT function_name FROM duckdb_functions()").fetchall())
    finally:
        con.close()


def builtin_function(engine: str, name: str) -> bool:
    """Whether ``name`` is a built-in function of ``engine`` (no session needed)."""
    name = name.lower()
    if name in _SQL_FORMS:
        return True
    return name in (SPARK_FUNCTIONS if engine == "spark" else duckdb_functions())


@functools.cache
def _fallback_names(dialect: str) -> Callable[[exp.Func], str | None]:
    """For a dialect, the function name a Func node is written with when SQLGlot has no special rendering for it
    (then it writes ``NAME(args)`` by the node's own name, whether or not the dialect has that function)."""
    generator = Dialect.get_or_raise(dialect).generator_class

    def name(node: exp.Func) -> str | None:
        if isinstance(node, exp.Anonymous):
            return node.name
        if type(node) in generator.TRANSFORMS or hasattr(generator, f"{node.key}_sql"):
            return None  # SQLGlot writes it its own way for this dialect: trusted
        return node.sql_name()

    return name


# --- what answers differently -------------------------------------------------------------------------------

_DAY_UNITS = {"DAY", "DAYS", "D"}
_DIFFERENT_FUNCTIONS = {  # same name on both engines, different answers
    "hash": ("DuckDB's HASH is a 64-bit hash, Spark's a 32-bit Murmur3: the values differ",
             "compare the columns themselves, or engines.row_hash.row_hash for grouping inside a query"),
    "epoch": ("DuckDB's epoch keeps fractional seconds, Spark's UNIX_TIMESTAMP truncates them",
              "compare timestamps directly"),
    "epoch_ms": ("DuckDB's epoch_ms is milliseconds of an instant, Spark has no such function", "compare timestamps directly"),
    "setseed": ("random streams differ by engine (and by partition on Spark)",
                "draw random values in Python, seeded, and register them as a table"),
}
_INTERVAL_FUNCTIONS = {"to_days", "to_weeks", "to_months", "to_years", "to_hours", "to_minutes", "to_seconds"}
_DATE_PART_CALLS = {"date_sub", "date_add", "datesub", "dateadd", "date_diff", "datediff"}
_SPARK_MISSING_TYPES = {
    exp.DataType.Type.TIMESTAMP_NS, exp.DataType.Type.TIMESTAMP_MS, exp.DataType.Type.TIMESTAMP_S,
    exp.DataType.Type.UBIGINT, exp.DataType.Type.UINT, exp.DataType.Type.USMALLINT, exp.DataType.Type.UTINYINT,
    exp.DataType.Type.UINT128, exp.DataType.Type.UINT256, exp.DataType.Type.INT128, exp.DataType.Type.INT256,
    exp.DataType.Type.UMEDIUMINT, exp.DataType.Type.TIME, exp.DataType.Type.TIMETZ, exp.DataType.Type.TIME_NS,
    exp.DataType.Type.UNION, exp.DataType.Type.ENUM, exp.DataType.Type.BIT, exp.DataType.Type.JSON,
}
_TEMPORAL = {exp.DataType.Type.DATE, exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ,
             exp.DataType.Type.TIMESTAMPNTZ, exp.DataType.Type.TIMESTAMPLTZ, exp.DataType.Type.DATETIME}


def _fragment(node: exp.Expression) -> str:
    text = node.sql(dialect="duckdb")
    return text if len(text) <= 90 else text[:87] + "..."


def _unit(node: exp.Expression) -> str | None:
    unit = node.args.get("unit")
    return unit.name.upper() if unit is not None else None


def _string_literal(node: exp.Expression | None) -> bool:
    return isinstance(node, exp.Literal) and node.is_string


def _python_type(value: Any) -> exp.DataType.Type | None:
    import datetime as dt

    if isinstance(value, dt.datetime):
        return exp.DataType.Type.TIMESTAMP
    if isinstance(value, dt.date):
        return exp.DataType.Type.DATE
    if isinstance(value, str):
        return exp.DataType.Type.TEXT
    return None


def _kind(node: exp.Expression, params: Mapping[str, Any]) -> exp.DataType.Type | None:
    """The SQL type of an expression as far as the annotated tree (or a bound parameter's value) shows it."""
    if isinstance(node, exp.Placeholder) and node.name in params:
        return _python_type(params[node.name])
    if isinstance(node, exp.Cast):
        return node.to.this
    kind = node.type
    if kind is None or kind.this in (exp.DataType.Type.UNKNOWN, exp.DataType.Type.NULL):
        return None
    return kind.this


def _named(node: exp.Placeholder) -> bool:
    this = node.args.get("this")
    return isinstance(this, str) and this.isidentifier()


def _needs_types(expression: exp.Expression) -> bool:
    return any(isinstance(n, (exp.DateDiff, exp.Length)) for n in expression.walk())


def _typed(expression: exp.Expression, schema: Mapping[str, Mapping[str, str]] | None) -> exp.Expression:
    """A copy of the tree with SQL types annotated from ``schema`` (table → column → type); unknown where the
    annotator cannot tell."""
    from sqlglot.optimizer.annotate_types import annotate_types
    from sqlglot.optimizer.qualify import qualify

    schema = {name: dict(columns) for name, columns in (schema or {}).items()}
    copy = expression.copy()
    try:  # columns are tied to their tables first, so an unqualified column finds its type too
        copy = qualify(copy, schema=schema, validate_qualify_columns=False, quote_identifiers=False, identify=False,
                       expand_stars=False)
    except Exception:  # qualify refuses some trees (ambiguous names…); qualified columns still get their types
        copy = expression.copy()
    try:
        return annotate_types(copy, schema=schema)
    except Exception:  # the annotator gives up on some trees; every type then stays unknown, which is safe here
        return expression.copy()


def _date_diff(node: exp.DateDiff, params: Mapping[str, Any]) -> Finding | None:
    parts = (node.this, node.expression)
    unit = _unit(node)
    if any(_string_literal(p) for p in parts) or isinstance(node.args.get("unit"), exp.Column):
        return Finding("DATE_DIFF(part, start, end) built as a function call",
                       "SQLGlot reads the part as a date and the end date as the unit",
                       "use engines.portable.days_between, months_between or years_between", ALL, _fragment(node))
    if unit is not None and unit not in _DAY_UNITS:
        return Finding(f"DATE_DIFF in {unit}",
                       f"DuckDB counts {unit.lower()} boundaries crossed, Spark whole {unit.lower()}s elapsed",
                       "use engines.portable.months_between or years_between (whole units, birthday-aware)",
                       ALL, _fragment(node))
    kinds = [_kind(p, params) for p in parts]
    if all(k == exp.DataType.Type.DATE for k in kinds):
        return None
    shown = [k.name if k is not None else "an expression of unknown type" for k in kinds if k != exp.DataType.Type.DATE]
    return Finding(f"DATE_DIFF in DAY on {shown[0]}",
                   "on timestamps DuckDB counts midnights crossed and Spark whole 24-hour periods, so it is portable "
                   "only between DATEs", "cast both sides to DATE, or use engines.portable.days_between",
                   ALL, _fragment(node))


def _function(node: exp.Func, engines: Iterable[str], has_function: Callable[[str, str], bool]) -> Finding | None:
    lacking = []
    name = None
    for engine in engines:
        written = _fallback_names(engine)(node)
        if written is not None and not has_function(engine, written):
            lacking.append(engine)
            name = written
    if not lacking:
        return None
    list_function = name is not None and name.lower().startswith("list")
    hint = ("use ARRAY_CONTAINS on an array parameter, or compute the list in a sub-query" if list_function
            else "use a function both engines have (see engines.capabilities)")
    return Finding(f"function {name.upper()}", f"{', '.join(lacking)} has no function {name.upper()}", hint,
                   frozenset(lacking), _fragment(node))


def _specific(node: exp.Expression, params: Mapping[str, Any]) -> tuple[bool, Finding | None]:
    """(whether a rule of its own covers the node, what it finds): a covered node is not also checked as a
    function call."""
    def lacking(key: str, construct: str, hint: str | None = None) -> tuple[bool, Finding]:
        note = CAPABILITY[key].note
        return True, Finding(construct, note or f"no {construct}", hint or note, _lacking(key), _fragment(node))

    name = node.name.lower() if isinstance(node, exp.Anonymous) else ""
    if isinstance(node, RowHash):  # each engine's own hash, for grouping inside a query (row_hash.py)
        return True, None
    if isinstance(node, exp.DateDiff):
        return True, _date_diff(node, params)
    if isinstance(node, (exp.DateSub, exp.DateAdd)) and _string_literal(node.this):
        return True, Finding(f"{'DATE_SUB' if isinstance(node, exp.DateSub) else 'DATE_ADD'}(part, start, end)",
                             "DuckDB's whole units end months its own way (2020-01-31 to 2020-02-29 is one month) and "
                             "Spark has no three-argument form", "use engines.portable.months_between or years_between",
                             ALL, _fragment(node))
    if isinstance(node, (exp.DateSub, exp.DateAdd, exp.Interval, exp.ToDays)) or name in _INTERVAL_FUNCTIONS:
        return True, Finding("DATE ± INTERVAL" if not name else f"function {name.upper()}",
                             "DuckDB makes a TIMESTAMP of a DATE plus an interval, Spark keeps a DATE (and has no TO_DAYS, "
                             "TO_YEARS…)", "use engines.portable.add_days (or compare with years_between / months_between)",
                             ALL, _fragment(node))
    if name in _DATE_PART_CALLS:
        return True, Finding(f"{name.upper()}(part, …)", "DuckDB's part-first date arithmetic; Spark reads these "
                             "functions with other arguments", "use engines.portable builders", ALL, _fragment(node))
    if name in _DIFFERENT_FUNCTIONS or isinstance(node, exp.TimeToUnix):
        reason, hint = _DIFFERENT_FUNCTIONS[name or "epoch"]
        return True, Finding(f"function {(name or 'epoch').upper()}", reason, hint, ALL, _fragment(node))
    if isinstance(node, (exp.Rand, exp.Uuid)):
        return True, Finding("RANDOM()" if isinstance(node, exp.Rand) else "a random UUID",
                             "random values differ by engine and by run (and by partition on Spark)",
                             "draw them in Python, seeded, and register them as a table", ALL, _fragment(node))
    if isinstance(node, (exp.PercentileCont, exp.PercentileDisc, exp.Quantile, exp.ApproxQuantile)) or (
            isinstance(node, exp.WithinGroup) and isinstance(node.this, (exp.PercentileCont, exp.PercentileDisc))):
        return True, Finding("QUANTILE / PERCENTILE",
                             "DuckDB's quantile_cont(x, q) is written PERCENTILE_CONT(x, q), which Spark cannot run; the "
                             "WITHIN GROUP form becomes Spark's approximate PERCENTILE_APPROX; DuckDB's QUANTILE is "
                             "discrete where Spark's PERCENTILE interpolates",
                             "use MEDIAN for the middle value (exact and interpolated on both engines)", ALL, _fragment(node))
    if isinstance(node, exp.ArrayAgg):
        return True, Finding("LIST / ARRAY_AGG", "DuckDB keeps NULL elements, Spark's COLLECT_LIST drops them",
                             "aggregate with FILTER (WHERE x IS NOT NULL) and ARRAY_SORT, or avoid lists", ALL, _fragment(node))
    if isinstance(node, exp.ArrayOverlaps):
        return True, Finding("LIST_HAS_ANY / &&", "written `a && b` for Spark, which Spark cannot run",
                             "test each element with ARRAY_CONTAINS", frozenset({"spark"}), _fragment(node))
    if isinstance(node, exp.Try) or name == "try":
        return lacking("try", "TRY(…)", "TRY_CAST for casts, engines.portable.try_date_from_parts for dates")
    if isinstance(node, exp.ReadParquet) or name.startswith("read_"):
        return lacking("read_parquet", f"{(name or 'read_parquet').upper()}(…) in FROM",
                       "register the files with Engine.register_parquet")
    if isinstance(node, exp.Copy):
        return lacking("copy_to", "COPY … TO", "use Engine.write_parquet")
    if isinstance(node, exp.Create):
        kind = str(node.args.get("kind") or "").upper()
        if kind == "MACRO":
            return lacking("macros", "CREATE MACRO", "inline the expression (a Python builder returning a tree)")
        if kind == "FUNCTION":
            return lacking("temp_functions", "CREATE FUNCTION", "inline the expression (a Python builder returning a tree)")
        return lacking("ddl", f"CREATE {kind or 'statement'}", "use Engine.materialise")
    if isinstance(node, (exp.Drop, exp.Alter)):
        return lacking("ddl", f"{node.key.upper()} statement", "use Engine.drop")
    if isinstance(node, (exp.Insert, exp.Update, exp.Delete, exp.Merge)):
        return lacking("dml", node.key.upper(), "materialise the table's new rows (SELECT … WHERE NOT …) under its name")
    if isinstance(node, exp.Star) and node.args.get("replace"):
        return lacking("star_replace", "SELECT * REPLACE")
    if isinstance(node, exp.DataType) and node.this in _SPARK_MISSING_TYPES:
        return True, Finding(f"type {node.sql(dialect='duckdb')}", "Spark has no such type (TIME would be written TIMESTAMP)",
                             "use BIGINT, DOUBLE, DATE, TIMESTAMP or TEXT", frozenset({"spark"}), _fragment(node))
    if isinstance(node, exp.Placeholder) and not _named(node):
        return True, Finding("positional parameter", "engines bind parameters by name only",
                             "name the parameter (exp.Placeholder(this='name'))", ALL, _fragment(node))
    if isinstance(node, exp.Length) and node.this.type is not None and node.this.type.this in (
            exp.DataType.Type.ARRAY, exp.DataType.Type.LIST):
        return True, Finding("LEN of a list", "Spark's LENGTH takes strings only", "use ARRAY_SIZE, or count in a sub-query",
                             frozenset({"spark"}), _fragment(node))
    return False, None


def findings(expression: exp.Expression, *, engines: Iterable[str] = ENGINE_NAMES,
             schema: Mapping[str, Mapping[str, str]] | None = None, params: Mapping[str, Any] | None = None,
             has_function: Callable[[str, str], bool] = builtin_function) -> list[Finding]:
    """Every construct of the tree that one of ``engines`` refuses (each finding names the engines refusing it).

    ``schema`` (table → column → SQLGlot type) and ``params`` type the tree where answers depend on types;
    ``has_function(engine, name)`` says whether an engine has a function (by default: its built-ins)."""
    wanted = [e for e in ENGINE_NAMES if e in set(engines)]
    tree = _typed(expression, schema) if _needs_types(expression) else expression
    found: list[Finding] = []
    for node in tree.walk():
        covered, finding = _specific(node, params or {})
        if not covered and isinstance(node, exp.Func):
            finding = _function(node, wanted, has_function)
        if finding is not None and finding.engines & set(wanted):
            found.append(finding)
    return found


def check_portable(expression: exp.Expression, engine: EngineLike | str, *, params: Mapping[str, Any] | None = None,
                   schema: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """The tree's SQL for ``engine`` (an Engine, or a name of ``ENGINE_NAMES``), or UnsupportedConstruct naming
    every construct it refuses and the engine. An Engine brings its tables' schemas (unless ``schema`` is given)
    and its own function catalogue (temporary functions included)."""
    if isinstance(engine, str):
        if engine not in ENGINE_NAMES:
            raise KeyError(f"unknown engine {engine!r} (one of {', '.join(ENGINE_NAMES)})")
        name, has_function = engine, builtin_function
    else:
        live = engine
        name, has_function = live.name, (lambda _engine, function: live.has_function(function))
        schema = live.schemas() if schema is None else schema
    found = findings(expression, engines=[name], schema=schema, params=params, has_function=has_function)
    sql, unsupported = render(expression, name)
    found += [Finding(f"SQLGlot cannot write it: {message}", "it would be left out or written wrongly",
                      "rewrite it with a construct both engines have", frozenset({name})) for message in unsupported]
    unique = list({(f.construct, f.sql): f for f in found}.values())
    if unique:
        raise UnsupportedConstruct(name, unique)
    return sql
