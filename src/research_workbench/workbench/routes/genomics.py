"""Genomics in a Controlled Tier workspace: the Genomics page (start an extract, a GWAS, a PCA, a PheWAS or allele
frequencies by ancestry; follow and cancel jobs), each job's page with its results, and the API the SDK calls.

API (``/api/workspaces/{ns}/genomics/…``, every route with the ``data:read`` scope: a job reads participant-level
genotypes, and a notebook's kernels hold that scope, so ``Workbench.genomics(...)`` works from a notebook):

- ``POST …/jobs`` ``{"kind", "request"}`` → 202 and the job (WRITER). The request names saved cohorts by id or
  name (``workspaces.genomics_jobs``); problems are located under ``body.request``.
- ``GET …/jobs[?kind=]``, ``GET …/jobs/{job_id}`` → status, progress, message, summary (any member).
- ``POST …/jobs/{job_id}/cancel`` → the job, asked to stop (WRITER).
- ``GET …/jobs/{job_id}/files`` → the finished job's files: name, bytes, whether participant-level.
- ``GET …/jobs/{job_id}/files/{file_name}`` → one file. A participant-level file (an extract's genotypes, a PCA's
  components) is a download: refused past the daily limit and audited (``genomics_download``), unless a notebook's
  kernels read it.

Small counts: a workspace's members see their Controlled Tier results as they are, counts from 1 to 19 included,
as All of Us shows them inside a workspace: the program's dissemination rule governs what leaves the workspace (the
publication check), not what its members see. Each table with counts offers the view as it could be published
(``?publishable=true``: 1 to 19 shown as "<20") for screenshots and reports.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from fastapi import Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ...cdr.problems import Problem
from ...genomics import jobs as gj
from ...genomics.store import GenomicsError
from ...state.models import GenomicsJob
from ...web import ERROR_RESPONSES, ErrorResponse, SecureRouter
from ...workspaces import genomics_jobs as records
from ...workspaces import resources as res
from ...workspaces.roles import Membership, Role, WorkspaceForbidden
from .. import downloads
from ..forms import FieldErrors, Form, read_form
from ..genomics_jobs import read_participants
from ..guards import Access, requires
from ..rendering import page, see_other
from .resource_api import Refusal, _body, _member, _precheck
from .resources import member

router = SecureRouter(prefix="/api", tags=["genomics"], responses={**ERROR_RESPONSES, 403: {"model": ErrorResponse}})
DATA = [requires(Access.REGISTERED, scope="data:read")]
page_router = SecureRouter(include_in_schema=False)
REGISTERED = [requires(Access.REGISTERED)]
PURPOSE_DOWNLOAD = "genomics_download"
SMALL_COUNT = 20  # counts from 1 to SMALL_COUNT - 1 are shown as "<20" in the publishable view
TABLE_ROWS = 200  # rows of a result table shown on a job's page (the files hold them all)
MEDIA_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".tsv": "text/tab-separated-values; charset=utf-8",
               ".parquet": "application/vnd.apache.parquet", ".json": "application/json", ".gz": "application/gzip",
               ".tbi": "application/octet-stream", ".bgen": "application/octet-stream", ".txt": "text/plain"}
IMAGES = (".png", ".svg")
# An SVG opened by itself runs in our origin: it may draw, never script or load anything.
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


class JobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["extract", "gwas", "pca", "phewas", "frequencies"] = Field(description="the analysis")
    request: dict[str, Any] = Field(default_factory=dict, description=(
        "the kind's fields (genomics.jobs), with saved cohorts by id or name: cohort (extract, pca, phewas, "
        "frequencies), cases and controls (gwas); a GWAS's principal components as pcs_job (a finished PCA job)"))


def located(problems, root: str) -> list[Problem]:
    """Genomics problems ("selection.min_af: …") located under ``root`` ("body.request.selection.min_af")."""
    out = []
    for text in problems:
        where, sep, message = str(text).partition(": ")
        if not sep or " " in where:
            out.append(Problem(str(text), root))
        else:  # "(request)": the request as a whole
            out.append(Problem(message.strip(), root if where.startswith("(") else f"{root}.{where}"))
    return out


def job_files(job: GenomicsJob) -> list[dict[str, Any]]:
    """A finished job's files (its hidden bookkeeping aside), by name."""
    if job.status != "done" or not job.path or not Path(job.path).is_dir():
        return []
    return [{"name": p.name, "bytes": p.stat().st_size, "participant_level": gj.participant_level(job.kind, p.name)}
            for p in sorted(Path(job.path).iterdir(), key=lambda p: p.name)
            if p.is_file() and not p.name.startswith(".")]


