"""Same answers on DuckDB and Spark for the rules whose SQL the engines could read differently: dates (whole years
after birth, days after death, days before the cut-off, the birth date from parts, the timestamp shift), repeated
rows (the columns compared, NULL equal to NULL), answers per person (aggregates, not lists), zip codes (a regular
expression), the row-id range check (a query that fails) and the residual-risk classes (a set of concepts as text).

Each test runs the rule's own SELECTs — its setup queries, materialised, and its sandbox selections — on the
``engine`` fixture (both engines) over a tiny fixture, and asserts the exact rows: equal expectations on both
engines are the same answers. The statements (DELETE, UPDATE, remaps) are the curation engine's to run; here the
remap's SELECT is run as a SELECT.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pytest
from sqlglot import exp

from research_workbench.cdr.model import arrow_type, cdm
from research_workbench.curation.config import load_config
from research_workbench.curation.risk import residual_risk
from research_workbench.curation.rule import RID, Rule, RuleContext, Tier
from research_workbench.curation.rules import rule_named
from research_workbench.engines.errors import QueryFailed

from .fixtures import answer, cond, obs, person
from .test_rules_portable import parts

CUTOFF = date(2024, 6, 30)
CONFIG = load_config()
RACE, GENDER, SEX, ZIP = 1586140, 1585838, 1585845, 1585250


def arrow(name: str, rows: list[dict[str, Any]], first_rid: int = 1) -> pa.Table:
    """Rows of a model table (missing columns NULL) with ``_rid`` numbered from ``first_rid``."""
    table = cdm().table(name)
    unknown = {k for r in rows for k in r} - set(table.column_names)
    assert not unknown, f"{name}: no columns {unknown}"
    data = {c.name: pa.array([r.get(c.name) for r in rows], type=arrow_type(c.type)) for c in table.columns}
    return pa.table({**data, RID: pa.array(range(first_rid, first_rid + len(rows)), type=pa.int64())})


def flat(tree: exp.Expression) -> exp.Expression:
    """The tree with ``schema.name`` tables named ``schema__name`` (engines have one flat namespace), each keeping
    its old name as its alias."""
    tree = tree.copy()
    for node in list(tree.find_all(exp.Table)):
        if node.db:
            original = node.name
            node.set("this", exp.to_identifier(f"{node.db}__{node.name}"))
            node.set("db", None)
            if not node.alias:
                node.set("alias", exp.TableAlias(this=exp.to_identifier(original)))
    return tree


def used(tree: exp.Expression, params: dict[str, Any]) -> dict[str, Any]:
    names = {p.name for p in tree.find_all(exp.Placeholder)}
    return {k: v for k, v in params.items() if k in names}


def runnable(engine, tree: exp.Expression) -> bool:
    """Whether every table the tree reads is registered (a rule's queries over tables the fixture leaves out are
    not run)."""
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    return all(t.name.lower() in engine.schemas() for t in tree.find_all(exp.Table) if t.name not in ctes)


class Selections:
    """What a rule selected on an engine: its scratch tables and its sandbox selections, by (table, action)."""

    def __init__(self, engine, rule: Rule, tables: dict[str, list[dict[str, Any]]], *, tier: Tier = Tier.REGISTERED,
                 empty: tuple[str, ...] = (), config=CONFIG, sandboxes: bool = True):
        self.engine = engine
        for number, (name, rows) in enumerate(tables.items()):
            engine.register_arrow(name, arrow(name, rows, first_rid=1000 * (number + 1)))
        for name in empty:
            engine.register_arrow(name, arrow(name, []))
        self.ctx = RuleContext(config, tier, CUTOFF, rule.name)
        self.queries = rule.queries(self.ctx)
        self.sandboxed: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for query in self.queries:
            if query.kind == "load":
                types = {c: pa.int64() if t == "int64" else pa.float64() for c, t in (query.types or {}).items()}
                engine.register_arrow(f"scratch__{query.target}", pa.table({c: pa.array(v, type=types.get(c)) for c, v in query.data.items()}))
                continue
            if query.kind not in ("setup", "sandbox") or (query.kind == "sandbox" and not sandboxes):
                continue
            tree = flat(query.sql)
            if not runnable(engine, tree) or (query.kind == "sandbox" and query.table not in tables):
                continue  # a table the fixture leaves out, or has only for the rule to read (``empty``)
            if query.kind == "setup":
                engine.materialise(f"scratch__{query.target}", tree, used(tree, self.ctx.params))
            else:
                rows = engine.run(tree, used(tree, self.ctx.params)).to_pylist()
                self.sandboxed.setdefault((query.table, query.action), []).extend(rows)

    def ids(self, table: str, key: str, action: str = "removed") -> list:
        return sorted(r[key] for r in self.sandboxed.get((table, action), []))

    def scratch(self, name: str, *columns: str) -> list[tuple]:
        select = exp.select(*[exp.column(c) for c in columns]).from_(exp.table_(f"scratch__{self.ctx.rule_name}__{name}"))
        return sorted(tuple(r.values()) for r in self.engine.run(select).to_pylist())


# --- dates ------------------------------------------------------------------------------------------------------


def test_records_before_birth_or_later_than_the_150th_birthday_whole_years(engine):
    run = Selections(engine, rule_named("records_before_birth_or_too_old"), {
        "person": [person(1, 1900, month_of_birth=3, day_of_birth=1), person(2, 2000, month_of_birth=2, day_of_birth=29),
                   person(3, 1950, month_of_birth=13, day_of_birth=5),  # an impossible month: born 1 January
                   person(4, 1990, birth_datetime=datetime(1935, 6, 30, 23, 0))],  # the datetime wins over the parts
        "condition_occurrence": [
            cond(20, 1, date(1900, 2, 28)), cond(21, 1, date(1900, 3, 1)), cond(22, 1, date(2050, 3, 1)), cond(23, 1, date(2050, 3, 2)),
            # born 29 February: the 150th birthday, in a common year, is 1 March (whole years: engines.portable)
            cond(30, 2, date(2150, 2, 28)), cond(31, 2, date(2150, 3, 1)), cond(32, 2, date(2150, 3, 2)),
            cond(40, 3, date(1949, 12, 31)), cond(41, 3, date(1950, 1, 1)),
        ],
        "heart_rate_intraday": [{"person_id": 1, "datetime": datetime(1899, 1, 1, 1), "heart_rate_value": 60},
                                {"person_id": 1, "datetime": datetime(2000, 1, 1, 1), "heart_rate_value": 61}],
    })
    assert run.ids("condition_occurrence", "condition_occurrence_id") == [20, 23, 32, 40]
    assert run.ids("heart_rate_intraday", "heart_rate_value") == [60]
    assert run.scratch("births", "person_id", "d") == [(1, date(1900, 3, 1)), (2, date(2000, 2, 29)), (3, date(1950, 1, 1)),
                                                       (4, date(1935, 6, 30))]


def test_records_more_than_30_days_after_death_across_a_leap_day(engine):
    tables = {
        "death": [{"death_id": 1, "person_id": 1, "death_date": date(2020, 1, 31), "primary_death_record": True}],
        "condition_occurrence": [cond(1, 1, date(2020, 3, 1)), cond(2, 1, date(2020, 3, 2))],  # 30 and 31 days after
    }
    after = Selections(engine, rule_named("records_after_death"), tables)
    assert after.ids("condition_occurrence", "condition_occurrence_id") == [2]


def test_concepts_first_seen_within_365_days_of_the_cutoff(engine):
    recent = Selections(engine, rule_named("recent_concepts"), {
        "condition_occurrence": [cond(1, 1, date(2023, 6, 30), concept=7), cond(2, 1, date(2024, 1, 1), concept=7),
                                 cond(3, 1, date(2023, 7, 1), concept=8), cond(4, 1, date(2024, 6, 1), concept=8)],
    }, empty=("drug_exposure", "procedure_occurrence", "device_exposure", "measurement", "observation"))
    assert recent.ids("condition_occurrence", "condition_occurrence_id") == [3, 4]  # 2024-06-30 − 365 days = 2023-07-01


def test_the_date_shift_moves_dates_and_datetimes_back_keeping_the_time_of_day(engine):
    engine.register_arrow("condition_occurrence", arrow("condition_occurrence", [
        cond(1, 1, date(2020, 3, 1), condition_start_datetime=datetime(2020, 3, 1, 23, 59, 59, 123456)),
        cond(2, 2, date(2021, 1, 1), condition_end_date=date(2021, 1, 31)),
    ]))
    person_map = pa.table({"person_id": pa.array([1, 2], pa.int64()), "research_id": pa.array([11, 12], pa.int64()),
                           "shift_days": pa.array([1, 364], pa.int32())})
    engine.register_arrow("private__person_map", person_map)
    ctx = RuleContext(CONFIG, Tier.REGISTERED, CUTOFF, "date_shift")
    remap, = [q for q in rule_named("date_shift").queries(ctx) if q.table == "condition_occurrence"]
    select, = parts(remap)
    rows = engine.run(flat(select), used(select, ctx.params)).to_pylist()
    assert sorted((r["condition_start_date"], r["condition_start_datetime"], r["condition_end_date"]) for r in rows) == [
        (date(2020, 1, 3), None, date(2020, 2, 2)),  # 364 days before 2021-01-01, across 29 February 2020
        (date(2020, 2, 29), datetime(2020, 2, 29, 23, 59, 59, 123456), None),
    ]


# --- repeated rows ------------------------------------------------------------------------------------------------


def test_repeated_rows_are_found_by_their_columns_with_null_equal_to_null(engine):
    steps = lambda minute, value, src=None: {"person_id": 1, "datetime": datetime(2021, 1, 1, 0, minute), "steps": value, "src_id": src}  # noqa: E731
    run = Selections(engine, rule_named("duplicate_rows"), {
        "observation": [obs(1, 1), obs(2, 1), obs(3, 1, value_as_string="x"), obs(4, 1, value_as_string="x"), obs(5, 1, value_as_number=1.0)],
        "steps_intraday": [steps(0, 10.0), steps(0, 10.0), steps(0, 10.0, "a"), steps(1, None), steps(1, None), steps(2, 5.0)],
    })
    # observation: ids differ (a surrogate key), the rest equal: 2 repeats 1, 4 repeats 3; 5 differs by a value
    assert run.ids("observation", "observation_id") == [2, 4]
    # steps_intraday has no key: rows equal in every column, NULL equal to NULL; the first loaded is kept
    assert run.ids("steps_intraday", RID) == [2001, 2004]


# --- answers per person, lists of config values -------------------------------------------------------------------


def test_race_and_gender_are_decided_per_person_without_lists(engine):
    tables = {  # observation rows' _rid: 1000 + their position
        "observation": [
            answer(1, 1, RACE, 1586142), answer(2, 1, RACE, 1586146),  # two races → several
            answer(3, 2, RACE, 1586141),  # a single answer generalised
            answer(4, 3, RACE, 1586147), answer(5, 3, RACE, 1586146),  # Hispanic is not counted: one race, kept
            answer(10, 4, GENDER, 1585839), answer(11, 5, GENDER, None),  # man; no answer (NULL: outside the allowed)
            answer(12, 6, GENDER, 1585840), answer(13, 6, SEX, 1585846),  # woman, male at birth: a conflict
        ],
    }
    # the decisions (the sandbox selections and the changes read them by target_rid)
    race = Selections(engine, rule_named("generalise_race"), tables, empty=("concept",), sandboxes=False)
    assert race.scratch("decisions", "target_rid", "action", "value") == [
        (1000, "change", 2000000008), (1001, "remove", 2000000008), (1002, "change", 2000000001)]
    gender = Selections(engine, rule_named("generalise_gender_identity"), tables, empty=("concept",), sandboxes=False)
    assert gender.scratch("decisions", "target_rid", "action", "value") == [(1006, "change", 2000000002), (1007, "change", 2000000002)]


def test_config_lists_match_with_null_false_and_numbers_are_decimal(engine):
    levels = lambda *values: [{"person_id": 1, "sleep_date": date(2021, 1, 1), "level": v, "start_datetime": datetime(2021, 1, 1), "duration_in_min": 1.0} for v in values]  # noqa: E731
    sleep = Selections(engine, rule_named("invalid_sleep_levels"), {"sleep_level": levels("Deep", "bogus", None, "rem")})
    assert sleep.ids("sleep_level", RID) == [1001, 1002]  # "bogus" and the NULL level; "Deep" is deep
    text = lambda oid, question, value: obs(oid, 1, observation_source_concept_id=question, value_as_string=value)  # noqa: E731
    tables = {"observation": [text(1, ZIP, "08540"), text(2, 4000, "free text"), text(3, None, "no question")]}
    kept = Selections(engine, rule_named("free_text_string_fields"), tables)
    assert kept.ids("observation", "observation_id", "changed") == [2, 3]
    numbers = [answer(10 + i, 1, 4000, None, value_as_string=v) for i, v in enumerate(["12", " 3.5 ", "1e5", "1d", "nan", "0x10", "text"])]
    answers = Selections(engine, rule_named("free_text_survey_answers"), {"observation": numbers}, empty=("concept",))
    assert answers.ids("observation", "observation_id") == [13, 14, 15, 16]  # numbers in decimal are kept; '1d' is text


# --- zip codes, the row-id range, residual risk ---------------------------------------------------------------------


def test_zip3_reads_three_leading_ascii_digits_and_merges_small_areas(engine):
    zips = ["08540", "08541", "08599", "08601", "085", "abc", "١٢٣45", "9"]
    config = CONFIG.model_copy(update={"controlled": CONFIG.controlled.model_copy(update={"zip3_min_participants": 2})})
    run = Selections(engine, rule_named("zip3"), {
        "observation": [obs(i, i, observation_source_concept_id=ZIP, value_as_string=z) for i, z in enumerate(zips, start=1)],
    }, tier=Tier.CONTROLLED, config=config, sandboxes=False)
    # 08601 alone is too small an area: it merges into 085; non-ASCII digits, 'abc' and '9' are 000
    assert run.scratch("final", "target_rid", "z3") == [(1000, "085"), (1001, "085"), (1002, "085"), (1003, "085"),
                                                       (1004, "085"), (1005, "000"), (1006, "000"), (1007, "000")]


def test_a_row_id_outside_the_permutations_range_fails_the_check_naming_column_and_id(engine):
    Selections(engine, rule_named("row_ids"), {"condition_occurrence": [cond(3, 1), cond(2**60 - 1, 1)]})  # in range: no error
    with pytest.raises(QueryFailed, match=r"condition_occurrence\.condition_occurrence_id: a row id outside 0 … 2\^60 − 1, "
                                          r"the range release row ids are drawn for: -5"):
        Selections(engine, rule_named("row_ids"), {"condition_occurrence": [cond(3, 1), cond(-5, 1), cond(-2, 1)]})


class EngineWorkspace:
    """What the residual-risk report asks of a workspace (``sql``: rows as tuples), over an engine."""

    def __init__(self, engine):
        self.engine = engine

    def sql(self, tree: exp.Expression, params: dict[str, Any] | None = None) -> list[tuple]:
        return [tuple(r.values()) for r in self.engine.run(flat(tree), params).to_pylist()]


def test_residual_risk_classes_key_on_the_set_of_condition_concepts(engine):
    for name, rows in {
        "person": [person(p, 1980) for p in range(1, 6)],
        "person_ext": [{"person_id": p, "state_of_residence_concept_id": 7} for p in range(1, 6)],
        # 1 and 2 have the same set (order and repeats aside), 3 a NULL concept only (as no condition), 4 none, 5 another
        "condition_occurrence": [cond(1, 1, concept=10), cond(2, 1, concept=9), cond(3, 1, concept=10), cond(4, 2, concept=9),
                                 cond(5, 2, concept=10), cond(6, 3, concept=None), cond(7, 5, concept=9)],
    }.items():
        engine.register_arrow(f"tier__{name}", arrow(name, rows))
    risk = residual_risk(EngineWorkspace(engine), "tier")
    assert (risk["participants"], risk["equivalence_classes"], risk["unique"]) == (5, 3, 1)
    assert risk["demographics_only"]["equivalence_classes"] == 1
