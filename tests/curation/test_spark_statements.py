"""The Workspace on both engines: each kind of statement a rule hands it gives the same tables and sandboxes on
DuckDB (DML in place) and on Spark (each statement materialised as the table's next version); the row identity
``_rid`` and the release ids are the same numbers on both."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlglot import exp

from research_workbench.cdr.sql import col
from research_workbench.cdr.store import Cdr
from research_workbench.curation.config import load_config
from research_workbench.curation.engine import BalanceError, RuleDefinitionError, Workspace, qualified
from research_workbench.curation.row_ids import ROW_ID_LIMIT, RowIdCipher, register_engine
from research_workbench.curation.rule import BOTH, Query, Rule, Stage, Tier, change, delete, insert, log, remap, remove, sandbox

from .fixtures import CUTOFF, meas, person, write_cdr

CONFIG = load_config().model_copy(update={"cutoff_date": CUTOFF})
TABLES = {
    "person": [person(1), person(2), person(3)],
    "measurement": [meas(10, 1, value_as_number=1.0), meas(11, 1, value_as_number=9.0), meas(12, 2), meas(13, 3, value_as_number=7.0, unit_source_value="mg")],
}


def _rule(name, build, tables=("measurement",), stage=Stage.CLEAN) -> Rule:
    return Rule(name=name, description=name, stage=stage, tiers=BOTH, tables=tables, build=build)


def _workspace(tmp_path, engine) -> Workspace:
    ws = Workspace(Cdr(write_cdr(tmp_path / "raw", TABLES)), tmp_path / "work", engine=engine)
    ws.load_raw()
    return ws


def _rows(ws: Workspace, schema: str, table: str, *columns: str) -> list[tuple]:
    select = exp.select(*[col(c) for c in columns]).from_(qualified(schema, table)).order_by(*[col(c) for c in columns])
    return ws.sql(select)


def _big_values(ctx):  # a NULL value_as_number must survive the delete: NOT COALESCE(NULL > 5, FALSE) keeps it
    return remove("measurement", exp.GT(this=col("value_as_number"), expression=ctx.param(8)))


def _unit_fix(ctx):
    return change("measurement", col("unit_source_value").is_(exp.Null()), {"unit_source_value": ctx.param("none"), "value_as_number": exp.Literal.number(0)})


def _concept_map(ctx):
    load = Query("load", target="concept_map__m", data={"mid": [10, 13], "target": [3001, 3002]})
    lookup = ctx.scratch("m")
    where = col("measurement_id").isin(query=exp.select(col("mid")).from_(lookup.copy()))
    return [load, *change("measurement", where, {"measurement_concept_id": col("target", table="m")},
                          from_=lookup.copy().as_("m"), join=col("mid", table="m").eq(col("measurement_id", table="measurement")))]


def _added(ctx):
    new = exp.select(exp.Literal.number(20), exp.Literal.number(2), exp.Literal.number(3000), exp.cast(exp.Literal.string("2021-02-01"), "DATE"),
                     exp.Literal.number(44818701), exp.Literal.number(-5))
    columns = ["measurement_id", "person_id", "measurement_concept_id", "measurement_date", "measurement_type_concept_id", "_rid"]
    return insert("measurement", columns, new, col("_rid").eq(exp.Literal.number(-5)))


def _shifted(ctx):
    load = Query("load", target="shifted__s", data={"pid": [1, 2, 3], "days": [1, 2, 3]})
    s = ctx.scratch("s").as_("s")
    return [load, remap("measurement", {"person_id": exp.Add(this=col("person_id", table="t"), expression=col("days", table="s"))},
                        [(s, col("pid", table="s").eq(col("person_id", table="t")))]),
            log(ctx, "seen", exp.select(col("person_id"), col("measurement_id")).from_("measurement").where(col("person_id").eq(ctx.param(2))))]


def test_each_statement_kind_gives_the_same_tables_and_sandboxes_on_both_engines(tmp_path, engine):
    ws = _workspace(tmp_path, engine)
    try:
        rules = [_rule("big_values", _big_values), _rule("unit_fix", _unit_fix), _rule("concept_map", _concept_map), _rule("added", _added)]
        effects = ws.run(rules, schema="clean", scope="clean", config=CONFIG, tier=None)
        assert [{t: e.as_dict() for t, e in effect.tables.items()} for effect in effects] == [
            {"measurement": {"before": 4, "after": 3, "removed": 1, "changed": 0, "added": 0, "remapped": 0}},
            {"measurement": {"before": 3, "after": 3, "removed": 0, "changed": 2, "added": 0, "remapped": 0}},
            {"measurement": {"before": 3, "after": 3, "removed": 0, "changed": 2, "added": 0, "remapped": 0}},
            {"measurement": {"before": 3, "after": 4, "removed": 0, "changed": 0, "added": 1, "remapped": 0}},
        ]
        assert _rows(ws, "clean", "measurement", "measurement_id", "measurement_concept_id", "value_as_number", "unit_source_value", "_rid") == [
            (10, 3001, 0.0, "none", (9 << 40) + 0), (12, 3000, 0.0, "none", (9 << 40) + 2), (13, 3002, 7.0, "mg", (9 << 40) + 3),
            (20, 3000, None, None, -5)]
        # sandboxes hold the rows as they were, with the action
        assert _rows(ws, "sb_clean", "big_values__measurement", "measurement_id", "value_as_number", "_action") == [(11, 9.0, "removed")]
        assert _rows(ws, "sb_clean", "unit_fix__measurement", "measurement_id", "value_as_number", "_action") == [(10, 1.0, "changed"), (12, None, "changed")]
        assert _rows(ws, "sb_clean", "concept_map__measurement", "measurement_id", "measurement_concept_id") == [(10, 3000), (13, 3000)]
        assert _rows(ws, "sb_clean", "added__measurement", "measurement_id", "_action") == [(20, "added")]
        assert ws.columns("clean", "measurement").field("value_as_number").type == pa.float64()  # an update keeps types

        ws.copy_schema("clean", "tier")
        remapped = ws.run([_rule("shifted", _shifted, stage=Stage.DEID)], schema="tier", scope="registered", config=CONFIG, tier=Tier.REGISTERED)
        assert remapped[0].tables["measurement"].remapped == 4
        assert _rows(ws, "tier", "measurement", "measurement_id", "person_id") == [(10, 2), (12, 4), (13, 6), (20, 4)]
        assert _rows(ws, "log_registered", "shifted__seen", "person_id", "measurement_id") == [(2, 10)]  # the remap is flushed before a query reads the table
        assert _rows(ws, "clean", "measurement", "measurement_id", "person_id")[0] == (10, 1)  # the clean schema untouched
    finally:
        ws.close()


def test_rules_breaking_the_contract_are_refused_on_both_engines(tmp_path, engine):
    ws = _workspace(tmp_path, engine)
    try:
        unsandboxed = _rule("unsandboxed", lambda ctx: [delete("measurement", col("measurement_id").eq(10))])
        with pytest.raises(RuleDefinitionError, match="delete on measurement before any sandbox"):
            ws.run([unsandboxed], schema="clean", scope="clean", config=CONFIG, tier=None)
        hidden = _rule("hidden", lambda ctx: [sandbox("measurement", col("measurement_id").eq(10), "changed"),
                                               delete("measurement", col("measurement_id").eq(10))])
        with pytest.raises(BalanceError, match=r"rule hidden \(clean\): table measurement does not balance: 4 rows before \+ 0 added ≠ 3 after \+ 0"):
            ws.run([hidden], schema="clean", scope="clean", config=CONFIG, tier=None)

        def twice(ctx):  # two map rows for one measurement: an UPDATE … FROM must not pick one at random
            load = Query("load", target="twice__m", data={"mid": [12, 12], "target": [1, 2]})
            m = ctx.scratch("m")
            return [load, *change("measurement", col("measurement_id").eq(12), {"measurement_concept_id": col("target", table="m")},
                                  from_=m.as_("m"), join=col("mid", table="m").eq(col("measurement_id", table="measurement")))]

        if not engine.supports("dml"):  # DuckDB's own UPDATE … FROM picks one of the matches
            with pytest.raises(RuleDefinitionError, match="UPDATE of measurement … FROM matches some of its rows more than once"):
                ws.run([_rule("twice", twice)], schema="clean", scope="clean", config=CONFIG, tier=None)
    finally:
        ws.close()


def test_row_identity_and_release_ids_are_the_same_numbers_on_both_engines(tmp_path, duckdb_engine, spark_engine):
    path = tmp_path / "rows.parquet"  # several row groups: the row index runs on across them
    pq.write_table(pa.table({"v": pa.array([5, 3, 9, 1, 7, 2, 8], type=pa.int64())}), path, row_group_size=3)
    key = bytes(range(16))
    edges = [0, 1, 2, (1 << 40) + 3, (1 << 59), ROW_ID_LIMIT - 2, ROW_ID_LIMIT - 1, None]
    ids = exp.select(exp.Anonymous(this="rw_row_id", expressions=[col("id")]).as_("r"), col("id")).from_("edge_ids")
    expected = RowIdCipher(key).permute(np.array([e for e in edges if e is not None], dtype=np.int64)).tolist()
    for engine in (duckdb_engine, spark_engine):
        engine.register_parquet("numbered", path, row_index="n")
        register_engine(engine, key)
        engine.register_arrow("edge_ids", pa.table({"id": pa.array(edges, type=pa.int64())}))
        try:
            numbered = engine.run(exp.select(col("v"), col("n")).from_("numbered"))
            result = engine.run(ids)
        finally:
            engine.drop("edge_ids")
            engine.drop("numbered")
        assert sorted(zip(numbered.column("n").to_pylist(), numbered.column("v").to_pylist())) == list(enumerate([5, 3, 9, 1, 7, 2, 8])), engine.name
        by_id = dict(zip(result.column("id").to_pylist(), result.column("r").to_pylist()))
        assert by_id[None] is None
        assert [by_id[e] for e in edges if e is not None] == expected, engine.name
