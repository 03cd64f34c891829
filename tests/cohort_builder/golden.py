"""The golden SQL fixture format of ``fixtures/compile.sql`` (read and written here; see ``test_golden_sql.py``).

In the style of SQLGlot's own fixture files: plain SQL-comment markers, one small case after another. A case is

    -- case: NAME                      (unique; letters, digits, _ and -)
    -- select: persons                 (optional: compile with select="persons"; default "count")
    -- any other "-- " line is a note, kept as written
    {"includes": [...]}                (the cohort definition, JSON, one or more lines)
    -- params
    {"p0": true, "p1": [201826, 2018261], "p2": "CONDITION"}
    -- tables                          (only when the query registers tables: variant criteria's carriers)
    {"variant_carriers_0": [11, 12]}
    -- duckdb
    SELECT ...;                        (pretty-printed, ends with ";")
    -- postgres
    SELECT ...;
    -- spark
    SELECT ...;

Lines before the first case are the file's header, kept as written. The parameters are JSON in binding order, a
date written as ``{"$date": "YYYY-MM-DD"}``. Concepts are expanded by ``fake_expand`` and variant criteria carried
by ``fake_carriers``, so the SQL, parameters and tables depend on no vocabulary and no genotype store.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from research_workbench.cohorts.builder.compile import compile_definition
from research_workbench.cohorts.builder.model import parse_definition

FIXTURE = Path(__file__).parent / "fixtures" / "compile.sql"
DIALECTS = ("duckdb", "postgres", "spark")
SECTIONS = ("params", "tables", *DIALECTS)
OPTIONAL = {"tables"}  # written only when a case has it
MARKER = re.compile(r"^-- (?:case: (?P<case>[A-Za-z0-9_-]+)|(?P<section>params|tables|duckdb|postgres|spark))\s*$")
SELECT = re.compile(r"^-- select: (?P<select>count|persons)\s*$")


def fake_expand(concept_id: int, standard: bool) -> list[int]:
    """A fixed stand-in for the index's descendants: every concept has two, ``10c + 1`` and ``10c + 2``."""
    return [concept_id, concept_id * 10 + 1, concept_id * 10 + 2]


def fake_carriers(kind: str, criterion) -> pa.Table:
    """A fixed stand-in for a genotype store: the n-th identifier of a criterion (its rsids, genes, regions, then
    variant ids; n from 1) is carried by person 10n + 1 heterozygous and 10n + 2 homozygous; on arrays, 1000 more.
    Allele-frequency bounds select nothing away."""
    identifiers = [*criterion.rsids, *criterion.genes, *criterion.regions, *criterion.variant_ids]
    offsets = {"any": (1, 2), "heterozygous": (1,), "homozygous": (2,)}[criterion.zygosity]
    base = 1000 if kind == "array" else 0
    ids = sorted(base + 10 * n + o for n in range(1, len(identifiers) + 1) for o in offsets)
    return pa.table({"person_id": pa.array(ids, pa.int64())})


@dataclass
class Case:
    name: str
    definition_lines: list[str]  # as written: the definition, with any notes
    sections: dict[str, str] = field(default_factory=dict)  # params and SQL per dialect, as written (no ";")

    @property
    def definition(self) -> dict:
        return json.loads("\n".join(line for line in self.definition_lines if not line.startswith("--")))

    @property
    def select(self) -> str:
        for line in self.definition_lines:
            match = SELECT.match(line)
            if match:
                return match["select"]
        return "count"


def parse(text: str) -> tuple[list[str], list[Case]]:
    """(header lines, cases) of a fixture file; ValueError naming the line of a malformed one."""
    header: list[str] = []
    cases: list[Case] = []
    section: str | None = None
    body: list[str] = []

    def close() -> None:
        if section is not None:
            cases[-1].sections[section] = "\n".join(body).strip().removesuffix(";").rstrip()

    for number, line in enumerate(text.splitlines(), 1):
        match = MARKER.match(line)
        if match and match["case"]:
            close()
            if any(c.name == match["case"] for c in cases):
                raise ValueError(f"line {number}: case {match['case']!r} appears twice")
            cases.append(Case(match["case"], []))
            section, body = None, []
        elif match:
            if not cases:
                raise ValueError(f"line {number}: -- {match['section']} before any case")
            close()
            section, body = match["section"], []
            if section in cases[-1].sections:
                raise ValueError(f"line {number}: case {cases[-1].name!r} has two {section} sections")
        elif not cases:
            header.append(line)
        elif section is None:
            if line.strip():
                cases[-1].definition_lines.append(line)
        else:
            body.append(line)
    close()
    return header, cases


def params_text(params: dict) -> str:
    def encode(value: object) -> object:
        if isinstance(value, dt.date):
            return {"$date": value.isoformat()}
        raise TypeError(f"parameter value {value!r} has no JSON form")

    return json.dumps(params, default=encode)


def compiled(case: Case) -> dict[str, str]:
    """The sections a case should have: its parameters, its tables (if any) and its SQL in each dialect."""
    query = compile_definition(parse_definition(case.definition), fake_expand, case.select, fake_carriers)
    sections = {"params": params_text(query.params), **{d: query.sql(d, pretty=True) for d in DIALECTS}}
    if query.tables:
        sections["tables"] = json.dumps({name: t["person_id"].to_pylist() for name, t in query.tables.items()})
    return sections


def render(header: list[str], cases: list[Case]) -> str:
    lines = list(header)
    while lines and not lines[-1].strip():
        lines.pop()
    for case in cases:
        lines += ["", f"-- case: {case.name}", *case.definition_lines]
        for section in SECTIONS:
            if section in OPTIONAL and section not in case.sections:
                continue
            text = case.sections.get(section, "")
            lines += [f"-- {section}", text + (";" if section in DIALECTS else "")]
    return "\n".join(lines) + "\n"
