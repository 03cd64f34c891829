"""Alembic's environment: migrations run on the engine ``Database`` hands over (no alembic.ini, no URL here)."""

from __future__ import annotations

from alembic import context

from research_workbench.state.models import Base

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
