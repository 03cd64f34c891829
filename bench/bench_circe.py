"""Benchmark: the Circe executor against OHDSI's own generated SQL, per definition, on the same DuckDB data.

    python bench/bench_circe.py --ohdsi-sql /tmp/ohdsi-sql            # both, compared, on GiBleed and Synthea27Nj
    python bench/bench_circe.py --runs 5                              # our executor only (no OHDSI SQL given)

Definitions: the four OHDSI CohortGenerator definitions shipped with the Eunomia GiBleed dataset
(``<gibleed>/cohorts/*.json``), every ``<ohdsi-sql>/<name>.json`` that has a ``<name>.sql`` beside it (held-out
OHDSI definitions, run on GiBleed), and the typical phenotypes of ``SYNTHEA_DEFINITIONS`` below on Synthea27Nj
(inclusion rules, correlated criteria with windows, counts and visits, date adjustment, end strategies, censoring,
collapse, censor window).

For each definition: ``run_circe`` (the whole call: definition checks, connection, codesets, every stage, the
counts and the rows) is timed ``--runs`` times after one warm-up. Where ``<ohdsi-sql>/<name>.sql`` exists it is
the baseline, run alternately with ours in the same process: the SQL Server dialect that ATLAS / CohortGenerator
emit, its parameters rendered and its ``{cond}?{then}:{else}`` blocks evaluated as SqlRender does, translated by
SQLGlot (tsql → duckdb; ``#temp`` tables become temporary tables; ``DATEADD`` stays a DATE; ``UPDATE STATISTICS``
is dropped), and run statement by statement. Same engine and data: a DuckDB database configured as
``run_circe``'s (``cdr.engine.connect``, Parquet metadata cached), the CDR tables as views over the same Parquet
files, and a new connection for each run, as ``run_circe`` takes one. The baseline's timing is its script plus
reading the cohort table back; building its database (views, target and results tables) happens once per dataset
and is reported apart (``ohdsi_setup_ms``), not counted. Both must give the same cohort rows, and the same events
per inclusion rule and base count as OHDSI's ``cohort_inclusion_stats`` / ``cohort_summary_stats`` (mode 0) where
the script writes them; mismatches are listed. OHDSI's SQL is read from ``--ohdsi-sql``, never kept in this
repository.

Prints one JSON document: per definition the row and subject counts, our wall-clock median/min/max, OHDSI's, and
the ratio (OHDSI median / ours; above 1 means ours is faster); and the same for the process CPU time (every DuckDB
thread included), which a busy machine disturbs far less than wall-clock time.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

from research_workbench.cdr.engine import connect
from research_workbench.cdr.store import Cdr
from research_workbench.cohorts.circe import load_definition, run_circe
from research_workbench.cohorts.circe.model import CirceExpression, parse_expression

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("RW_DATASETS", REPO.parent / "shared" / "datasets"))

TARGET_SCHEMA, RESULTS_SCHEMA, TARGET_TABLE, TARGET_ID = "circe_target", "circe_results", "cohort", 1
PARAMETERS = {
    "cdm_database_schema": "main",
    "vocabulary_database_schema": "main",
    "target_database_schema": TARGET_SCHEMA,
    "target_cohort_table": TARGET_TABLE,
    "target_cohort_id": str(TARGET_ID),
    "results_database_schema": RESULTS_SCHEMA,
    "cohort_id_field_name": "cohort_definition_id",
    "generateStats": "1",
}
RESULTS_TABLES = {
    "cohort_inclusion": "cohort_definition_id BIGINT, rule_sequence INTEGER, name VARCHAR, description VARCHAR",
    "cohort_inclusion_result": "cohort_definition_id BIGINT, inclusion_rule_mask BIGINT, person_count BIGINT, mode_id INTEGER",
    "cohort_inclusion_stats": "cohort_definition_id BIGINT, rule_sequence INTEGER, person_count BIGINT, gain_count BIGINT, "
                              "person_total BIGINT, mode_id INTEGER",
    "cohort_summary_stats": "cohort_definition_id BIGINT, base_count BIGINT, final_count BIGINT, mode_id INTEGER",
    "cohort_censor_stats": "cohort_definition_id BIGINT, lost_count BIGINT",
}


# ---------------------------------------------------------------------------------------------- SqlRender


def render_parameters(sql: str, parameters: dict[str, str]) -> str:
    """SqlRender's ``@name`` substitution; unknown names stay as they are."""
    return re.sub(r"@([A-Za-z_][A-Za-z0-9_]*)", lambda m: parameters.get(m.group(1), m.group(0)), sql)


