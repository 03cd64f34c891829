"""Tiny raw CDRs written from Python rows, and a runner for a handful of rules on them."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlglot import exp

from research_workbench.cdr.model import arrow_type, cdm
from research_workbench.cdr.store import Cdr, CdrBuilder
from research_workbench.curation.config import CurationConfig, load_config
from research_workbench.curation.engine import Workspace, qualified
from research_workbench.curation.private import extend_maps, load_maps
from research_workbench.curation.rule import Rule, Tier

CUTOFF = date(2024, 6, 30)


def person(pid: int, year: int = 1980, **extra: Any) -> dict[str, Any]:
    return {"person_id": pid, "gender_concept_id": 8507, "year_of_birth": year, "race_concept_id": 0, "ethnicity_concept_id": 0, **extra}


def status(pid: int, consent: date = date(2020, 1, 1), **extra: Any) -> dict[str, Any]:
    return {"person_id": pid, "primary_consent_date": consent, "enrollment_status": "core", **extra}


def obs(oid: int, pid: int, d: date = date(2021, 1, 1), concept: int = 4000, **extra: Any) -> dict[str, Any]:
    return {"observation_id": oid, "person_id": pid, "observation_concept_id": concept, "observation_date": d, "observation_type_concept_id": 45905771, **extra}


def answer(oid: int, pid: int, question: int, value: int | None, response: int = 1, **extra: Any) -> dict[str, Any]:
    return obs(oid, pid, concept=question, observation_source_concept_id=question, value_source_concept_id=value, value_as_concept_id=value, questionnaire_response_id=response, **extra)


def meas(mid: int, pid: int, concept: int = 3000, d: date = date(2021, 1, 1), **extra: Any) -> dict[str, Any]:
    return {"measurement_id": mid, "person_id": pid, "measurement_concept_id": concept, "measurement_date": d, "measurement_type_concept_id": 44818701, **extra}


def cond(cid: int, pid: int, d: date = date(2021, 1, 1), concept: int = 201826, **extra: Any) -> dict[str, Any]:
    return {"condition_occurrence_id": cid, "person_id": pid, "condition_concept_id": concept, "condition_start_date": d, "condition_type_concept_id": 32817, **extra}


def concept(cid: int, domain: str = "Condition", standard: str | None = "S", code: str = "X", **extra: Any) -> dict[str, Any]:
    return {"concept_id": cid, "concept_name": f"c{cid}", "domain_id": domain, "vocabulary_id": "V", "concept_class_id": "C",
            "standard_concept": standard, "concept_code": code, "valid_start_date": date(1970, 1, 1), "valid_end_date": date(2099, 12, 31), **extra}


def write_cdr(path: Path, tables: dict[str, list[dict[str, Any]]]) -> Path:
    model = cdm()
    with CdrBuilder(path) as builder:
        for name, rows in tables.items():
            table = model.table(name)
            unknown = {k for r in rows for k in r} - set(table.column_names)
            assert not unknown, f"{name}: no columns {unknown}"
            data = pa.table({c.name: pa.array([r.get(c.name) for r in rows], type=arrow_type(c.type)) for c in table.columns})
            builder.write_table(name, builder.con.from_arrow(data))
        builder.commit(vocabulary_version="test")
    return path


class Run:
    """A workspace with the fixture loaded and some rules run on it."""

    def __init__(self, ws: Workspace, effects, schema: str, scope: str):
        self.ws, self.effects, self.schema, self.scope = ws, effects, schema, scope

    def sandboxed(self, rule: str, table: str, key: str | None = None, action: str | None = None) -> set:
        name = f"{rule}__{table}"
        if name not in self.ws.tables_in(f"sb_{self.scope}"):
            return set()
        key = key or cdm().table(table).primary_key[0]
        select = exp.select(exp.column(key, quoted=True)).from_(qualified(f"sb_{self.scope}", name))
        if action:
            select = select.where(exp.column("_action").eq(exp.Literal.string(action)))
        return {r[0] for r in self.ws.sql(select)}

    def rows(self, table: str, *columns: str, order: str | None = None) -> list[tuple]:
        select = exp.select(*[exp.column(c, quoted=True) for c in columns]).from_(qualified(self.schema, table))
        select = select.order_by(exp.column(order or columns[0], quoted=True))
        return self.ws.sql(select)

    def ids(self, table: str, key: str | None = None) -> set:
        key = key or cdm().table(table).primary_key[0]
        return {r[0] for r in self.rows(table, key)}

    def effect(self, rule: str):
        return next(e for e in self.effects if e.rule.name == rule)


def run_rules(tmp_path: Path, tables: dict[str, list[dict[str, Any]]], rules: list[Rule], *, tier: Tier | None = None, config: CurationConfig | None = None) -> Run:
    raw = write_cdr(tmp_path / "raw", tables)
    cfg = config or load_config()
    cfg = cfg.model_copy(update={"cutoff_date": cfg.cutoff_date or CUTOFF})
    ws = Workspace(Cdr(raw), tmp_path / "work", threads=1)
    ws.load_raw()
    if tier is None:
        return Run(ws, ws.run(rules, schema="clean", scope="clean", config=cfg, tier=None), "clean", "clean")
    load_maps(ws, tmp_path / "private")
    extend_maps(ws, "clean", "test", cfg.registered.max_date_shift_days)
    ws.copy_schema("clean", "tier")
    return Run(ws, ws.run(rules, schema="tier", scope=tier.value, config=cfg, tier=tier), "tier", tier.value)
