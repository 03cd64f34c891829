"""What curation does not run: queries whose rows are known to be none (``statements.returns_no_rows``), a rule's
queries on empty tables and the setups that only they read (``Workspace._which_run``). On Spark each would be a job,
and a program's tables are mostly empty for most rules; the answers must not change."""

from __future__ import annotations

import pytest
from sqlglot import exp, parse_one

from research_workbench.cdr.sql import col, table
from research_workbench.cdr.store import Cdr
from research_workbench.curation.config import load_config
from research_workbench.curation.engine import Workspace
from research_workbench.curation.rule import BOTH, Query, Rule, Stage, insert, log, remove, setup
from research_workbench.curation.statements import returns_no_rows

from .fixtures import CUTOFF, meas, person, write_cdr

ROWS = {"empty": 0, "full": 5}.get  # "other": unknown

NO_ROWS = [
    ("SELECT * FROM empty", True),
    ("SELECT e.x FROM empty AS e JOIN full AS f ON e.x = f.x LEFT JOIN other AS o ON o.x = e.x", True),
    ("SELECT * FROM empty CROSS JOIN full", True),
    ("SELECT x, COUNT(*) FROM empty GROUP BY x", True),
    ("SELECT x, COUNT(*) FROM empty GROUP BY x HAVING COUNT(*) > 0", True),
    ("SELECT (SELECT MAX(x) FROM full) + ROW_NUMBER() OVER (ORDER BY x) FROM empty", True),  # aggregate of a subquery
    ("SELECT SUM(x) OVER () FROM empty", True),  # a window over no rows
    ("SELECT * FROM (SELECT * FROM empty WHERE x > 1) AS s", True),
    ("WITH c AS (SELECT * FROM empty) SELECT * FROM c JOIN full ON TRUE", True),
    ("SELECT * FROM empty UNION ALL SELECT * FROM empty", True),
    ("SELECT * FROM full INTERSECT SELECT * FROM empty", True),
    ("SELECT * FROM empty EXCEPT SELECT * FROM full", True),
    ("SELECT COUNT(*) FROM empty", False),  # one row: 0
    ("SELECT MAX(x) FROM empty HAVING TRUE", False),
    ("SELECT * FROM empty RIGHT JOIN full ON TRUE", False),
    ("SELECT * FROM empty FULL OUTER JOIN full ON TRUE", False),
    ("SELECT * FROM full", False),
    ("SELECT * FROM other", False),  # unknown
    ("SELECT * FROM full EXCEPT SELECT * FROM empty", False),
    ("SELECT * FROM empty UNION ALL SELECT * FROM full", False),
    ("SELECT 1", False),
    ("SELECT * FROM clean.empty", False),  # not a flat name: unknown
]


@pytest.mark.parametrize(("sql", "expected"), NO_ROWS, ids=[sql for sql, _ in NO_ROWS])
def test_a_query_is_known_to_return_no_rows_only_when_an_empty_table_drives_it(sql, expected):
    assert returns_no_rows(parse_one(sql), ROWS) is expected


def _q(kind, table=None, target=None, reads=()):
    sql = exp.select("*").from_(table or "x")
    for name in reads:
        sql = sql.join(exp.Table(this=exp.to_identifier(name), db=exp.to_identifier("scratch")), on=exp.true())
    return Query(kind, sql, table=table, target=target)


def test_a_rule_skips_queries_on_empty_tables_and_the_setups_only_they_read_but_runs_checks():
    queries = [
        _q("setup", target="r__feeds_empty"),                       # read only by the skipped delete
        _q("setup", target="r__feeds_both"),                        # read by a query that runs
        _q("setup", target="r__check"),                             # read by nobody: a check, runs
        _q("setup", table="empty", target="r__check_empty"),        # a check of an empty table: skipped
        _q("sandbox", table="empty", reads=["r__feeds_empty"]),
        _q("delete", table="empty", reads=["r__feeds_empty", "r__feeds_both"]),
        _q("sandbox", table="full", reads=["r__feeds_both"]),
        _q("insert", table="filled"),                               # an INSERT always runs…
        _q("sandbox", table="filled"),                              # …and fills its table for what follows
        _q("log", target="r__log"),
    ]
    runs = Workspace._which_run(queries, {"empty": 0, "full": 3, "filled": 0})
    assert runs == [False, True, True, False, False, False, True, True, True, True]


CONFIG = load_config().model_copy(update={"cutoff_date": CUTOFF})


def _empty_table_rule(ctx):
    """A setup, a log, an INSERT and a removal, all driven by visit_occurrence, which is empty."""
    picked, ids = setup(ctx, "picked", exp.select(col("visit_occurrence_id").as_("id")).from_(table("visit_occurrence")))
    moved = exp.select(col("person_id"), col("visit_occurrence_id").as_("observation_id"), col("_rid")).from_(table("visit_occurrence"))
    return [picked,
            log(ctx, "moved", exp.select(col("visit_occurrence_id")).from_(table("visit_occurrence"))),
            *insert("observation", ["person_id", "observation_id", "_rid"], moved,
                    col("_rid").isin(query=exp.select(col("_rid")).from_(table("visit_occurrence")))),
            *remove("visit_occurrence", col("visit_occurrence_id").isin(query=exp.select(col("id")).from_(ids.copy())))]


def test_on_spark_a_rule_over_empty_tables_writes_nothing_and_balances(tmp_path, spark_engine, monkeypatch):
    ws = Workspace(Cdr(write_cdr(tmp_path / "raw", {"person": [person(1)], "measurement": [meas(10, 1)]})), tmp_path / "work", engine=spark_engine)
    written: list[str] = []
    materialise_files = spark_engine.materialise_files
    monkeypatch.setattr(spark_engine, "materialise_files", lambda name, *a, **k: (written.append(name), materialise_files(name, *a, **k)))
    try:
        ws.load_raw()
        rule = Rule(name="moves", description="moves", stage=Stage.CLEAN, tiers=BOTH,
                    tables=("visit_occurrence", "observation", "measurement"), build=_empty_table_rule)
        effect = ws.run_rule(rule, schema="clean", scope="clean", config=CONFIG, tier=None)
        assert written == []  # loading reads the raw files in place; every query of the rule reads an empty table
        assert effect.tables == {} and ws.counts("clean")["measurement"] == 1 and ws.count("clean", "observation") == 0
    finally:
        ws.close()
