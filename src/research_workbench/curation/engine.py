"""Runs rules over a working copy of a CDR: sandbox first, then apply, then check every table balances.

The working data lives in a DuckDB database file in the run's scratch directory (memory stays capped; DuckDB
spills past the cap). Schemas: ``clean`` (the cleaned CDR, shared by both tiers), ``tier`` (the tier being
de-identified, a copy of ``clean``), ``sb_<scope>`` (sandboxes: one table per rule and table, the rows the rule
removed, changed or added plus ``_action``), ``log_<scope>`` (remap logs), ``scratch`` (a rule's own tables,
dropped after it) and ``private`` (the person/response/device/site maps). Vocabulary tables other than
``concept`` and ``vocabulary`` stay read-only views over the raw Parquet files.

Every working row carries ``_rid``, unique across the run (table number × 2^40 + row number in the raw file),
so a sandbox row names exactly the row it came from, including in tables without a primary key (wearables).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlglot import exp

from ..cdr.engine import connect
from ..cdr.model import cdm
from ..cdr.problems import Problem
from ..cdr.sql import alias, col, ident
from ..cdr.store import Cdr, content_hash
from .config import CurationConfig
from .rule import RID, Query, Rule, RuleContext, Tier

# Vocabulary tables that de-identification writes to; the others stay views over the raw files.
WRITABLE_VOCABULARY = ("concept", "vocabulary")


class BalanceError(RuntimeError):
    """A rule changed a table's row count by other than what it sandboxed; the run stops."""


class RuleDefinitionError(RuntimeError):
    """A rule's queries break the contract (a delete before its sandbox, an undeclared table)."""


@dataclass
class TableEffect:
    before: int
    after: int
    removed: int = 0
    changed: int = 0
    added: int = 0
    remapped: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"before": self.before, "after": self.after, "removed": self.removed, "changed": self.changed, "added": self.added, "remapped": self.remapped}


@dataclass
class RuleEffect:
    rule: Rule
    scope: str
    tables: dict[str, TableEffect] = field(default_factory=dict)
    persons_after: int = 0
    rows_after: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.rule.summary(),
            "scope": self.scope,
            "tables": {t: e.as_dict() for t, e in sorted(self.tables.items())},
            "persons_after": self.persons_after,
            "rows_after": self.rows_after,
            "seconds": round(self.seconds, 3),
        }


def qualified(schema: str, name: str) -> exp.Table:
    return exp.Table(this=ident(name), db=ident(schema))


@dataclass
class PendingRemap:
    """Whole-table remaps of one table not yet written: one SELECT composing them all, and who asked for them."""

    select: exp.Select
    params: dict[str, Any]
    rules: list[str]
    rows: int  # the table's row count when the first of them was deferred


