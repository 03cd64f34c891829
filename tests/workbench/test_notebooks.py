"""Notebooks: the files (exact results, names refused), the preview (sanitised), roles, locks, tickets, and the
notebook host's proxy (no session → refused, the Workbench's cookie refused, the Jupyter token never returned)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import delete, select

from research_workbench.state.models import ApiToken, AuditEvent, Workspace, WorkspaceMember
from research_workbench.workspaces import notebooks as nb

from .cohort_data import add_workspace, register_data_version
from .conftest import ALL_RT, START, make_user
from .conftest import post as form_post

NOTEBOOK_ORIGIN = "http://localhost:8001"


def post(client, path: str, data: dict, *, form_page: str = "/workspaces"):
    """A form post with the client's CSRF token (any page with a form gives it)."""
    return form_post(client, path, data, form_page=form_page)


def names(root: Path, namespace: str = "study") -> list[str]:
    return [n.name for n in nb.list_notebooks(root, namespace, now=START)]


# -- the files --------------------------------------------------------------------------------------------------

def test_create_rename_duplicate_delete_with_exact_results(tmp_path):
    assert nb.list_notebooks(tmp_path, "study", now=START) == [] and not (tmp_path / "study").exists()
    made = nb.create(tmp_path, "study", "Analysis", "python", by="ada@state.edu", now=START)
    assert (made.name, made.language, made.modified_by, made.lock) == ("Analysis.ipynb", "python", "ada@state.edu", None)
    content = json.loads((tmp_path / "study" / "Analysis.ipynb").read_text())
    assert content["metadata"]["kernelspec"] == {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                                 "language": "python"}
    assert [c["cell_type"] for c in content["cells"]] == ["code"]
    r = nb.create(tmp_path, "study", "Stats.ipynb", "r", by="bob@state.edu", now=START)
    assert (r.name, r.language_label) == ("Stats.ipynb", "R")
    assert names(tmp_path) == ["Analysis.ipynb", "Stats.ipynb"]

    renamed = nb.rename(tmp_path, "study", "Analysis.ipynb", "Final", user_id=1, by="cy@state.edu", now=START)
    assert (renamed.name, renamed.modified_by, renamed.language) == ("Final.ipynb", "cy@state.edu", "python")
    assert nb.duplicate(tmp_path, "study", "Final.ipynb", by="cy@state.edu", now=START).name == "Final copy.ipynb"
    assert nb.duplicate(tmp_path, "study", "Final.ipynb", by="cy@state.edu", now=START).name == "Final copy 2.ipynb"
    assert nb.duplicate(tmp_path, "study", "Final.ipynb", "Mine", by="cy@state.edu", now=START).name == "Mine.ipynb"
    assert names(tmp_path) == ["Final copy 2.ipynb", "Final copy.ipynb", "Final.ipynb", "Mine.ipynb", "Stats.ipynb"]

    trashed = nb.delete(tmp_path, "study", "Final copy.ipynb", user_id=1, now=START)
    assert trashed == tmp_path / "study" / ".trash" / "20260302T090000.000000 Final copy.ipynb" and trashed.is_file()
    assert names(tmp_path) == ["Final copy 2.ipynb", "Final.ipynb", "Mine.ipynb", "Stats.ipynb"]
    with pytest.raises(nb.NotebookNotFound):
        nb.delete(tmp_path, "study", "Final copy.ipynb", user_id=1, now=START)


@pytest.mark.parametrize("name, message", [
    ("", "give the notebook a name"),
    ("   .ipynb", "give the notebook a name"),
    ("a/b", "a name cannot hold / \\ : * ? \" < > | or control characters"),
    ("..\\up", "a name cannot hold / \\ : * ? \" < > | or control characters"),
    ("tab\there", "a name cannot hold / \\ : * ? \" < > | or control characters"),
    (".hidden", "a name cannot start with a dot"),
    ("x" * 95, "at most 94 characters"),
    (None, "give the notebook a name"),
])
def test_bad_names_are_refused(tmp_path, name, message):
    with pytest.raises(nb.NotebookError) as err:
        nb.create(tmp_path, "study", name, "python", by="a@state.edu", now=START)
    assert [(p.message, p.where) for p in err.value.problems] == [(message, "name")]
    assert names(tmp_path) == []


