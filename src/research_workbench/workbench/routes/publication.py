"""The publication check page of a workspace: paste or choose a results table (CSV, TSV) or a notebook (.ipynb) and
see, before anything leaves, each count from 1 to 19 and each table that lets a reader recover one by subtraction
(``research_workbench.publication``: the same check as ``workbench publication check`` and the SDK's
``publication_check``). Any member may use it; nothing is stored and nothing is audited (no participant data is
read: only what the researcher pastes)."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse

from ...cdr.problems import Problem
from ...publication import DEFAULT_THRESHOLD, Report, check_file
from ...web import SecureRouter
from ...workspaces.roles import Role
from ..forms import FieldErrors, FormTooLarge
from ..guards import Access, requires
from ..rendering import page
from .resources import member

router = SecureRouter(include_in_schema=False)
REGISTERED = [requires(Access.REGISTERED)]
MAX_BYTES = 5_000_000  # a notebook with its outputs; the page refuses more on arrival
FORMATS = {"csv": "A table as CSV", "tsv": "A table as TSV (tab-separated)", "ipynb": "A Jupyter notebook (.ipynb)"}


def _page(request: Request, namespace: str, *, status: int = 200, values: dict | None = None,
          errors: FieldErrors | None = None, report=None) -> HTMLResponse:
    with request.app.state.services.db.reading() as session:
        membership = member(session, request, namespace, Role.READER)
        return page(request, "publication_check.html", status=status, workspace=membership.workspace,
                    role=membership.role, Role=Role, values=values or {"format": "csv", "content": ""},
                    errors=errors or FieldErrors(), report=report, formats=list(FORMATS.items()),
                    threshold=DEFAULT_THRESHOLD, max_bytes=MAX_BYTES)


def _named(report: Report, temporary: str, shown: str) -> Report:
    """The report with the server's temporary path replaced by the name shown (no server path reaches a page)."""
    return Report(shown, report.threshold,
                  [replace(f, where=f.where.replace(temporary, shown)) for f in report.findings],
                  [u.replace(temporary, shown) for u in report.unchecked])


@router.get("/workspaces/{namespace}/publication-check", response_class=HTMLResponse, dependencies=REGISTERED)
def publication_form(request: Request, namespace: str):
    """The form: what to check, pasted or read from a file."""
    return _page(request, namespace)


@router.post("/workspaces/{namespace}/publication-check", response_class=HTMLResponse, dependencies=REGISTERED)
async def publication_check(request: Request, namespace: str):
    """The findings, each with its place (row and column, or cell, output and line) and what to do."""
    with request.app.state.services.db.reading() as session:
        member(session, request, namespace, Role.READER)  # the role first: a non-member's body is never read
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > 3 * MAX_BYTES:
        raise FormTooLarge(f"what you sent is larger than {MAX_BYTES:,} bytes")
    form = await request.form(max_files=0, max_fields=5, max_part_size=3 * MAX_BYTES)
    values = {k: form.get(k) if isinstance(form.get(k), str) else "" for k in ("format", "content")}
    problems: list[Problem] = []
    if values["format"] not in FORMATS:
        problems.append(Problem(f"choose one of {', '.join(FORMATS)}", "format"))
    if not values["content"].strip():
        problems.append(Problem("paste the table or notebook, or choose its file", "content"))
    elif len(values["content"].encode()) > MAX_BYTES:
        problems.append(Problem(f"at most {MAX_BYTES:,} bytes", "content"))
    report = None
    if not problems:
        with tempfile.TemporaryDirectory(prefix="publication-check-") as folder:
            path = Path(folder) / f"pasted.{values['format']}"
            path.write_text(values["content"], encoding="utf-8")
            try:
                report = _named(check_file(path), str(path), path.name)
            except (ValueError, OSError) as err:  # a bad row or a notebook that is not JSON: named, not a 500
                problems.append(Problem(str(err).replace(str(path), "what you pasted"), "content"))
    if problems:
        return _page(request, namespace, status=422, values=values, errors=FieldErrors.of_problems(problems))
    return _page(request, namespace, values=values, report=report)