class Workspace:
    """A DuckDB working database holding a CDR being curated.

    Whole-table remaps (site, response, device and person ids, the date shift) each rewrite every row of a table.
    They come one after another at the end of de-identification, so the engine defers them: consecutive remaps of
    a table compose into one SELECT (each reading the previous one's output), written once, when a later query
    reads or changes that table, when a remap reads a rule's scratch table, or at the end of the stage. Row counts
    cannot change under a remap; the write checks that they did not.
    """

    def __init__(self, raw: Cdr, scratch_dir: Path, memory_limit: str | None = None, threads: int | None = None):
        self.raw = raw
        self.model = cdm()
        scratch_dir.mkdir(parents=True, exist_ok=True)
        self.con = connect(temp_dir=scratch_dir / "spill", memory_limit=memory_limit, threads=threads)
        self.con.execute("ATTACH ? AS w", [str(scratch_dir / "work.duckdb")])
        self.con.execute("USE w")
        for schema in ("clean", "scratch", "private"):
            self.sql(exp.Create(this=exp.Table(this=ident(schema)), kind="SCHEMA", exists=True))
        self.materialized: list[str] = []
        self.views: list[str] = []
        self._count_sql: dict[str, str] = {}
        self.pending: dict[str, PendingRemap] = {}  # table (of the schema being run) → its deferred remaps
        self.row_id_key: bytes | None = None  # a row-id key drawn in this run, not yet saved (private.py)

    def close(self) -> None:
        self.con.close()

    # --- plumbing -------------------------------------------------------------------------------------------

    def sql(self, expression: exp.Expression, params: dict[str, Any] | None = None) -> list[tuple]:
        """Run one statement with the bound parameters it uses; returns all its rows (results are never left open)."""
        text = expression.sql(dialect="duckdb")
        used = {p.name for p in expression.find_all(exp.Placeholder)} if params else set()
        return self.con.execute(text, {k: v for k, v in (params or {}).items() if k in used} or None).fetchall()

    def use(self, schema: str) -> None:
        self.con.execute(exp.Use(this=exp.Table(this=ident(schema), db=ident("w"))).sql(dialect="duckdb"))

    def count(self, schema: str, name: str) -> int:
        return self.sql(exp.select(exp.func("COUNT", exp.Star())).from_(qualified(schema, name)))[0][0]

    def counts(self, schema: str) -> dict[str, int]:
        # One query for all tables (a UNION ALL of counts), built once per schema.
        if schema not in self._count_sql:
            parts = [
                exp.select(exp.Literal.string(n).as_("t"), exp.func("COUNT", exp.Star()).as_("n")).from_(qualified(schema, n)).sql(dialect="duckdb")
                for n in self.materialized
            ]
            self._count_sql[schema] = " UNION ALL ".join(parts)
        return dict(self.con.execute(self._count_sql[schema]).fetchall())

    def tables_in(self, schema: str) -> list[str]:
        rows = self.con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'w' AND schema_name = ? ORDER BY table_name", [schema]
        ).fetchall()
        return [r[0] for r in rows]

    def drop_schema(self, schema: str) -> None:
        self.sql(exp.Drop(tables=[exp.Table(this=ident(schema), db=ident("w"))], kind="SCHEMA", exists=True, cascade=True))

    def create_schema(self, schema: str) -> None:
        self.sql(exp.Create(this=exp.Table(this=ident(schema), db=ident("w")), kind="SCHEMA", exists=True))

    # --- loading --------------------------------------------------------------------------------------------

    def load_raw(self) -> None:
        """Copy the raw CDR's tables into schema ``clean`` (vocabulary: views), numbering every row."""
        for index, name in enumerate(self.model.tables, start=1):
            table = self.model.table(name)
            path = self.raw.table_file(name)
            if table.is_vocabulary and name not in WRITABLE_VOCABULARY:
                self.con.read_parquet(str(path)).create_view(name, replace=True)
                self.views.append(name)
                continue
            relation = self.con.read_parquet(str(path), file_row_number=True)
            relation.create_view("_raw_load", replace=True)
            rid = exp.Add(this=exp.cast(exp.Literal.number(index << 40), "BIGINT"), expression=col("file_row_number"))
            select = exp.select(exp.Star(**{"except": [col("file_row_number")]}), alias(exp.cast(rid, "BIGINT"), RID)).from_("_raw_load")
            self.sql(exp.Create(this=qualified("clean", name), kind="TABLE", expression=select))
            self.materialized.append(name)
        self.con.execute("DROP VIEW IF EXISTS _raw_load")

    def verify_loaded(self) -> list[Problem]:
        """Problems found comparing the tables just loaded with the raw manifest: row count and content hash, each
        located by its table.

        The content hash is the manifest's own (cdr/store.py): a file rewritten with the same rows passes, a changed
        value, a lost or a repeated row does not. Run right after ``load_raw``, before any rule.
        """
        problems = []
        for name in self.model.tables:
            entry = self.raw.manifest.tables.get(name)
            if entry is None:
                continue
            if name in self.views:
                relation = self.con.sql(exp.select(exp.Star()).from_(ident(name)).sql(dialect="duckdb"))
            else:
                star = exp.Star(**{"except": [col(RID)]})
                relation = self.con.sql(exp.select(star).from_(qualified("clean", name)).sql(dialect="duckdb"))
            rows, digest = content_hash(self.con, relation, self.model.table(name))
            if rows != entry.rows:
                problems.append(Problem(f"{rows:,} rows, the manifest says {entry.rows:,}", name))
            elif digest != entry.content_hash:
                problems.append(Problem(f"content hash {digest[:12]}…, the manifest says {entry.content_hash[:12]}…", name))
        return problems

    def copy_schema(self, source: str, target: str) -> None:
        self.drop_schema(target)
        self.create_schema(target)
        for name in self.materialized:
            self.sql(exp.Create(this=qualified(target, name), kind="TABLE", expression=exp.select(exp.Star()).from_(qualified(source, name))))

    # --- running rules --------------------------------------------------------------------------------------

    def run(
        self,
        rules: list[Rule],
        *,
        schema: str,
        scope: str,
        config: CurationConfig,
        tier: Tier | None,
        progress=None,
    ) -> list[RuleEffect]:
        """Run ``rules`` in order on the tables of ``schema``; sandboxes go to ``sb_<scope>``."""
        self.use(schema)
        for extra in (f"sb_{scope}", f"log_{scope}"):
            self.create_schema(extra)
        effects = []
        for number, rule in enumerate(rules):
            if progress:
                progress(f"{scope}: {rule.name}", number, len(rules))
            effects.append(self.run_rule(rule, schema=schema, scope=scope, config=config, tier=tier))
        self.flush_remaps(schema)
        return effects

    def run_rule(self, rule: Rule, *, schema: str, scope: str, config: CurationConfig, tier: Tier | None) -> RuleEffect:
        started = time.perf_counter()
        ctx = RuleContext(config, tier, config.effective_cutoff(), rule.name)
        queries = rule.queries(ctx)
        self._check_definition(rule, queries)
        before = self.counts(schema)
        touched: set[str] = set()
        remapped: dict[str, int] = {}
        sandboxes: dict[str, exp.Table] = {}
        try:
            for query in queries:
                if query.table is not None and before.get(query.table, 0) == 0 and query.table not in touched and query.kind != "insert":
                    continue  # nothing to do on an empty table
                self._execute(query, ctx, rule, schema, scope, sandboxes, remapped)
                if query.kind == "insert":
                    touched.add(query.table)  # type: ignore[arg-type]
            self.flush_remaps(schema, only=[t for t, p in self.pending.items() if self._reads_scratch(p.select)])
        except BaseException:
            self.pending.clear()
            raise
        finally:
            for name in self.tables_in("scratch"):
                self.sql(exp.Drop(tables=[qualified("scratch", name)], kind="TABLE", exists=True))
        after = self.counts(schema)
        effect = RuleEffect(rule=rule, scope=scope)
        for name in self.materialized:
            sandboxed = self._sandbox_counts(sandboxes.get(name))
            e = TableEffect(before=before[name], after=after[name], **sandboxed, remapped=remapped.get(name, 0))
            if e.before + e.added != e.after + e.removed:
                declared = "" if name in rule.tables else " (a table the rule does not declare)"
                raise BalanceError(
                    f"rule {rule.name} ({scope}): table {name}{declared} does not balance: {e.before} rows before + {e.added} "
                    f"added ≠ {e.after} after + {e.removed} sandboxed as removed"
                )
            if e.removed or e.changed or e.added or e.remapped:
                effect.tables[name] = e
        effect.persons_after = after.get("person", 0)
        effect.rows_after = sum(n for t, n in after.items() if not self.model.table(t).is_vocabulary)
        effect.seconds = time.perf_counter() - started
        return effect

    def _check_definition(self, rule: Rule, queries: list[Query]) -> None:
        sandboxed: set[str] = set()
        for query in queries:
            if query.table is not None and query.table not in rule.tables:
                raise RuleDefinitionError(f"rule {rule.name}: a {query.kind} query on {query.table}, which the rule does not declare")
            if query.table is not None and query.table in self.views:
                raise RuleDefinitionError(f"rule {rule.name}: {query.table} is a read-only vocabulary table")
            if query.kind == "sandbox":
                sandboxed.add(query.table)  # type: ignore[arg-type]
            elif query.kind in ("delete", "update") and query.table not in sandboxed:
                raise RuleDefinitionError(f"rule {rule.name}: {query.kind} on {query.table} before any sandbox query for it")
            elif query.kind == "remap" and rule.stage.value == "clean":
                raise RuleDefinitionError(f"rule {rule.name}: remap queries are for de-identification only")

    # --- deferred remaps -------------------------------------------------------------------------------------

    @staticmethod
    def _reads_scratch(select: exp.Expression) -> bool:
        return any(t.db == "scratch" for t in select.find_all(exp.Table))

    def _referenced(self, query: Query, schema: str) -> set[str]:
        """Tables of ``schema`` with pending remaps that ``query`` reads or changes."""
        names = {query.table} if query.table else set()
        if query.sql is not None:
            names |= {t.name for t in query.sql.find_all(exp.Table) if t.db in ("", schema)}
        return names & set(self.pending)

    def defer_remap(self, query: Query, rule: Rule, schema: str, params: dict[str, Any], rows: int) -> None:
        """Compose ``query`` (SELECT t.* REPLACE (…) FROM table t LEFT JOIN map …) onto the table's pending remaps."""
        name = query.table
        used = {p.name for p in query.sql.find_all(exp.Placeholder)}  # type: ignore[union-attr]
        pending = self.pending.get(name)  # type: ignore[arg-type]
        if pending is not None and (pending.params or used):  # placeholder names are per rule: never mix them
            self.flush_remaps(schema, only=[name])  # type: ignore[list-item]
            pending = None
        select = query.sql.copy()  # type: ignore[union-attr]
        source = select.args.get("from_") or select.args.get("from")
        if pending is not None:
            source_alias = source.this.alias or name
            source.this.replace(exp.Subquery(this=pending.select, alias=exp.TableAlias(this=ident(source_alias))))
        self.pending[name] = PendingRemap(  # type: ignore[index]
            select=select,
            params={k: v for k, v in params.items() if k in used},
            rules=[*(pending.rules if pending else []), rule.name],
            rows=rows,  # a remap never changes a count, so this is also the count when the first was deferred
        )

    def flush_remaps(self, schema: str, only: list[str] | None = None) -> None:
        """Write the pending remaps (of ``only`` these tables): one CREATE OR REPLACE per table."""
        for name in list(self.pending) if only is None else only:
            pending = self.pending.pop(name)
            self.sql(exp.Create(this=qualified(schema, name), kind="TABLE", replace=True, expression=pending.select), pending.params or None)
            after = self.count(schema, name)
            if after != pending.rows:
                raise BalanceError(
                    f"remap of {name} by {', '.join(pending.rules)}: {pending.rows} rows before, {after} after "
                    "(a map key repeats, or the remap filtered rows)"
                )

    def _execute(self, query: Query, ctx: RuleContext, rule: Rule, schema: str, scope: str, sandboxes: dict[str, exp.Table], remapped: dict[str, int]) -> None:
        params = ctx.params
        if query.kind != "remap" and self.pending:
            referenced = self._referenced(query, schema)
            if referenced:
                self.flush_remaps(schema, only=sorted(referenced))
        if query.kind == "setup":
            self.sql(exp.Create(this=qualified("scratch", query.target), kind="TABLE", expression=query.sql), params)  # type: ignore[arg-type]
        elif query.kind == "load":
            data = pa.table(query.data or {}) if not query.types else pa.table({k: pa.array(v, type=query.types.get(k)) for k, v in (query.data or {}).items()})
            self.con.register("_rule_data", data)
            try:
                self.sql(exp.Create(this=qualified("scratch", query.target), kind="TABLE", expression=exp.select(exp.Star()).from_("_rule_data")))  # type: ignore[arg-type]
            finally:
                self.con.unregister("_rule_data")
        elif query.kind == "sandbox":
            target = qualified(f"sb_{scope}", f"{rule.name}__{query.table}")
            if query.table not in sandboxes:
                shape = exp.select(exp.Star(), alias(exp.cast(exp.Null(), "VARCHAR"), "_action")).from_(qualified(schema, query.table)).limit(0)  # type: ignore[arg-type]
                self.sql(exp.Create(this=target, kind="TABLE", exists=True, expression=shape))
                sandboxes[query.table] = target  # type: ignore[index]
            rows = exp.select(exp.Star(), alias(exp.Literal.string(query.action), "_action")).from_(query.sql.subquery("s"))  # type: ignore[union-attr]
            self.sql(exp.Insert(this=target, expression=rows), params)
        elif query.kind in ("delete", "update", "insert"):
            self.sql(query.sql, params)  # type: ignore[arg-type]
        elif query.kind == "remap":
            rows = remapped[query.table] = self.count(schema, query.table)  # type: ignore[index,arg-type]
            self.defer_remap(query, rule, schema, params, rows)
        elif query.kind == "log":
            target = qualified(f"log_{scope}", query.target)  # type: ignore[arg-type]
            self.sql(exp.Create(this=target, kind="TABLE", exists=True, expression=query.sql.copy().limit(0)), params)  # type: ignore[union-attr]
            self.sql(exp.Insert(this=target, expression=query.sql), params)
        else:  # pragma: no cover - guarded by the Query type
            raise RuleDefinitionError(f"unknown query kind {query.kind}")

    def _sandbox_counts(self, target: exp.Table | None) -> dict[str, int]:
        if target is None:
            return {}
        rows = self.sql(exp.select("_action", exp.func("COUNT", exp.Star())).from_(target).group_by("_action"))
        return {action: n for action, n in rows}

    # --- output ---------------------------------------------------------------------------------------------

    def write_sandboxes(self, scope: str, directory: Path) -> dict[str, int]:
        """Write every non-empty sandbox and log table of ``scope`` as Parquet; returns file → rows."""
        written = {}
        for schema, sub in ((f"sb_{scope}", ""), (f"log_{scope}", "logs")):
            for name in self.tables_in(schema):
                rows = self.count(schema, name)
                if not rows:
                    continue
                rule, _, table = name.partition("__")
                path = directory / (sub or "") / rule / f"{table}.parquet"
                path.parent.mkdir(parents=True, exist_ok=True)
                self.con.sql(exp.select(exp.Star()).from_(qualified(schema, name)).sql(dialect="duckdb")).write_parquet(str(path), compression="zstd")
                written[str(path.relative_to(directory))] = rows
        return written