def _file_of(job: GenomicsJob, file_name: str) -> Path:
    """The job's file ``file_name``: only a name its listing shows (no path, no hidden file)."""
    if not _FILE_NAME.fullmatch(file_name) or file_name not in {f["name"] for f in job_files(job)}:
        raise LookupError(f"genomics job {job.id} has no file {file_name!r}")
    return Path(job.path) / file_name


def _media_type(name: str) -> str:
    return MEDIA_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")


def _serve(request: Request, membership: Membership, job: GenomicsJob, file_name: str, *, inline: bool):
    """The file as a response; a participant-level one only within the daily limit, and audited."""
    path = _file_of(job, file_name)
    if gj.participant_level(job.kind, file_name):
        refused = downloads.refusal(request)
        if refused:
            raise Refusal(429, refused)
        services, viewer, workspace = request.app.state.services, request.state.viewer, membership.workspace
        cohort = next((v["id"] for v in job.request.values() if isinstance(v, dict) and "id" in v), None)
        with services.db.session() as session:
            services.audit.record_participant_access(
                session, actor_id=viewer.user.id, tier=workspace.tier, workspace_id=workspace.namespace,
                purpose=downloads.purpose(request, PURPOSE_DOWNLOAD), person_ids=read_participants(Path(job.path)),
                cohort=cohort, cdr_version=workspace.data_version.name, ip=viewer.ip)
    headers = {"x-content-type-options": "nosniff"}
    if path.suffix.lower() == ".svg":
        headers["content-security-policy"] = SVG_POLICY
    show = inline and path.suffix.lower() in IMAGES
    return FileResponse(path, media_type=_media_type(file_name), headers=headers, filename=file_name,
                        content_disposition_type="inline" if show else "attachment")


# -- the API ----------------------------------------------------------------------------------------------------

def _get_job(session: Session, membership: Membership, job_id: int) -> GenomicsJob:
    try:
        return records.get(session, membership, job_id)
    except records.GenomicsJobNotFound as err:
        raise Refusal(404, str(err)) from None


def _start(request: Request, namespace: str, kind: str, document: dict[str, Any]) -> JSONResponse:
    services, viewer = request.app.state.services, request.state.viewer
    with services.db.session() as session:
        membership = _member(session, request, namespace, Role.WRITER)
        try:
            job = records.start(session, membership, kind, document, user=viewer.user, now=services.now(),
                                session_id=viewer.session_id if viewer.token is None else None,
                                token_id=viewer.token.id if viewer.token is not None else None,
                                runner=services.genomics.runner)
        except records.GenomicsUnavailable as err:
            raise Refusal(403, str(err)) from None
        except GenomicsError as err:
            raise Refusal(422, "the genomics job cannot be started", located(err.problems, "body.request")) from None
        job_id, body = job.id, records.as_dict(job)
    services.genomics.submit(job_id)
    return JSONResponse(body, status_code=202)


@router.post("/workspaces/{namespace}/genomics/jobs", status_code=202, dependencies=DATA)
async def start_job(request: Request, namespace: str):
    """Start a genomics job (extract, gwas, pca, phewas, frequencies) in the background. WRITER of a Controlled
    Tier workspace."""
    try:
        await run_in_threadpool(_precheck, request, namespace, Role.WRITER)
        body = await _body(request, JobIn)
        return await run_in_threadpool(_start, request, namespace, body.kind, body.request)
    except Refusal as refusal:
        return refusal.response()


@router.get("/workspaces/{namespace}/genomics/jobs", dependencies=DATA)
def list_jobs(request: Request, namespace: str, kind: Literal["extract", "gwas", "pca", "phewas", "frequencies"]
              | None = Query(None, description="only this kind")):
    """The workspace's genomics jobs, newest first."""
    try:
        with request.app.state.services.db.reading() as session:
            membership = _member(session, request, namespace, Role.READER)
            return JSONResponse([records.as_dict(j) for j in records.of_workspace(session, membership, kind=kind)])
    except Refusal as refusal:
        return refusal.response()


