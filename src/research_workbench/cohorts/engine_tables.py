"""A source's tables (an index's, a CDR's) on a boundary engine (``engines.Engine``) that others may share.

The cohort SQL of the Cohort Builder, Circe and datasets names tables plainly (``search_person``,
``condition_occurrence``, a variant item's ``variant_carriers_0``, a dataset's ``dataset_persons``). On an engine
those names are global to its session, and one engine may serve several sources (a server's data versions, each with
its own index and CDR) and several threads at once. So each source's Parquet tables are registered, on first use,
under a name of that source (``search_person__ix1a2b3c4d5e6``), and the small tables a statement brings with it
(Arrow) under a name of that one run; the statement is rewritten to read them, keeping the names it used as the
aliases its columns are qualified by. Nothing is formatted into SQL: the tree is the caller's, with table names
swapped.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlglot import exp

from ..cdr.sql import ident
from ..engines.base import Engine

_serial = itertools.count()


def source_key(prefix: str, path: Path) -> str:
    """A short name for a source directory, the same for every engine in a process (``ix`` + 12 hex digits)."""
    return prefix + hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:12]


class EngineTables:
    """The tables of one source on ``engine``: ``locate(name)`` gives a table's Parquet file (or dataset
    directory), or None for a name that is not the source's. Registered when a statement first names them."""

    def __init__(self, engine: Engine, key: str, locate: Callable[[str], Path | str | None]):
        self.engine, self.key, self._locate = engine, key, locate
        self._registered: dict[str, str | None] = {}  # the source's name → the engine's (None: not the source's)
        self._lock = threading.Lock()  # the engine's registry is shared by every thread using it

    def _source_table(self, name: str) -> str | None:
        with self._lock:
            if name not in self._registered:
                path = self._locate(name)
                if path is None:
                    self._registered[name] = None
                else:
                    registered = f"{name}__{self.key}"
                    self.engine.register_parquet(registered, path)
                    self._registered[name] = registered
            return self._registered[name]

    def _renamed(self, expression: exp.Expression, names: Mapping[str, str]) -> exp.Expression:
        """A copy of the tree reading the engine's names: the source's tables and this run's ``names``. A CTE of
        the statement keeps its name (a CTE's name hides a table of that name, as SQL scopes it)."""
        ctes = {cte.alias_or_name for cte in expression.find_all(exp.CTE)}

        def swap(node: exp.Expression) -> exp.Expression:
            if not isinstance(node, exp.Table) or node.args.get("db") or not isinstance(node.this, exp.Identifier):
                return node
            name = node.name
            if name in ctes:
                return node
            target = names.get(name) or self._source_table(name)
            if target is None:
                return node
            swapped = node.copy()
            swapped.set("this", ident(target))
            if swapped.args.get("alias") is None:  # columns may be qualified by the table's own name
                swapped.set("alias", exp.TableAlias(this=ident(name)))
            return swapped

        return expression.copy().transform(swap, copy=False)

    @contextmanager
    def _with(self, expression: exp.Expression, tables: Mapping[str, pa.Table] | None) -> Iterator[exp.Expression]:
        names = {name: f"{name}__run{next(_serial)}" for name in (tables or {})}
        try:
            for name, data in (tables or {}).items():
                self.engine.register_arrow(names[name], data)
            yield self._renamed(expression, names)
        finally:
            for name in names.values():
                self.engine.drop(name)

    def run(self, expression: exp.Expression, params: Mapping[str, Any] | None = None,
            tables: Mapping[str, pa.Table] | None = None) -> pa.Table:
        """The statement's rows (Arrow), with ``tables`` (Arrow) registered under their names while it runs."""
        with self._with(expression, tables) as renamed:
            return self.engine.run(renamed, params)

    def write_parquet(self, expression: exp.Expression, path: Path, params: Mapping[str, Any] | None = None,
                      tables: Mapping[str, pa.Table] | None = None, *, compression: str = "zstd") -> None:
        """Write the statement's rows as a dataset directory at ``path`` (by the engine's workers: nothing is
        collected on the driver), with ``tables`` registered while it runs."""
        with self._with(expression, tables) as renamed:
            self.engine.write_parquet(renamed, path, params=params, compression=compression)

    def sql(self, expression: exp.Expression, params: Mapping[str, Any] | None = None) -> str:
        """The statement as the engine would run it (its source tables registered)."""
        return self.engine.sql(self._renamed(expression, {}), params)


_SHARED: weakref.WeakKeyDictionary[Engine, dict[str, EngineTables]] = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


def engine_tables(engine: Engine, key: str, locate: Callable[[str], Path | str | None]) -> EngineTables:
    """The one ``EngineTables`` of a source on an engine: every cohort engine, thread and run over that source
    shares its registrations (they live as long as the engine; its owner closes it)."""
    with _SHARED_LOCK:
        by_key = _SHARED.setdefault(engine, {})
        if key not in by_key:
            by_key[key] = EngineTables(engine, key, locate)
        return by_key[key]
