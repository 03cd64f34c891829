"""Raw (unrounded) Achilles-style aggregates of a release, computed in DuckDB.

Everything but genomes comes from the Registered Tier: participants by gender, sex at birth, race, ethnicity, age
group and state; per concept (conditions, drugs rolled up to ingredients, procedures, labs and measurements,
observations) participants with it, by gender, sex at birth, age at first occurrence and calendar year, and the
source concepts behind it; per survey question the answers, by gender, sex at birth and age at the survey;
physical measurements and labs (each participant's latest value, in the concept's most used unit): summary
statistics and histograms by sex at birth; wearables. Genome counts come from the Controlled Tier
(``genomes.py``).

The tables returned here hold true counts. They go through ``protect.protect`` before anything is written.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import duckdb

from ..cdr.ddl import create_table
from ..cdr.engine import connect, one_row
from ..cdr.store import Cdr
from .protect import RawTable
from .schema import (
    CONCEPT_DOMAINS,
    DOMAIN_LABELS,
    spec,
)
from .source import BrowserSource

Progress = Callable[[str, int, int], None]

MAX_HISTOGRAM_BINS = 24
WEARABLE_TABLES = {
    "activity_summary": "Daily activity summary",
    "heart_rate_summary": "Heart rate (daily summary)",
    "heart_rate_intraday": "Heart rate (minute level)",
    "steps_intraday": "Steps (minute level)",
    "sleep_daily_summary": "Sleep (daily summary)",
    "sleep_level": "Sleep levels",
    "device": "Device information",
}
NO_ANSWER_CONCEPT = {-1: ("Numeric answer", "number"), -2: ("Text answer (not shown)", "text")}


def connect_cdr(cdr: Cdr, temp_dir: Path | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """DuckDB views over a CDR's tables; a model table the CDR lacks becomes an empty table of the right shape."""
    con = cdr.connect(connect(temp_dir=temp_dir, memory_limit=memory_limit))
    con.execute("SET enable_progress_bar = false")
    for name, table in cdr.model.tables.items():
        if name not in cdr.manifest.tables:
            con.execute(create_table(table, "duckdb", primary_key=False).sql(dialect="duckdb"))
    return con