@router.get("/workspaces/{namespace}/genomics/jobs/{job_id}", dependencies=DATA)
def get_job(request: Request, namespace: str, job_id: int):
    """One job: status, progress, why it stopped, and once done its summary."""
    try:
        with request.app.state.services.db.reading() as session:
            membership = _member(session, request, namespace, Role.READER)
            return JSONResponse(records.as_dict(_get_job(session, membership, job_id)))
    except Refusal as refusal:
        return refusal.response()


@router.post("/workspaces/{namespace}/genomics/jobs/{job_id}/cancel", dependencies=DATA)
def cancel_job(request: Request, namespace: str, job_id: int):
    """Ask the job to stop; it stops at its next step and keeps nothing. WRITER."""
    try:
        with request.app.state.services.db.session() as session:
            membership = _member(session, request, namespace, Role.WRITER)
            try:
                job = records.request_cancel(session, membership, _get_job(session, membership, job_id))
            except WorkspaceForbidden as err:
                raise Refusal(403, str(err)) from None
            return JSONResponse(records.as_dict(job))
    except Refusal as refusal:
        return refusal.response()


@router.get("/workspaces/{namespace}/genomics/jobs/{job_id}/files", dependencies=DATA)
def list_files(request: Request, namespace: str, job_id: int):
    """The finished job's files: name, bytes, and whether reading it is a download of participant-level data."""
    try:
        with request.app.state.services.db.reading() as session:
            membership = _member(session, request, namespace, Role.READER)
            return JSONResponse(job_files(_get_job(session, membership, job_id)))
    except Refusal as refusal:
        return refusal.response()


@router.get("/workspaces/{namespace}/genomics/jobs/{job_id}/files/{file_name}", dependencies=DATA)
def download_file(request: Request, namespace: str, job_id: int, file_name: str):
    """One file of a finished job. Participant-level files count against the daily download limit and are audited
    (not when a notebook's kernels read them)."""
    try:
        with request.app.state.services.db.reading() as session:
            membership = _member(session, request, namespace, Role.READER)
            job = _get_job(session, membership, job_id)
        try:
            return _serve(request, membership, job, file_name, inline=False)
        except LookupError as err:
            raise Refusal(404, str(err)) from None
    except Refusal as refusal:
        return refusal.response()


# -- the pages --------------------------------------------------------------------------------------------------

def _split(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,;]+", text or "") if part]


def _ref(text: str) -> int | str | None:
    text = (text or "").strip()
    return None if not text else int(text) if text.isdigit() else text


def _set(target: dict, path: str, value: Any) -> None:
    head, _, rest = path.partition(".")
    if rest:
        _set(target.setdefault(head, {}), rest, value)
    else:
        target[head] = value


# The fields of each form, as (form field after "<kind>.", how it is read). The form field is the request's own
# path, so a problem at "selection.min_af" goes back beside the "gwas.selection.min_af" box.
SELECTION = [("selection.rsids", "list"), ("selection.genes", "list"), ("selection.regions", "list"),
             ("selection.variant_ids", "list"), ("selection.min_af", "text"), ("selection.max_af", "text")]
FORM_FIELDS: dict[str, list[tuple[str, str]]] = {
    "extract": [("cohort", "ref"), *SELECTION, ("formats", "checks"), ("kind", "text"), ("min_call_rate", "text"),
                ("name", "text")],
    "gwas": [("cases", "ref"), ("controls", "ref"), ("measurement_concept_id", "text"),
             ("measurement_summary", "text"), ("covariates", "checks"), ("pcs_job", "ref"), ("model", "text"),
             ("min_maf", "text"), ("min_call_rate", "text"), *SELECTION, ("kind", "text")],
    "pca": [("cohort", "ref"), ("k", "text"), ("min_maf", "text"), ("min_call_rate", "text"), *SELECTION,
            ("kind", "text")],
    "phewas": [("cohort", "ref"), ("variant", "text"),
               *[("carriers" + name[len("selection"):], how) for name, how in SELECTION], ("exposed", "ref"),
               ("min_cases", "text"), ("pcs_job", "ref"), ("kind", "text")],
    "frequencies": [("cohort", "ref"), *SELECTION, ("kind", "text")],
}


