"""The engine boundary: the same SQLGlot trees run on DuckDB (embedded) or Apache Spark (a cluster).

``base.Engine`` is the interface; ``duckdb_engine.DuckDBEngine`` and ``spark_engine.SparkEngine`` implement it;
``capabilities`` says what each supports and refuses what is not portable; ``portable`` builds the date
arithmetic that means the same on both. ``docs/spark.md`` tells how to run on a cluster.

Imports are lazy here: ``pyspark`` is loaded only by ``spark_engine``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import EngineError, Finding, QueryFailed, UnsupportedConstruct

if TYPE_CHECKING:
    from .base import Engine

ENGINES = ("duckdb", "spark")

__all__ = ["ENGINES", "EngineError", "Finding", "QueryFailed", "UnsupportedConstruct", "create_engine"]


def create_engine(name: str, **options: Any) -> Engine:
    """A new engine by name: ``duckdb`` (options of ``DuckDBEngine``) or ``spark`` (``master``, ``conf``)."""
    if name == "duckdb":
        from .duckdb_engine import DuckDBEngine

        return DuckDBEngine(**options)
    if name == "spark":
        from .spark_engine import SparkEngine

        return SparkEngine(**options)
    from ..cdr.problems import Problem

    raise EngineError([Problem(f"unknown engine {name!r} (one of {', '.join(ENGINES)})", where="engine")])
