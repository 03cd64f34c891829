"""A ``spark-submit`` application for ``test_standalone.py``: the engine on the session the cluster gives it.

    spark-submit --master spark://HOST:PORT tests/engines/standalone_driver.py JOB.json RESULT.json

JOB.json: ``{"index_dir": …, "cases": [{"name": …, "sql_tree": <SQLGlot JSON dump>, "params": {…}, "tables": {name: [ids]}}]}``.
RESULT.json gets the master URL, a portable date query's answers, and each case's person ids.
"""

from __future__ import annotations

import datetime as dt
import json
import sys


def main(job_path: str, result_path: str) -> None:
    import pyarrow as pa
    from pyspark.sql import SparkSession
    from sqlglot import exp

    from research_workbench.cdr.sql import col, table
    from research_workbench.engines import portable
    from research_workbench.engines.spark_engine import SparkEngine
    from research_workbench.index.layout import DATABASE_TABLES

    job = json.loads(open(job_path, encoding="utf-8").read())
    spark = SparkSession.builder.appName("rw-standalone-test").getOrCreate()
    engine = SparkEngine.from_session(spark)
    result: dict = {"master": spark.sparkContext.master}

    engine.register_arrow("pairs", pa.table({"a": pa.array([dt.date(2020, 1, 31), dt.date(2020, 2, 29)]),
                                             "b": pa.array([dt.date(2020, 2, 29), dt.date(2021, 3, 1)])}))
    dates = exp.select(portable.months_between(col("a"), col("b")).as_("months"),
                       portable.years_between(col("a"), col("b")).as_("years"),
                       portable.days_between(col("a"), col("b")).as_("days")).from_(table("pairs")).order_by(col("a"))
    result["dates"] = engine.run(dates).to_pylist()

    for name, file in DATABASE_TABLES.items():
        engine.register_parquet(name, f"{job['index_dir']}/{file}")
    result["cases"] = {}
    for case in job["cases"]:
        for name, ids in case["tables"].items():
            engine.register_arrow(name, pa.table({"person_id": pa.array(ids, pa.int64())}))
        params = {k: dt.date.fromisoformat(v["$date"]) if isinstance(v, dict) else v for k, v in case["params"].items()}
        tree = exp.Expression.load(case["sql_tree"])
        result["cases"][case["name"]] = sorted(engine.run(tree, params).column("person_id").to_pylist())
    engine.close()  # leaves the session to spark-submit, which stops it
    with open(result_path, "w", encoding="utf-8") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
