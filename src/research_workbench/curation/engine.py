"""Runs rules over a working copy of a CDR: sandbox first, then apply, then check every table balances.

The Workspace talks to an engine (``engines.base.Engine``): DuckDB (embedded, the default) or Spark. Tables are
named by schema as rules see them: ``clean`` (the cleaned CDR, shared by both tiers), ``tier`` (the tier being
de-identified, a copy of ``clean``), ``sb_<scope>`` (sandboxes: one table per rule and table, the rows the rule
removed, changed or added plus ``_action``), ``log_<scope>`` (remap logs), ``scratch`` (a rule's own tables,
dropped after it) and ``private`` (the person/response/device/site maps). The engine has one flat namespace, so
every tree is renamed (``statements.flatten``: ``clean.person`` → ``clean__person``) in one place, ``_flat``, and
the Workspace keeps the catalogue of which tables each schema holds. Vocabulary tables other than ``concept`` and
``vocabulary`` stay read-only, over the raw Parquet files (``raw__<name>``).

How statements run depends on the engine (``self.dml``):
- DuckDB has DML: the working tables live in a database file in the run's scratch directory (memory stays capped;
  DuckDB spills past the cap) and DELETE, UPDATE, INSERT run in place, as fast as DuckDB goes. Statements run on
  the engine's connection as DuckDB SQL: rules may still hold DuckDB-only constructs that ``check_portable`` would
  refuse (until every rule is portable, the DuckDB path must not depend on it).
- Spark has none (temporary views over Parquet): each statement becomes a ``materialise`` of the table's next
  version (``statements.deleted`` / ``updated`` / ``inserted``), every tree checked by the engine. Sandbox and log
  rows are materialised part by part (each part must see the table as it was at that point) and unioned once at
  the end of the rule.

Every working row carries ``_rid``, unique across the run (table number × 2^40 + row number in the raw file, the
same on both engines: ``Engine.register_parquet(..., row_index=)``), so a sandbox row names exactly the row it came
from, including in tables without a primary key (wearables).

Without DML, every working table is a version of files (``engines.lineage.FileVersions``), so its row count comes
from the files' footers, not from a job: the counts before and after every rule, and the balance checks, cost no
query. A raw table is read in place until a rule changes it, and a tier starts sharing the cleaned CDR's files.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

from ..cdr.engine import connect
from ..cdr.model import cdm
from ..cdr.problems import Problem
from ..cdr.sql import alias, col, ident
from ..cdr.store import Cdr, content_hash
from ..engines.base import Engine
from ..engines.duckdb_engine import DuckDBEngine
from ..engines.files import join_parts, parquet_files
from ..engines.lineage import FileVersions
from .config import CurationConfig
from .rule import RID, Query, Rule, RuleContext, Tier
from .statements import RAW_SCHEMA, deleted, expand_star_replace, flat, flatten, inserted, returns_no_rows, updated

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


def _scratch_read(query: Query) -> set[str]:
    """The rule's scratch tables a query reads."""
    return {t.name for t in query.sql.find_all(exp.Table) if t.db == "scratch"} if query.sql is not None else set()


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
    """A CDR being curated, held by an engine (see the module docstring).

    Whole-table remaps (site, response, device and person ids, the date shift) each rewrite every row of a table.
    They come one after another at the end of de-identification, so the engine defers them: consecutive remaps of
    a table compose into one SELECT (each reading the previous one's output), written once, when a later query
    reads or changes that table, when a remap reads a rule's scratch table, or at the end of the stage. Row counts
    cannot change under a remap; the write checks that they did not.

    ``engine``: the engine to use (the caller closes it); without one, a DuckDB engine of its own (``memory_limit``,
    ``threads``), closed with the Workspace.
    """

    def __init__(self, raw: Cdr, scratch_dir: Path, memory_limit: str | None = None, threads: int | None = None,
                 engine: Engine | None = None):
        self.raw = raw
        self.model = cdm()
        scratch_dir.mkdir(parents=True, exist_ok=True)
        self._owned = engine is None
        self.engine: Engine = engine if engine is not None else DuckDBEngine.from_connection(
            connect(temp_dir=scratch_dir / "spill", memory_limit=memory_limit, threads=threads))
        self.dml = self.engine.supports("dml")
        self.versions = FileVersions(self.engine, scratch_dir / "tables")  # Spark: each table version as Parquet
        if self.dml:  # DuckDB: the working tables in a database file, not in memory
            self.con = self.engine.con  # type: ignore[attr-defined]
            self.con.execute("ATTACH ? AS w", [str(scratch_dir / "work.duckdb")])
            self.con.execute("USE w")
        self.materialized: list[str] = []
        self.views: list[str] = []
        self.catalogue: dict[str, dict[str, None]] = {}  # schema → its tables (insertion-ordered), by their own names
        self.schema = "clean"  # where unqualified model tables are (``use``)
        self._parts: dict[tuple[str, str], list[str]] = {}  # (schema, table) → its materialised parts (no DML)
        # table → rows its last sandbox part copied, when the engine knows it without a job (no DML): a DELETE or
        # UPDATE right after a sandbox of no rows changes nothing, so no new version of the table is written (most
        # statements of most rules, and each version costs a write and a read).
        self._sandboxed: dict[str, int] = {}
        # this rule's sandboxes' rows by action, counted part by part from footers (without DML); None: unknown
        self._actions: dict[str, Counter[str] | None] = {}
        self._serial = 0
        self._count_queries: dict[str, tuple[exp.Expression, str]] = {}
        self.pending: dict[str, PendingRemap] = {}  # table (of the schema being run) → its deferred remaps
        self.row_id_key: bytes | None = None  # a row-id key drawn in this run, not yet saved (private.py)

    def close(self) -> None:
        if self.dml:
            self.con.execute("USE memory")
            self.con.execute("DETACH w")
        else:  # a Spark session outlives the Workspace: release what it holds
            for schema in list(self.catalogue):
                self.drop_schema(schema)
            for name in self.views:
                self.engine.drop(flat(RAW_SCHEMA, name))
        if self._owned:
            self.engine.close()

    # --- names ----------------------------------------------------------------------------------------------

    def _resolve(self, schema: str, name: str) -> str | None:
        if schema:
            return flat(schema, name)
        if name in self.views:
            return flat(RAW_SCHEMA, name)
        if name in self.model.tables:
            return flat(self.schema, name)
        return None  # a CTE or a helper registered under its own name

    def _flat(self, expression: exp.Expression) -> exp.Expression:
        """The tree with flat table names: the one place schema-qualified names meet the engine's namespace."""
        return flatten(expression, self._resolve)

    def _add(self, schema: str, name: str) -> str:
        self.catalogue.setdefault(schema, {})[name] = None
        return flat(schema, name)

    def _forget(self, schema: str, name: str) -> None:
        self.catalogue.get(schema, {}).pop(name, None)
        key = flat(schema, name)
        if self.dml:
            self.con.execute(exp.Drop(tables=[exp.Table(this=ident(key))], kind="TABLE", exists=True).sql(dialect="duckdb")).fetchall()
        else:
            self.versions.drop(key)

    # --- plumbing -------------------------------------------------------------------------------------------

    def _run(self, expression: exp.Expression, params: dict[str, Any] | None = None) -> pa.Table | None:
        """Run an already-flat tree with the parameters it uses."""
        used = {p.name for p in expression.find_all(exp.Placeholder)}
        bound = {k: v for k, v in (params or {}).items() if k in used}
        if self.dml:
            text = expression.sql(dialect="duckdb")
            if isinstance(expression, exp.Query):
                return self.con.sql(text, params=bound or None).to_arrow_table()
            self.con.execute(text, bound or None).fetchall()  # DuckDB keeps an unread result open on the connection
            return None
        return self.engine.run(expression, bound)

    def _materialise(self, name: str, select: exp.Expression, params: dict[str, Any] | None = None) -> None:
        """Keep ``select``'s rows under the flat ``name`` (DuckDB: a table of the working database)."""
        used = {p.name for p in select.find_all(exp.Placeholder)}
        bound = {k: v for k, v in (params or {}).items() if k in used}
        if self.dml:
            create = exp.Create(this=exp.Table(this=ident(name)), kind="TABLE", replace=True, expression=select)
            self.con.execute(create.sql(dialect="duckdb"), bound or None).fetchall()
        elif self._no_rows(select):  # planned for its columns, not run
            self.versions.empty(name, select, bound)
        else:
            self.versions.materialise(name, select, bound)

    def _no_rows(self, query: exp.Expression) -> bool:
        """Without DML: whether a flat query surely returns no rows, from the row counts of the versions it reads
        (``statements.returns_no_rows``): such a query is not run."""
        return not self.dml and returns_no_rows(query, self.versions.rows)

    def sql(self, expression: exp.Expression, params: dict[str, Any] | None = None) -> list[tuple]:
        """Run a query over schema-qualified tables; returns all its rows as tuples."""
        result = self._run(self._flat(expression), params)
        if result is None:
            return []
        return list(zip(*[c.to_pylist() for c in result.columns])) if result.num_columns else []

    def arrow(self, expression: exp.Expression, params: dict[str, Any] | None = None) -> pa.Table:
        """A query's rows as Arrow."""
        result = self._run(self._flat(expression), params)
        assert result is not None
        return result

    def use(self, schema: str) -> None:
        self.schema = schema

    def count(self, schema: str, name: str) -> int:
        known = None if self.dml else self.versions.rows(flat(schema, name))
        if known is not None:
            return known
        return self.sql(exp.select(exp.func("COUNT", exp.Star())).from_(qualified(schema, name)))[0][0]

    def counts(self, schema: str) -> dict[str, int]:
        """Rows per working table of ``schema``: without DML from the versions' footers; else (or for a version
        on object storage) one query, a UNION ALL of counts, built and rendered once per schema (it runs twice per
        rule: building it each time would cost more than running it)."""
        if not self.dml:
            known = {name: self.versions.rows(flat(schema, name)) for name in self.materialized}
            if None not in known.values():
                return known  # type: ignore[return-value]
        if schema not in self._count_queries:
            parts = [exp.select(exp.Literal.string(n).as_("t"), exp.func("COUNT", exp.Star()).as_("n")).from_(exp.Table(this=ident(flat(schema, n))))
                     for n in self.materialized]
            union = parts[0]
            for part in parts[1:]:
                union = exp.union(union, part, distinct=False)
            self._count_queries[schema] = (union, union.sql(dialect="duckdb"))
        tree, text = self._count_queries[schema]
        rows = self.con.execute(text).fetchall() if self.dml else self.engine.run(tree).to_pylist()
        return {r[0]: int(r[1]) for r in rows} if self.dml else {r["t"]: int(r["n"]) for r in rows}

    def tables_in(self, schema: str) -> list[str]:
        return sorted(self.catalogue.get(schema, {}))

    def columns(self, schema: str, name: str) -> pa.Schema:
        """The Arrow schema of a table."""
        key = flat(schema, name)
        if self.dml:
            return self.con.sql(exp.select(exp.Star()).from_(exp.Table(this=ident(key))).limit(0).sql(dialect="duckdb")).to_arrow_table().schema
        return self.engine.schema(key)

    def drop_schema(self, schema: str) -> None:
        for name in self.tables_in(schema):
            self._forget(schema, name)
        self.catalogue.pop(schema, None)

    def create_schema(self, schema: str) -> None:
        self.catalogue.setdefault(schema, {})

    def put_arrow(self, schema: str, name: str, data: pa.Table) -> None:
        """A table of ``schema`` holding ``data`` (rows given in Python: a rule's load, a private map)."""
        key = self._add(schema, name)
        if self.dml:
            self.con.register("_rw_arrow", data)
            try:
                self._materialise(key, exp.select(exp.Star()).from_("_rw_arrow"))
            finally:
                self.con.unregister("_rw_arrow")
        else:
            self.engine.register_arrow(key, data)

    def append_arrow(self, schema: str, name: str, data: pa.Table) -> None:
        """Append ``data`` (the table's columns, in order) to a table of ``schema``."""
        key = flat(schema, name)
        if self.dml:
            self.con.register("_rw_arrow", data)
            try:
                self.con.execute(exp.Insert(this=exp.Table(this=ident(key)), expression=exp.select(exp.Star()).from_("_rw_arrow")).sql(dialect="duckdb")).fetchall()
            finally:
                self.con.unregister("_rw_arrow")
        else:
            self._serial += 1
            part = f"{key}__rw_new{self._serial}"
            self.engine.register_arrow(part, data)
            self.versions.materialise(key, exp.union(exp.select(exp.Star()).from_(key), exp.select(exp.Star()).from_(part), distinct=False))
            self.engine.drop(part)

    # --- loading --------------------------------------------------------------------------------------------

    def load_raw(self) -> None:
        """The raw CDR's tables as schema ``clean``, every row numbered (``_rid``): copied into the working database
        (DML), or read in place (without). Vocabulary tables other than the writable ones are read in place."""
        for index, name in enumerate(self.model.tables, start=1):
            table = self.model.table(name)
            path = self.raw.table_file(name)
            source = flat(RAW_SCHEMA, name)
            if table.is_vocabulary and name not in WRITABLE_VOCABULARY:
                self.engine.register_parquet(source, path)
                self.views.append(name)
                continue
            key = self._add("clean", name)
            if self.dml:  # into the working database
                self.engine.register_parquet(source, path, row_index=RID, row_index_start=index << 40)
                self._materialise(key, exp.select(exp.Star()).from_(source))
                self.engine.drop(source)
            else:  # read in place until a rule changes it
                self.versions.register(key, path, row_index=RID, row_index_start=index << 40)
            self.materialized.append(name)

    def verify_loaded(self) -> list[Problem]:
        """Problems found comparing the tables just loaded with the raw manifest: row count and content hash, each
        located by its table.

        The content hash is the manifest's own (cdr/store.py): a file rewritten with the same rows passes, a changed
        value, a lost or a repeated row does not. Run right after ``load_raw``, before any rule. The hash is
        DuckDB's (``MD5_NUMBER``): on DuckDB it reads the loaded tables; on another engine, which loaded the very
        files, it reads the raw files with DuckDB on this machine.
        """
        problems = []
        con = self.con if self.dml else connect()
        try:
            for name in self.model.tables:
                entry = self.raw.manifest.tables.get(name)
                if entry is None:
                    continue
                if not self.dml:
                    relation = con.read_parquet(str(self.raw.table_file(name)))
                elif name in self.views:
                    relation = con.sql(exp.select(exp.Star()).from_(ident(flat(RAW_SCHEMA, name))).sql(dialect="duckdb"))
                else:
                    star = exp.Star(**{"except": [col(RID)]})
                    relation = con.sql(exp.select(star).from_(ident(flat("clean", name))).sql(dialect="duckdb"))
                rows, digest = content_hash(con, relation, self.model.table(name))
                if rows != entry.rows:
                    problems.append(Problem(f"{rows:,} rows, the manifest says {entry.rows:,}", name))
                elif digest != entry.content_hash:
                    problems.append(Problem(f"content hash {digest[:12]}…, the manifest says {entry.content_hash[:12]}…", name))
        finally:
            if not self.dml:
                con.close()
        return problems

    def copy_schema(self, source: str, target: str) -> None:
        """``target`` holds what ``source`` holds now (DuckDB: copied; without DML: the same files, shared)."""
        self.drop_schema(target)
        self.create_schema(target)
        for name in self.materialized:
            if self.dml:
                self._materialise(self._add(target, name), exp.select(exp.Star()).from_(flat(source, name)))
            else:
                self.versions.share(self._add(target, name), flat(source, name))

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
        self._sandboxed.clear()  # what an earlier rule sandboxed says nothing about this one's statements
        self._actions.clear()
        self._check_definition(rule, queries)
        before = self.counts(schema)
        remapped: dict[str, int] = {}
        sandboxes: dict[str, str] = {}
        try:
            for query, runs in zip(queries, self._which_run(queries, before)):
                if runs:
                    self._execute(query, ctx, rule, schema, scope, sandboxes, remapped)
            self.flush_remaps(schema, only=[t for t, p in self.pending.items() if self._reads_scratch(p.select)])
            self._union_parts()
        except BaseException:
            self.pending.clear()
            for schema_name, name in list(self._parts):
                for part in self._parts.pop((schema_name, name)):
                    self.versions.drop(part)
            raise
        finally:
            for name in self.tables_in("scratch"):
                self._forget("scratch", name)
        after = self.counts(schema)
        effect = RuleEffect(rule=rule, scope=scope)
        for name in self.materialized:
            sandboxed = self._sandbox_counts(scope, sandboxes.get(name))
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

    @staticmethod
    def _which_run(queries: list[Query], before: dict[str, int]) -> list[bool]:
        """Which of a rule's queries run: none on a table that is empty (before the rule, and not filled by an
        earlier INSERT of the rule: an INSERT always runs), and no scratch table that only skipped queries read
        (most setups of most rules, in a program whose tables are mostly empty). A scratch table no query reads
        at all is a check (it fails the run on bad data, ``fail_when``): it always runs."""
        touched: set[str] = set()
        runs = []
        for query in queries:
            runs.append(query.table is None or before.get(query.table, 0) > 0 or query.table in touched or query.kind == "insert")
            if query.kind == "insert":
                touched.add(query.table)  # type: ignore[arg-type]
        feeders = set().union(*map(_scratch_read, queries))  # scratch tables some query reads
        read: set[str] = set()  # scratch tables read by a query that runs, after this point
        for index in reversed(range(len(queries))):
            query = queries[index]
            if query.kind in ("setup", "load") and query.target in feeders and query.target not in read:
                runs[index] = False
            if runs[index]:
                read |= _scratch_read(query)
        return runs

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
        """Write the pending remaps (of ``only`` these tables): one rewrite of each table."""
        for name in list(self.pending) if only is None else only:
            pending = self.pending.pop(name)
            self.rewrite(schema, name, pending.select, pending.params)
            after = self.count(schema, name)
            if after != pending.rows:
                raise BalanceError(
                    f"remap of {name} by {', '.join(pending.rules)}: {pending.rows} rows before, {after} after "
                    "(a map key repeats, or the remap filtered rows)"
                )

    def rewrite(self, schema: str, name: str, select: exp.Expression, params: dict[str, Any] | None) -> None:
        """Replace table ``name`` of ``schema`` by the rows of ``select`` (which may read it)."""
        tree = self._flat(select)
        if not self.engine.supports("star_replace"):
            tree = expand_star_replace(tree, self.columns(schema, name).names)
        self._materialise(flat(schema, name), tree, params)

    # --- statements -----------------------------------------------------------------------------------------

    def _statement(self, query: Query, schema: str, params: dict[str, Any]) -> None:
        """A DELETE, UPDATE or INSERT of a rule: in place on DuckDB, as the table's next version elsewhere."""
        tree = self._flat(query.sql)  # type: ignore[arg-type]
        if self.dml:
            self._run(tree, params)
            return
        key = flat(schema, query.table)  # type: ignore[arg-type]
        if self._sandboxed.pop(query.table, None) == 0 and isinstance(tree, (exp.Delete, exp.Update)):  # type: ignore[arg-type]
            return  # its sandbox, the same rows, was empty (the balance check still counts the table)
        columns = self.engine.schema(key)
        if isinstance(tree, exp.Delete):
            self._materialise(key, deleted(tree), params)
        elif isinstance(tree, exp.Update):
            rows = self.count(schema, query.table)  # type: ignore[arg-type]
            self._materialise(key, updated(tree, columns), params)
            if self.count(schema, query.table) != rows:  # type: ignore[arg-type]
                raise RuleDefinitionError(f"UPDATE of {query.table} … FROM matches some of its rows more than once "
                                          f"({rows} rows before): an UPDATE must change each row at most once")
        elif isinstance(tree, exp.Insert):
            if not self._no_rows(tree.expression):  # inserting no rows leaves the table as it is
                self._materialise(key, inserted(tree, columns), params)
        else:
            raise RuleDefinitionError(f"a {query.kind} query must be a {query.kind.upper()} statement, not {type(tree).__name__}")

    def _append_rows(self, schema: str, name: str, rows: exp.Expression, params: dict[str, Any]) -> int | None:
        """Append ``rows`` to table ``name`` of ``schema`` (created by the first rows): a sandbox or a log. Returns
        how many rows were appended when that is known without a job (without DML: from the part's footers)."""
        key = written = flat(schema, name)
        tree = self._flat(rows)
        if self.dml:
            if name not in self.catalogue.get(schema, {}):
                self._run(exp.Create(this=exp.Table(this=ident(key)), kind="TABLE", exists=True, expression=tree.copy().limit(0)), params)
            self._run(exp.Insert(this=exp.Table(this=ident(key)), expression=tree), params)
        elif (schema, name) not in self._parts:  # the first rows under the table's own name
            self._materialise(key, tree, params)
            self._parts[(schema, name)] = []
        elif self._no_rows(tree):
            return 0
        else:  # each later part as the tables are now; joined once at the end of the rule (_union_parts)
            parts = self._parts[(schema, name)]
            written = f"{key}__rw_part{len(parts) + 1}"
            self._materialise(written, tree, params)
            parts.append(written)
        self._add(schema, name)
        return None if self.dml else self.versions.rows(written)

    def _union_parts(self) -> None:
        """Each sandbox or log written in parts becomes one table: the parts' files read as one (no job), or, when
        their columns' types differ, a UNION ALL (which casts them alike)."""
        for (schema, name), parts in list(self._parts.items()):
            del self._parts[(schema, name)]
            if not parts:
                continue
            key = flat(schema, name)
            if not self.versions.concat(key, [key, *parts]):
                union = exp.select(exp.Star()).from_(key)
                for part in parts:
                    union = exp.union(union, exp.select(exp.Star()).from_(part), distinct=False)
                self._materialise(key, union)
            for part in parts:
                self.versions.drop(part)

    def _execute(self, query: Query, ctx: RuleContext, rule: Rule, schema: str, scope: str, sandboxes: dict[str, str], remapped: dict[str, int]) -> None:
        params = ctx.params
        if query.kind != "remap" and self.pending:
            referenced = self._referenced(query, schema)
            if referenced:
                self.flush_remaps(schema, only=sorted(referenced))
        if query.kind == "setup":
            self._materialise(self._add("scratch", query.target), self._flat(query.sql), params)  # type: ignore[arg-type]
        elif query.kind == "load":
            data = pa.table(query.data or {}) if not query.types else pa.table({k: pa.array(v, type=query.types.get(k)) for k, v in (query.data or {}).items()})
            self.put_arrow("scratch", query.target, data)  # type: ignore[arg-type]
        elif query.kind == "sandbox":
            name = f"{rule.name}__{query.table}"
            rows = exp.select(exp.Star(), alias(exp.cast(exp.Literal.string(query.action), "VARCHAR"), "_action")).from_(query.sql.subquery("s"))  # type: ignore[union-attr]
            copied = self._append_rows(f"sb_{scope}", name, rows, params)
            sandboxes[query.table] = name  # type: ignore[index]
            if copied is None:
                self._sandboxed.pop(query.table, None)  # type: ignore[arg-type]
            else:
                self._sandboxed[query.table] = copied  # type: ignore[index]
            counted = self._actions.setdefault(name, Counter())
            if copied is None or counted is None:
                self._actions[name] = None  # a part of unknown count: the sandbox is counted by a query
            else:
                counted[query.action] += copied  # type: ignore[index]
        elif query.kind in ("delete", "update", "insert"):
            self._statement(query, schema, params)
        elif query.kind == "remap":
            self._sandboxed.pop(query.table, None)  # type: ignore[arg-type]
            rows = remapped[query.table] = self.count(schema, query.table)  # type: ignore[index,arg-type]
            self.defer_remap(query, rule, schema, params, rows)
        elif query.kind == "log":
            self._append_rows(f"log_{scope}", query.target, query.sql, params)  # type: ignore[arg-type]
        else:  # pragma: no cover - guarded by the Query type
            raise RuleDefinitionError(f"unknown query kind {query.kind}")

    def _sandbox_counts(self, scope: str, name: str | None) -> dict[str, int]:
        """Rows of a rule's sandbox of one table by action: from its parts' footers when every part's count was
        known (without DML), else a query."""
        if name is None:
            return {}
        known = self._actions.get(name)
        if known is not None:
            return {action: n for action, n in known.items() if n}
        rows = self.sql(exp.select("_action", exp.func("COUNT", exp.Star())).from_(qualified(f"sb_{scope}", name)).group_by("_action"))
        return {action: n for action, n in rows}

    # --- output ---------------------------------------------------------------------------------------------

    def write_parquet_file(self, select: exp.Expression, path: Path, compression: str = "zstd", schema: pa.Schema | None = None) -> None:
        """Write a query's rows as one Parquet file (the CDR's and the sandbox's layout): DuckDB writes it directly;
        another engine writes a dataset directory beside it, whose parts are then joined (``engines.files.join_parts``),
        or, for a query known to return no rows, pyarrow writes ``schema`` with none (no job)."""
        tree = self._flat(select)
        if self.dml:
            self.con.sql(tree.sql(dialect="duckdb")).write_parquet(str(path), compression=compression)
            return
        if schema is not None and self._no_rows(tree):
            pq.write_table(schema.empty_table(), path, compression=compression)
            return
        parts = path.parent / f".{path.name}.parts"
        self.engine.write_parquet(tree, parts, overwrite=True)
        join_parts(parquet_files(parts), path, compression=compression, schema=schema)
        shutil.rmtree(parts)

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
                self.write_parquet_file(exp.select(exp.Star()).from_(qualified(schema, name)), path)
                written[str(path.relative_to(directory))] = rows
        return written
