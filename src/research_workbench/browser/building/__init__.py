"""Building a results store: the raw aggregates of a release (DuckDB), the disclosure pass, the store writer.

``writer.build_store`` is the entry point (``workbench browser build``). Nothing here is imported by the serving
side (``browser.serving``).
"""
