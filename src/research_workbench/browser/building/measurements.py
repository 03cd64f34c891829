"""Physical measurements and labs with numeric values: each participant's latest value in the concept's most used
unit; summary statistics and histograms, overall and by sex at birth.

A physical measurement is a measurement whose source concept is one of the program's own (PPI vocabulary); it is
counted under that source concept. A lab is counted under its standard concept.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import pyarrow as pa
from sqlglot import exp

from ...cdr.facts import PPI_VOCABULARY, Domain, event_table_of
from ...cdr.sql import alias, col, table
from ...engines.portable_numbers import exact_quantiles, is_finite
from ..schema import spec
from .protect import RawTable
from .session import CdrSession, tree
from .strata import concept_names, stratum_label

MAX_HISTOGRAM_BINS = 24


class MeasurementTables(NamedTuple):
    measurement: RawTable
    stats: RawTable
    histogram: RawTable


class Bins(NamedTuple):
    """The histogram bins of one concept: ``nbins`` bins of ``width`` from ``lo`` (an ``mbins`` row)."""

    kind: str
    concept_id: int
    lo: float
    width: float
    nbins: int


def values_sql() -> str:
    """``mv``: per kind, concept, person and unit, the latest value (``main_unit``: in the concept's main unit, the
    unit most participants have; ties go to the lowest unit id, so every engine picks the same one). Only finite
    values count (``is_finite``: not NaN, not ±∞). The latest value is the one of the latest date, then of the
    highest measurement id."""
    m = event_table_of(Domain.MEASUREMENT)
    finite = is_finite(col(m.value_as_number, table="m")).sql("duckdb")
    return f"""
    WITH ppi AS (SELECT concept_id FROM concept WHERE vocabulary_id = '{PPI_VOCABULARY}'),
    rows AS (
        SELECT CASE WHEN m.{m.source_concept} IN (SELECT concept_id FROM ppi) THEN 'physical' ELSE 'lab' END AS kind,
               CASE WHEN m.{m.source_concept} IN (SELECT concept_id FROM ppi) THEN m.{m.source_concept}
                    ELSE m.{m.concept} END AS concept_id,
               m.person_id, COALESCE(m.{m.unit_concept}, 0) AS unit, m.{m.value_as_number} AS v,
               CAST(m.{m.start_date} AS DATE) AS d, m.{m.id} AS measurement_id
        FROM {m.table} m JOIN people p ON p.person_id = m.person_id
        WHERE m.{m.value_as_number} IS NOT NULL AND {finite}
    ),
    units AS (
        SELECT kind, concept_id, unit FROM (
            SELECT kind, concept_id, unit,
                   row_number() OVER (PARTITION BY kind, concept_id ORDER BY n DESC, unit) AS choice
            FROM (SELECT kind, concept_id, unit, count(DISTINCT person_id) AS n FROM rows GROUP BY ALL) AS per_unit
        ) AS ranked WHERE choice = 1
    ),
    latest AS (
        SELECT r.kind, r.concept_id, r.person_id, r.unit, r.v,
               row_number() OVER (PARTITION BY r.kind, r.concept_id, r.person_id, r.unit
                                  ORDER BY r.d DESC NULLS LAST, r.measurement_id DESC NULLS LAST) AS recency
        FROM rows r
        WHERE r.concept_id IS NOT NULL AND r.concept_id <> 0
    )
    SELECT l.kind, l.concept_id, l.person_id, l.unit, l.unit = u.unit AS main_unit, l.v
    FROM latest l JOIN units u ON u.kind = l.kind AND u.concept_id = l.concept_id
    WHERE l.recency = 1
    """


QUANTILES = {"p10": 0.1, "p25": 0.25, "median": 0.5, "p75": 0.75, "p90": 0.9}
RANGE = {"p01": 0.01, "p99": 0.99}  # the histogram's range: the main unit's values from the 1st to the 99th centile


def _main_values() -> exp.Select:
    """(kind, concept_id, unit, v) of the values in their concept's main unit."""
    return exp.select(col("kind"), col("concept_id"), col("unit"), col("v")).from_(table("mv")).where(col("main_unit"))