def _macros(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE OR REPLACE TEMP MACRO age_years(b, d) AS CAST(date_part('year', age(CAST(d AS TIMESTAMP), CAST(b AS TIMESTAMP))) AS INTEGER)")
    con.execute(
        "CREATE OR REPLACE TEMP MACRO age_band(a) AS CASE WHEN a IS NULL THEN 'unknown' WHEN a < 18 THEN '0-17' "
        "WHEN a < 30 THEN '18-29' WHEN a >= 90 THEN '90+' "
        "ELSE CAST(CAST(floor(a / 10) * 10 AS INTEGER) AS VARCHAR) || '-' || CAST(CAST(floor(a / 10) * 10 + 9 AS INTEGER) AS VARCHAR) END"
    )


def people_table(con: duckdb.DuckDBPyConnection, cutoff) -> None:
    """``people``: one row per participant with the stratifying facts; ``concept_label``: display names."""
    _macros(con)
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE people AS
        WITH ext AS (
            SELECT person_id, min(sex_at_birth_concept_id) AS sex_at_birth, min(state_of_residence_concept_id) AS state
            FROM person_ext GROUP BY person_id
        )
        SELECT p.person_id,
               COALESCE(p.gender_concept_id, 0) AS gender,
               COALESCE(e.sex_at_birth, 0) AS sex_at_birth,
               COALESCE(p.race_concept_id, 0) AS race,
               COALESCE(p.ethnicity_concept_id, 0) AS ethnicity,
               COALESCE(e.state, 0) AS state,
               COALESCE(TRY(make_date(CAST(p.year_of_birth AS INTEGER), CAST(COALESCE(p.month_of_birth, 1) AS INTEGER),
                                      CAST(COALESCE(p.day_of_birth, 1) AS INTEGER))),
                        TRY(make_date(CAST(p.year_of_birth AS INTEGER), 1, 1))) AS birth_date
        FROM person p LEFT JOIN ext e ON e.person_id = p.person_id
        """
    )
    con.execute("ALTER TABLE people ADD COLUMN age_now VARCHAR")
    con.execute("UPDATE people SET age_now = age_band(age_years(birth_date, ?::DATE))", [cutoff])


def _label(con: duckdb.DuckDBPyConnection, ids) -> dict[int, tuple[str, str, str, str]]:
    """concept id → (name, vocabulary, code, class) for the ids that exist."""
    ids = sorted({int(i) for i in ids if i is not None})
    if not ids:
        return {}
    rows = con.execute(
        "SELECT concept_id, concept_name, vocabulary_id, concept_code, concept_class_id FROM concept "
        "WHERE list_contains(?, concept_id)", [ids]
    ).fetchall()
    return {r[0]: (r[1] or "", r[2] or "", r[3] or "", r[4] or "") for r in rows}


def _stratum_label(dimension: str, stratum: str, names: dict[int, tuple]) -> tuple[str, int | None]:
    """Display label and sort order of one stratum value.

    Named concept values get no order here (None): the disclosure pass ranks them by their *published* counts
    (``schema.Rank``). Age bands and years keep their natural order; unknown values come last.
    """
    if dimension in ("age",):
        if stratum == "unknown":
            return "Unknown", 999
        return stratum, int(stratum.split("-")[0].rstrip("+"))
    if dimension == "year":
        return stratum, int(stratum) if stratum.isdigit() else 9999
    if dimension == "total":
        return "All participants", 0
    cid = int(stratum) if stratum.lstrip("-").isdigit() else None
    if cid == 0:
        return "Not reported", 10**9
    if cid is not None and cid in names:
        return names[cid][0], None
    return f"Concept {stratum}", 10**9 - 1


PERSON_DIM_SQL = {
    "total": "'all'",
    "gender": "CAST(p.gender AS VARCHAR)",
    "sex_at_birth": "CAST(p.sex_at_birth AS VARCHAR)",
    "race": "CAST(p.race AS VARCHAR)",
    "ethnicity": "CAST(p.ethnicity AS VARCHAR)",
    "state": "CAST(p.state AS VARCHAR)",
    "age": "p.age_now",
}


def _strata_rows(con, sql: str, key_width: int, names: dict[int, tuple] | None = None) -> list[tuple]:
    """Rows (keys…, dimension, stratum, count) → (keys…, dimension, stratum, label, sort_order, count).

    Concept values are named from ``names`` first, then from ``con``'s vocabulary."""
    rows = con.execute(sql).fetchall()
    ids = [int(r[key_width + 1]) for r in rows if r[key_width] not in ("age", "year", "total") and r[key_width + 1].lstrip("-").isdigit()]
    names = {**_label(con, [i for i in ids if i not in (names or {})]), **(names or {})}
    out = []
    for r in rows:
        label, order = _stratum_label(r[key_width], r[key_width + 1], names)
        out.append((*r[: key_width + 2], label, order, r[key_width + 2]))
    return out


# ---- demographics ------------------------------------------------------------------------------------------
def demographics(con) -> RawTable:
    parts = [
        f"SELECT '{dim}' AS dimension, {expr} AS stratum, count(*) AS n FROM people p GROUP BY ALL"
        for dim, expr in PERSON_DIM_SQL.items()
    ]
    rows = _strata_rows(con, " UNION ALL ".join(parts), 0)
    return RawTable(spec("demographics"), [(*r, None) for r in rows])


# ---- concepts ------------------------------------------------------------------------------------------------
EVENTS_SQL = """
CREATE OR REPLACE TEMP TABLE ev AS
WITH ppi AS (SELECT concept_id FROM concept WHERE vocabulary_id = 'PPI'),
ingredient AS (SELECT concept_id FROM concept WHERE concept_class_id = 'Ingredient' AND domain_id = 'Drug'),
raw AS (
    SELECT 'condition' AS domain, condition_concept_id AS concept_id, condition_source_concept_id AS source_concept_id,
           person_id, CAST(condition_start_date AS DATE) AS d FROM condition_occurrence
    UNION ALL
    SELECT 'drug', a.ancestor_concept_id, x.drug_source_concept_id, x.person_id, CAST(x.drug_exposure_start_date AS DATE)
    FROM drug_exposure x JOIN concept_ancestor a ON a.descendant_concept_id = x.drug_concept_id
    WHERE a.ancestor_concept_id IN (SELECT concept_id FROM ingredient)
    UNION ALL
    SELECT 'drug', x.drug_concept_id, x.drug_source_concept_id, x.person_id, CAST(x.drug_exposure_start_date AS DATE)
    FROM drug_exposure x WHERE x.drug_concept_id IN (SELECT concept_id FROM ingredient)
    UNION ALL
    SELECT 'procedure', procedure_concept_id, procedure_source_concept_id, person_id, CAST(procedure_date AS DATE)
    FROM procedure_occurrence
    UNION ALL
    SELECT 'measurement', measurement_concept_id, measurement_source_concept_id, person_id, CAST(measurement_date AS DATE)
    FROM measurement WHERE measurement_source_concept_id IS NULL OR measurement_source_concept_id NOT IN (SELECT concept_id FROM ppi)
    UNION ALL
    SELECT 'observation', observation_concept_id, observation_source_concept_id, person_id, CAST(observation_date AS DATE)
    FROM observation WHERE questionnaire_response_id IS NULL
)
SELECT DISTINCT r.domain, r.concept_id, COALESCE(r.source_concept_id, 0) AS source_concept_id, r.person_id, r.d
FROM raw r JOIN people p ON p.person_id = r.person_id
WHERE r.concept_id IS NOT NULL AND r.concept_id <> 0
"""

CONCEPT_DIM_SQL = {
    "gender": "CAST(p.gender AS VARCHAR)",
    "sex_at_birth": "CAST(p.sex_at_birth AS VARCHAR)",
    "age": "age_band(age_years(p.birth_date, f.first_d))",
}


def concepts(con) -> tuple[RawTable, RawTable, RawTable, dict[str, tuple[int, int]]]:
    con.execute(EVENTS_SQL)
    con.execute("CREATE OR REPLACE TEMP TABLE pc AS SELECT domain, concept_id, person_id, min(d) AS first_d FROM ev GROUP BY ALL")
    totals = con.execute(
        """
        WITH syn AS (SELECT concept_id, string_agg(DISTINCT concept_synonym_name, ' | ') AS synonyms FROM concept_synonym GROUP BY concept_id)
        SELECT f.domain, f.concept_id, COALESCE(c.concept_name, 'Concept ' || f.concept_id), COALESCE(c.vocabulary_id, ''),
               COALESCE(c.concept_code, ''), COALESCE(c.concept_class_id, ''), COALESCE(s.synonyms, ''), count(*) AS n, NULL
        FROM pc f LEFT JOIN concept c ON c.concept_id = f.concept_id LEFT JOIN syn s ON s.concept_id = f.concept_id
        GROUP BY ALL ORDER BY f.domain, f.concept_id
        """
    ).fetchall()
    parts = [
        f"SELECT f.domain, f.concept_id, '{dim}' AS dimension, {expr} AS stratum, count(*) AS n "
        f"FROM pc f JOIN people p ON p.person_id = f.person_id GROUP BY ALL"
        for dim, expr in CONCEPT_DIM_SQL.items()
    ]
    parts.append(
        "SELECT domain, concept_id, 'year', CAST(year(d) AS VARCHAR), count(DISTINCT person_id) FROM ev "
        "WHERE d IS NOT NULL GROUP BY ALL"
    )
    strata = _strata_rows(con, " UNION ALL ".join(parts), 2)
    sources = con.execute(
        """
        SELECT e.domain, e.concept_id, e.source_concept_id, COALESCE(c.concept_name, 'Concept ' || e.source_concept_id),
               COALESCE(c.vocabulary_id, ''), COALESCE(c.concept_code, ''), count(DISTINCT e.person_id)
        FROM ev e LEFT JOIN concept c ON c.concept_id = e.source_concept_id
        WHERE e.source_concept_id <> 0 GROUP BY ALL ORDER BY ALL
        """
    ).fetchall()
    summary = {
        r[0]: (r[1], r[2])
        for r in con.execute("SELECT domain, count(DISTINCT person_id), count(DISTINCT concept_id) FROM pc GROUP BY domain").fetchall()
    }
    return (
        RawTable(spec("concept"), [tuple(r) for r in totals]),
        RawTable(spec("concept_stratum"), [(*r, None) for r in strata]),
        RawTable(spec("concept_source"), [tuple(r) for r in sources]),
        summary,
    )


# ---- surveys -------------------------------------------------------------------------------------------------
SURVEY_SQL = """
CREATE OR REPLACE TEMP TABLE sv AS
SELECT sc.survey_concept_id AS module, o.observation_source_concept_id AS question,
       CASE WHEN o.value_source_concept_id IS NOT NULL AND o.value_source_concept_id <> 0 THEN o.value_source_concept_id
            WHEN o.value_as_number IS NOT NULL THEN -1 ELSE -2 END AS answer,
       o.person_id, CAST(o.observation_date AS DATE) AS d, o.observation_id
FROM observation o
JOIN survey_conduct sc ON sc.survey_conduct_id = o.questionnaire_response_id
JOIN people p ON p.person_id = o.person_id
WHERE o.questionnaire_response_id IS NOT NULL AND sc.survey_concept_id IS NOT NULL AND o.observation_source_concept_id IS NOT NULL
"""

SURVEY_DIM_SQL = {
    "gender": "CAST(p.gender AS VARCHAR)",
    "sex_at_birth": "CAST(p.sex_at_birth AS VARCHAR)",
    "age": "age_band(age_years(p.birth_date, f.first_d))",
}


def surveys(con) -> tuple[list[RawTable], int]:
    con.execute(SURVEY_SQL)
    modules = con.execute(
        "SELECT module, count(DISTINCT person_id), count(DISTINCT question), min(observation_id) FROM sv GROUP BY module ORDER BY 4"
    ).fetchall()
    questions = con.execute(
        "SELECT module, question, count(DISTINCT person_id), min(observation_id) FROM sv GROUP BY ALL ORDER BY module, 4"
    ).fetchall()
    answers = con.execute(
        "SELECT module, question, answer, count(DISTINCT person_id) AS n FROM sv GROUP BY ALL ORDER BY module, question, answer"
    ).fetchall()
    con.execute("CREATE OR REPLACE TEMP TABLE sa AS SELECT module, question, answer, person_id, min(d) AS first_d FROM sv GROUP BY ALL")
    parts = [
        f"SELECT f.module, f.question, f.answer, '{dim}' AS dimension, {expr} AS stratum, count(*) "
        f"FROM sa f JOIN people p ON p.person_id = f.person_id GROUP BY ALL"
        for dim, expr in SURVEY_DIM_SQL.items()
    ]
    strata = _strata_rows(con, " UNION ALL ".join(parts), 3)
    names = _label(con, [m[0] for m in modules] + [q[1] for q in questions] + [a[2] for a in answers])

    def name(cid: int) -> tuple[str, str]:
        if cid in NO_ANSWER_CONCEPT:
            return NO_ANSWER_CONCEPT[cid]
        n = names.get(cid)
        return (n[0], n[2]) if n else (f"Concept {cid}", "")

    module_rows = [(m, *name(m), i + 1, m_questions, n, None) for i, (m, n, m_questions, _) in enumerate(modules)]
    question_rows = []
    order: dict[int, int] = {}
    for m, q, n, _ in questions:
        order[m] = order.get(m, 0) + 1
        question_rows.append((m, q, *name(q), order[m], n))
    # sort_order None: the disclosure pass ranks answers by their published counts (ties by name, then id)
    answer_rows = [(m, q, a, *name(a), None, n, None) for m, q, a, n in answers]
    participants = one_row(con, "SELECT count(DISTINCT person_id) FROM sv")[0]
    return [
        RawTable(spec("survey_module"), module_rows),
        RawTable(spec("survey_question"), question_rows),
        RawTable(spec("survey_answer"), answer_rows),
        RawTable(spec("survey_answer_stratum"), strata),
    ], participants


# ---- physical measurements and labs ---------------------------------------------------------------------------
MEASUREMENT_SQL = """
CREATE OR REPLACE TEMP TABLE mv AS
WITH ppi AS (SELECT concept_id FROM concept WHERE vocabulary_id = 'PPI'),
rows AS (
    SELECT CASE WHEN m.measurement_source_concept_id IN (SELECT concept_id FROM ppi) THEN 'physical' ELSE 'lab' END AS kind,
           CASE WHEN m.measurement_source_concept_id IN (SELECT concept_id FROM ppi) THEN m.measurement_source_concept_id
                ELSE m.measurement_concept_id END AS concept_id,
           m.person_id, COALESCE(m.unit_concept_id, 0) AS unit, m.value_as_number AS v,
           CAST(m.measurement_date AS DATE) AS d, m.measurement_id
    FROM measurement m JOIN people p ON p.person_id = m.person_id
    WHERE m.value_as_number IS NOT NULL AND isfinite(m.value_as_number)
),
units AS (
    SELECT kind, concept_id, arg_max(unit, n) AS unit FROM (
        SELECT kind, concept_id, unit, count(DISTINCT person_id) AS n FROM rows GROUP BY ALL
    ) GROUP BY ALL
)
SELECT r.kind, r.concept_id, r.person_id, r.unit, r.unit = u.unit AS main_unit,
       arg_max(r.v, (r.d, r.measurement_id)) AS v
FROM rows r JOIN units u USING (kind, concept_id)
WHERE r.concept_id IS NOT NULL AND r.concept_id <> 0
GROUP BY ALL
"""


def _nice_width(span: float, bins: int) -> float:
    raw = span / bins if span > 0 else 1.0
    exponent = math.floor(math.log10(raw))
    for step in (1, 2, 2.5, 5, 10):
        width = step * 10**exponent
        if width >= raw:
            return width
    return 10 ** (exponent + 1)


def measurements(con) -> tuple[list[RawTable], int]:
    con.execute(MEASUREMENT_SQL)
    meta = con.execute(
        """
        WITH per AS (SELECT kind, concept_id, person_id, bool_or(main_unit) AS has_main FROM mv GROUP BY ALL),
        cnt AS (SELECT kind, concept_id, count(*) FILTER (WHERE has_main) AS n, count(*) FILTER (WHERE NOT has_main) AS other
                FROM per GROUP BY ALL),
        q AS (SELECT kind, concept_id, any_value(unit) AS unit, quantile_cont(v, 0.01) AS p01, quantile_cont(v, 0.99) AS p99
              FROM mv WHERE main_unit GROUP BY ALL)
        SELECT c.kind, c.concept_id, q.unit, c.n, c.other, q.p01, q.p99
        FROM cnt c LEFT JOIN q ON q.kind = c.kind AND q.concept_id = c.concept_id ORDER BY 1, 2
        """
    ).fetchall()
    names = _label(con, [m[1] for m in meta] + [m[2] for m in meta])
    con.execute("CREATE OR REPLACE TEMP TABLE mbins (kind VARCHAR, concept_id BIGINT, lo DOUBLE, width DOUBLE, nbins INTEGER)")
    measurement_rows, bins = [], []
    for kind, cid, unit, n, other, p01, p99 in meta:
        if not n:
            continue
        lo, hi = float(p01), float(p99)
        width = _nice_width(hi - lo, 20)
        start = math.floor(lo / width) * width
        nbins = max(1, min(MAX_HISTOGRAM_BINS, math.ceil((hi - start) / width) or 1))
        if start + nbins * width <= hi:
            nbins = min(MAX_HISTOGRAM_BINS, nbins + 1)
        bins.append((kind, cid, start, width, nbins))
        cname = names.get(cid, (f"Concept {cid}", "", "", ""))
        uname = names.get(unit, ("", "", "", ""))[2] if unit else ""
        measurement_rows.append((kind, cid, cname[0], cname[2], cname[1], unit, uname, width, n, other))
    if bins:
        con.executemany("INSERT INTO mbins VALUES (?, ?, ?, ?, ?)", bins)
    stats = con.execute(
        """
        WITH v AS (SELECT m.kind, m.concept_id, m.v, CAST(p.sex_at_birth AS VARCHAR) AS sex
                   FROM mv m JOIN people p ON p.person_id = m.person_id WHERE m.main_unit),
        s AS (SELECT kind, concept_id, 'all' AS stratum, v FROM v UNION ALL SELECT kind, concept_id, sex, v FROM v)
        SELECT kind, concept_id, stratum, count(*) AS n, avg(v), stddev_samp(v),
               quantile_cont(v, [0.1, 0.25, 0.5, 0.75, 0.9])
        FROM s GROUP BY ALL ORDER BY kind, concept_id, stratum
        """
    ).fetchall()
    hist = con.execute(
        """
        WITH v AS (SELECT m.kind, m.concept_id, m.v, CAST(p.sex_at_birth AS VARCHAR) AS sex,
                          b.lo, b.width, b.nbins,
                          LEAST(GREATEST(CAST(floor((m.v - b.lo) / b.width) AS INTEGER), 0), b.nbins - 1) AS bin
                   FROM mv m JOIN people p ON p.person_id = m.person_id
                   JOIN mbins b ON b.kind = m.kind AND b.concept_id = m.concept_id WHERE m.main_unit),
        s AS (SELECT kind, concept_id, 'all' AS stratum, bin, lo, width FROM v
              UNION ALL SELECT kind, concept_id, sex, bin, lo, width FROM v)
        SELECT kind, concept_id, stratum, bin, any_value(lo) + bin * any_value(width), any_value(lo) + (bin + 1) * any_value(width), count(*)
        FROM s GROUP BY kind, concept_id, stratum, bin ORDER BY ALL
        """
    ).fetchall()
    sex_names = _label(con, [int(s[2]) for s in stats if s[2] != "all"])
    stat_rows = []
    for kind, cid, stratum, n, mean, sd, q in stats:
        if stratum == "all":
            label, order = "All", 0
        else:
            label, order = _stratum_label("sex_at_birth", stratum, sex_names)
            order = order or 1
        q = q or [None] * 5
        stat_rows.append((kind, cid, stratum, label, order, n, _r(mean), _r(sd), *(_r(x) for x in q)))
    hist_rows = [(k, c, s, b, _r(lo, 6), _r(hi, 6), n) for k, c, s, b, lo, hi, n in hist]
    # Histograms list every bin of every stratum, empty ones included (as 0), so the charts line up.
    present = {(r[0], r[1], r[2], r[3]) for r in hist_rows}
    strata_of: dict[tuple, set[str]] = {}
    for r in stat_rows:
        strata_of.setdefault((r[0], r[1]), set()).add(r[2])
    for kind, cid, start, width, nbins in bins:
        for stratum in strata_of.get((kind, cid), ()):
            for b in range(nbins):
                if (kind, cid, stratum, b) not in present:
                    hist_rows.append((kind, cid, stratum, b, _r(start + b * width, 6), _r(start + (b + 1) * width, 6), 0))
    hist_rows.sort(key=lambda r: (r[0], r[1], r[2], r[3]))
    physical = one_row(con, "SELECT count(DISTINCT person_id) FROM mv WHERE kind = 'physical'")[0]
    return [
        RawTable(spec("measurement"), measurement_rows),
        RawTable(spec("measurement_stats"), stat_rows),
        RawTable(spec("measurement_histogram"), hist_rows),
    ], physical


def _r(x, digits: int = 4):
    return None if x is None else round(float(x), digits)


# ---- wearables ---------------------------------------------------------------------------------------------------
WEARABLE_DIM_SQL = {k: v for k, v in PERSON_DIM_SQL.items() if k in ("total", "gender", "sex_at_birth", "age")}


def wearables(con) -> tuple[RawTable, int]:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE wear AS "
        + " UNION ".join(f"SELECT DISTINCT '{t}' AS data_type, person_id FROM {t}" for t in WEARABLE_TABLES)
    )
    con.execute("INSERT INTO wear SELECT DISTINCT 'any', person_id FROM wear")
    parts = [
        f"SELECT w.data_type, '{dim}' AS dimension, {expr} AS stratum, count(*) FROM wear w JOIN people p ON p.person_id = w.person_id GROUP BY ALL"
        for dim, expr in WEARABLE_DIM_SQL.items()
    ]
    rows = _strata_rows(con, " UNION ALL ".join(parts), 1)
    any_wear = one_row(con, "SELECT count(*) FROM wear w JOIN people p ON p.person_id = w.person_id WHERE data_type = 'any'")[0]
    return RawTable(spec("wearable"), rows), any_wear


