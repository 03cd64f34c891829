"""A Workbench whose workspace is on a real (tiny) data version: the Cohort Builder's fixture CDR and its index.

``tests/cohort_builder/fixture.py`` describes the data (8 persons with known conditions, drugs, measurements,
survey answers and visits). The CDR and its index are built once per test run; each test gets a new Workbench
with a data version registered on them, a Registered Tier workspace ``study`` and its members:
``owner@state.edu`` (OWNER, signed in as ``client``), ``writer@state.edu`` (WRITER) and ``reader@state.edu``
(READER).

``served``: the same kind of Workbench served by uvicorn on a free loopback port, on the real clock, for the
Chromium tests (they add users, the data version and workspaces themselves).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from research_workbench.state.models import DataVersion, User, Workspace, WorkspaceMember

from ..chromium import CHROMIUM, free_port
from ..chromium import served as served_app
from ..cohort_builder.fixture import build
from ..conftest import need
from .conftest import ALL_RT, Clock, Persona, Workbench, add_institutions, make_user


@pytest.fixture(scope="session")
def fixture_cdr(tmp_path_factory) -> Path:
    """The Cohort Builder's fixture CDR with its index beside it (``cdr.index``)."""
    return build(tmp_path_factory.mktemp("cohort-data"))


@dataclass
class CohortWorkspace:
    wb: Workbench
    namespace: str
    owner: Persona
    client: TestClient  # signed in as the owner
    cdr: Path
    personas: dict[str, Persona]

    def sign_in(self, email: str) -> TestClient:
        """A client signed in as another member (``writer@state.edu``, ``reader@state.edu``)."""
        return self.personas[email].sign_in()


def register_data_version(wb: Workbench, cdr: Path, *, name: str = "2026Q4", tier: str = "registered") -> int:
    with wb.db.session() as session:
        row = DataVersion(name=name, tier=tier, release_number=1, cdr_path=str(cdr), index_path=str(cdr.parent / "cdr.index"),
                          aggregates_path=None, manifest_sha256="0" * 64, participant_count=8, data_types=[],
                          is_default=True, created_at=wb.clock.now, archived_at=None)
        session.add(row)
        session.flush()
        return row.id


def add_workspace(wb: Workbench, namespace: str, data_version_id: int, members: dict[str, str], *,
                  tier: str = "registered") -> None:
    now = wb.clock.now
    with wb.db.session() as session:
        ids = {email: session.scalar(select(User.id).where(User.email == email)) for email in members}
        owner = next(ids[e] for e, r in members.items() if r == "OWNER")
        ws = Workspace(namespace=namespace, name=namespace.replace("-", " ").title(), tier=tier,
                       data_version_id=data_version_id, purpose={}, etag=1, created_by=owner, created_at=now,
                       updated_by=owner, updated_at=now, locked_at=None, locked_reason=None, locked_by=None)
        session.add(ws)
        session.flush()
        for email, role in members.items():
            session.add(WorkspaceMember(workspace_id=ws.id, user_id=ids[email], role=role, added_at=now, added_by=owner))


@pytest.fixture
def cohort_ws(wb, fixture_cdr) -> CohortWorkspace:
    personas = {email: make_user(wb, email, modules=ALL_RT)
                for email in ("owner@state.edu", "writer@state.edu", "reader@state.edu")}
    dv = register_data_version(wb, fixture_cdr)
    add_workspace(wb, "study", dv, {"owner@state.edu": "OWNER", "writer@state.edu": "WRITER", "reader@state.edu": "READER"})
    owner = personas["owner@state.edu"]
    return CohortWorkspace(wb, "study", owner, owner.sign_in(), fixture_cdr, personas)


@pytest.fixture
def served(tmp_path, monkeypatch, fixture_cdr):
    """(Workbench, base URL): a fresh SQLite database, the two test institutions, served on 127.0.0.1."""
    from research_workbench.accounts.clock import utcnow
    from research_workbench.accounts.config import load_workbench_config
    from research_workbench.state import Database
    from research_workbench.workbench.app import create_app

    need(CHROMIUM.exists(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    monkeypatch.setenv("RW_WORKBENCH_SECRET", "served-workbench-secret-" + "z" * 40)
    port = free_port()
    config = load_workbench_config(None, database_url=f"sqlite:///{tmp_path}/wb.sqlite", base_url=f"http://127.0.0.1:{port}",
                                   review_extracts_dir=str(tmp_path / "review-extracts"),
                                   exports_dir=str(tmp_path / "exports"),
                                   notebooks_dir=str(tmp_path / "notebooks"),
                                   passwords={"time_cost": 1, "memory_kib": 1024, "parallelism": 1})
    db = Database(config.resolved_database_url)
    db.upgrade()
    clock = Clock(utcnow())  # make_user's timestamps; the app itself runs on the real clock
    add_institutions(db, clock.now)
    app = create_app(config, db=db)
    try:
        with served_app(app, port, "workbench") as base:
            yield Workbench(app, db, clock, config), base
    finally:
        db.dispose()
