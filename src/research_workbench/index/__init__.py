"""The search index of a CDR: one narrow event table, one row per person, criteria trees and text search.

Built once per CDR (raw or release) so that cohort counts are scans of one table sorted by concept, and
criteria browsing and search never touch the wide OMOP tables (the All of Us Workbench's cb_search_* design).

The names below load on first use (PEP 562): importing one light module of the package (``index.fts`` for the
Data Browser's server, ``index.layout`` for the CLI) must not load the builder and DuckDB with it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

_EXPORTS = {
    "IndexResult": "build",
    "build_index": "build",
    "StaleIndexError": "freshness",
    "check_index": "freshness",
    "search_criteria": "search",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from .build import IndexResult, build_index
    from .freshness import StaleIndexError, check_index
    from .search import search_criteria


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
