"""Strata of the aggregates: the display label and sort order of each stratum value, and names of concepts.

Shared by every aggregate with strata (participants, concepts, survey answers, wearables, genomes).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .session import CdrSession

# Dimensions whose strata are not concept ids.
NOT_CONCEPTS = ("age", "year", "total")


class ConceptName(NamedTuple):
    name: str
    vocabulary_id: str
    code: str
    concept_class_id: str


def concept_names(s: CdrSession, ids) -> dict[int, ConceptName]:
    """concept id → its name, vocabulary, code and class, for the ids that exist."""
    ids = sorted({int(i) for i in ids if i is not None})
    if not ids:
        return {}
    rows = s.records("SELECT concept_id, concept_name, vocabulary_id, concept_code, concept_class_id FROM concept "
                     "WHERE list_contains($ids, concept_id)", {"ids": ids})
    return {r.concept_id: ConceptName(r.concept_name or "", r.vocabulary_id or "", r.concept_code or "",
                                      r.concept_class_id or "") for r in rows}


def stratum_label(dimension: str, stratum: str, names: dict[int, ConceptName]) -> tuple[str, int | None]:
    """Display label and sort order of one stratum value.

    Named concept values get no order here (None): the disclosure pass ranks them by their *published* counts
    (``schema.Rank``). Age bands and years keep their natural order; unknown values come last.
    """
    if dimension == "age":
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
        return names[cid].name, None
    return f"Concept {stratum}", 10**9 - 1


def strata_rows(s: CdrSession, sql: str,
                names: dict[int, ConceptName] | None = None) -> list[dict[str, Any]]:
    """The rows of ``sql`` (its keys, ``dimension``, ``stratum``, ``participant_count``) with each stratum's
    ``label`` and ``sort_order`` added.

    Concept values are named from ``names`` first, then from the session's vocabulary."""
    rows = s.records(sql)
    given = names or {}
    ids = [int(r.stratum) for r in rows if r.dimension not in NOT_CONCEPTS and r.stratum.lstrip("-").isdigit()]
    names = {**concept_names(s, [i for i in ids if i not in given]), **given}
    out = []
    for r in rows:
        label, order = stratum_label(r.dimension, r.stratum, names)
        out.append({**r._asdict(), "label": label, "sort_order": order})
    return out
