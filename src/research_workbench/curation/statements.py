"""A rule's statements as trees any engine runs: flat table names, and DML rewritten as the table's next version.

Two jobs, each done here once, so the Workspace (engine.py) only decides *which* to use:

- **Names.** Rules name tables by schema (``clean.person``, ``sb_clean.rule__table``, ``scratch.rule__x``,
  ``private.person_map``) or, for the tables being curated, not at all (``person``). An engine has one flat
  namespace of tables (``engines.base.table_name``), so ``flatten`` rewrites every table of a tree to
  ``schema__name`` (unqualified model tables to the schema being curated; read-only vocabulary to ``raw__name``),
  keeping the original name as the alias so that columns qualified by it (``person.person_id``) still resolve.
- **DML.** DuckDB runs DELETE, UPDATE and INSERT in place (fast: the 1M-participant target depends on it). Spark's
  temporary views have no DML, so each statement becomes the SELECT of the table's new version, which the engine
  materialises under the same name: ``deleted``, ``updated``, ``inserted``. ``expand_star_replace`` names the
  columns of a ``t.* REPLACE (…)`` (a remap), which Spark has no syntax for.

The SELECTs keep the statement's meaning exactly: a DELETE keeps rows whose condition is FALSE *or NULL*; an UPDATE
changes only rows whose condition is TRUE, each assigned value cast to the column's type (as DuckDB's UPDATE casts
it), and an UPDATE … FROM that would match a row more than once is refused (DuckDB would pick one match at random);
an INSERT appends its rows in the table's column order, missing columns NULL.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
from sqlglot import exp

from ..cdr.sql import col, ident
from .rule import RID

RAW_SCHEMA = "raw"  # read-only vocabulary tables (and, on Spark, the raw files) live under raw__name
MATCHED = "__rw_rid"  # the _rid of a row an UPDATE changes, in the SELECT that computes its new values
VALUE = "__rw_v{}"  # the new value of the n-th assignment of an UPDATE
INSERTED = "__rw_insert"  # the rows of an INSERT, named by the INSERT's column list


def flat(schema: str, name: str) -> str:
    """The engine's name for table ``name`` of ``schema``: ``schema__name`` (schemas have no ``__``)."""
    return f"{schema}__{name}"


def flatten(expression: exp.Expression, resolve: Callable[[str, str], str | None]) -> exp.Expression:
    """A copy of ``expression`` with every table named flat. ``resolve(schema, name)`` gives the flat name of a
    table (``schema`` is "" for an unqualified one), or None to leave it (a CTE, a registered helper)."""
    tree = expression.copy()
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    for node in list(tree.find_all(exp.Table)):
        if not node.name or (not node.db and node.name in ctes):
            continue
        name = resolve(node.db, node.name)
        if name is None:
            continue
        original = node.name
        node.set("this", exp.to_identifier(name))
        node.set("db", None)
        node.set("catalog", None)
        # A statement's target (CREATE, INSERT's column list, DROP) takes no alias; every other table keeps its
        # old name as its alias, so ``person.person_id`` or ``person_map.research_id`` still resolve.
        if not node.alias and not isinstance(node.parent, (exp.Schema, exp.Create, exp.Insert, exp.Drop)):
            node.set("alias", exp.TableAlias(this=ident(original)))
    return tree


# --- the types of a table's columns, for the casts that keep them ------------------------------------------------

def sql_type(kind: pa.DataType) -> exp.DataType:
    """The SQL type of an Arrow column type (the types a curated table holds)."""
    if pa.types.is_timestamp(kind):
        return exp.DataType.build("TIMESTAMPTZ" if kind.tz else "TIMESTAMP")
    if pa.types.is_decimal(kind):
        return exp.DataType.build(f"DECIMAL({kind.precision}, {kind.scale})")
    simple = {
        pa.int8(): "TINYINT", pa.int16(): "SMALLINT", pa.int32(): "INT", pa.int64(): "BIGINT",
        pa.float32(): "FLOAT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN", pa.date32(): "DATE",
        pa.string(): "VARCHAR", pa.large_string(): "VARCHAR", pa.binary(): "BINARY",
    }
    if kind in simple:
        return exp.DataType.build(simple[kind])
    if pa.types.is_null(kind):  # a column only ever NULL (an empty Arrow column): text is the widest choice
        return exp.DataType.build("VARCHAR")
    raise ValueError(f"no SQL type for the Arrow type {kind}")


