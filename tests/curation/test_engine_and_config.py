"""The engine's contract (sandbox before delete, balance check, declared tables) and the config's errors."""

from __future__ import annotations

import pytest
from sqlglot import exp

from research_workbench.cdr.problems import ProblemsError
from research_workbench.cdr.sql import col, table
from research_workbench.curation.config import ConfigError, load_config
from research_workbench.curation.engine import BalanceError, RuleDefinitionError
from research_workbench.curation.rule import BOTH, Query, Rule, Stage, delete, remap, remove, sandbox

from .fixtures import obs, person, run_rules


def make_rule(build, tables=("observation",)) -> Rule:
    return Rule(name="test_rule", description="a test rule", stage=Stage.CLEAN, tiers=BOTH, tables=tables, build=build)


FIXTURE = {"person": [person(1)], "observation": [obs(1, 1), obs(2, 1), obs(3, 1)]}


def test_a_delete_that_removes_more_than_it_sandboxed_stops_the_run(tmp_path):
    bad = make_rule(lambda ctx: [sandbox("observation", col("observation_id").eq(1), "removed"), delete("observation", col("observation_id").isin(1, 2))])
    with pytest.raises(BalanceError, match=r"test_rule \(clean\): table observation does not balance: 3 rows before \+ 0 added ≠ 1 after \+ 1"):
        run_rules(tmp_path, FIXTURE, [bad])


def test_a_delete_before_any_sandbox_is_refused(tmp_path):
    bad = make_rule(lambda ctx: [delete("observation", exp.true())])
    with pytest.raises(RuleDefinitionError, match="delete on observation before any sandbox"):
        run_rules(tmp_path, FIXTURE, [bad])


def test_a_query_on_an_undeclared_table_is_refused(tmp_path):
    bad = make_rule(lambda ctx: remove("person", exp.true()))
    with pytest.raises(RuleDefinitionError, match="person, which the rule does not declare"):
        run_rules(tmp_path, FIXTURE, [bad])


def test_an_undeclared_side_effect_on_another_table_fails_the_balance_check(tmp_path):
    sneaky = make_rule(lambda ctx: [*remove("observation", col("observation_id").eq(1)), Query("setup", exp.select(exp.Literal.number(1).as_("x")), target="x"),
                                    Query("delete", exp.Delete(this=table("observation"), where=exp.Where(this=col("observation_id").eq(2))), table="observation")])
    with pytest.raises(BalanceError):
        run_rules(tmp_path, FIXTURE, [sneaky])


def test_a_balanced_rule_reports_its_row_effects(tmp_path):
    good = make_rule(lambda ctx: remove("observation", col("observation_id").isin(query=exp.select(exp.Literal.number(2)))))
    run = run_rules(tmp_path, FIXTURE, [good])
    e = run.effect("test_rule").tables["observation"]
    assert (e.before, e.after, e.removed, e.changed) == (3, 2, 1, 0)
    assert run.effect("test_rule").persons_after == 1


def test_config_defaults_load_and_document_every_key():
    config = load_config()
    assert config.physical_measurements.height_cm == (90.0, 228.0)
    assert config.registered.max_date_shift_days == 364 and config.registered.state_min_participants == 200


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[drugs]\nmax_refils = 3\n", "unknown key 'drugs.max_refils'"),
        ("[drugs]\nmax_refills = 'ten'\n", "key 'drugs.max_refills'"),
        ("[physical_measurements]\nheight_cm = [228, 90]\n", "key 'physical_measurements.height_cm'"),
        ("[string_fields]\nsuppress = ['person.no_such_column']\n", "key 'string_fields.suppress'"),
        ("[string_fields]\nsuppress = ['person.person_id']\n", "key 'string_fields.suppress'"),
        ("cutoff_date = 'yesterday'\n", "key 'cutoff_date'"),
        ("[units]\nmapping_file = 'missing.csv'\n", "units.mapping_file: file 'missing.csv' not found"),
        ("drugs = 3\n", "key 'drugs' must be a table"),
        ("[drugs\n", "not valid TOML"),
    ],
)
def test_a_bad_config_is_refused_naming_the_key(tmp_path, text, message):
    path = tmp_path / "curation.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")) as err:
        load_config(path)
    assert str(path) in str(err.value)


