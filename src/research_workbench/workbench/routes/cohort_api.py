"""Run a cohort over the API (the SDK's ``cohort_count`` and ``cohort_participants``): a Cohort Builder definition
or an OHDSI (Circe) one, given whole or as a saved cohort of the workspace, on the workspace's data version.

- ``POST /api/workspaces/{ns}/cohorts/count`` → ``{"count", "data_version"}`` (READER; ``workspaces:read``).
- ``POST /api/workspaces/{ns}/cohorts/participants`` → the person ids as Parquet (READER; ``data:read``): a download
  of participant-level data, so audited and counted against the daily limit (``accounts.egress``) unless a
  notebook's kernels ask.

The body: ``{"definition": {...}}`` or ``{"cohort": id or name}``. A definition the engine refuses is a 422 whose
problems are located under ``body.definition``.
"""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...cdr.problems import ProblemsError
from ...cdr.store import CdrFileError
from ...cohorts.circe import CirceError
from ...cohorts.members import members
from ...web import ERROR_RESPONSES, ErrorResponse, SecureRouter
from ...workspaces import resources as res
from ...workspaces.roles import Role
from .. import downloads
from ..guards import Access, requires
from .resource_api import Refusal, _body, _member, _precheck, workspace_engine

router = SecureRouter(prefix="/api", tags=["cohorts"], responses={**ERROR_RESPONSES, 403: {"model": ErrorResponse}})
READ = [requires(Access.REGISTERED, scope="workspaces:read")]
DATA = [requires(Access.REGISTERED, scope="data:read")]
PURPOSE = "cohort_participants"


class CohortIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    definition: dict[str, Any] | None = Field(None, description="a Cohort Builder definition, or {\"circe\": …}")
    cohort: int | str | None = Field(None, description="a saved cohort of the workspace (id or name)")

    @model_validator(mode="after")
    def _one(self) -> CohortIn:
        if (self.definition is None) == (self.cohort is None):
            raise ValueError("give the definition or the saved cohort (one of them)")
        return self


async def _persons(request: Request, namespace: str):
    _precheck(request, namespace, Role.READER)
    body = await _body(request, CohortIn)
    services = request.app.state.services
    with services.db.reading() as session:
        membership = _member(session, request, namespace, Role.READER)
        content, cohort_id = body.definition, None
        if body.cohort is not None:
            found = res.find_reference(session, membership.workspace, "cohort", body.cohort)
            if found is None:
                raise Refusal(404, f"no cohort {body.cohort!r} in workspace {namespace!r}")
            content, cohort_id = res.version_of(session, found).content, found.id
    engine = workspace_engine(request, membership)
    try:
        return membership, cohort_id, members(engine, content)
    except ProblemsError as err:  # a Cohort Builder definition's problems, each "json.path: rule"
        texts = [p for p in err.problems if isinstance(p, str)]
        problems = res.located(texts, "body.definition") if texts else list(err.problems)
        raise Refusal(422, "the cohort cannot be run", problems) from None
    except CirceError as err:
        raise Refusal(422, f"the OHDSI cohort cannot be run: {err}") from None
    except CdrFileError as err:
        raise Refusal(503, f"the data version's files cannot be read: {err}") from None


@router.post("/workspaces/{namespace}/cohorts/count", dependencies=READ)
async def cohort_count(request: Request, namespace: str):
    """How many participants of the workspace's data version the cohort holds."""
    try:
        membership, _, persons = await _persons(request, namespace)
        return JSONResponse({"count": len(persons), "data_version": membership.workspace.data_version.name})
    except Refusal as refusal:
        return refusal.response()


@router.post("/workspaces/{namespace}/cohorts/participants", dependencies=DATA,
             responses={200: {"content": {"application/vnd.apache.parquet": {}}, "description": "person_id"}})
async def cohort_participants(request: Request, namespace: str):
    """The cohort's participants (``person_id``, ascending) as Parquet. A download: audited and limited."""
    try:
        membership, cohort_id, persons = await _persons(request, namespace)
        refused = downloads.refusal(request)
        if refused:
            raise Refusal(429, refused)
        services, viewer, workspace = request.app.state.services, request.state.viewer, membership.workspace
        ids = list(persons)
        with services.db.session() as session:
            services.audit.record_participant_access(
                session, actor_id=viewer.user.id, tier=workspace.tier, workspace_id=workspace.namespace,
                purpose=downloads.purpose(request, PURPOSE), person_ids=ids, cohort=cohort_id,
                cdr_version=workspace.data_version.name, ip=viewer.ip)
        out = io.BytesIO()
        pq.write_table(pa.table({"person_id": pa.array(ids, pa.int64())}), out)
        return Response(out.getvalue(), media_type="application/vnd.apache.parquet")
    except Refusal as refusal:
        return refusal.response()