def _matching_brace(text: str, start: int) -> int:
    """Index of the ``}`` closing the ``{`` at ``start``."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"unbalanced braces from offset {start}")


def _atom(text: str) -> bool | str:
    text = text.strip()
    if text.startswith("!") and not text.startswith("!="):
        return not _truth(_atom(text[1:]))
    for op in ("==", "!=", ">=", "<=", ">", "<"):
        if op in text:
            left, right = (part.strip().strip("'\"") for part in text.split(op, 1))
            try:
                a, b = float(left), float(right)
            except ValueError:
                a, b = left, right  # type: ignore[assignment]
            return {"==": a == b, "!=": a != b, ">=": a >= b, "<=": a <= b, ">": a > b, "<": a < b}[op]
    match = re.fullmatch(r"(.+?)\s+IN\s*\((.*)\)", text, flags=re.IGNORECASE)
    if match:
        return match.group(1).strip().strip("'\"") in [v.strip().strip("'\"") for v in match.group(2).split(",")]
    return text


def _truth(value: bool | str) -> bool:
    if isinstance(value, bool):
        return value
    return value.lower() not in ("", "0", "false")


def evaluate_condition(condition: str) -> bool:
    """A SqlRender condition: ``|`` of ``&`` of comparisons (``==``, ``!=``, ``<``…, ``IN``), ``!`` negation,
    parentheses; literals true/false/numbers."""
    condition = condition.strip()
    while "(" in condition and not re.search(r"\bIN\s*\(", condition, flags=re.IGNORECASE):
        inner = re.search(r"\(([^()]*)\)", condition)
        if inner is None:
            break
        condition = condition[: inner.start()] + ("true" if evaluate_condition(inner.group(1)) else "false") + condition[inner.end():]
    return any(all(_truth(_atom(part)) for part in alternative.split("&")) for alternative in condition.split("|"))


def render_conditionals(sql: str) -> str:
    """SqlRender's ``{condition} ? {if true} : {if false}`` blocks, nested ones included."""
    out, i = [], 0
    while i < len(sql):
        if sql[i] != "{":
            out.append(sql[i])
            i += 1
            continue
        close = _matching_brace(sql, i)
        after = re.match(r"\s*\?\s*\{", sql[close + 1:])
        if after is None:
            out.append(sql[i])
            i += 1
            continue
        then_open = close + after.end()
        then_close = _matching_brace(sql, then_open)
        chosen, end = sql[then_open + 1:then_close], then_close + 1
        otherwise = re.match(r"\s*:\s*\{", sql[end:])
        other = ""
        if otherwise is not None:
            else_open = end + otherwise.end() - 1
            else_close = _matching_brace(sql, else_open)
            other, end = sql[else_open + 1:else_close], else_close + 1
        out.append(render_conditionals(chosen if evaluate_condition(sql[i + 1:close]) else other))
        i = end
    return "".join(out)


# ---------------------------------------------------------------------------------------------- tsql → duckdb


def _date_add_as_date(node: exp.Expression) -> exp.Expression:
    """``DATEADD(day, n, d)`` stays a DATE (DuckDB's DATE + INTERVAL is a TIMESTAMP; SQL Server keeps the type)."""
    if isinstance(node, exp.DateAdd) and (node.text("unit") or "DAY").upper() in ("DAY", "D", "DD"):
        return exp.cast(exp.Add(this=node.this, expression=exp.Interval(this=exp.Paren(this=node.expression), unit=exp.var("DAY"))), "DATE")
    return node