def request_from_form(kind: str, form: Form) -> dict[str, Any]:
    """The request a form sends (fields ``<kind>.<request path>``): empty fields left out, so the defaults apply.
    A group of checkboxes sends ``<field>.sent`` too, so that none ticked means none (no covariates), not the
    default."""
    out: dict[str, Any] = {}
    for name, how in FORM_FIELDS.get(kind, []):
        key = f"{kind}.{name}"
        if how == "list":
            value = _split(form.get(key))
        elif how == "checks":
            value = form.list(key)
            if not value and form.get(f"{key}.sent"):
                _set(out, name, [])
                continue
        elif how == "ref":
            value = _ref(form.get(key))
        else:
            value = form.get(key).strip() or None
        if value is None or value == [] or (kind == "gwas" and name == "model" and value == "auto"):
            continue
        _set(out, name, value)
    return out


def form_errors(kind: str, problems: list[str]) -> FieldErrors:
    """Problems beside their form field (``gwas.selection.min_af``), or above the form (``<kind>.form``)."""
    order = [f"{kind}.{name}" for name, _ in FORM_FIELDS.get(kind, [])]
    known = set(order)
    located_problems = []
    for text in problems:
        where, sep, message = str(text).partition(": ")
        field = f"{kind}.{where.split('[')[0]}"
        while field not in known and "." in field[len(kind) + 1:]:
            field = field.rsplit(".", 1)[0]
        if field not in known:  # a group ("selection: Field required"): beside its first box
            field = next((f for f in order if f.startswith(field + ".")), field)
        located_problems.append(Problem(message if sep and field in known else str(text),
                                        field if sep and field in known else f"{kind}.form"))
    return FieldErrors.of_problems(located_problems)


def _genomics_page(request: Request, session: Session, membership: Membership, *, fragment: bool = False,
                   errors: FieldErrors | None = None, values: dict[str, str] | None = None,
                   open_kind: str | None = None, status: int = 200) -> HTMLResponse:
    workspace = membership.workspace
    available = records.available(workspace)
    jobs = records.of_workspace(session, membership) if available else []
    store, store_problem = None, None
    if available and not fragment:
        try:
            found = records.store_of(workspace)
            store = {"samples": len(found.samples), "variants": found.n_variants}
        except GenomicsError as err:
            store_problem = "; ".join(str(p).partition(": ")[2] or str(p) for p in err.problems)
    return page(request, "genomics.html", status=status, workspace=workspace, role=membership.role, Role=Role,
                available=available, unavailable=records.UNAVAILABLE, jobs=jobs, labels=records.KIND_LABELS,
                cohorts=[(str(c.id), c.name) for c in res.live(session, workspace, "cohort")] if available else [],
                pca_jobs=[(str(j.id), f"PCA job {j.id}") for j in jobs if j.kind == "pca" and j.status == "done"],
                store=store, store_problem=store_problem, fragment=fragment, errors=errors, values=values or {},
                open_kind=open_kind, running=any(j.status not in records.ENDED for j in jobs),
                describe=describe_request)


def describe_request(job: GenomicsJob) -> str:
    """The job's request in a few words, for lists."""
    r = job.request or {}
    parts = []
    for name in ("cohort", "cases", "controls"):
        if isinstance(r.get(name), dict):
            parts.append(f"{name} “{r[name]['name']}” (v{r[name]['version']})")
    if job.kind == "gwas" and r.get("measurement_concept_id"):
        parts.append(f"measurement {r['measurement_concept_id']}")
    if job.kind == "gwas" and isinstance(r.get("cases"), dict) and not isinstance(r.get("controls"), dict):
        parts.append("controls: everyone else genotyped")
    if job.kind in ("pca", "phewas", "frequencies") and not isinstance(r.get("cohort"), dict):
        parts.append("everyone genotyped")
    if job.kind == "phewas":
        if r.get("variant"):
            parts.append(f"exposure: {r['variant']} dosage")
        elif r.get("carriers"):
            parts.append(f"exposure: carriers of {_variants(r['carriers'])}")
        elif isinstance(r.get("exposed"), dict):
            parts.append(f"exposure: membership of “{r['exposed']['name']}”")
    else:
        parts.append(_variants(r.get("selection") or {}))
    if job.kind == "extract":
        parts.append(", ".join(r.get("formats") or []))
    return "; ".join(p for p in parts if p)


