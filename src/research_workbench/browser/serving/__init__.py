"""Serving a results store: the read-only store, the queries behind every page and endpoint, the FastAPI app.

Imports nothing of the building side (``browser.building``) and no DuckDB: ``tests/browser/test_layout.py``
checks it in a fresh interpreter.
"""
