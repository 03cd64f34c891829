"""Downloads of participant-level data, as a request sees them: refused past the user's daily limit
(``accounts.egress``), and named so that the audit log counts them — reads by a notebook's kernels stay inside the
Workbench and are recorded under their own purpose, which the limit does not count."""

from __future__ import annotations

from fastapi import Request

from ..accounts import egress

IN_NOTEBOOK = "_in_notebook"


def refusal(request: Request) -> str | None:
    """Why this request may not download participant-level data now (None: it may)."""
    services, viewer = request.app.state.services, request.state.viewer
    if egress.is_kernel_token(viewer.token):
        return None
    with services.db.reading() as session:
        return egress.refusal(session, viewer.user.id, services.now(), services.config.egress_downloads_per_day)


def purpose(request: Request, download_purpose: str) -> str:
    """The audit purpose of this read: the download's own, or ``…_in_notebook`` for a notebook's kernels."""
    return download_purpose + IN_NOTEBOOK if egress.is_kernel_token(request.state.viewer.token) else download_purpose