def _variants(selection: dict[str, Any]) -> str:
    chosen = [*selection.get("rsids", []), *(f"gene {g}" for g in selection.get("genes", [])),
              *selection.get("regions", []), *selection.get("variant_ids", [])]
    text = ", ".join(chosen) if chosen else "all variants"
    if selection.get("min_af") is not None or selection.get("max_af") is not None:
        text += f" with allele frequency {selection.get('min_af') or 0:g}–{selection.get('max_af') or 1:g}"
    return text


@page_router.get("/workspaces/{namespace}/genomics", response_class=HTMLResponse, dependencies=REGISTERED)
def genomics_page(request: Request, namespace: str, fragment: bool = Query(False)):
    """The workspace's Genomics page: the analyses to start (WRITER), and its jobs with their progress (refreshed
    while one runs). A Registered Tier workspace shows why it has none."""
    with request.app.state.services.db.reading() as session:
        membership = member(session, request, namespace, Role.READER)
        return _genomics_page(request, session, membership, fragment=fragment)


def _start_from_form(request: Request, namespace: str, form: Form):
    services, viewer = request.app.state.services, request.state.viewer
    kind = form.get("kind")
    with services.db.session() as session:
        membership = member(session, request, namespace, Role.WRITER)
        if not records.available(membership.workspace):
            viewer.flash(records.UNAVAILABLE)
            return see_other(f"/workspaces/{namespace}/genomics")
        if kind not in gj.JOB_KINDS:
            raise HTTPException(422, detail=f"kind: choose one of {', '.join(gj.JOB_KINDS)}")
        try:
            job = records.start(session, membership, kind, request_from_form(kind, form), user=viewer.user,
                                now=services.now(), session_id=viewer.session_id, token_id=None,
                                runner=services.genomics.runner)
        except GenomicsError as err:
            values = {k: ", ".join(form.list(k)) if len(form.list(k)) > 1 else form.get(k) for k in form.data.keys()}
            values.update({f"{k}.chosen": form.list(k) for k in form.data.keys()})
            return _genomics_page(request, session, membership, errors=form_errors(kind, err.problems),
                                  values=values, open_kind=kind, status=422)
        job_id = job.id
    services.genomics.submit(job_id)
    viewer.flash(f"{records.KIND_LABELS[kind]} job {job_id} started: it runs in the background.")
    return see_other(f"/workspaces/{namespace}/genomics/jobs/{job_id}")


@page_router.post("/workspaces/{namespace}/genomics/jobs", response_class=HTMLResponse, dependencies=REGISTERED)
async def start_form(request: Request, namespace: str):
    """Start a job from one of the Genomics page's forms (its ``kind`` field says which). WRITER."""

    def role_first() -> None:  # who may not start one is refused before the form is read
        with request.app.state.services.db.reading() as session:
            member(session, request, namespace, Role.WRITER)

    await run_in_threadpool(role_first)
    form = await read_form(request)
    return await run_in_threadpool(_start_from_form, request, namespace, form)


def _page_job(session: Session, membership: Membership, job_id: int) -> GenomicsJob:
    try:
        return records.get(session, membership, job_id)
    except records.GenomicsJobNotFound:
        raise HTTPException(404) from None


@page_router.get("/workspaces/{namespace}/genomics/jobs/{job_id}", response_class=HTMLResponse,
                 dependencies=REGISTERED)
def job_page(request: Request, namespace: str, job_id: int, fragment: bool = Query(False),
             publishable: bool = Query(False)):
    """One job: its request, progress (refreshed while it runs), why it stopped, and once done its results —
    GWAS: Manhattan and QQ plots, λGC, top hits; PCA: the plots; PheWAS and frequencies: the tables; an extract:
    its files to download."""
    with request.app.state.services.db.reading() as session:
        membership = member(session, request, namespace, Role.READER)
        job = _page_job(session, membership, job_id)
        files = job_files(job)
        results = _results(job, files) if job.status == "done" else {}
        return page(request, "genomics_job.html", workspace=membership.workspace, role=membership.role, Role=Role,
                    job=job, label=records.KIND_LABELS[job.kind], files=files, results=results,
                    describe=describe_request(job), fragment=fragment, publishable=publishable, small=SMALL_COUNT,
                    ended=job.status in records.ENDED, file_url=lambda name: (
                        f"/workspaces/{namespace}/genomics/jobs/{job.id}/files/{name}"))