def _cast(value: exp.Expression, kind: pa.DataType) -> exp.Expression:
    return exp.Cast(this=value, to=sql_type(kind))


# --- DML as the table's next version ------------------------------------------------------------------------------

KEPT = "__rw_kept"  # the table's rows, in the SELECT of what a DELETE keeps
GONE = "__rw_gone"  # the rows a DELETE's condition holds for


def deleted(statement: exp.Delete) -> exp.Select:
    """``DELETE FROM t WHERE c`` as the rows it keeps: every row but those for which ``c`` is TRUE (a NULL condition
    keeps the row), by ``_rid``:

        SELECT * FROM t AS __rw_kept WHERE NOT EXISTS (
            SELECT 1 FROM (SELECT _rid FROM t WHERE c) AS __rw_gone WHERE __rw_gone._rid = __rw_kept._rid)

    ``c`` stays the WHERE of a query of its own, as the DELETE has it, with the table under the DELETE's name.
    Written as ``WHERE NOT COALESCE(c, FALSE)`` instead, an ``x IN (subquery)`` inside ``c`` is no longer at the top
    of a filter, so Spark plans it as a null-aware existence join: a nested loop over both tables (a rule removing
    orphaned rows of a 100,000-participant program ran for minutes on one statement). The anti join on ``_rid``
    (unique, never NULL) is a hash join."""
    where = statement.args.get("where")
    target = statement.this
    if where is None:
        return exp.select(exp.Star()).from_(target.copy()).where(exp.false())
    gone = exp.select(col(RID)).from_(target.copy()).where(where.this.copy())
    kept = exp.Table(this=target.this.copy(), alias=exp.TableAlias(this=ident(KEPT)))
    match = exp.select(exp.Literal.number(1)).from_(gone.subquery(GONE)).where(col(RID, table=GONE).eq(col(RID, table=KEPT)))
    return exp.select(exp.Star()).from_(kept).where(exp.Exists(this=match).not_())


def _target_alias(target: exp.Table) -> str:
    return target.alias or target.name


def updated(statement: exp.Update, schema: pa.Schema) -> exp.Select:
    """``UPDATE t SET a = v … [FROM f] WHERE c`` as every row of ``t``, changed where ``c`` holds.

    The new values are computed by one SELECT of the matched rows (``t`` joined to ``f`` where ``c`` holds, as the
    UPDATE itself does), keyed by ``_rid``, and joined back: conditions with subqueries stay in a WHERE clause,
    where every engine runs them. The caller checks the row count (a FROM matching a row twice adds rows)."""
    target = statement.this.copy()
    name = _target_alias(target)
    assignments = [(e.this.name, e.expression) for e in statement.expressions]
    columns = schema.names
    unknown = [c for c, _ in assignments if c not in columns]
    if unknown:
        raise ValueError(f"UPDATE of {name} assigns {', '.join(unknown)}, which it has no column for")
    where = statement.args.get("where")
    matched = exp.select(col(RID, table=name).as_(MATCHED), *[exp.alias_(v.copy(), VALUE.format(i)) for i, (_, v) in enumerate(assignments)]).from_(target)
    source = statement.args.get("from_") or statement.args.get("from")
    if source is not None:
        matched = matched.join(source.this.copy(), join_type="cross")
    if where is not None:
        matched = matched.where(where.this.copy())
    new = {c: i for i, (c, _) in enumerate(assignments)}
    is_matched = col(MATCHED, table="__rw_m").is_(exp.Null()).not_()
    projections = []
    for field in schema:
        old = col(field.name, table="__rw_t")
        if field.name in new:
            value = _cast(col(VALUE.format(new[field.name]), table="__rw_m"), field.type)
            projections.append(exp.alias_(exp.Case().when(is_matched, value).else_(old), field.name))
        else:
            projections.append(old)
    plain = exp.Table(this=target.this.copy(), alias=exp.TableAlias(this=ident("__rw_t")))
    return (exp.select(*projections).from_(plain)
            .join(matched.subquery("__rw_m"), on=col(RID, table="__rw_t").eq(col(MATCHED, table="__rw_m")), join_type="left"))