def test_a_taken_name_is_refused_whatever_its_case_and_nothing_is_overwritten(tmp_path):
    nb.create(tmp_path, "study", "Analysis", "python", by="a@state.edu", now=START)
    before = (tmp_path / "study" / "Analysis.ipynb").read_bytes()
    for name in ("Analysis", "analysis.IPYNB", " ANALYSIS "):
        with pytest.raises(nb.NotebookError) as err:
            nb.create(tmp_path, "study", name, "r", by="b@state.edu", now=START)
        assert err.value.problems[0].where == "name" and "already exists" in err.value.problems[0].message
    nb.create(tmp_path, "study", "Other", "python", by="a@state.edu", now=START)
    with pytest.raises(nb.NotebookError) as err:
        nb.rename(tmp_path, "study", "Other.ipynb", "analysis", user_id=1, by="a", now=START)
    assert [(p.message, p.where) for p in err.value.problems] == [
        ("a notebook named 'analysis.ipynb' already exists in this workspace", "new_name")]
    with pytest.raises(nb.NotebookError):
        nb.rename(tmp_path, "study", "Other.ipynb", "sub/dir", user_id=1, by="a", now=START)
    assert (tmp_path / "study" / "Analysis.ipynb").read_bytes() == before
    assert names(tmp_path) == ["Analysis.ipynb", "Other.ipynb"]
    with pytest.raises(nb.NotebookError) as err:
        nb.create(tmp_path, "study", "Third", "julia", by="a", now=START)
    assert [(p.message, p.where) for p in err.value.problems] == [("choose Python or R", "language")]
    with pytest.raises(nb.NotebookNotFound):  # a path in a URL never reaches outside the folder
        nb.get(tmp_path, "study", "../study/Analysis.ipynb", now=START)
    with pytest.raises(ValueError):
        nb.folder(tmp_path, "../etc")


def test_write_notebook_keeps_its_signature_and_checks_cells(tmp_path):
    path = nb.write_notebook(tmp_path, "study", "Export", [("markdown", "# Dataset"), ("code", "x = 1")], "python")
    assert path == tmp_path / "study" / "Export.ipynb"
    cells = json.loads(path.read_text())["cells"]
    assert [(c["cell_type"], "".join(c["source"])) for c in cells] == [("markdown", "# Dataset"), ("code", "x = 1")]
    with pytest.raises(nb.NotebookError) as err:
        nb.write_notebook(tmp_path, "study", "Bad", [("raw", "x"), ("code", 3), "nope"], "python")
    assert [(p.message, p.where) for p in err.value.problems] == [
        ("a cell is 'markdown' or 'code', not 'raw'", "cells[0]"), ("a cell's source is text", "cells[1]"),
        ("a cell is a (kind, source) pair", "cells[2]")]
    with pytest.raises(nb.NotebookError):
        nb.write_notebook(tmp_path, "study", "Export", [], "python")  # taken
    assert names(tmp_path) == ["Export.ipynb"]


