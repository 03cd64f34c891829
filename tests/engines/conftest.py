"""The ``engine``, ``duckdb_engine`` and ``spark_engine`` fixtures live in ``tests/conftest.py`` (shared by every folder)."""
