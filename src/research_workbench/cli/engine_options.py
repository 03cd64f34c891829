"""``--engine duckdb|spark`` and ``--spark-master URL``: the options every command that runs a stage's SQL shares.

A command declares ``engine: str = ENGINE_OPTION, spark_master: Optional[str] = SPARK_MASTER_OPTION`` and runs its
stage inside ``with open_engine(engine, spark_master) as eng:``. The default engine is DuckDB (embedded); Spark
starts a session on ``--spark-master`` (default ``local[2]``; ``spark://host:7077`` for a standalone cluster), or
wraps the session ``spark-submit`` already made. ``RW_ENGINE`` and ``RW_SPARK_MASTER`` set the defaults.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Optional

import typer

if TYPE_CHECKING:
    from ..engines.base import Engine

ENGINE_OPTION = typer.Option(
    "duckdb", "--engine", envvar="RW_ENGINE",
    help="Where the SQL runs: duckdb (embedded, the default) or spark (a Spark session; see --spark-master).",
)
SPARK_MASTER_OPTION = typer.Option(
    None, "--spark-master", envvar="RW_SPARK_MASTER",
    help="Spark master URL with --engine spark: local[N] (default local[2]), spark://HOST:7077, k8s://…; "
         "under spark-submit the session it made is used.",
)


@contextmanager
def open_engine(engine: str, spark_master: Optional[str] = None, **duckdb_options: Any) -> Iterator[Engine]:
    """The engine a command asked for, closed when the block ends (a session ``spark-submit`` made is left running).

    Errors name the option: an unknown engine, or ``--spark-master`` without ``--engine spark``.
    """
    from ..cdr.problems import Problem
    from ..engines import ENGINES, EngineError

    name = (engine or "duckdb").strip().lower()
    if name not in ENGINES:
        raise EngineError([Problem(f"unknown engine {engine!r} (one of {', '.join(ENGINES)})", where="--engine")])
    if name == "duckdb":
        if spark_master:
            raise EngineError([Problem("--spark-master is for --engine spark", where="--spark-master")])
        from ..engines.duckdb_engine import DuckDBEngine

        eng: Engine = DuckDBEngine(**duckdb_options)
    else:
        from pyspark.sql import SparkSession

        from ..engines.spark_engine import SparkEngine

        active = SparkSession.getActiveSession()
        if active is not None and not spark_master:
            eng = SparkEngine.from_session(active)  # spark-submit's session, configured by its command line
        else:
            eng = SparkEngine(master=spark_master or "local[2]")
    try:
        yield eng
    finally:
        eng.close()
