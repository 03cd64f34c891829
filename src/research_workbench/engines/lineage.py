"""``materialise`` for a long chain of rewrites of one table: keep the rows, forget how they were computed.

Curation rewrites each table statement after statement (on Spark each DELETE/UPDATE/INSERT is a ``materialise`` of
the table's next version, reading the previous one). ``SparkEngine.materialise`` persists the result but keeps its
lineage, so after a few hundred statements each version's plan holds every earlier one: planning slows down and the
driver runs out of heap keeping the plans of past queries (seen: ``OutOfMemoryError`` in the status listener of a
1 GB driver while curating a tiny CDR). A *local checkpoint* computes the rows once, keeps them in the executors'
block managers (memory, then disk) and starts a fresh plan from them. A candidate for
``Engine.materialise(..., truncate_lineage=True)``; on DuckDB a materialised table has no lineage, so it is
``materialise`` itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlglot import exp

from .base import Engine, table_name
from .errors import QueryFailed


def materialise_without_lineage(engine: Engine, name: str, expression: exp.Expression,
                                params: Mapping[str, Any] | None = None) -> None:
    """``engine.materialise(name, expression, params)``, with Spark's lineage cut (see the module docstring)."""
    if engine.name != "spark":
        engine.materialise(name, expression, params)
        return
    name = table_name(name)
    frame, sql = engine._frame(expression, params)  # type: ignore[attr-defined]
    try:
        frame = frame.localCheckpoint(eager=True)  # computed now, from the tables as they are
    except Exception as err:  # pyspark raises many types
        raise QueryFailed(engine.name, str(err).splitlines()[0], sql) from err
    engine._name(name, frame)  # type: ignore[attr-defined]
