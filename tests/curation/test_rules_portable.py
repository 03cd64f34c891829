"""Every curation rule's SQL is portable: ``check_portable`` accepts each query of every rule of the default config,
in both tiers, on DuckDB and on Spark, with the types of the CDM tables known (the engine's own type mapping,
``engines.schemas.sql_types``, of the model's Arrow schemas: what an engine reports for the tables registered,
checked below, without registering sixty tables on Spark).

What is checked is what a rule writes: the SELECT of setup, sandbox, log and insert queries, and the conditions,
assignments and joins inside a delete, update or remap (the statements themselves — DELETE, UPDATE, INSERT,
``t.* REPLACE`` — are the curation engine's to turn into what each engine runs). Same answers on both engines, for
the rules whose SQL the engines could read differently, are in ``test_rules_portable_answers.py``.
"""

from __future__ import annotations

import datetime
import functools

import pyarrow as pa
import pytest
from sqlglot import exp

from research_workbench.cdr import facts
from research_workbench.cdr.model import cdm
from research_workbench.cdr.sql import col, num
from research_workbench.curation.config import load_config
from research_workbench.curation.row_ids import SQL_FUNCTION
from research_workbench.curation.rule import RID, BOTH, Query, Rule, RuleContext, Stage, remove
from research_workbench.curation.rules import RULES
from research_workbench.engines import portable
from research_workbench.engines.capabilities import check_portable
from research_workbench.engines.errors import UnsupportedConstruct
from research_workbench.engines.schemas import sql_types

CUTOFF = datetime.date(2024, 6, 30)


def parts(query: Query) -> list[exp.Expression]:
    """The SQL a rule wrote in ``query``, as SELECTs over the same tables (so columns keep their types)."""
    tree = query.sql
    if tree is None:  # a load: rows from Python
        return []
    if isinstance(tree, exp.Delete):
        return [exp.select(exp.Star()).from_(tree.this.copy()).where(tree.args["where"].this.copy())]
    if isinstance(tree, exp.Update):
        select = exp.select(*[a.expression.copy().as_(a.this.name) for a in tree.expressions]).from_(tree.this.copy())
        if tree.args.get("from_") is not None:
            select = select.join(tree.args["from_"].this.copy(), join_type="cross")
        return [select.where(tree.args["where"].this.copy())]
    if isinstance(tree, exp.Insert):
        return [tree.expression.copy()]
    if query.kind == "remap":  # t.* REPLACE (…): the replacements, with the remap's FROM and joins
        select = tree.copy()
        star = select.expressions[0].this
        select.set("expressions", [r.copy() for r in star.args.get("replace") or []] or [exp.Star()])
        return [select]
    return [tree.copy()]


class CurationEngine:
    """The engine as ``check_portable`` sees it while it curates: the CDM tables registered (``model_schemas``) and
    ``rw_row_id`` defined (the row-id permutation, a function ``curation.row_ids`` registers on each engine)."""

    def __init__(self, engine):
        self.name, self._engine = engine.name, engine
        self._schemas = model_schemas()

    def has_function(self, name: str) -> bool:
        return name.lower() == SQL_FUNCTION or self._engine.has_function(name)

    def schemas(self) -> dict[str, dict[str, str]]:
        return self._schemas


def working_schema(name: str) -> pa.Schema:
    """A model table's Arrow schema as the curation engine holds it: with its row identity ``_rid``."""
    return cdm().table(name).arrow_schema().append(pa.field(RID, pa.int64()))


@functools.cache
def model_schemas() -> dict[str, dict[str, str]]:
    """Table → column → SQL type of every CDM table, as an engine reports them for the registered tables."""
    return {name: sql_types(working_schema(name)) for name in cdm().tables}