def translate(sql: str) -> list[str]:
    """OHDSI's rendered SQL Server script → DuckDB statements."""
    statements = []
    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # "UPDATE STATISTICS … falling back to a Command" is expected
    for statement in sqlglot.parse(sql, read="tsql"):
        if statement is None:
            continue
        if isinstance(statement, exp.Command) and re.match(r"UPDATE\s+STATISTICS\b", statement.sql(dialect="tsql"), flags=re.IGNORECASE):
            continue  # a SQL Server optimizer hint, no effect on the result
        statements.append(statement.transform(_date_add_as_date).sql(dialect="duckdb"))
    return statements


def prepare_ohdsi(sql_file: Path) -> list[str]:
    return translate(render_conditionals(render_parameters(sql_file.read_text(encoding="utf-8"), PARAMETERS)))


# ---------------------------------------------------------------------------------------------- runs


class OhdsiDatabase:
    """The baseline's engine, configured as ``run_circe``'s: one in-memory DuckDB database for the process
    (``cdr.engine.connect``, Parquet metadata cached), holding the CDR tables as views over the same Parquet files,
    the target cohort table and the results tables. Each run is a new connection to it (its ``#temp`` tables are
    that connection's), as each ``run_circe`` is. Built once per dataset, outside the timings."""

    def __init__(self, cdr: Path):
        started = time.perf_counter()
        self.database = Cdr(cdr).connect(connect())
        self.database.execute("SET GLOBAL parquet_metadata_cache = true")
        self.database.execute(f"CREATE SCHEMA {TARGET_SCHEMA}")
        self.database.execute(f"CREATE TABLE {TARGET_SCHEMA}.{TARGET_TABLE} (cohort_definition_id BIGINT, subject_id BIGINT, "
                              "cohort_start_date DATE, cohort_end_date DATE)")
        self.database.execute(f"CREATE SCHEMA {RESULTS_SCHEMA}")
        for name, columns in RESULTS_TABLES.items():
            self.database.execute(f"CREATE TABLE {RESULTS_SCHEMA}.{name} ({columns})")
        self.setup_ms = (time.perf_counter() - started) * 1000

    def define(self, expression: CirceExpression) -> None:
        """The definition's inclusion rules in ``cohort_inclusion``, as CohortGenerator inserts them."""
        self.database.execute(f"DELETE FROM {RESULTS_SCHEMA}.cohort_inclusion")
        for i, rule in enumerate(expression.inclusion_rules):
            self.database.execute(f"INSERT INTO {RESULTS_SCHEMA}.cohort_inclusion VALUES (?, ?, ?, ?)",
                                  [TARGET_ID, i, rule.name, rule.description])

    def run(self, statements: list[str]) -> dict:
        started, cpu = time.perf_counter(), time.process_time()
        con = self.database.cursor()
        try:
            for statement in statements:
                con.execute(statement)
            rows = con.execute(f"SELECT subject_id, cohort_start_date, cohort_end_date FROM {TARGET_SCHEMA}.{TARGET_TABLE} "
                               "WHERE cohort_definition_id = ? ORDER BY 1, 2", [TARGET_ID]).fetchall()
            done, cpu_done = time.perf_counter(), time.process_time()
            stats = con.execute(f"SELECT rule_sequence, person_count FROM {RESULTS_SCHEMA}.cohort_inclusion_stats "
                                "WHERE mode_id = 0 ORDER BY 1").fetchall()
            summary = con.execute(f"SELECT base_count FROM {RESULTS_SCHEMA}.cohort_summary_stats WHERE mode_id = 0").fetchall()
            for name in ("cohort_inclusion_result", "cohort_inclusion_stats", "cohort_summary_stats", "cohort_censor_stats"):
                con.execute(f"DELETE FROM {RESULTS_SCHEMA}.{name}")  # a script without statistics must not read the last one's
        finally:
            con.close()
        return {"ms": (done - started) * 1000, "cpu_ms": (cpu_done - cpu) * 1000, "rows": [tuple(r) for r in rows],
                "rule_events": [count for _, count in stats], "base_count": summary[0][0] if summary else None}


