"""Apache Spark behind the boundary: a local session, a cluster's, or the one ``spark-submit`` gives a script.

``SparkEngine(master="local[2]")`` starts (and on ``close()`` stops) a session; ``SparkEngine.from_session(spark)``
wraps a session someone else owns, such as the one a script run by ``spark-submit --master spark://…`` gets
from ``SparkSession.builder.getOrCreate()``. Either way the session's SQL settings the boundary depends on are
set (``REQUIRED_SQL_CONF``): time zone UTC, ``TIMESTAMP`` meaning the time-zone-less timestamp, Parquet
timestamps written as microseconds, and Spark 4's ANSI mode (errors rather than silent NULLs).

Tables are temporary views: Parquet is read where it lies (local paths, or ``s3a://``, ``gs://``, ``abfss://``,
``hdfs://`` URLs when the session has their connectors), Arrow tables are shipped from the driver, and
``materialise`` persists its result (memory, then disk) and computes it at once.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlglot import exp

from ..cdr.problems import Problem
from .base import Engine, check_compression, check_row_group_size, table_name
from .capabilities import builtin_function
from .errors import EngineError, QueryFailed
from .files import PathLike, atomic_directory, check_one_file, is_url, parquet_files
from .schemas import nullable, refuse_nanoseconds

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# pyspark warns that it does not yet support pandas 3 when its session or Arrow conversions load; the engine never
# goes through pandas (Arrow in, Arrow out). Under spark-submit, which merges an application's stderr into its
# stdout, the warning would corrupt a command's --json output.
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)

# Settings every session behind the boundary has, whoever started it (runtime SQL settings: settable on a running
# session too). They make files and results the same as DuckDB's: see base.py.
REQUIRED_SQL_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.ansi.enabled": "true",
}
# Defaults for a session this engine starts; ``conf`` overrides them.
DEFAULT_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",  # the progress bar would write over --json output on stderr
    "spark.sql.shuffle.partitions": "8",  # Spark's 200 suits a cluster, not one machine's few cores
    "spark.sql.adaptive.enabled": "true",
}
# A local master runs everything in the driver's JVM, whose heap is Spark's 1 GB unless set: too small for a
# broadcast join of a table of a 100,000-participant program ("Not enough memory to build and broadcast").
LOCAL_DRIVER_CONF = {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
                     "spark.driver.memory": "4g"}


def spark_message(err: BaseException) -> str:
    """The first line of what Spark said. A failure inside the JVM reaches Python as a Py4J error whose own first
    line only names the call ("An error occurred while calling o9702.parquet"): the Java exception's says what
    happened ("SparkException: Not enough memory to build and broadcast the table…")."""
    java = getattr(err, "java_exception", None)
    if java is not None:
        try:
            return str(java.toString()).splitlines()[0]
        except Exception:  # the gateway may be gone (the JVM died): fall back to Python's text
            pass
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def _is_local_master(master: str) -> bool:
    return master.startswith("local") or master.startswith("spark://127.0.0.1") or master.startswith("spark://localhost")


class SparkEngine(Engine):
    """Spark behind the boundary (see the module's docstring)."""

    name = "spark"
    dialect = "spark"

    def __init__(self, master: str = "local[2]", conf: Mapping[str, str] | None = None, *,
                 app_name: str = "research-workbench", _session: SparkSession | None = None):
        super().__init__()
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise EngineError([Problem("pyspark is not installed (pip install pyspark; it needs Java 17 or later)",
                                       where="engine spark")]) from None
        self._owned = _session is None
        if _session is None:
            if SparkSession.getActiveSession() is not None:
                raise EngineError([Problem("a Spark session is already running in this process: wrap it with "
                                           "SparkEngine.from_session(spark)", where="master")])
            settings = {**DEFAULT_CONF, **(LOCAL_DRIVER_CONF if _is_local_master(master) else {}), **(conf or {}),
                        **REQUIRED_SQL_CONF}
            builder = SparkSession.builder.master(master).appName(app_name)
            for key, value in settings.items():
                builder = builder.config(key, value)
            try:
                _session = builder.getOrCreate()
            except Exception as err:  # Java missing, a master that is not there…: py4j and pyspark raise many types
                raise EngineError([Problem(f"could not start a Spark session: {spark_message(err)}",
                                           where=f"master {master}")]) from err
        self.spark: SparkSession = _session
        for key, value in REQUIRED_SQL_CONF.items():
            self.spark.conf.set(key, value)
        # pyspark logs every failed query's Java stack at ERROR before raising it; the engine raises it as
        # QueryFailed with Spark's message, so the log line is a duplicate.
        for logger in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
            logging.getLogger(logger).setLevel(logging.CRITICAL)
        self._frames: dict[str, DataFrame] = {}  # name → the DataFrame behind its view (persisted for materialise)
        self._functions: set[str] = set()  # temporary functions seen in the session

    @classmethod
    def from_session(cls, spark: SparkSession) -> SparkEngine:
        """An engine on a session the caller owns (``close()`` leaves it running): for ``spark-submit`` scripts,
        notebooks and managed services, where the platform creates the session."""
        return cls(_session=spark)

    # -- functions --------------------------------------------------------------------------------------------
    def has_function(self, name: str) -> bool:
        if builtin_function("spark", name):
            return True
        key = name.lower()
        if key not in self._functions and self.spark.catalog.functionExists(key):
            self._functions.add(key)  # only what exists is kept: a function may be defined later
        return key in self._functions

    # -- tables -----------------------------------------------------------------------------------------------
    def _name(self, name: str, frame: DataFrame) -> None:
        from pyspark.sql.pandas.types import to_arrow_schema

        old = self._frames.get(name)
        frame.createOrReplaceTempView(name)
        self._frames[name] = frame
        if old is not None and old is not frame and old.is_cached:
            old.unpersist()
        self._schemas[name] = to_arrow_schema(frame.schema, timezone="UTC")  # the session time zone (REQUIRED_SQL_CONF)

    def register_parquet(self, name: str, paths: PathLike | Sequence[PathLike], *, row_index: str | None = None,
                         row_index_start: int = 0) -> None:
        name = table_name(name)
        items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        if not items:
            raise EngineError([Problem("no Parquet path given", where="paths")])
        remote = [str(p) for p in items if is_url(p)]
        local = [p for p in items if not is_url(p)]
        # Local files are listed and checked here (nanosecond timestamps); object storage is read by Spark's own
        # file systems, which refuse nanoseconds themselves ([PARQUET_TYPE_ILLEGAL]).
        files = (parquet_files(local) if local else []) + remote
        if row_index is not None:
            check_one_file(files, paths)
        try:
            frame = self.spark.read.parquet(*files)
        except Exception as err:
            raise EngineError([Problem(spark_message(err), where="paths")]) from err
        if row_index is not None:
            # The Parquet source's hidden _metadata.row_index (Spark 4): the row's position in its file, from 0,
            # across row groups and however the file is split into tasks. A view hides _metadata from SQL, so it
            # is selected here, through the DataFrame API.
            from pyspark.sql import functions as F

            position = F.col("_metadata.row_index").cast("bigint") + F.lit(int(row_index_start)).cast("bigint")
            frame = frame.select("*", position.alias(row_index))
        self._name(name, frame)

    def register_arrow(self, name: str, table: pa.Table) -> None:
        name = table_name(name)
        if not isinstance(table, pa.Table):
            raise EngineError([Problem(f"expected a pyarrow.Table, got {type(table).__name__}", where="table")])
        refuse_nanoseconds(table.schema, f"table {name}")
        self._name(name, self.spark.createDataFrame(table))

    def materialise(self, name: str, expression: exp.Expression, params: Mapping[str, Any] | None = None) -> None:
        from pyspark import StorageLevel

        name = table_name(name)
        frame, sql = self._frame(expression, params)
        frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            frame.count()  # computed now, from the tables as they are: the query may read the view it replaces
        except Exception as err:
            frame.unpersist()
            raise QueryFailed(self.name, spark_message(err), sql) from err
        self._name(name, frame)

    def materialise_files(self, name: str, expression: exp.Expression, path: PathLike,
                          params: Mapping[str, Any] | None = None) -> None:
        """See ``Engine.materialise_files``. The files are read back with the query's own schema: Spark would
        otherwise run a job to read their footers for it, once per version of every table curation rewrites."""
        frame, sql = self._frame(expression, params)
        self._write(frame, sql, path, row_group_size=None, overwrite=False, compression="snappy")
        try:
            self._name(table_name(name), self.spark.read.schema(frame.schema).parquet(str(path)))
        except Exception as err:
            raise EngineError([Problem(spark_message(err), where=str(path))]) from err

    def drop(self, name: str) -> None:
        name = table_name(name)
        frame = self._frames.pop(name, None)
        self._schemas.pop(name, None)
        self.spark.catalog.dropTempView(name)
        if frame is not None and frame.is_cached:
            frame.unpersist()

    # -- running ----------------------------------------------------------------------------------------------
    def _bind(self, expression: exp.Expression, params: dict[str, Any]) -> tuple[exp.Expression, dict[str, Any]]:
        """Spark takes a parameter only as a literal or an array of literals of one type. Python ints become INT
        literals when they fit 32 bits and BIGINT otherwise, so a list mixing both (person ids past 2^31 beside
        small ones) is refused by Spark: such a list is bound as text and cast in the SQL, exactly. Lists mixing
        ints and floats are bound as floats, as DuckDB does."""
        values, wide = {}, []
        for name, value in params.items():
            if isinstance(value, (list, tuple)):
                value = list(value)
                numbers = [v for v in value if v is not None]
                if numbers and all(isinstance(v, int) and not isinstance(v, bool) for v in numbers):
                    if any(not -2**31 <= v < 2**31 for v in numbers) and any(-2**31 <= v < 2**31 for v in numbers):
                        value = [None if v is None else str(v) for v in value]
                        wide.append(name)
                elif numbers and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
                    value = [None if v is None else float(v) for v in value]
            values[name] = value
        if not wide:
            return expression, values

        def cast(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Placeholder) and node.name in wide:
                return exp.cast(node.copy(), exp.DataType.build("ARRAY<BIGINT>"))
            return node

        return expression.transform(cast), values

    def _frame(self, expression: exp.Expression, params: Mapping[str, Any] | None) -> tuple[DataFrame, str]:
        """The query as a DataFrame (planned, not run), with its SQL."""
        sql, values = self._compile(expression, params)
        try:
            return self.spark.sql(sql, args=values or None), sql
        except Exception as err:  # AnalysisException, ParseException…: all pyspark errors
            raise QueryFailed(self.name, spark_message(err), sql) from err

    def result_schema(self, expression: exp.Expression, params: Mapping[str, Any] | None = None) -> pa.Schema:
        """See ``Engine.result_schema``: the planned query's schema (no job)."""
        from pyspark.sql.pandas.types import to_arrow_schema

        frame, _ = self._frame(expression, params)
        return to_arrow_schema(frame.schema, timezone="UTC")

    def run(self, expression: exp.Expression, params: Mapping[str, Any] | None = None) -> pa.Table:
        frame, sql = self._frame(expression, params)
        try:
            return nullable(frame.toArrow())
        except Exception as err:
            raise QueryFailed(self.name, spark_message(err), sql) from err

    def write_parquet(self, expression: exp.Expression, path: PathLike, *, params: Mapping[str, Any] | None = None,
                      row_group_size: int | None = None, overwrite: bool = False,
                      compression: str = "snappy") -> Path | str:
        """See ``Engine.write_parquet``. Spark writes one file per task; ``row_group_size`` is kept by capping
        each file's rows (``maxRecordsPerFile``), which caps its row groups. An object-store URL is written by
        Spark's committer (``_SUCCESS`` marks it complete), not renamed into place."""
        check_row_group_size(row_group_size)
        check_compression(compression)
        frame, sql = self._frame(expression, params)
        return self._write(frame, sql, path, row_group_size=row_group_size, overwrite=overwrite, compression=compression)

    def _write(self, frame: DataFrame, sql: str, path: PathLike, *, row_group_size: int | None, overwrite: bool,
               compression: str) -> Path | str:
        writer = frame.write.option("compression", "none" if compression == "uncompressed" else compression)
        if row_group_size is not None:
            writer = writer.option("maxRecordsPerFile", row_group_size)

        def write(target: str, mode: str) -> None:
            try:
                writer.mode(mode).parquet(target)
            except Exception as err:
                raise QueryFailed(self.name, spark_message(err), sql) from err

        if is_url(path):
            write(str(path), "overwrite" if overwrite else "errorifexists")
            return str(path)
        with atomic_directory(path, overwrite=overwrite) as temporary:
            write(str(temporary), "errorifexists")
        return Path(path)

    def close(self) -> None:
        for name in list(self._frames):
            self.drop(name)
        if self._owned:
            self.spark.stop()
