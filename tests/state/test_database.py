"""The application database on SQLite and PostgreSQL: migrations, the append-only audit table, UTC times."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from research_workbench.state import Database, DatabaseError
from research_workbench.state.models import AuditEvent, Institution

TABLES = {"alembic_version", "api_tokens", "audit_events", "ducc_signatures", "email_tokens", "institution_requests",
          "institution_tier_rules", "institutions", "module_status", "oidc_links", "outbox", "quiz_attempts",
          "recovery_codes", "sessions", "users",
          "data_versions", "workspaces", "workspace_members", "resources", "resource_versions", "publications",
          "support_articles", "hub_events",
          "cohort_drafts",
          "review_statuses", "review_annotation_fields", "review_annotation_values",
          "dataset_exports", "egress_allowances", "genomics_jobs"}


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    url = f"sqlite:///{tmp_path}/state.sqlite" if request.param == "sqlite" else request.getfixturevalue("pg_state_url")
    database = Database(url)
    yield database
    database.dispose()


def test_migrations_create_every_table_and_go_back_down(db):
    assert db.current_revision() is None
    with pytest.raises(DatabaseError, match="run `workbench admin migrate`"):
        db.check_current()
    db.upgrade()
    assert db.current_revision() == db.head_revision() == "0006"
    assert db.table_names() == TABLES
    db.check_current()
    db.downgrade("base")
    assert db.table_names() == {"alembic_version"}
    db.upgrade()
    assert db.table_names() == TABLES


def test_the_audit_table_refuses_update_and_delete(db):
    db.upgrade()
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with db.session() as session:
        session.add(AuditEvent(seq=1, at=now, action="signin", details={}, prev_hash="0" * 64, hash="f" * 64))
    for statement in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(Exception, match="append-only"):
            with db.session() as session:
                session.execute(text(statement))
    with db.session() as session:
        assert session.scalar(select(AuditEvent.action)) == "signin"


def test_times_are_stored_and_read_back_as_aware_utc(db):
    db.upgrade()
    local = datetime(2026, 5, 1, 9, 30, tzinfo=timezone(timedelta(hours=-4)))
    with db.session() as session:
        session.add(Institution(short_name="x-u", display_name="X U", kind="academic", created_at=local))
    with db.session() as session:
        stored = session.scalar(select(Institution.created_at))
    assert stored == datetime(2026, 5, 1, 13, 30, tzinfo=timezone.utc) and stored.tzinfo == timezone.utc
    with pytest.raises(Exception, match="naive datetime"):
        with db.session() as session:
            session.add(Institution(short_name="y-u", display_name="Y U", kind="academic",
                                    created_at=datetime(2026, 5, 1)))


def test_a_url_that_is_not_a_database_is_refused_by_name():
    with pytest.raises(DatabaseError, match="not a database URL"):
        Database("not a url")
    with pytest.raises(DatabaseError, match="unsupported database 'mysql'"):
        Database("mysql://localhost/x")


def test_the_migrations_build_exactly_the_models(db):
    """A model changed without a migration (or the reverse) shows up here as a difference."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from research_workbench.state.models import Base

    db.upgrade()
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
