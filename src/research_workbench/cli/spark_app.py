"""``workbench spark-app``: the path of the Python application to give ``spark-submit`` (``spark_main.py``), which
runs the ``workbench`` command line on the cluster.

    spark-submit --master spark://head:7077 --conf spark.executor.memory=8g "$(workbench spark-app)" \\
        curate RAW --release 2025Q1 --out RELEASES --engine spark

Every command that takes ``--engine spark`` then runs on the session ``spark-submit`` made (its master, executors
and ``--conf`` settings): ``engine_options.open_engine`` sees the launcher's gateway and uses that session rather
than starting its own.
"""

from __future__ import annotations

from pathlib import Path

import typer


def spark_app() -> None:
    """Print the path of the Python file to give spark-submit, which runs the workbench command line after it on
    the cluster's session: spark-submit --master URL "$(workbench spark-app)" curate RAW … --engine spark."""
    typer.echo(str(SPARK_MAIN))


SPARK_MAIN = Path(__file__).resolve().with_name("spark_main.py")
