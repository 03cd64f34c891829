"""Genome aggregates, from the Controlled Tier: participants with whole-genome and array data, and per variant
of the whole-genome VCF the allele count, allele number, homozygote count (and, after rounding, allele
frequency) in each genetic ancestry group and in total (``vcf.py``).

Demographic strata of genome participants use the **Registered Tier's** categories only. The Controlled Tier
keeps the demographics the Registered Tier generalises (sex at birth other than female/male, say) and
participants the Registered Tier leaves out (aged 89 or over), so stratifying by its own person table published
categories that no public aggregate of the Registered Tier has (an intersex stratum, a 90+ age band). Here the
gender, sex-at-birth and age strata count the genome participants who are in the Registered Tier, with its
generalised values (joined on the research id, which both tiers share). A genome participant who is only in the
Controlled Tier is counted in the totals, the genetic-ancestry strata and the variant allele counts (Controlled
Tier facts, with categories of their own), and in no demographic stratum: any category given them would be either
one the Registered Tier removed or an untrue one.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pyarrow as pa

from ..schema import ANCESTRIES, ANCESTRY_LABELS, spec
from .people import REGISTERED_PEOPLE_COLUMNS, people_table
from .protect import RawTable
from .session import CdrSession
from .source import BrowserSource
from .strata import ConceptName, strata_rows
from .vcf import scan_vcf

if TYPE_CHECKING:
    from ...engines.base import Engine

# Controlled Tier facts: every genome participant counts.
GENOME_DIM_SQL = {
    "total": "'all'",
    "ancestry": "COALESCE(a.ancestry, 'none')",
}
# Registered Tier categories (``r``: the Registered Tier's people): only genome participants who are in it.
REGISTERED_DIM_SQL = {
    "gender": "CAST(r.gender AS VARCHAR)",
    "sex_at_birth": "CAST(r.sex_at_birth AS VARCHAR)",
    "age": "r.age_now",
}


@contextmanager
def engine_for(engine: Engine | None, scratch: Path, memory_limit: str | None) -> Iterator[Engine]:
    """The engine given (left open), or an embedded DuckDB spilling to ``scratch`` (closed at the end)."""
    if engine is not None:
        yield engine
        return
    from ...engines.duckdb_engine import DuckDBEngine

    with DuckDBEngine(temp_dir=scratch, memory_limit=memory_limit) as own:
        yield own


def genome_tables(source: BrowserSource, *, scratch: Path, memory_limit: str | None = None,
                  registered_people: pa.Table | None = None,
                  registered_labels: dict[int, ConceptName] | None = None,
                  engine: Engine | None = None) -> tuple[RawTable, list[RawTable], int]:
    """The genome table, the variant and variant_ancestry tables, and the participants with any genome.

    ``registered_people``: the Registered Tier's ``people`` (``REGISTERED_PEOPLE_COLUMNS``), and
    ``registered_labels`` the names of its concepts; without them (a single CDR) the one CDR's own are used.
    ``engine``: where the SQL runs (default: an embedded DuckDB)."""
    if registered_people is None and source.kind == "release":
        raise ValueError("the genome aggregates of a release need its Registered Tier's people")
    scratch.mkdir(parents=True, exist_ok=True)
    with engine_for(engine, scratch / "duckdb", memory_limit) as eng, CdrSession(eng, source.controlled) as s:
        people_table(s, source.cutoff)
        if registered_people is None:
            s.materialise("reg", f"SELECT {', '.join(REGISTERED_PEOPLE_COLUMNS)} FROM people")
        else:
            s.register_arrow("reg", registered_people.select(list(REGISTERED_PEOPLE_COLUMNS)))
        s.materialise("anc", "SELECT person_id, lower(min(ancestry_pred)) AS ancestry FROM ancestry_prediction "
                             "GROUP BY person_id")
        s.materialise("gs", "SELECT DISTINCT lower(g.data_type) AS data_type, g.person_id "
                            "FROM genomic_sample g JOIN people p ON p.person_id = g.person_id WHERE g.data_type IS NOT NULL")
        s.materialise("gs", "SELECT data_type, person_id FROM gs UNION ALL SELECT DISTINCT 'any', person_id FROM gs")
        parts = [
            f"SELECT g.data_type, '{dim}' AS dimension, {expr} AS stratum, count(*) AS participant_count FROM gs g "
            f"LEFT JOIN anc a ON a.person_id = g.person_id GROUP BY ALL"
            for dim, expr in GENOME_DIM_SQL.items()
        ] + [
            f"SELECT g.data_type, '{dim}' AS dimension, {expr} AS stratum, count(*) AS participant_count FROM gs g "
            f"JOIN reg r ON r.person_id = g.person_id GROUP BY ALL"
            for dim, expr in REGISTERED_DIM_SQL.items()
        ]
        rows = [_ancestry_label(r) for r in strata_rows(s, " UNION ALL ".join(parts), names=registered_labels)]
        participants = s.record("SELECT count(*) AS n FROM gs WHERE data_type = 'any'").n
        ancestry_of = {r.person_id: r.ancestry for r in s.records(
            "SELECT p.person_id, a.ancestry FROM people p LEFT JOIN anc a ON a.person_id = p.person_id")}
    summary = RawTable.from_records(spec("genome"), rows)
    vcf = source.wgs_vcf
    if vcf is None:
        return summary, [RawTable(spec("variant"), []), RawTable(spec("variant_ancestry"), [])], participants
    variants, ancestries = scan_vcf(vcf, ancestry_of, scratch)
    return summary, [RawTable.from_records(spec("variant"), variants.records()),
                     RawTable.from_records(spec("variant_ancestry"), ancestries.records())], participants


def _ancestry_label(row: dict[str, Any]) -> dict[str, Any]:
    """Genetic ancestry strata: the group's name, in the groups' own order."""
    if row["dimension"] != "ancestry":
        return row
    stratum = row["stratum"]
    if stratum in ANCESTRIES:
        label, order = ANCESTRY_LABELS[stratum], ANCESTRIES.index(stratum) + 1
    elif stratum == "none":
        label, order = "No ancestry prediction", 99
    else:
        label, order = stratum, 98
    return {**row, "label": label, "sort_order": order}
