"""Concept sets → one table ``(codeset_id, concept_id)``, resolved against the CDR's vocabulary.

1. included items: the listed ids as they are, plus (``includeDescendants``) every valid descendant from
   ``concept_ancestor`` (which holds the self-row);
2. ``includeMapped``: the ``concept_id_1`` of every valid "Maps to" row whose ``concept_id_2`` is in the item's
   step-1 set;
3. the ``isExcluded`` items resolved the same way are subtracted.
"""

from __future__ import annotations

from sqlglot import exp

from ...cdr.sql import alias, col, ident, table
from .model import ConceptSet
from .sql import CODESETS, Session

ITEMS = "circe_concept_set_items"


def _valid(table_alias: str) -> exp.Expression:
    return col("invalid_reason", table=table_alias).is_(exp.null())


def resolve_codesets(session: Session, concept_sets: list[ConceptSet]) -> None:
    """Create the temporary table ``circe_codesets`` holding every concept set's resolved ids."""
    columns = {"codeset_id": "BIGINT", "concept_id": "BIGINT", "is_excluded": "BOOLEAN",
               "include_descendants": "BOOLEAN", "include_mapped": "BOOLEAN"}
    schema = exp.Schema(
        this=table(ITEMS), expressions=[exp.ColumnDef(this=ident(n), kind=exp.DataType.build(t)) for n, t in columns.items()]
    )
    session.execute(exp.Create(this=schema, kind="TABLE", properties=exp.Properties(expressions=[exp.TemporaryProperty()])))
    rows = [
        (cs.id, item.concept.concept_id, item.is_excluded, item.include_descendants, item.include_mapped)
        for cs in concept_sets
        for item in cs.expression.items
    ]
    if rows:
        insert = exp.insert(exp.values([tuple(exp.Placeholder() for _ in columns)]), table(ITEMS))
        session.con.executemany(session.sql(insert), rows)

    item_cols = ["codeset_id", "is_excluded", "include_mapped"]
    listed = exp.select(*[col(c, table="i") for c in item_cols], col("concept_id", table="i")).from_(table(ITEMS, alias="i"))
    descendants = (
        exp.select(*[col(c, table="i") for c in item_cols], alias(col("descendant_concept_id", table="ca"), "concept_id"))
        .from_(table(ITEMS, alias="i"))
        .join(table("concept_ancestor", alias="ca"), on=exp.EQ(this=col("ancestor_concept_id", table="ca"), expression=col("concept_id", table="i")))
        .join(table("concept", alias="c"), on=exp.and_(exp.EQ(this=col("concept_id", table="c"), expression=col("descendant_concept_id", table="ca")), _valid("c")))
        .where(col("include_descendants", table="i"))
    )
    step1 = exp.union(listed, descendants, distinct=True)
    mapped = (
        exp.select(col("codeset_id", table="s"), col("is_excluded", table="s"), alias(col("concept_id_1", table="cr"), "concept_id"))
        .from_(exp.Subquery(this=step1, alias=exp.TableAlias(this=ident("s"))))
        .join(
            table("concept_relationship", alias="cr"),
            on=exp.and_(
                exp.EQ(this=col("concept_id_2", table="cr"), expression=col("concept_id", table="s")),
                exp.EQ(this=col("relationship_id", table="cr"), expression=exp.Literal.string("Maps to")),
                _valid("cr"),
            ),
        )
        .where(col("include_mapped", table="s"))
    )
    direct = exp.select(col("codeset_id", table="s"), col("is_excluded", table="s"), col("concept_id", table="s")).from_(
        exp.Subquery(this=step1, alias=exp.TableAlias(this=ident("s")))
    )
    resolved = exp.Subquery(this=exp.union(direct, mapped, distinct=True), alias=exp.TableAlias(this=ident("r")))

    def side(excluded: bool) -> exp.Select:
        flag = col("is_excluded", table="r")
        return exp.select(col("codeset_id", table="r"), col("concept_id", table="r")).from_(resolved.copy()).where(flag if excluded else exp.not_(flag))

    query = exp.except_(side(False), side(True), distinct=True)
    create = exp.Create(
        this=table(CODESETS), kind="TABLE", expression=query, properties=exp.Properties(expressions=[exp.TemporaryProperty()])
    )
    session.execute(create)
