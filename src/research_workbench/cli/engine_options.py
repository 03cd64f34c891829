"""``--engine duckdb|spark`` and ``--spark-master URL``: the options every command that runs a stage's SQL shares.

A command declares ``engine: str = ENGINE_OPTION, spark_master: Optional[str] = SPARK_MASTER_OPTION`` and runs its
stage inside ``with open_engine(engine, spark_master) as eng:``. The default engine is DuckDB (embedded); Spark
starts a session on ``--spark-master`` (default ``local[2]``; ``spark://host:7077`` for a standalone cluster), or,
without ``--spark-master``, uses the session of ``spark-submit`` when the command runs under it (``spark-submit
"$(workbench spark-app)" curate …``: see ``spark_main.py``). ``RW_ENGINE`` and ``RW_SPARK_MASTER`` set the defaults;
``RW_SPARK_CONF`` adds settings to a session a command starts (``spark.driver.memory=16g``).
"""

from __future__ import annotations

import os
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


SPARK_CONF_VARIABLE = "RW_SPARK_CONF"


def spark_conf(text: str) -> dict[str, str]:
    """Settings for a Spark session a command starts, from ``RW_SPARK_CONF``: ``key=value`` pairs separated by
    commas or spaces (``spark.driver.memory=16g spark.local.dir=/fast/tmp``). Under spark-submit its own ``--conf``
    options apply instead. A malformed item is refused, naming the variable and the item."""
    from ..cdr.problems import Problem
    from ..engines import EngineError

    settings: dict[str, str] = {}
    for item in text.replace(",", " ").split():
        key, sep, value = item.partition("=")
        if not sep or not key.startswith("spark.") or not value:
            raise EngineError([Problem(f"{item!r} is not spark.KEY=VALUE", where=SPARK_CONF_VARIABLE)])
        settings[key] = value
    return settings


def under_spark_submit() -> bool:
    """Whether this process is a Python application ``spark-submit`` started: its launcher hands the application
    the gateway to the JVM it already runs, with the master and settings of its command line."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


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
        if not spark_master and (active is not None or under_spark_submit()):
            # spark-submit's session, configured by its command line (--master, --conf): built here on first use
            eng = SparkEngine.from_session(active or SparkSession.builder.getOrCreate())
        else:
            eng = SparkEngine(master=spark_master or "local[2]", conf=spark_conf(os.environ.get(SPARK_CONF_VARIABLE, "")))
    try:
        yield eng
    finally:
        eng.close()