def inserted(statement: exp.Insert, schema: pa.Schema) -> exp.Select:
    """``INSERT INTO t (cols) SELECT …`` as ``t``'s rows followed by the new ones, in ``t``'s column order, each
    value cast to the column's type and columns the INSERT does not name NULL."""
    into = statement.this
    if not isinstance(into, exp.Schema):
        raise ValueError("an INSERT must name its columns (INSERT INTO t (a, b) SELECT …)")
    target = into.this.copy()
    names = [c.name for c in into.expressions]
    unknown = [c for c in names if c not in schema.names]
    if unknown:
        raise ValueError(f"INSERT into {target.name} names {', '.join(unknown)}, which it has no column for")
    rows = exp.Subquery(this=statement.expression.copy(),
                        alias=exp.TableAlias(this=ident(INSERTED), columns=[ident(c) for c in names]))
    projections = [exp.alias_(_cast(col(f.name, table=INSERTED) if f.name in names else exp.Null(), f.type), f.name)
                   for f in schema]
    old = exp.select(exp.Star()).from_(exp.Table(this=target.this.copy()))
    return exp.union(old, exp.select(*projections).from_(rows), distinct=False)  # type: ignore[return-value]


def expand_star_replace(select: exp.Expression, columns: list[str]) -> exp.Expression:
    """Every ``t.* REPLACE (v AS c)`` of the tree as the list of ``columns`` (``t.c`` or ``v AS c``), in order."""
    tree = select.copy()
    for node in list(tree.find_all(exp.Star)):
        replace = node.args.get("replace")
        if not replace:
            continue
        star = node.parent if isinstance(node.parent, exp.Column) else node
        qualifier = star.table if isinstance(star, exp.Column) else None
        owner = star.parent
        if not isinstance(owner, exp.Select):
            raise ValueError("a * REPLACE (…) outside a SELECT's list")
        values = {r.alias: r.this for r in replace}
        named = [exp.alias_(values[c].copy(), c) if c in values else col(c, table=qualifier or None) for c in columns]
        position = owner.expressions.index(star)
        owner.set("expressions", owner.expressions[:position] + named + owner.expressions[position + 1:])
    return tree


def returns_no_rows(query: exp.Expression, rows: Callable[[str], int | None]) -> bool:
    """Whether ``query`` (flat names) surely returns no rows, known from the row counts of its tables without
    running it. ``rows(name)`` gives a table's count, or None when unknown.

    True only when the rows are driven by an empty table: a SELECT whose FROM is a table of 0 rows (or a query that
    returns none), joined only by inner, left or cross joins, and without an aggregate outside a window unless
    grouped (``SELECT COUNT(*) FROM empty`` is one row; ``… GROUP BY x`` none). A UNION needs every part empty, an
    INTERSECT one, an EXCEPT its left. Anything else is "not known": False. Spark curation uses this to skip
    queries over tables that are empty (most tables of a small program, most rows of most rules): each would
    otherwise be a job of its own.
    """
    with_ = query.args.get("with_") or query.args.get("with")
    ctes = {cte.alias_or_name: cte.this for cte in with_.expressions} if with_ else {}
    return _no_rows(query, rows, ctes)


def _no_rows(query: exp.Expression, rows: Callable[[str], int | None], ctes: dict[str, exp.Expression]) -> bool:
    if isinstance(query, exp.Subquery):
        return _no_rows(query.this, rows, ctes)
    if isinstance(query, exp.Union):
        return _no_rows(query.left, rows, ctes) and _no_rows(query.right, rows, ctes)
    if isinstance(query, exp.Intersect):
        return _no_rows(query.left, rows, ctes) or _no_rows(query.right, rows, ctes)
    if isinstance(query, exp.Except):
        return _no_rows(query.left, rows, ctes)
    if not isinstance(query, exp.Select):
        return False
    if query.args.get("group") is None and (query.args.get("having") is not None or _aggregates(query)):
        return False
    if any(join.side in ("RIGHT", "FULL") for join in query.args.get("joins") or []):
        return False
    source = query.args.get("from_", query.args.get("from"))
    driving = source.this if source is not None else None
    if isinstance(driving, exp.Subquery):
        return _no_rows(driving.this, rows, ctes)
    if isinstance(driving, exp.Table) and not driving.db:
        if driving.name in ctes:
            return _no_rows(ctes[driving.name], rows, ctes)
        return rows(driving.name) == 0
    return False


def _aggregates(select: exp.Select) -> bool:
    """An aggregate of this SELECT's own rows (not one inside a window, nor in a subquery of its own)."""
    for projection in select.expressions:
        for node in projection.find_all(exp.AggFunc):
            if node.find_ancestor(exp.Window, exp.Select) is select:  # not under a window, nor a subquery
                return True
    return False
