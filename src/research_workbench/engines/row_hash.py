"""A 64-bit hash of some columns, for grouping inside one query: DuckDB's ``HASH``, Spark's ``XXHASH64``.

The two engines' hash functions give different values (and ``check_portable`` refuses ``HASH`` by name for that
reason), but a query may still use *a* hash where its answer does not depend on the values: to find the groups of
rows that may be equal by aggregating one 64-bit column instead of every column, then comparing the columns
themselves within those groups. Equal rows hash equally on each engine; a collision (Spark's hash also skips NULL
arguments, so ``(1, NULL)`` and ``(NULL, 1)`` collide) only sends a few more rows to the exact comparison. The
hash's values must never leave the query: nothing may store, order or output them.

``row_hash(a, b, …)`` builds the node. Each engine's SQLGlot generator is taught to write it as its own function
(an entry in the dialect generator's ``TRANSFORMS``, SQLGlot's table of how each node is written), so a tree
holding it renders right wherever it is rendered; any other dialect writes ``ROW_HASH(…)``, which no engine has.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.dialects.spark import Spark

# The engine's own 64-bit hash of its arguments, by SQLGlot dialect.
HASH_FUNCTIONS = {"duckdb": "HASH", "spark": "XXHASH64"}


class RowHash(exp.Expression, exp.Func):
    """An engine's 64-bit hash of its arguments (values differ by engine: for grouping inside a query only)."""

    arg_types = {"expressions": True}
    is_var_len_args = True


def row_hash(*columns: exp.Expression) -> RowHash:
    if not columns:
        raise ValueError("row_hash needs at least one column")
    return RowHash(expressions=[c.copy() for c in columns])


def _teach_generators() -> None:
    for dialect, function in ((DuckDB, HASH_FUNCTIONS["duckdb"]), (Spark, HASH_FUNCTIONS["spark"])):
        dialect.Generator.TRANSFORMS[RowHash] = lambda self, node, name=function: self.func(name, *node.expressions)
    # SQLGlot builds each generator class's dispatch table from TRANSFORMS once, when it first writes SQL, and keeps
    # it: one built before this module was imported would write ROW_HASH. Forget them, to be rebuilt with the entry.
    from sqlglot import generator

    generator._DISPATCH_CACHE.clear()


_teach_generators()
