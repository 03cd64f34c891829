"""The daily limit on downloads of participant-level data: dataset tables and review exports count, previews and a
notebook's kernels do not; past the limit a download is refused saying when it resets; an administrator allows
more with a reason (audited); the next UTC day starts again. The limit here is 2 a day."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from research_workbench.accounts import api_tokens, egress
from research_workbench.state.models import AuditEvent, User

from .cohort_data import cohort_ws, fixture_cdr  # noqa: F401
from .conftest import ALL_RT, make_user, post
from .test_dataset_api import dataset, writer  # noqa: F401
from .test_reviews import draw


@pytest.fixture
def wb(make_workbench):
    return make_workbench(egress_downloads_per_day=2)


def data(client, dataset_id: int, table: str = "PERSON"):
    return client.get(f"/api/workspaces/study/datasets/{dataset_id}/data/{table}")


REFUSED = ("You have downloaded participant-level data 2 times today, the daily limit of 2; it resets at 00:00 UTC. "
           "Work on the data in the workspace's notebooks (not counted), or ask an administrator to allow more, "
           "with your reason.")


def test_downloads_past_the_daily_limit_are_refused_and_previews_do_not_count(cohort_ws, dataset):
    cohort, dataset_id = dataset
    client = cohort_ws.client
    for _ in range(3):
        assert client.get(f"/api/workspaces/study/datasets/{dataset_id}/preview", params={"table": "PERSON"}).status_code == 200
    assert data(client, dataset_id).status_code == 200
    review_id, _ = draw(client, cohort, size="2")
    assert client.get(f"/workspaces/study/reviews/{review_id}/export.csv").status_code == 200  # the second download
    refused = data(client, dataset_id, "CONDITION")
    assert (refused.status_code, refused.json()["error"]) == (429, REFUSED)
    page = client.get(f"/workspaces/study/reviews/{review_id}/export.parquet")
    assert page.status_code == 429 and "the daily limit of 2" in page.text
    cohort_ws.wb.clock.advance(days=1)  # a new UTC day
    client = cohort_ws.owner.sign_in()
    assert data(client, dataset_id).status_code == 200


def test_no_one_may_name_a_personal_token_as_a_kernels_token(cohort_ws):
    with cohort_ws.wb.db.session() as session:
        user = session.scalar(select(User).where(User.email == "owner@state.edu"))
        with pytest.raises(api_tokens.TokenError) as refused:
            api_tokens.create_token(session, user, name="Notebook kernels in study", scopes=["data:read"], days=1,
                                    now=cohort_ws.wb.clock.now, pepper=cohort_ws.wb.app.state.services.keys.tokens)
    assert [(p.where, p.message) for p in refused.value.problems] == [
        ("name", "names starting with 'notebook kernels' are kept for notebook servers' kernels")]


def test_a_notebooks_kernels_read_without_counting(cohort_ws, dataset):
    _, dataset_id = dataset
    with cohort_ws.wb.db.session() as session:
        user = session.scalar(select(User).where(User.email == "owner@state.edu"))
        plain, _ = api_tokens.create_token(session, user, name=f"{api_tokens.KERNEL_TOKEN_PREFIX} in study", scopes=[
            "workspaces:read", "data:read"], days=1, now=cohort_ws.wb.clock.now,
            pepper=cohort_ws.wb.app.state.services.keys.tokens, for_kernels=True)
    kernel = cohort_ws.wb.client()
    kernel.headers["authorization"] = f"Bearer {plain}"
    for _ in range(4):
        assert data(kernel, dataset_id).status_code == 200
    with cohort_ws.wb.db.session() as session:
        purposes = [e.details["purpose"] for e in session.scalars(select(AuditEvent).where(
            AuditEvent.action == "participant_access"))]
        assert purposes == ["dataset_read_in_notebook"] * 4
        assert egress.downloads_today(session, user.id, cohort_ws.wb.clock.now) == 0


def test_an_administrator_allows_more_downloads_with_a_reason(cohort_ws, dataset):
    _, dataset_id = dataset
    client = cohort_ws.client
    assert data(client, dataset_id).status_code == data(client, dataset_id).status_code == 200
    assert data(client, dataset_id).status_code == 429
    admin = make_user(cohort_ws.wb, "admin@state.edu", modules=ALL_RT, admin=True).sign_in()
    with cohort_ws.wb.db.session() as session:
        owner = session.scalar(select(User.id).where(User.email == "owner@state.edu"))
    page = f"/admin/users/{owner}"
    assert "Downloads of participant-level data today: 2 of 2." in " ".join(admin.get(page).text.split())
    until = (cohort_ws.wb.clock.now.date() + timedelta(days=2)).isoformat()
    bad = post(admin, f"/admin/users/{owner}/egress", {"downloads": "0", "until": until, "reason": "x"}, form_page=page)
    assert bad.status_code == 422 and "a whole number from 1 to 10,000" in bad.text
    done = post(admin, f"/admin/users/{owner}/egress", {"downloads": "1", "until": until,
                                                        "reason": "Final analysis for the consortium paper"},
                form_page=page)
    assert done.status_code == 303
    assert data(client, dataset_id).status_code == 200
    refused = data(client, dataset_id)
    assert refused.status_code == 429 and "the daily limit of 3" in refused.json()["error"]
    with cohort_ws.wb.db.session() as session:
        granted = session.scalar(select(AuditEvent).where(AuditEvent.action == "egress_allowed"))
        assert (granted.target_user_id, granted.details["downloads"], granted.details["reason"]) == (
            owner, 1, "Final analysis for the consortium paper")