def run_ours(cdr: Path, expression: CirceExpression) -> dict:
    started, cpu = time.perf_counter(), time.process_time()
    result = run_circe(expression, cdr)
    ms, cpu_ms = (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000
    return {"ms": ms, "cpu_ms": cpu_ms, "rows": [tuple(r) for r in result.rows], "rule_events": [r.events_passing for r in result.inclusion_rules],
            "base_count": result.attrition[1].events, "timings_ms": result.timings_ms}


def _summary(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 1), "min": round(min(values), 1), "max": round(max(values), 1)}


def _differences(ours: dict, ohdsi: dict) -> dict:
    mine, theirs = set(ours["rows"]), set(ohdsi["rows"])
    found: dict = {}
    if mine != theirs or len(ours["rows"]) != len(ohdsi["rows"]):
        found["rows"] = {"only_ours": len(mine - theirs), "only_ohdsi": len(theirs - mine),
                         "examples_only_ours": [[str(v) for v in r] for r in sorted(mine - theirs)[:3]],
                         "examples_only_ohdsi": [[str(v) for v in r] for r in sorted(theirs - mine)[:3]]}
    if ohdsi["rule_events"] and ohdsi["rule_events"] != ours["rule_events"]:
        found["inclusion_rule_events"] = {"ours": ours["rule_events"], "ohdsi": ohdsi["rule_events"]}
    if ohdsi["base_count"] is not None and ohdsi["base_count"] != ours["base_count"]:
        found["base_count"] = {"ours": ours["base_count"], "ohdsi": ohdsi["base_count"]}
    return found


def bench_definition(dataset: str, name: str, cdr: Path, expression: CirceExpression, sql_file: Path | None, runs: int,
                     baseline: OhdsiDatabase) -> dict:
    statements = prepare_ohdsi(sql_file) if sql_file is not None else None
    if statements is not None:
        baseline.define(expression)
    ours_runs, ohdsi_runs = [], []
    for i in range(runs + 1):  # the first of each is a warm-up
        ours = run_ours(cdr, expression)
        ohdsi = baseline.run(statements) if statements is not None else None
        if i:
            ours_runs.append(ours)
            if ohdsi is not None:
                ohdsi_runs.append(ohdsi)
    report: dict = {
        "dataset": dataset, "definition": name, "rows": len(ours["rows"]), "subjects": len({r[0] for r in ours["rows"]}),
        "ours_ms": _summary([r["ms"] for r in ours_runs]),
        "ours_cpu_ms": _summary([r["cpu_ms"] for r in ours_runs]),
        "ours_stage_ms": {k: round(v, 1) for k, v in ours_runs[-1]["timings_ms"].items()},
        "ohdsi_ms": None, "ohdsi_cpu_ms": None, "ohdsi_setup_ms": None, "ratio": None, "cpu_ratio": None, "ohdsi_statements": None, "mismatches": None,
    }
    if ohdsi_runs:
        report["ohdsi_ms"] = _summary([r["ms"] for r in ohdsi_runs])
        report["ohdsi_cpu_ms"] = _summary([r["cpu_ms"] for r in ohdsi_runs])
        report["cpu_ratio"] = round(report["ohdsi_cpu_ms"]["median"] / report["ours_cpu_ms"]["median"], 2)
        report["ohdsi_setup_ms"] = round(baseline.setup_ms, 1)
        report["ohdsi_statements"] = len(statements)  # type: ignore[arg-type]
        report["ratio"] = round(report["ohdsi_ms"]["median"] / report["ours_ms"]["median"], 2)
        report["mismatches"] = _differences(ours_runs[-1], ohdsi_runs[-1])
    return report


# ---------------------------------------------------------------------------------------------- definitions


def _concepts(set_id: int, name: str, *ids: int) -> dict:
    return {"id": set_id, "name": name, "expression": {"items": [{"concept": {"CONCEPT_ID": i}} for i in ids]}}


def _window(before: int | None, after: int | None, **flags) -> dict:
    return {"Start": {"Days": before, "Coeff": -1}, "End": {"Days": after, "Coeff": 1}, **flags}