def test_a_bad_config_is_a_problems_error_located_by_file_and_key(tmp_path):
    path = tmp_path / "curation.toml"
    path.write_text("[drugs]\nmax_refills = 'ten'\n[registered]\nmax_age = 0\n")
    with pytest.raises(ProblemsError) as err:
        load_config(path)
    assert [(p.where, p.message) for p in err.value.problems] == [
        (f"{path}: drugs.max_refills", "Input should be a valid integer, unable to parse string as an integer"),
        (f"{path}: registered.max_age", "Input should be greater than or equal to 1"),
    ]
    assert err.value.as_json()["error"] == f"{path}: invalid curation config (drugs.max_refills, registered.max_age)"
    path.write_text("[units]\nmapping_file = 'missing.csv'\n")  # checked across sections, located at its key
    with pytest.raises(ProblemsError) as err:
        load_config(path)
    assert [(p.where, p.message) for p in err.value.problems] == [(f"{path}: units.mapping_file", "file 'missing.csv' not found")]


def test_a_unit_mapping_file_with_a_bad_row_is_refused_naming_the_key(tmp_path):
    (tmp_path / "units.csv").write_text("measurement_concept_id,from_unit_concept_id,to_unit_concept_id,factor,offset\n0,1,2,x,0\n")
    (tmp_path / "c.toml").write_text("[units]\nmapping_file = 'units.csv'\n")
    with pytest.raises(ConfigError, match="units.mapping_file .* row 2"):
        load_config(tmp_path / "c.toml").unit_mapping()


# --- deferred remaps: consecutive whole-table remaps are written once, in order ---------------------------------


def _deid_rule(name, build, tables=("observation",)) -> Rule:
    return Rule(name=name, description=name, stage=Stage.DEID, tiers=BOTH, tables=tables, build=build)


def _concept_remap(op):
    return lambda ctx: [remap("observation", {"observation_concept_id": op(col("observation_concept_id", table="t"))}, [])]


def test_consecutive_remaps_compose_into_one_write_applied_in_rule_order(tmp_path, monkeypatch):
    from research_workbench.curation.engine import Workspace
    from research_workbench.curation.rule import Tier

    writes = []
    original = Workspace.rewrite

    def spy(self, schema, name, select, params):
        if schema == "tier":
            writes.append(name)
        return original(self, schema, name, select, params)

    monkeypatch.setattr(Workspace, "rewrite", spy)
    plus_one = _deid_rule("plus_one", _concept_remap(lambda c: exp.Add(this=c, expression=exp.Literal.number(1))))
    times_ten = _deid_rule("times_ten", _concept_remap(lambda c: exp.Mul(this=c, expression=exp.Literal.number(10))))
    drop_first = _deid_rule("drop_first", lambda ctx: remove("observation", col("observation_id").eq(1)))
    run = run_rules(tmp_path, FIXTURE, [plus_one, times_ten, drop_first], tier=Tier.REGISTERED)
    assert writes == ["observation"]  # one rewrite for both remaps, flushed before drop_first reads the table
    assert run.sandboxed("drop_first", "observation", key="observation_concept_id") == {40010}  # (4000 + 1) × 10
    assert run.rows("observation", "observation_id", "observation_concept_id") == [(2, 40010), (3, 40010)]
    assert [run.effect(r).tables["observation"].remapped for r in ("plus_one", "times_ten")] == [3, 3]


def test_a_remap_whose_map_repeats_a_key_stops_the_run_naming_the_rule(tmp_path):
    from research_workbench.curation.rule import Tier

    def doubled(ctx):
        data = Query("load", target="doubled__m", data={"observation_id": [1, 1], "v": [7, 8]})
        m = ctx.scratch("m").as_("m")
        return [data, remap("observation", {"observation_concept_id": col("v", table="m")}, [(m, col("observation_id", table="t").eq(col("observation_id", table="m")))])]

    with pytest.raises(BalanceError, match=r"remap of observation by doubled: 3 rows before, 4 after"):
        run_rules(tmp_path, FIXTURE, [_deid_rule("doubled", doubled)], tier=Tier.REGISTERED)