def test_copy_to_another_workspace_follows_the_tier_rule(tmp_path):
    def ws(id_, namespace, tier, release):
        return SimpleNamespace(id=id_, namespace=namespace, name=namespace.title(), tier=tier,
                               data_version=SimpleNamespace(release_number=release, name=f"R{release}"))

    study, newer, older, controlled = (ws(1, "study", "registered", 2), ws(2, "newer", "registered", 3),
                                       ws(3, "older", "registered", 1), ws(4, "ct", "controlled", 2))
    nb.create(tmp_path, "study", "Analysis", "python", by="a@state.edu", now=START)
    copied = nb.copy_to(tmp_path, study, "Analysis.ipynb", newer, by="b@state.edu", now=START)
    assert (copied.name, copied.modified_by) == ("Analysis.ipynb", "b@state.edu")
    assert (tmp_path / "newer" / "Analysis.ipynb").read_bytes() == (tmp_path / "study" / "Analysis.ipynb").read_bytes()
    with pytest.raises(nb.NotebookError) as err:
        nb.copy_to(tmp_path, study, "Analysis.ipynb", controlled, by="b", now=START)
    assert err.value.problems[0].where == "target" and err.value.problems[0].message.startswith(
        "Ct is a Controlled Tier workspace: resources of a Registered Tier workspace can be copied only")
    with pytest.raises(nb.NotebookError) as err:
        nb.copy_to(tmp_path, study, "Analysis.ipynb", older, by="b", now=START)
    assert "older than this workspace's R2" in err.value.problems[0].message
    with pytest.raises(nb.NotebookError) as err:  # taken in the target
        nb.copy_to(tmp_path, study, "Analysis.ipynb", newer, by="b", now=START)
    assert err.value.problems[0].where == "new_name"
    assert nb.copy_to(tmp_path, study, "Analysis.ipynb", newer, "Second", by="b", now=START).name == "Second.ipynb"
    assert names(tmp_path, "ct") == [] and names(tmp_path, "older") == []


def test_the_preview_is_sanitised(tmp_path):
    from nbformat import v4, writes

    book = v4.new_notebook()
    book.cells = [
        v4.new_markdown_cell("# Results\n\n<script>alert('md')</script>\n\n<a href=\"javascript:alert(2)\">x</a>"),
        v4.new_code_cell("show()", outputs=[
            v4.new_output("stream", name="stdout", text="plain 42\n"),
            v4.new_output("display_data", data={"text/html": "<b onclick='steal()'>bold</b><script>evil()</script>"
                                                            "<img src=x onerror=alert(3)><iframe src='//x'></iframe>"
                                                            "<style>body{display:none}</style>",
                                                "text/plain": "b"}),
            v4.new_output("display_data", data={"application/javascript": "alert(4)"}),
            v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}),
        ])]
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "Evil.ipynb").write_text(writes(book))
    html = nb.preview_html(tmp_path, "study", "Evil.ipynb")
    for bad in ("<script", "alert(", "evil()", "onclick", "onerror", "javascript:", "<iframe", "<style", "<img",
                "display:none", "steal"):
        assert bad not in html, bad
    assert "<b>bold</b>" in html and "plain 42" in html and "Results" in html and nb.IMAGE_PLACEHOLDER in html


def test_locks_one_holder_expiry_renewal_and_release(tmp_path):
    nb.create(tmp_path, "study", "Analysis", "python", by="a@state.edu", now=START)
    lock = nb.acquire(tmp_path, "study", "Analysis.ipynb", user_id=1, who="a@state.edu", now=START)
    assert (lock.user_id, lock.since, lock.expires) == (1, START, START + nb.LOCK_TTL)
    with pytest.raises(nb.NotebookLocked) as err:
        nb.acquire(tmp_path, "study", "Analysis.ipynb", user_id=2, who="b@state.edu", now=START + timedelta(minutes=1))
    assert str(err.value) == ("Analysis.ipynb is in use by a@state.edu since 2 Mar 2026 09:00 UTC: open a copy or "
                              "read the preview.")
    for refused in (lambda: nb.rename(tmp_path, "study", "Analysis.ipynb", "X", user_id=2, by="b", now=START),
                    lambda: nb.delete(tmp_path, "study", "Analysis.ipynb", user_id=2, now=START)):
        with pytest.raises(nb.NotebookLocked):
            refused()
    assert [n.lock.who for n in nb.list_notebooks(tmp_path, "study", now=START)] == ["a@state.edu"]
    later = START + nb.LOCK_TTL - timedelta(seconds=1)
    assert nb.renew(tmp_path, "study", 1, now=later) == 1  # the holder's server still runs
    with pytest.raises(nb.NotebookLocked):
        nb.acquire(tmp_path, "study", "Analysis.ipynb", user_id=2, who="b@state.edu", now=later + timedelta(minutes=5))
    # Not renewed (the server died with the Workbench): free after LOCK_TTL.
    free_at = later + nb.LOCK_TTL
    assert nb.lock_of(tmp_path, "study", "Analysis.ipynb", now=free_at) is None
    taken = nb.acquire(tmp_path, "study", "Analysis.ipynb", user_id=2, who="b@state.edu", now=free_at)
    assert taken.user_id == 2 and taken.since == free_at
    # Released when the server stops: the holder is recorded as who changed what they held.
    path = tmp_path / "study" / "Analysis.ipynb"
    path.write_text(path.read_text().replace('"cells": [', '"cells": [ '))
    assert nb.release(tmp_path, "study", 2, now=free_at) == ["Analysis.ipynb"]
    (listed,) = nb.list_notebooks(tmp_path, "study", now=free_at)
    assert (listed.lock, listed.modified_by) == (None, "b@state.edu")


