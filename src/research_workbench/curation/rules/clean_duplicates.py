"""Cleaning rules for repeated rows: identical rows, and distinct rows that reuse a primary key."""

from __future__ import annotations

from sqlglot import exp

from ...cdr.facts import event_tables
from ...cdr.model import cdm
from ...cdr.sql import col, table
from ...engines.row_hash import row_hash
from ..rule import BOTH, Query, Rule, RuleContext, Stage, remove, setup

# Tables whose rows are data (not vocabulary, not results): every one may hold repeats.
DATA_TABLES = tuple(t.name for t in cdm().tables.values() if t.category not in ("vocabulary", "results"))
KEYED_TABLES = tuple(t for t in DATA_TABLES if len(cdm().table(t).primary_key) == 1)
# Tables whose id is a surrogate of the row (the event tables of ``cdr.facts``, visit details, specimens, deaths):
# two rows equal in all else are one event recorded twice. In other tables the key carries meaning (person_ext,
# <table>_ext, participant_status: the parent's id), so only rows equal in every column are repeats.
SURROGATE_KEY_TABLES = frozenset(event_tables()) | {"visit_detail", "specimen", "death"}


def _later_copies(name: str, partition: list[str]) -> exp.Expression:
    """_rid of every row but the first of each group of rows equal on ``partition`` (lowest key, then first loaded).

    A full window over every column of a 100-million-row table sorts it all; instead the rows are first grouped
    by one 64-bit hash of ``partition`` (a single-column aggregate: 1.5x faster than grouping by every column, and
    it holds one number per group rather than whole rows), and only rows whose hash repeats, a superset of the
    duplicates, go through the exact window, which compares the columns themselves. The hash is each engine's own
    (``engines.row_hash``): its values never leave this query, and a collision costs time, never correctness.
    """
    digest = row_hash(*[col(c) for c in partition])
    repeated = (
        exp.select(digest.copy().as_("h"))
        .from_(table(name))
        .group_by(digest.copy())
        .having(exp.GT(this=exp.func("COUNT", exp.Star()), expression=exp.Literal.number(1)))
    )
    candidates = exp.select(exp.Star()).from_(table(name)).where(digest.copy().isin(query=repeated))
    order = [exp.Ordered(this=col(k)) for k in cdm().table(name).primary_key if k not in partition] + [exp.Ordered(this=col("_rid"))]
    number = exp.Window(this=exp.func("ROW_NUMBER"), partition_by=[col(c) for c in partition], order=exp.Order(expressions=order))
    ranked = exp.select(col("_rid"), number.as_("n")).from_(candidates.subquery("c"))
    return exp.select(col("_rid")).from_(ranked.subquery("r")).where(exp.GT(this=col("n"), expression=exp.Literal.number(1)))


def _remove_later_copies(ctx: RuleContext, name: str, partition: list[str]) -> list[Query]:
    """Find the later copies once (a scratch table), then sandbox and delete exactly those rows."""
    found, copies = setup(ctx, name, _later_copies(name, partition))
    return [found, *remove(name, col("_rid").isin(query=exp.select(col("_rid")).from_(copies)))]


def _duplicate_rows(ctx: RuleContext):
    queries = []
    for name in DATA_TABLES:
        t = cdm().table(name)
        columns = [c for c in t.column_names if c not in t.primary_key] if name in SURROGATE_KEY_TABLES else t.column_names
        queries += _remove_later_copies(ctx, name, columns)
    return queries


duplicate_rows = Rule(
    name="duplicate_rows",
    description="Remove repeated rows: event rows identical but for their id (the lowest id is kept), other rows identical in every column (wearables included).",
    stage=Stage.CLEAN,
    tiers=BOTH,
    tables=DATA_TABLES,
    build=_duplicate_rows,
    reference="DropRowDuplicates",
)


def _duplicate_ids(ctx: RuleContext):
    queries = []
    for name in KEYED_TABLES:
        queries += _remove_later_copies(ctx, name, list(cdm().table(name).primary_key))
    return queries


duplicate_ids = Rule(
    name="duplicate_ids",
    description="Remove rows whose primary key repeats an earlier row's (the first loaded is kept).",
    stage=Stage.CLEAN,
    tiers=BOTH,
    tables=KEYED_TABLES,
    build=_duplicate_ids,
    reference="DeduplicateIdColumn",
)