def _group(*criteria: dict, demographic: tuple = (), type_: str = "ALL", count: int | None = None, groups: tuple = ()) -> dict:
    group = {"Type": type_, "CriteriaList": list(criteria), "DemographicCriteriaList": list(demographic), "Groups": list(groups)}
    return group | ({"Count": count} if count is not None else {})


def _correlated(criteria: dict, window: dict, occurrence: tuple[int, int] = (2, 1), **extra) -> dict:
    return {"Criteria": criteria, "StartWindow": window, "Occurrence": {"Type": occurrence[0], "Count": occurrence[1]}, **extra}


ANTIHYPERTENSIVES, OUTPATIENT, ER_VISIT, SINUSITIS, PHARYNGITIS, BRONCHITIS, SYSTOLIC = 0, 1, 2, 3, 4, 5, 6
SYNTHEA_SETS = [
    _concepts(ANTIHYPERTENSIVES, "hydrochlorothiazide, lisinopril, amlodipine", 19078106, 19080128, 19073094),
    _concepts(OUTPATIENT, "outpatient visit", 9202), _concepts(ER_VISIT, "emergency room visit", 9203),
    _concepts(SINUSITIS, "viral sinusitis", 40481087), _concepts(PHARYNGITIS, "acute viral pharyngitis", 4112343),
    _concepts(BRONCHITIS, "acute bronchitis", 260139), _concepts(SYSTOLIC, "systolic blood pressure", 3004249),
]


def _synthea(primary: list[dict], limit: str = "First", **rest) -> dict:
    return {"ConceptSets": SYNTHEA_SETS,
            "PrimaryCriteria": {"CriteriaList": primary, "ObservationWindow": {"PriorDays": rest.pop("prior_days", 0), "PostDays": 0},
                                "PrimaryCriteriaLimit": {"Type": limit}},
            "QualifiedLimit": {"Type": rest.pop("qualified_limit", "First")}, "ExpressionLimit": {"Type": rest.pop("expression_limit", "First")},
            **rest}


SYNTHEA_DEFINITIONS = {
    # New users of an antihypertensive with an outpatient visit in the year before and age ≥ 18; exposure era exit
    "synthea_antihypertensive_new_users": _synthea(
        [{"DrugExposure": {"CodesetId": ANTIHYPERTENSIVES, "First": True}}], prior_days=365,
        InclusionRules=[
            {"name": "an outpatient visit in the prior year",
             "expression": _group(_correlated({"VisitOccurrence": {"CodesetId": OUTPATIENT}}, _window(365, 0)))},
            {"name": "adult", "expression": _group(demographic=({"Age": {"Value": 18, "Op": "gte"}},))},
        ],
        EndStrategy={"CustomEra": {"DrugCodesetId": ANTIHYPERTENSIVES, "GapDays": 30, "Offset": 0}},
        CollapseSettings={"CollapseType": "ERA", "EraPad": 30},
    ),
    # Every sinusitis episode seen at an outpatient visit or after a pharyngitis, without bronchitis in the 30 days before
    "synthea_sinusitis_episodes": _synthea(
        [{"ConditionOccurrence": {"CodesetId": SINUSITIS}}], limit="All", qualified_limit="All", expression_limit="All",
        AdditionalCriteria=_group(
            _correlated({"ConditionOccurrence": {"CodesetId": PHARYNGITIS}}, _window(365, 0)),
            _correlated({"VisitOccurrence": {"CodesetId": OUTPATIENT}}, _window(0, 0)), type_="ANY"),
        InclusionRules=[{"name": "no bronchitis in the prior 30 days",
                         "expression": _group(_correlated({"ConditionOccurrence": {"CodesetId": BRONCHITIS}}, _window(30, 1), (0, 0)))}],
        EndStrategy={"DateOffset": {"DateField": "StartDate", "Offset": 14}},
        CollapseSettings={"CollapseType": "ERA", "EraPad": 7},
    ),
    # First high systolic reading at 40 or older, treated within a year (the exposure lasting 30 days from its start)
    "synthea_treated_hypertension": _synthea(
        [{"Measurement": {"CodesetId": SYSTOLIC, "ValueAsNumber": {"Value": 130, "Op": "gt"}}}], limit="All",
        AdditionalCriteria=_group(demographic=({"Age": {"Value": 40, "Op": "gte"}},)),
        InclusionRules=[{"name": "treated within a year", "expression": _group(
            _correlated({"DrugExposure": {"CodesetId": ANTIHYPERTENSIVES, "DateAdjustment": {
                "StartWith": "START_DATE", "StartOffset": 0, "EndWith": "START_DATE", "EndOffset": 30}}}, _window(0, 365)),
            _correlated({"Measurement": {"CodesetId": SYSTOLIC}}, _window(0, 365), (2, 2)), type_="AT_LEAST", count=1)}],
        CensoringCriteria=[{"Death": {}}],
    ),
    # Emergency room visits with a condition recorded at the visit, clipped to 2010-2020
    "synthea_er_visits": _synthea(
        [{"VisitOccurrence": {"CodesetId": ER_VISIT}}], limit="All", prior_days=30, expression_limit="All",
        InclusionRules=[{"name": "a condition at the visit",
                         "expression": _group(_correlated({"ConditionOccurrence": {}}, _window(0, 0), RestrictVisit=True))}],
        EndStrategy={"DateOffset": {"DateField": "EndDate", "Offset": 1}},
        CensorWindow={"StartDate": "2010-01-01", "EndDate": "2020-12-31"},
    ),
}