def test_tickets_are_one_time_and_expire():
    from research_workbench.workbench.notebooks.tickets import TICKET_TTL, TicketBook

    book = TicketBook()
    plain = book.mint(user_id=1, who="a", namespace="study", notebook="A.ipynb", session_id="s1", now=START)
    ticket = book.redeem(plain, now=START + timedelta(seconds=5))
    assert (ticket.user_id, ticket.namespace, ticket.notebook, ticket.session_id) == (1, "study", "A.ipynb", "s1")
    assert book.redeem(plain, now=START + timedelta(seconds=6)) is None  # used
    late = book.mint(user_id=1, who="a", namespace="study", notebook="A.ipynb", session_id="s1", now=START)
    assert book.redeem(late, now=START + TICKET_TTL) is None  # expired
    assert book.redeem("", now=START) is None and book.redeem("x" * 500, now=START) is None
    cookie, session = book.start_session(ticket, now=START)
    assert book.session(cookie, now=START) is session and session.namespaces == {"study"}
    assert book.session(cookie + "x", now=START) is None


# -- the pages and the proxy ------------------------------------------------------------------------------------

@pytest.fixture
def nbws(make_workbench, tmp_path):
    """A Workbench with a notebook host (localhost), workspace ``study`` (owner, writer, reader) and ``other``
    (the owner's), and an outsider; stops every notebook server afterwards."""
    wb = make_workbench(notebook_host="localhost", notebooks_dir=str(tmp_path / "notebooks"))
    people = {e: make_user(wb, e, modules=ALL_RT) for e in ("owner@state.edu", "writer@state.edu",
                                                           "reader@state.edu", "outsider@state.edu")}
    dv = register_data_version(wb, tmp_path / "no-cdr")
    add_workspace(wb, "study", dv, {"owner@state.edu": "OWNER", "writer@state.edu": "WRITER",
                                    "reader@state.edu": "READER"})
    add_workspace(wb, "other", dv, {"owner@state.edu": "OWNER", "outsider@state.edu": "OWNER"})
    clients = {e.split("@")[0]: p.sign_in() for e, p in people.items()}
    yield SimpleNamespace(wb=wb, root=tmp_path / "notebooks", **clients)
    wb.app.state.notebooks.close()


def audit_actions(wb) -> list[str]:
    with wb.db.session() as session:
        return [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]


