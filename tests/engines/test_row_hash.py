"""``row_hash``: each engine's own 64-bit hash, accepted by the checker, grouping equal rows alike on both engines."""

from __future__ import annotations

import pyarrow as pa
import pytest
from sqlglot import exp

from research_workbench.cdr.sql import col, table
from research_workbench.engines import UnsupportedConstruct
from research_workbench.engines.capabilities import check_portable
from research_workbench.engines.row_hash import row_hash


def test_row_hash_is_written_as_each_engines_own_hash_and_plain_hash_stays_refused():
    query = exp.select(row_hash(col("a"), col("b")).as_("h")).from_(table("t"))
    assert check_portable(query, "duckdb") == 'SELECT HASH("a", "b") AS h FROM "t"'
    assert check_portable(query, "spark") == "SELECT XXHASH64(`a`, `b`) AS h FROM `t`"
    with pytest.raises(UnsupportedConstruct, match="HASH"):
        check_portable(exp.select(exp.func("hash", col("a"))).from_(table("t")), "spark")
    with pytest.raises(ValueError):
        row_hash()


def test_rows_whose_hash_repeats_are_the_same_groups_on_both_engines(engine):
    engine.register_arrow("rows", pa.table({
        "id": pa.array([1, 2, 3, 4, 5, 6, 7], pa.int64()),
        "a": pa.array([1, 1, 2, None, None, 1, 3], pa.int64()),
        "b": pa.array(["x", "x", "y", None, None, "z", None], pa.string()),
    }))
    digest = row_hash(col("a"), col("b"))
    repeated = (exp.select(digest.copy().as_("h")).from_(table("rows")).group_by(digest.copy())
                .having(exp.GT(this=exp.func("COUNT", exp.Star()), expression=exp.Literal.number(1))))
    query = exp.select(col("id")).from_(table("rows")).where(digest.copy().isin(query=repeated)).order_by(col("id"))
    assert engine.run(query).column("id").to_pylist() == [1, 2, 4, 5]


def test_row_hash_is_written_right_even_when_sql_was_written_before_it_was_imported():
    """SQLGlot keeps each generator's dispatch table from its first use: importing row_hash after DuckDB and Spark
    SQL were written must still teach them (a CLI renders SQL before a rule module is imported)."""
    import subprocess
    import sys

    script = """
from sqlglot import exp
exp.select(exp.column("a")).from_("t").sql("duckdb"); exp.select(exp.column("a")).from_("t").sql("spark")
from research_workbench.engines.row_hash import row_hash
node = exp.select(row_hash(exp.column("a"))).from_("t")
print(node.sql("duckdb"), "|", node.sql("spark"))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "SELECT HASH(a) FROM t | SELECT XXHASH64(a) FROM t"
