"""Concept sets → one relation ``(codeset_id, concept_id)`` (the executor's ``circe_codesets`` CTE), resolved
against the CDR's vocabulary.

As circe-be's ``ConceptSetExpressionQueryBuilder`` resolves them:

1. included items: the listed ids that are in ``concept`` (valid or not), plus (``includeDescendants``) every
   descendant in ``concept_ancestor`` (which holds the self-row) whose ``concept`` row is valid;
2. ``includeMapped``: the ``concept_id_1`` of every valid "Maps to" row whose ``concept_id_2`` is in the item's
   step-1 set;
3. the ``isExcluded`` items resolved the same way are subtracted.
"""

from __future__ import annotations

from sqlglot import exp

from ...cdr.sql import alias, col, ident, lit, num, table
from .model import ConceptSet

ITEM_COLUMNS = ("codeset_id", "concept_id", "is_excluded", "include_descendants", "include_mapped")


def _valid(table_alias: str) -> exp.Expression:
    return col("invalid_reason", table=table_alias).is_(exp.null())


def _eq(a: exp.Expression, b: exp.Expression) -> exp.EQ:
    return exp.EQ(this=a, expression=b)


ITEM_COLUMNS = ("codeset_id", "concept_id", "is_excluded", "include_mapped")
LISTED, STEP1, RESOLVED = "circe_listed", "circe_step1", "circe_resolved"


def _values(rows: list[tuple[int, int, bool, bool]], name: str) -> exp.Subquery:
    """Concept-set items as an inline VALUES list of validated ints and booleans."""
    tuples = [exp.Tuple(expressions=[num(a), num(b), exp.Boolean(this=c), exp.Boolean(this=d)]) for a, b, c, d in rows]
    return exp.Subquery(this=exp.Values(expressions=tuples), alias=exp.TableAlias(this=ident(name), columns=[ident(c) for c in ITEM_COLUMNS]))


def codeset_query(concept_sets: list[ConceptSet]) -> exp.Expression:
    """The ``(codeset_id, concept_id)`` rows of every concept set, distinct; only the parts the items ask for
    (descendants, mapped source codes, exclusions) are in the query, each vocabulary table read once."""
    items = [(cs.id, it.concept.concept_id, it.is_excluded, it.include_mapped, it.include_descendants)
             for cs in concept_sets for it in cs.expression.items]
    if not items:  # no concept to resolve: an empty relation of the same columns
        empty = [alias(exp.cast(exp.null(), "BIGINT"), name) for name in ("codeset_id", "concept_id")]
        return exp.select(*empty).where(exp.false())
    i = lambda n: col(n, table="i")  # noqa: E731
    flags = [i("codeset_id"), i("is_excluded"), i("include_mapped")]
    step1: exp.Expression = (
        exp.select(*flags, alias(col("concept_id", table="c"), "concept_id"))
        .from_(_values([row[:4] for row in items], "i"))
        .join(table("concept", alias="c"), on=_eq(col("concept_id", table="c"), i("concept_id")))
    )
    with_descendants = [row[:4] for row in items if row[4]]
    if with_descendants:
        descendants = (
            exp.select(*[f.copy() for f in flags], alias(col("descendant_concept_id", table="ca"), "concept_id"))
            .from_(_values(with_descendants, "i"))
            .join(table("concept_ancestor", alias="ca"), on=_eq(col("ancestor_concept_id", table="ca"), i("concept_id")))
            .join(table("concept", alias="c"), on=exp.and_(_eq(col("concept_id", table="c"), col("descendant_concept_id", table="ca")), _valid("c")))
        )
        step1 = exp.union(step1, descendants, distinct=False, copy=False)
    s = lambda n: col(n, table="s")  # noqa: E731
    resolved: exp.Expression = exp.select(s("codeset_id"), s("is_excluded"), s("concept_id")).from_(table(STEP1, alias="s"))
    mapped = any(row[3] for row in items)
    if mapped:
        resolved = exp.union(
            resolved,
            exp.select(s("codeset_id"), s("is_excluded"), alias(col("concept_id_1", table="cr"), "concept_id"))
            .from_(table(STEP1, alias="s"))
            .join(
                table("concept_relationship", alias="cr"),
                on=exp.and_(_eq(col("concept_id_2", table="cr"), s("concept_id")), _eq(col("relationship_id", table="cr"), lit("Maps to")), _valid("cr")),
            )
            .where(s("include_mapped")),
            distinct=False,
            copy=False,
        )
    excluded = any(row[2] for row in items)

    def side(is_excluded: bool) -> exp.Select:
        flag = col("is_excluded", table="r")
        return exp.select(col("codeset_id", table="r"), col("concept_id", table="r")).distinct().from_(table(RESOLVED, alias="r")).where(
            flag if is_excluded else exp.not_(flag)
        )

    query: exp.Expression = exp.except_(side(False), side(True), distinct=True, copy=False) if excluded else side(False)
    # A CTE read twice is computed once (MATERIALIZED); one read once is inlined.
    query = query.with_(STEP1, as_=step1, materialized=True if mapped else None, copy=False)
    return query.with_(RESOLVED, as_=resolved, materialized=True if excluded else None, copy=False)
