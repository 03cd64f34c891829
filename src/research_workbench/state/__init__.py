"""Application state: the Researcher Workbench's own database (accounts, institutions, access modules, sessions,
tokens, the mail outbox and the audit log), as SQLAlchemy 2 models with Alembic migrations.

An SQLite file is the embedded default; PostgreSQL is the production database. ``Database`` opens either from a
URL and brings the schema to the newest migration (``upgrade``); every write transaction on SQLite takes the
write lock when it begins (``BEGIN IMMEDIATE``), so two requests never race for the audit chain's head.
"""

from __future__ import annotations

from .db import Database, DatabaseError, sqlite_url
from .models import Base

__all__ = ["Base", "Database", "DatabaseError", "sqlite_url"]