def _stratified_values() -> exp.Expression:
    """(kind, concept_id, stratum, v): each main-unit value under ``all`` and under its participant's sex at birth."""
    return tree("""
        WITH v AS (SELECT m.kind, m.concept_id, m.v, CAST(p.sex_at_birth AS VARCHAR) AS sex
                   FROM mv m JOIN people p ON p.person_id = m.person_id WHERE m.main_unit)
        SELECT kind, concept_id, 'all' AS stratum, v FROM v UNION ALL SELECT kind, concept_id, sex, v FROM v
    """)


def nice_width(span: float, bins: int) -> float:
    """A round bin width (1, 2, 2.5 or 5 times a power of ten) giving at most about ``bins`` bins over ``span``."""
    raw = span / bins if span > 0 else 1.0
    exponent = math.floor(math.log10(raw))
    for step in (1, 2, 2.5, 5, 10):
        width = step * 10**exponent
        if width >= raw:
            return width
    return 10 ** (exponent + 1)


def _r(x, digits: int = 4):
    return None if x is None else round(float(x), digits)


def measurements(s: CdrSession) -> tuple[MeasurementTables, int]:
    """The measurement, measurement_stats and measurement_histogram tables, and the participants with a physical
    measurement."""
    s.materialise("mv", values_sql())
    s.materialise("mq", exact_quantiles(_main_values(), ["kind", "concept_id"], "v", RANGE))
    concepts = s.records(
        """
        WITH per AS (SELECT kind, concept_id, person_id, bool_or(main_unit) AS has_main FROM mv GROUP BY ALL),
        cnt AS (SELECT kind, concept_id, count(*) FILTER (WHERE has_main) AS n, count(*) FILTER (WHERE NOT has_main) AS other
                FROM per GROUP BY ALL),
        units AS (SELECT kind, concept_id, any_value(unit) AS unit FROM mv WHERE main_unit GROUP BY ALL)
        SELECT c.kind, c.concept_id, u.unit, c.n, c.other, q.p01, q.p99
        FROM cnt c LEFT JOIN units u ON u.kind = c.kind AND u.concept_id = c.concept_id
        LEFT JOIN mq q ON q.kind = c.kind AND q.concept_id = c.concept_id ORDER BY c.kind, c.concept_id
        """,
    )
    names = concept_names(s, [c.concept_id for c in concepts] + [c.unit for c in concepts])
    measurement_rows, bins = [], []
    for c in concepts:
        if not c.n:
            continue
        lo, hi = float(c.p01), float(c.p99)
        width = nice_width(hi - lo, 20)
        start = math.floor(lo / width) * width
        nbins = max(1, min(MAX_HISTOGRAM_BINS, math.ceil((hi - start) / width) or 1))
        if start + nbins * width <= hi:
            nbins = min(MAX_HISTOGRAM_BINS, nbins + 1)
        bins.append(Bins(c.kind, c.concept_id, start, width, nbins))
        concept = names.get(c.concept_id)
        measurement_rows.append({
            "kind": c.kind, "concept_id": c.concept_id, "name": concept.name if concept else f"Concept {c.concept_id}",
            "code": concept.code if concept else "", "vocabulary_id": concept.vocabulary_id if concept else "",
            "unit_concept_id": c.unit, "unit": names[c.unit].code if c.unit and c.unit in names else "",
            "bin_width": width, "participant_count": c.n, "other_unit_participant_count": c.other,
        })
    s.register_arrow("mbins", pa.table({
        "kind": pa.array([b.kind for b in bins], pa.string()), "concept_id": pa.array([b.concept_id for b in bins], pa.int64()),
        "lo": pa.array([b.lo for b in bins], pa.float64()), "width": pa.array([b.width for b in bins], pa.float64()),
        "nbins": pa.array([b.nbins for b in bins], pa.int32())}))
    s.materialise("ms", _stratified_values())
    quantiles = exact_quantiles(table("ms"), ["kind", "concept_id", "stratum"], "v", QUANTILES)
    moments = tree("SELECT kind, concept_id, stratum, count(*) AS n, avg(v) AS mean, stddev_samp(v) AS sd FROM ms "
                   "GROUP BY kind, concept_id, stratum")
    keys = ("kind", "concept_id", "stratum")
    stats = s.records(
        exp.select(*[col(k, table="m") for k in keys], col("n", table="m"), col("mean", table="m"), col("sd", table="m"),
                   *[col(q, table="q") for q in QUANTILES])
        .from_(moments.subquery("m"))
        .join(quantiles.subquery("q"), on=exp.and_(*[col(k, table="q").eq(col(k, table="m")) for k in keys]), join_type="left")
        .order_by(*[col(k, table="m") for k in keys])
    )
    hist = s.records(
        """
        WITH v AS (SELECT m.kind, m.concept_id, m.v, CAST(p.sex_at_birth AS VARCHAR) AS sex,
                          b.lo, b.width, b.nbins,
                          LEAST(GREATEST(CAST(floor((m.v - b.lo) / b.width) AS INTEGER), 0), b.nbins - 1) AS bin
                   FROM mv m JOIN people p ON p.person_id = m.person_id
                   JOIN mbins b ON b.kind = m.kind AND b.concept_id = m.concept_id WHERE m.main_unit),
        s AS (SELECT kind, concept_id, 'all' AS stratum, bin, lo, width FROM v
              UNION ALL SELECT kind, concept_id, sex, bin, lo, width FROM v)
        SELECT kind, concept_id, stratum, bin, any_value(lo) + bin * any_value(width) AS low,
               any_value(lo) + (bin + 1) * any_value(width) AS high, count(*) AS n
        FROM s GROUP BY kind, concept_id, stratum, bin ORDER BY ALL
        """,
    )
    sex_names = concept_names(s, [int(r.stratum) for r in stats if r.stratum != "all"])
    stat_rows = []
    for row in stats:
        if row.stratum == "all":
            label, order = "All", 0
        else:
            label, order = stratum_label("sex_at_birth", row.stratum, sex_names)
            order = order or 1
        stat_rows.append({"kind": row.kind, "concept_id": row.concept_id, "stratum": row.stratum, "label": label, "sort_order": order,
                          "participant_count": row.n, "mean": _r(row.mean), "sd": _r(row.sd),
                          **{k: _r(getattr(row, k)) for k in QUANTILES}})
    hist_rows = {(h.kind, h.concept_id, h.stratum, h.bin): _bin(h.kind, h.concept_id, h.stratum, h.bin, h.low, h.high, h.n)
                 for h in hist}
    # Histograms list every bin of every stratum, empty ones included (as 0), so the charts line up.
    strata_of: dict[tuple, set[str]] = {}
    for r in stat_rows:
        strata_of.setdefault((r["kind"], r["concept_id"]), set()).add(r["stratum"])
    for g in bins:
        for stratum in strata_of.get((g.kind, g.concept_id), ()):
            for b in range(g.nbins):
                hist_rows.setdefault((g.kind, g.concept_id, stratum, b),
                                     _bin(g.kind, g.concept_id, stratum, b, g.lo + b * g.width, g.lo + (b + 1) * g.width, 0))
    physical = s.record("SELECT count(DISTINCT person_id) AS n FROM mv WHERE kind = 'physical'").n
    return MeasurementTables(
        RawTable.from_records(spec("measurement"), measurement_rows),
        RawTable.from_records(spec("measurement_stats"), stat_rows),
        RawTable.from_records(spec("measurement_histogram"), [hist_rows[k] for k in sorted(hist_rows)]),
    ), physical


def _bin(kind: str, concept_id: int, stratum: str, b: int, low: float, high: float, n: int) -> dict:
    return {"kind": kind, "concept_id": concept_id, "stratum": stratum, "bin": b, "bin_low": _r(low, 6),
            "bin_high": _r(high, 6), "participant_count": n}