# ---------------------------------------------------------------------------------------------- main


def load_cdr(dataset: Path, workdir: Path) -> Path:
    from research_workbench.ingest import load_omop_folder

    out = workdir / dataset.name / "cdr"
    if not (out / "manifest.json").exists():
        load_omop_folder(dataset, out, allow_duplicate_keys=True)  # GiBleed repeats ids in three tables
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ohdsi-sql", type=Path, help="folder of OHDSI-generated <definition name>.sql (SQL Server dialect)")
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each (median reported), after one warm-up")
    parser.add_argument("--gibleed", type=Path, default=DATASETS / "eunomia-gibleed")
    parser.add_argument("--synthea", type=Path, default=DATASETS / "synthea27nj")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "rw-bench-circe", help="cache of loaded CDRs")
    parser.add_argument("--only", action="append", help="run only these definitions (repeatable)")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    suites: list[tuple[str, Path, dict[str, CirceExpression]]] = []
    gibleed = {p.stem: load_definition(p) for p in sorted((args.gibleed / "cohorts").glob("*.json"))}
    if args.ohdsi_sql is not None:
        for path in sorted(args.ohdsi_sql.glob("*.json")):
            if path.with_suffix(".sql").exists():
                gibleed[path.stem] = load_definition(path)
    suites.append(("eunomia-gibleed", load_cdr(args.gibleed, args.workdir), gibleed))
    synthea = {name: parse_expression(definition) for name, definition in SYNTHEA_DEFINITIONS.items()}
    suites.append(("synthea27nj", load_cdr(args.synthea, args.workdir), synthea))

    results = []
    for dataset, cdr, definitions in suites:
        baseline = OhdsiDatabase(cdr)
        for name, expression in definitions.items():
            if args.only and name not in args.only:
                continue
            sql_file = args.ohdsi_sql / f"{name}.sql" if args.ohdsi_sql is not None else None
            results.append(bench_definition(dataset, name, cdr, expression, sql_file if sql_file and sql_file.exists() else None,
                                            args.runs, baseline))
    compared = [r for r in results if r["ratio"] is not None]
    report = {
        "benchmark": "circe_executor_vs_ohdsi_sql",
        "machine": {"cpus": os.cpu_count(), "duckdb": duckdb.__version__, "sqlglot": sqlglot.__version__},
        "runs": args.runs,
        "definitions": results,
        "summary": {
            "compared": len(compared),
            "ours_faster_on_every_compared_definition": all(r["ratio"] > 1 for r in compared) if compared else None,
            "min_ratio": min((r["ratio"] for r in compared), default=None),
            "min_cpu_ratio": min((r["cpu_ratio"] for r in compared), default=None),
            "rows_identical_on_every_compared_definition": all(not r["mismatches"] for r in compared) if compared else None,
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
