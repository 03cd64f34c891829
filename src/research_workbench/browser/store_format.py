"""What identifies a Data Browser results store, and the names its writer and its reader agree on.

A store is one SQLite file: a ``meta`` table (JSON values by key), ``store_columns`` (every column with its
disclosure role), the tables of ``schema.TABLES``, and the FTS5 index of ``search_item`` (built with
``index.fts.create_fts``, the one full-text search of the project).
"""

from __future__ import annotations

STORE_FORMAT = "research-workbench-browser"
# 2: meta.sources records each source CDR's manifest hash. 3: no research_project table and no meta.projects_path
# (the Research Projects Directory is read from the Research Hub when serving). A version-2 store still serves: its
# research_project table is never read.
STORE_FORMAT_VERSION = 3

# Full-text search: the FTS5 table over search_item's name, code and synonyms, keyed by item_id.
SEARCH_FTS = "search_fts"
SEARCH_CONTENT = "search_item"
SEARCH_ROWID = "item_id"
