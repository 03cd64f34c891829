"""The public Data Browser: small-count-protected aggregates of a release, and the app that serves them.

Two sides that share only the store's format:

- ``building``: compute a release's raw aggregates in DuckDB, pass them through the one disclosure pass, write
  the SQLite results store (``workbench browser build``);
- ``serving``: read a results store and serve its pages and JSON API (``workbench browser serve``). It never
  imports the building side, DuckDB included: a public web server carries none of the build pipeline.

Shared by both: ``schema`` (the store's tables, every column with its disclosure role), ``store_format`` (what
identifies a store), ``staleness`` (the source CDRs a store records and the check that refuses a stale one),
``disclosure`` (the rounding rule) and ``domains`` (the browser's domain cards).

The Research Projects Directory is not in the store: ``serving.directory`` reads it from the Research Hub
(``hub.directory``, in the Researcher Workbench's database) when serving with ``--directory``.
"""
