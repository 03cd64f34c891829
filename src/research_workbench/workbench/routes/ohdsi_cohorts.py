"""OHDSI (ATLAS) cohorts in a workspace: import a Circe cohort expression, run it, show its inclusion-rule report.

An imported cohort is a ``cohort`` resource whose content is ``{"circe": <expression>}`` (``workspaces.resources``
validates it with ``cohorts.circe``), so it has versions, copy and delete like every resource. Its page runs the
Circe executor over the workspace's data version (``cohorts.members.circe_result``: kept per CDR and expression) and
shows the subject count and the attrition as ATLAS reports it: entry events, qualifying events, each inclusion rule in
order (persons passing it alone, remaining after it, lost), and the final cohort.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from ...accounts.audit import AuditAction
from ...cdr.problems import Problem
from ...cohorts import jsonfile
from ...cohorts.circe import CirceError
from ...cohorts.members import CIRCE_KEY, circe_result, is_circe
from ...web import SecureRouter
from ...workspaces import resources as res
from ...workspaces.roles import Role
from ..forms import FieldErrors, FormTooLarge
from ..guards import Access, requires
from ..rendering import page, see_other
from .resources import audit, member, resource_of

router = SecureRouter(include_in_schema=False)
REGISTERED = [requires(Access.REGISTERED)]
MAX_UPLOAD_BYTES = res.MAX_CONTENT_BYTES  # an ATLAS export larger than a resource may hold is refused on arrival


def _import_page(request: Request, namespace: str, *, status: int = 200, errors: FieldErrors | None = None,
                 values: dict | None = None) -> HTMLResponse:
    with request.app.state.services.db.reading() as session:
        membership = member(session, request, namespace, Role.WRITER)
        return page(request, "ohdsi_import.html", status=status, workspace=membership.workspace, role=membership.role,
                    Role=Role, errors=errors or FieldErrors(), values=values or {"name": "", "description": "", "definition": ""},
                    name_max=res.NAME_MAX, description_max=res.DESCRIPTION_MAX, max_bytes=MAX_UPLOAD_BYTES)


@router.get("/workspaces/{namespace}/cohorts/import", response_class=HTMLResponse, dependencies=REGISTERED)
def import_form(request: Request, namespace: str):
    """The import form: a name, and the ATLAS JSON pasted or read from a file (WRITER)."""
    return _import_page(request, namespace)


async def _read_import(request: Request) -> dict:
    """The posted form (URL-encoded: the page reads a chosen file into the text box), bounded by MAX_UPLOAD_BYTES."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > 3 * MAX_UPLOAD_BYTES:  # URL-encoding at most triples it
        raise FormTooLarge(f"the definition is larger than {MAX_UPLOAD_BYTES:,} bytes")
    form = await request.form(max_files=0, max_fields=10, max_part_size=3 * MAX_UPLOAD_BYTES)
    return {k: form.get(k) if isinstance(form.get(k), str) else "" for k in ("name", "description", "definition")}


@router.post("/workspaces/{namespace}/cohorts/import", response_class=HTMLResponse, dependencies=REGISTERED)
async def import_cohort(request: Request, namespace: str):
    """Create the cohort from the posted JSON; every problem is shown with its JSON path or line and column, and
    nothing is created then."""
    services = request.app.state.services
    values = await _read_import(request)
    source = values["definition"].encode()
    if not source.strip():
        return _import_page(request, namespace, status=422, values=values,
                            errors=FieldErrors.of_problems([Problem("paste the cohort's JSON or choose its file", "definition")]))
    if len(source) > MAX_UPLOAD_BYTES:
        return _import_page(request, namespace, status=413, values={**values, "definition": ""}, errors=FieldErrors.of_problems(
            [Problem(f"the definition is larger than {MAX_UPLOAD_BYTES:,} bytes (MAX_CONTENT_BYTES)", "definition")]))
    try:
        expression = jsonfile.loads(source, source="definition", max_bytes=MAX_UPLOAD_BYTES, max_depth=res.CONTENT_MAX_DEPTH,
                                    root="definition", limit_names=("MAX_CONTENT_BYTES", "CONTENT_MAX_DEPTH"))
    except jsonfile.JsonInputError as err:
        return _import_page(request, namespace, status=422, values=values, errors=FieldErrors.of_problems(
            [Problem(f"{p.where()}: {p.message}" if p.path is None else f"{p.path}: {p.message}", "definition") for p in err.problems]))
    if isinstance(expression, dict) and set(expression) >= {"expression"} and isinstance(expression["expression"], dict):
        expression = expression["expression"]  # WebAPI's cohort definition wrapper ({"name", "expression", …})
    try:
        with services.db.session() as session:
            membership = member(session, request, namespace, Role.WRITER)
            resource = res.create(session, membership, "cohort", values["name"], values["description"],
                                  {CIRCE_KEY: expression}, request.state.viewer.user, services.now())
            audit(request, session, AuditAction.RESOURCE_CREATED, membership, resource, via="OHDSI import")
    except res.ResourceError as err:
        shown = [Problem(f"{p.where.removeprefix('content.circe').lstrip('.') or '(root)'}: {p.message}", "definition")
                 if (p.where or "").startswith("content") else p for p in err.problems]
        return _import_page(request, namespace, status=422, values=values, errors=FieldErrors.of_problems(shown))
    request.state.viewer.flash(f"Imported {resource.name}.")
    return see_other(f"/workspaces/{namespace}/cohorts/{resource.id}/ohdsi")


@router.get("/workspaces/{namespace}/cohorts/{resource_id}/ohdsi", response_class=HTMLResponse, dependencies=REGISTERED)
def ohdsi_cohort(request: Request, namespace: str, resource_id: int):
    """An OHDSI cohort run on the workspace's data version: counts and the inclusion-rule report (READER)."""
    with request.app.state.services.db.reading() as session:
        membership = member(session, request, namespace, Role.READER)
        resource = resource_of(session, membership, resource_id)
        content = res.version_of(session, resource).content
        if resource.kind != "cohort" or not is_circe(content):
            raise HTTPException(404)
        workspace = membership.workspace
        cdr = Path(workspace.data_version.cdr_path)
        problem = None
        try:
            result = circe_result(cdr, content[CIRCE_KEY], request.app.state.services.engines.sql_engine)
        except CirceError as err:
            result, problem = None, "; ".join(str(p) for p in err.problems)
        except (OSError, ValueError) as err:
            result, problem = None, f"the data version's CDR could not be read: {err}"
        return page(request, "ohdsi_cohort.html", workspace=workspace, role=membership.role, Role=Role,
                    resource=resource, result=result, problem=problem, lines=res.summary(session, workspace, "cohort", content))