@functools.cache
def built(rule: Rule) -> list[tuple[str, list[Query], dict]]:
    """(tiers, queries, parameters) of ``rule`` for each of its tiers; tiers whose queries are the same trees with
    the same parameters are checked once, named together."""
    config = load_config()
    found: list[tuple[str, list[Query], dict]] = []
    for tier in sorted(rule.tiers, key=lambda t: t.value):
        ctx = RuleContext(config, tier, CUTOFF, rule.name)
        queries = rule.queries(ctx)
        for i, (tiers, other, params) in enumerate(found):
            if params == ctx.params and [q.sql for q in other] == [q.sql for q in queries]:
                found[i] = (f"{tiers}, {tier.value}", other, params)
                break
        else:
            found.append((tier.value, queries, ctx.params))
    return found


def unportable(engine, rules) -> list[str]:
    """``rule (tiers) query: construct — why`` for every construct ``check_portable`` refuses on ``engine``."""
    checked = CurationEngine(engine)
    problems = []
    for rule in rules:
        for tiers, queries, params in built(rule):
            for number, query in enumerate(queries):
                for part in parts(query):
                    try:
                        check_portable(part, checked, params=params)
                    except UnsupportedConstruct as err:
                        where = f"{rule.name} ({tiers}) query {number} {query.kind} {query.table or query.target or ''}"
                        problems += [f"{where}: {f.construct} — {f.reason} [{f.sql}]" for f in err.findings]
    return problems


def test_every_rule_of_both_tiers_is_portable(engine):
    assert len(RULES) >= 50 and {r.stage for r in RULES} == set(Stage)
    assert unportable(engine, RULES) == []


def test_a_rule_with_a_duckdb_only_construct_is_named_with_it(engine):
    values = exp.Placeholder(this="levels")

    def build(ctx: RuleContext) -> list[Query]:
        ctx.params["levels"] = ["deep"]
        late = exp.GT(this=col("sleep_date"), expression=exp.Add(this=col("sleep_date"), expression=exp.func("to_days", num(1))))
        return remove("sleep_level", exp.or_(exp.func("list_contains", values, col("level")), late))

    bad = Rule(name="bad_rule", description="uses DuckDB's list_contains and to_days", stage=Stage.CLEAN, tiers=BOTH,
               tables=("sleep_level",), build=build)
    problems = unportable(engine, [bad])
    # the sandbox and the delete (the same in both tiers): to_days everywhere, list_contains where the engine lacks it
    assert len([p for p in problems if "TO_DAYS" in p]) == 2
    assert all(p.startswith("bad_rule (controlled, registered) query ") for p in problems)
    assert len([p for p in problems if "LIST_CONTAINS" in p]) == (2 if engine.name == "spark" else 0)


def test_the_data_models_birth_date_builds_the_portable_try_date_tree():
    """cdr.facts cannot import engines (a lower layer): its copy of try_date_from_parts must stay the same tree."""
    year, month, day = col("year_of_birth", table="p"), col("month_of_birth", table="p"), num(1)
    assert facts.date_or_null(year, month, day) == portable.try_date_from_parts(year, month, day)
    assert not list(facts.birth_date("p").find_all(exp.Anonymous))  # no TRY(…), no function by name
    assert "TRY(" not in facts.birth_date("p").sql("duckdb").upper()


def test_the_checks_types_are_what_the_engines_report_for_registered_tables(engine):
    # between them, every column type of the model: integers, floats, text, dates, datetimes, booleans
    for name in ("measurement", "death"):
        engine.register_arrow(name, working_schema(name).empty_table())
        assert engine.schemas()[name] == model_schemas()[name]
    assert set(model_schemas()) == set(cdm().tables)
    assert model_schemas()["measurement"]["measurement_datetime"] == "TIMESTAMP" and model_schemas()["person"][RID] == "BIGINT"


def test_parts_turn_each_statement_into_the_select_it_holds():
    ctx = RuleContext(load_config(), None, CUTOFF, "r")
    delete, = [q for q in remove("person", col("year_of_birth").eq(ctx.param(1900))) if q.kind == "delete"]
    assert [p.sql("duckdb") for p in parts(delete)] == ['SELECT * FROM "person" WHERE "year_of_birth" = $p1']