def test_pages_by_role(nbws):
    owner, reader, outsider = nbws.owner, nbws.reader, nbws.outsider
    r = post(owner, "/workspaces/study/notebooks", {"name": "Analysis", "language": "python"})
    assert r.status_code == 303 and r.headers["location"] == "/workspaces/study/notebooks/Analysis.ipynb"
    page = owner.get("/workspaces/study/notebooks")
    assert page.status_code == 200 and "Analysis.ipynb" in page.text and 'id="new"' in page.text
    assert "by owner@state.edu" in page.text and "Open Analysis in JupyterLab" in page.text
    bad = post(owner, "/workspaces/study/notebooks", {"name": "a/b", "language": "python"})
    assert bad.status_code == 422 and "a name cannot hold" in bad.text
    bad = post(owner, "/workspaces/study/notebooks", {"name": "analysis", "language": "python"})
    assert bad.status_code == 422 and "already exists" in bad.text
    bad = post(owner, "/workspaces/study/notebooks", {"name": "B", "language": "cobol"})
    assert bad.status_code == 422 and names(nbws.root) == ["Analysis.ipynb"]

    listed = reader.get("/workspaces/study/notebooks")
    assert listed.status_code == 200 and "Analysis.ipynb" in listed.text and 'id="new"' not in listed.text
    assert "Open Analysis" not in listed.text
    preview = reader.get("/workspaces/study/notebooks/Analysis.ipynb")
    assert preview.status_code == 200 and 'id="preview"' in preview.text and "Rename" not in preview.text
    form = "/workspaces/study/notebooks/Analysis.ipynb"
    for action, data in (("rename", {"new_name": "X"}), ("delete", {}), ("open", {}), ("duplicate", {}),
                         ("copy", {"target": "other"})):
        assert post(reader, f"{form}/{action}", data, form_page=form).status_code == 403, action
    assert post(reader, "/workspaces/study/notebooks", {"name": "R", "language": "python"},
                form_page=form).status_code == 403
    for path in ("/workspaces/study/notebooks", form):
        assert outsider.get(path).status_code == 404
    assert post(outsider, f"{form}/open", {}, form_page="/workspaces/other/notebooks").status_code == 404
    assert owner.get("/workspaces/study/notebooks/Missing.ipynb").status_code == 404
    assert names(nbws.root) == ["Analysis.ipynb"]

    r = post(owner, f"{form}/rename", {"new_name": "Final"})
    assert r.status_code == 303 and r.headers["location"] == "/workspaces/study/notebooks/Final.ipynb"
    form = "/workspaces/study/notebooks/Final.ipynb"
    assert post(owner, f"{form}/duplicate", {"new_name": ""}).headers["location"].endswith("/Final%20copy.ipynb")
    r = post(owner, f"{form}/copy", {"target": "other", "copy_name": ""})
    assert r.status_code == 303 and r.headers["location"] == "/workspaces/other/notebooks/Final.ipynb"
    r = post(owner, f"{form}/copy", {"target": "other", "copy_name": ""})
    assert r.status_code == 422 and "already exists" in r.text
    assert post(owner, f"{form}/delete", {}).headers["location"] == "/workspaces/study/notebooks"
    assert names(nbws.root) == ["Final copy.ipynb"] and names(nbws.root, "other") == ["Final.ipynb"]
    assert [a for a in audit_actions(nbws.wb) if a.startswith("notebook")] == ["notebook_copied", "notebook_deleted"]


def test_a_second_person_sees_the_lock_and_cannot_take_it(nbws):
    owner = nbws.wb.user("owner@state.edu")
    nb.create(nbws.root, "study", "Analysis", "python", by="owner@state.edu", now=START)
    now = nbws.wb.clock.now
    nb.acquire(nbws.root, "study", "Analysis.ipynb", user_id=owner.id, who="owner@state.edu", now=now)
    form = "/workspaces/study/notebooks/Analysis.ipynb"
    since = f"{now:%-d %b %Y %H:%M} UTC"
    assert since == "2 Mar 2026 09:02 UTC"  # the sign-ins moved the clock on
    message = f"Analysis.ipynb is in use by owner@state.edu since {since}: open a copy or read the preview."
    listed = nbws.writer.get("/workspaces/study/notebooks")
    assert f"In use by owner@state.edu</strong> since {since}" in listed.text
    assert "Open Analysis in JupyterLab" not in listed.text
    for action in ("open", "rename", "delete"):
        r = post(nbws.writer, f"{form}/{action}", {"new_name": "Mine"})
        assert r.status_code == 409 and message in r.text.replace("&#39;", "'"), action
    assert nbws.wb.app.state.notebooks.spawner.servers() == []
    r = post(nbws.writer, f"{form}/duplicate", {"new_name": ""})  # a copy is theirs to open
    assert r.status_code == 303
    assert names(nbws.root) == ["Analysis copy.ipynb", "Analysis.ipynb"]