def registered_demographics(con) -> tuple:
    """The Registered Tier's people (the columns genome strata use) and the names of their concept values, for
    the genome aggregates computed on the Controlled Tier's connection."""
    from .genomes import REGISTERED_PEOPLE_COLUMNS

    people = con.sql(f"SELECT {', '.join(REGISTERED_PEOPLE_COLUMNS)} FROM people").to_arrow_table()
    ids = [r[0] for r in con.execute("SELECT DISTINCT gender FROM people UNION SELECT DISTINCT sex_at_birth FROM people").fetchall()]
    return people, _label(con, ids)


# ---- everything ----------------------------------------------------------------------------------------------------
def compute(source: BrowserSource, *, scratch: Path, progress: Progress | None = None,
            memory_limit: str | None = None) -> list[RawTable]:
    """Every raw aggregate table of the results store (still unrounded)."""
    from .genomes import genome_tables

    report = progress or (lambda stage, done, total: None)
    steps = 7
    con = connect_cdr(source.registered, scratch / "registered", memory_limit)
    try:
        report("participants", 0, steps)
        people_table(con, source.cutoff)
        demo = demographics(con)
        report("concepts", 1, steps)
        concept, concept_stratum, concept_source, domain_counts = concepts(con)
        report("surveys", 2, steps)
        survey_tables, survey_participants = surveys(con)
        report("measurements", 3, steps)
        measurement_tables, physical_participants = measurements(con)
        report("wearables", 4, steps)
        wearable, wearable_participants = wearables(con)
        registered_people, registered_labels = registered_demographics(con)
    finally:
        con.close()
    report("genomes", 5, steps)
    genome_summary, variant_tables, genome_participants = genome_tables(
        source, scratch=scratch / "controlled", memory_limit=memory_limit,
        registered_people=registered_people, registered_labels=registered_labels)
    report("search", 6, steps)
    survey_modules = {r[0]: r for r in survey_tables[0].rows}
    cards = []
    for i, domain in enumerate((*CONCEPT_DOMAINS, "survey", "physical_measurement", "wearable", "genome")):
        if domain in CONCEPT_DOMAINS:
            participants, n_concepts = domain_counts.get(domain, (0, 0))
        elif domain == "survey":
            participants, n_concepts = survey_participants, len(survey_modules)
        elif domain == "physical_measurement":
            participants = physical_participants
            n_concepts = sum(1 for r in measurement_tables[0].rows if r[0] == "physical")
        elif domain == "wearable":
            participants = wearable_participants
            n_concepts = len({r[0] for r in wearable.rows if r[0] != "any" and r[1] == "total"})
        else:
            participants = genome_participants
            n_concepts = len({r[0] for r in genome_summary.rows if r[0] != "any" and r[1] == "total"})
        cards.append((domain, DOMAIN_LABELS[domain], i + 1, n_concepts, participants, None))
    tables = [demo, RawTable(spec("domain_summary"), cards), concept, concept_stratum, concept_source,
              *survey_tables, *measurement_tables, wearable, genome_summary, *variant_tables]
    tables.append(search_items(concept, survey_tables, measurement_tables[0]))
    report("", steps, steps)  # the end: progress printers show no item for it
    return tables


def search_items(concept: RawTable, survey_tables: list[RawTable], measurement: RawTable) -> RawTable:
    rows = []
    for domain, cid, name, vocab, code, _cls, synonyms, n, _ in concept.rows:
        rows.append(("concept", domain, cid, None, name, code, vocab, synonyms, n))
    module, question = survey_tables[0], survey_tables[1]
    for mid, name, code, _order, _q, n, _ in module.rows:
        rows.append(("survey_module", "survey", mid, None, name, code, "PPI", "", n))
    for mid, qid, name, code, _order, n in question.rows:
        rows.append(("survey_question", "survey", qid, mid, name, code, "PPI", "", n))
    for kind, cid, name, code, vocab, *_rest, n, _other in measurement.rows:
        if kind == "physical":
            rows.append(("physical_measurement", "physical_measurement", cid, None, name, code, vocab, "", n))
    return RawTable(spec("search_item"), [(i + 1, *r) for i, r in enumerate(rows)])
