"""The engine the aggregates of one CDR are computed on, with the CDR's tables named on it as queries read them.

Every query is a SQLGlot tree (the modules' DuckDB text is parsed once, ``tree``; it holds only constructs
``engines.capabilities`` passes on both engines) run through the ``Engine``: ``materialise`` for the intermediate
tables (no temporary table, no ``INSERT``), ``records`` for the small results the Python steps read by column name.
A table of the CDR's model is registered the first time a query reads it (on Spark each registration costs a job);
a model table the CDR lacks is an empty table of the model's shape. ``close`` forgets every table it named, so the
next tier's session may name its own under the same names on the same engine.
"""

from __future__ import annotations

from collections import namedtuple
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from ...cdr.store import Cdr
from ...index.engine_io import tables_read

if TYPE_CHECKING:
    from ...engines.base import Engine

Query = str | exp.Expression


def tree(query: Query) -> exp.Expression:
    """A query as a tree (DuckDB text is parsed; a tree is used as it is)."""
    return query if isinstance(query, exp.Expression) else sqlglot.parse_one(query, read="duckdb")


@lru_cache(maxsize=256)
def _row_type(names: tuple[str, ...]) -> type:
    return namedtuple("Row", names)  # type: ignore[misc]


class CdrSession:
    """One CDR's tables on an engine (see the module's docstring)."""

    def __init__(self, engine: Engine, cdr: Cdr):
        self.engine, self.cdr = engine, cdr
        self._named: set[str] = set()

    def _need(self, query: exp.Expression) -> None:
        for name in sorted(tables_read(query) - self._named):
            model_table = self.cdr.model.tables.get(name)
            if model_table is None:
                continue  # a table this session materialised or registered, or a CTE of another scope
            if name in self.cdr.manifest.tables:
                self.engine.register_parquet(name, self.cdr.check_file(name))
            else:
                self.engine.register_arrow(name, model_table.arrow_schema().empty_table())
            self._named.add(name)

    def materialise(self, name: str, query: Query, params: dict[str, Any] | None = None) -> None:
        """Keep the query's rows under ``name`` (it may read the table it replaces)."""
        query = tree(query)
        self._need(query)
        self.engine.materialise(name, query, params)
        self._named.add(name)

    def register_arrow(self, name: str, table: pa.Table) -> None:
        self.engine.register_arrow(name, table)
        self._named.add(name)

    def run(self, query: Query, params: dict[str, Any] | None = None) -> pa.Table:
        query = tree(query)
        self._need(query)
        return self.engine.run(query, params)

    def records(self, query: Query, params: dict[str, Any] | None = None) -> list[Any]:
        """The rows as named tuples whose fields are the query's column names (each must be an identifier:
        ``count(*) AS participant_count``), so no row is ever read by position."""
        result = self.run(query, params)
        row = _row_type(tuple(result.column_names))
        columns = [c.to_pylist() for c in result.columns]
        return [row._make(values) for values in zip(*columns)]

    def record(self, query: Query, params: dict[str, Any] | None = None) -> Any:
        rows = self.records(query, params)
        if len(rows) != 1:
            raise ValueError(f"expected one row, got {len(rows)}")
        return rows[0]

    def close(self) -> None:
        for name in sorted(self._named):
            self.engine.drop(name)
        self._named.clear()

    def __enter__(self) -> CdrSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