def test_the_notebook_host_refuses_without_its_own_session(nbws):
    wb = nbws.wb
    anonymous = wb.client()
    for path in ("/notebooks/1/study/lab", "/notebooks/1/study/api/contents", "/workspaces", "/", "/signin",
                 "/notebooks/enter?ticket=forged"):
        r = anonymous.get(NOTEBOOK_ORIGIN + path)
        assert r.status_code in (403, 404), path
        assert "rw_session" not in r.headers.get("set-cookie", "") and "csrftoken" not in r.headers.get("set-cookie", "")
    # The Workbench's session cookie (a signed-in owner's) is not a notebook session.
    session = nbws.owner.cookies.get("rw_session")
    assert session
    r = anonymous.get(NOTEBOOK_ORIGIN + "/notebooks/1/study/lab", headers={"cookie": f"rw_session={session}"})
    assert r.status_code == 403 and "Open notebooks from the Workbench" in r.text
    page = nbws.owner.get(NOTEBOOK_ORIGIN + "/workspaces")  # no Workbench page on this host, signed in or not
    assert page.status_code == 404 and "Not found" in page.text and "Study" not in page.text
    # The Workbench host still answers as before.
    assert nbws.owner.get("/workspaces/study/notebooks").status_code == 200


def test_open_in_jupyterlab_through_the_proxy(nbws):
    wb, owner, writer = nbws.wb, nbws.owner, nbws.writer
    books = wb.app.state.notebooks
    nb.create(nbws.root, "study", "Analysis", "python", by="owner@state.edu", now=START)
    nb.create(nbws.root, "study", "Other", "python", by="owner@state.edu", now=START)
    form = "/workspaces/study/notebooks/Analysis.ipynb"
    r = post(owner, f"{form}/open", {})
    assert r.status_code == 303, r.text[:2000]
    location = r.headers["location"]
    assert re.fullmatch(re.escape(NOTEBOOK_ORIGIN) + r"/notebooks/enter\?ticket=[A-Za-z0-9_-]{43}", location)
    owner_id = wb.user("owner@state.edu").id
    server = books.spawner.running(owner_id, "study")
    token = server.token
    seen = []

    entered = owner.get(location)
    seen.append(entered)
    assert entered.status_code == 200
    cookie = entered.headers["set-cookie"]
    assert cookie.startswith("rw_notebooks=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    lab = f"/notebooks/{owner_id}/study/lab/tree/Analysis.ipynb"
    assert f'url={lab}"' in entered.text
    again = wb.client().get(location)  # the ticket is used up
    assert again.status_code == 403 and "This link has expired" in again.text

    page = owner.get(NOTEBOOK_ORIGIN + lab)
    seen.append(page)
    assert page.status_code == 200 and "jupyter-config-data" in page.text and '"token": ""' in page.text
    contents = owner.get(NOTEBOOK_ORIGIN + f"/notebooks/{owner_id}/study/api/contents/Analysis.ipynb")
    seen.append(contents)
    assert contents.status_code == 200 and contents.json()["name"] == "Analysis.ipynb"
    seen.append(owner.get(NOTEBOOK_ORIGIN + f"/notebooks/{owner_id}/study/api/status"))
    for response in seen:
        assert token not in response.text and all(token not in v for v in response.headers.values())
    # Without the notebook cookie, or for another user's path: refused.
    assert wb.client().get(NOTEBOOK_ORIGIN + lab).status_code == 403
    assert owner.get(NOTEBOOK_ORIGIN + f"/notebooks/{owner_id + 1}/study/lab").status_code == 403
    # A cross-origin write is refused before it reaches JupyterLab.
    r = owner.put(NOTEBOOK_ORIGIN + f"/notebooks/{owner_id}/study/api/contents/Analysis.ipynb",
                  headers={"origin": "http://127.0.0.1:8001"}, json={"type": "notebook"})
    assert r.status_code == 403

    # The writer opens another notebook; saving the owner's from their JupyterLab is refused with the lock.
    r = post(writer, "/workspaces/study/notebooks/Other.ipynb/open", {})
    assert r.status_code == 303
    assert writer.get(r.headers["location"]).status_code == 200
    writer_id = wb.user("writer@state.edu").id
    body = contents.json()
    saved = writer.put(NOTEBOOK_ORIGIN + f"/notebooks/{writer_id}/study/api/contents/Analysis.ipynb",
                       headers={"origin": NOTEBOOK_ORIGIN},
                       json={"type": "notebook", "format": "json", "content": body["content"]})
    assert saved.status_code == 423
    assert saved.json()["message"].startswith("Analysis.ipynb is in use by owner@state.edu since")
    mine = writer.put(NOTEBOOK_ORIGIN + f"/notebooks/{writer_id}/study/api/contents/Other.ipynb",
                      headers={"origin": NOTEBOOK_ORIGIN},
                      json={"type": "notebook", "format": "json", "content": body["content"]})
    assert mine.status_code == 200, mine.text
    assert [(n.name, n.lock.who) for n in nb.list_notebooks(nbws.root, "study", now=wb.clock.now)] == [
        ("Analysis.ipynb", "owner@state.edu"), ("Other.ipynb", "writer@state.edu")]

    # A member removed from the workspace is cut off at the next check.
    with wb.db.session() as session:
        session.execute(delete(WorkspaceMember).where(WorkspaceMember.user_id == writer_id))
    wb.app.notebook_proxy._checked.clear()
    assert writer.get(NOTEBOOK_ORIGIN + f"/notebooks/{writer_id}/study/api/status").status_code == 403

    # The kernels' API token: minted for the server, revoked when it stops; the locks go with it.
    with wb.db.session() as session:
        row = session.get(ApiToken, server.api_token_id)
        assert (row.user_id, row.scopes, row.revoked_at) == (owner_id, ["data:read", "workspaces:read"], None)
        study_id = session.scalar(select(Workspace.id).where(Workspace.namespace == "study"))
        assert row.workspace_id == study_id  # the kernels reach this workspace only
    assert books.spawner.stop(owner_id, "study")
    with wb.db.session() as session:
        assert session.get(ApiToken, server.api_token_id).revoked_at is not None
    assert nb.lock_of(nbws.root, "study", "Analysis.ipynb", now=wb.clock.now) is None
    assert owner.get(NOTEBOOK_ORIGIN + lab).status_code == 404  # not running any more
    actions = [a for a in audit_actions(wb) if a.startswith("notebook")]
    assert actions == ["notebook_server_started", "notebook_opened", "notebook_server_started", "notebook_opened"]


def test_the_workbench_refuses_a_notebook_host_that_is_its_own(make_workbench, tmp_path):
    from research_workbench.accounts.config import WorkbenchConfigError

    with pytest.raises(WorkbenchConfigError) as err:
        make_workbench(notebook_host="127.0.0.1", notebooks_dir=str(tmp_path / "n"))
    assert err.value.problems[0].where == "notebook_host"
    with pytest.raises(WorkbenchConfigError):
        make_workbench(notebook_host="local host:80", notebooks_dir=str(tmp_path / "n"))


def test_without_a_notebook_host_notebooks_are_listed_not_opened(make_workbench, tmp_path):
    wb = make_workbench(notebooks_dir=str(tmp_path / "notebooks"))
    owner = make_user(wb, "owner@state.edu", modules=ALL_RT)
    add_workspace(wb, "study", register_data_version(wb, tmp_path / "cdr"), {"owner@state.edu": "OWNER"})
    client = owner.sign_in()
    nb.create(tmp_path / "notebooks", "study", "Analysis", "python", by="x", now=START)
    page = client.get("/workspaces/study/notebooks")
    assert page.status_code == 200 and 'id="no-jupyterlab"' in page.text and "Open Analysis" not in page.text
    r = post(client, "/workspaces/study/notebooks/Analysis.ipynb/open", {})
    assert r.status_code == 409 and "JupyterLab is not set up" in r.text
    assert wb.client().get("http://localhost:8001/notebooks/1/study/lab").status_code != 403  # the Workbench's own
