"""The residual-risk report: how many Registered Tier participants an outsider could single out.

An outsider who knows some facts about a person (their year of birth, gender and state, and which conditions they
have been diagnosed with, as a neighbour, an employer or a data broker might) can look for the rows that match.
If exactly one participant matches, that participant is re-identified, and the rest of their record is exposed.
The report groups the tier's participants into equivalence classes of those quasi-identifiers and gives the share
of participants who are unique in their class, with the distribution of class sizes; the same figures for the
demographics alone show how much the conditions add. Dates are not quasi-identifiers here: the Registered Tier
shifts them per participant. This is a measurement for stewards, not a guarantee: a real outsider may know other
facts (a rare drug, a procedure date), and may combine releases.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from ..cdr.sql import col
from .engine import Workspace, qualified

QUASI_IDENTIFIERS = ("year_of_birth", "gender_concept_id", "state_of_residence_concept_id", "set of condition concepts")
# Class-size bands reported: (label, smallest size, largest size or None).
BANDS = (("1", 1, 1), ("2", 2, 2), ("3–4", 3, 4), ("5–9", 5, 9), ("10–19", 10, 19), ("20–49", 20, 49), ("50+", 50, None))


def _class_sizes(ws: Workspace, schema: str, with_conditions: bool) -> dict[int, int]:
    """Class size → number of classes of that size."""
    people = (
        exp.select(col("person_id", table="p"), col("year_of_birth", table="p"), col("gender_concept_id", table="p"), col("state_of_residence_concept_id", table="e"))
        .from_(qualified(schema, "person").as_("p"))
        .join(qualified(schema, "person_ext").as_("e"), on=col("person_id", table="e").eq(col("person_id", table="p")), join_type="left")
    )
    keys = [col("year_of_birth", table="q"), col("gender_concept_id", table="q"), col("state_of_residence_concept_id", table="q")]
    if with_conditions:
        # The set as text, its distinct ids in one order: equal sets, equal keys. A text, not a list: DuckDB's and
        # Spark's list aggregates and list functions differ (NULL elements, names), a string aggregate does not.
        concept = exp.cast(col("condition_concept_id"), "TEXT")
        concepts = exp.GroupConcat(this=exp.Order(this=exp.Distinct(expressions=[concept]), expressions=[exp.Ordered(this=concept.copy())]),
                                   separator=exp.Literal.string(","))
        conditions = exp.select(col("person_id"), concepts.as_("concepts")).from_(qualified(schema, "condition_occurrence")).group_by(col("person_id"))
        people = people.select(col("concepts", table="c")).join(conditions.subquery("c"), on=col("person_id", table="c").eq(col("person_id", table="p")), join_type="left")
        keys.append(exp.func("COALESCE", col("concepts", table="q"), exp.Literal.string("")))  # no condition: the empty set
    classes = exp.select(exp.func("COUNT", exp.Star()).as_("size")).from_(people.subquery("q")).group_by(*keys)
    sizes = exp.select(col("size"), exp.func("COUNT", exp.Star())).from_(classes.subquery("k")).group_by(col("size"))
    return {int(size): int(n) for size, n in ws.sql(sizes)}


def _summary(sizes: dict[int, int]) -> dict[str, Any]:
    participants = sum(size * n for size, n in sizes.items())
    unique = sizes.get(1, 0)
    bands = []
    for label, low, high in BANDS:
        in_band = {s: n for s, n in sizes.items() if s >= low and (high is None or s <= high)}
        people = sum(s * n for s, n in in_band.items())
        bands.append({"size": label, "classes": sum(in_band.values()), "participants": people, "share": round(people / participants, 6) if participants else 0.0})
    return {
        "participants": participants,
        "equivalence_classes": sum(sizes.values()),
        "unique": unique,
        "unique_share": round(unique / participants, 6) if participants else 0.0,
        "in_classes_under_5": sum(s * n for s, n in sizes.items() if s < 5),
        "in_classes_under_20": sum(s * n for s, n in sizes.items() if s < 20),
        "class_sizes": bands,
    }


def residual_risk(ws: Workspace, schema: str) -> dict[str, Any]:
    """The residual-risk section of a release report, for the tier curated in ``schema``."""
    return {
        "tier": "registered",
        "quasi_identifiers": list(QUASI_IDENTIFIERS),
        **_summary(_class_sizes(ws, schema, with_conditions=True)),
        "demographics_only": {"quasi_identifiers": list(QUASI_IDENTIFIERS[:3]), **_summary(_class_sizes(ws, schema, with_conditions=False))},
    }