@page_router.post("/workspaces/{namespace}/genomics/jobs/{job_id}/cancel", response_class=HTMLResponse,
                  dependencies=REGISTERED)
async def cancel_form(request: Request, namespace: str, job_id: int):
    """Ask a job to stop (at its next step; nothing is kept). WRITER."""

    def cancel() -> None:
        with request.app.state.services.db.session() as session:
            membership = member(session, request, namespace, Role.WRITER)
            records.request_cancel(session, membership, _page_job(session, membership, job_id))

    def role_first() -> None:
        with request.app.state.services.db.reading() as session:
            member(session, request, namespace, Role.WRITER)

    await run_in_threadpool(role_first)
    await read_form(request)  # the CSRF field only
    await run_in_threadpool(cancel)
    request.state.viewer.flash(f"Job {job_id}: asked to stop (at its next step; nothing is kept).")
    return see_other(f"/workspaces/{namespace}/genomics/jobs/{job_id}")


@page_router.get("/workspaces/{namespace}/genomics/jobs/{job_id}/files/{file_name}", dependencies=REGISTERED)
def file_page(request: Request, namespace: str, job_id: int, file_name: str):
    """A file of a finished job: plots shown as images (PNG, SVG), everything else downloaded. Participant-level
    files count against the daily download limit and are audited."""
    with request.app.state.services.db.reading() as session:
        membership = member(session, request, namespace, Role.READER)
        job = _page_job(session, membership, job_id)
    try:
        return _serve(request, membership, job, file_name, inline=True)
    except LookupError:
        raise HTTPException(404) from None
    except Refusal as refusal:
        raise HTTPException(refusal.status, detail=str(refusal)) from None


# -- results for the job page -----------------------------------------------------------------------------------

def _results(job: GenomicsJob, files: list[dict[str, Any]]) -> dict[str, Any]:
    names = {f["name"] for f in files}
    summary = job.summary or {}
    images = [n for n in ("manhattan.png", "qq.png", "pca_pc1_pc2.png", "pca_pc3_pc4.png") if n in names]
    out: dict[str, Any] = {"images": images, "svg": {n: n[:-4] + ".svg" for n in images if n[:-4] + ".svg" in names}}
    if job.kind == "gwas":
        out["top_hits"] = summary.get("top_hits") or []
    elif job.kind == "frequencies" and f"{gj.FREQUENCIES_STEM}.parquet" in names:
        out["frequencies"], out["truncated"] = frequency_rows(Path(job.path) / f"{gj.FREQUENCIES_STEM}.parquet",
                                                              TABLE_ROWS)
    elif job.kind == "phewas":
        table = next((n for n in sorted(names) if n.endswith(".parquet")), None)
        if table is not None:
            out["table"], out["truncated"] = table_rows(Path(job.path) / table, TABLE_ROWS)
    return out


def frequency_rows(path: Path, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """One row per variant (the first ``limit``), with each ancestry group's counts and frequency."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    rows: dict[int, dict[str, Any]] = {}
    for row in table.to_pylist():
        variant = rows.get(row["variant_index"])
        if variant is None:
            if len(rows) >= limit:
                return list(rows.values()), True
            variant = rows[row["variant_index"]] = {"variant_id": row["variant_id"], "rsid": row["rsid"],
                                                    "gene": row["gene"], "groups": {}}
        variant["groups"][row["ancestry"]] = {"ac": row["allele_count"], "an": row["allele_number"],
                                              "hom": row["homozygote_count"], "af": row["allele_frequency"]}
    return list(rows.values()), False


def table_rows(path: Path, limit: int) -> tuple[dict[str, Any], bool]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return {"columns": table.column_names, "rows": table.slice(0, limit).to_pylist()}, table.num_rows > limit
