"""OHDSI (ATLAS) cohorts in a workspace: import by file or pasted text, the run page's counts and inclusion-rule report
(the executor's own, on GiBleed), and refused input with its JSON path or line and column, nothing created."""

from __future__ import annotations

import html
import json
import re

from sqlalchemy import func, select

from research_workbench.cohorts.circe import run_circe
from research_workbench.state.models import Resource

from .cohort_data import add_workspace, register_data_version
from .conftest import ALL_RT, make_user


def csrf_token(client, path: str) -> str:
    return re.search(r'name="csrftoken" value="([^"]+)"', client.get(path).text).group(1)


def upload(client, *, name: str, text: str):
    path = "/workspaces/study/cohorts/import"
    data = {"csrftoken": csrf_token(client, path), "name": name, "description": "", "definition": text}
    return client.post(path, data=data, follow_redirects=False)


def test_an_atlas_file_is_imported_and_its_page_shows_the_inclusion_rule_report(wb, gibleed_dir, gibleed_cdr):
    owner = make_user(wb, "owner@state.edu", modules=ALL_RT)
    add_workspace(wb, "study", register_data_version(wb, gibleed_cdr), {"owner@state.edu": "OWNER"})
    client = owner.sign_in()
    definition = (gibleed_dir / "cohorts" / "celecoxibAge40Male.json").read_text()
    r = upload(client, name="Celecoxib, men over 40", text=definition)
    assert r.status_code == 303, r.text[:2000]
    page = client.get(r.headers["location"])
    assert page.status_code == 200
    expected = run_circe(json.loads(definition), gibleed_cdr)
    assert f'<dd id="subject-count">{expected.subject_count:,}</dd>' in page.text
    rows = re.findall(r"<tr><th scope=\"row\">(\d)\. ([^<]+)</th><td class=\"num\">([\d,]+)</td><td class=\"num\">([\d,]+)</td>"
                      r"<td class=\"num\">([\d,]+)</td>", page.text)
    assert [(html.unescape(name), int(passing.replace(",", "")), int(remaining.replace(",", "")), int(lost.replace(",", "")))
            for _, name, passing, remaining, lost in rows] == [
        (r.name, r.persons_passing, r.persons_remaining, r.persons_lost) for r in expected.inclusion_rules]
    assert [name for _, name, *_ in rows] == ["Age &gt; 40", "Gender = MALE"]
    with wb.db.session() as session:
        resource = session.scalar(select(Resource))
        assert (resource.kind, resource.name) == ("cohort", "Celecoxib, men over 40")
    shown = client.get(f"/workspaces/study/resources/{resource.id}")
    assert "OHDSI (ATLAS) cohort definition" in shown.text and "2 inclusion rules: Age &gt; 40; Gender = MALE" in shown.text


def test_refused_imports_name_the_json_path_or_line_and_create_nothing(wb, gibleed_cdr):
    owner = make_user(wb, "owner@state.edu", modules=ALL_RT)
    add_workspace(wb, "study", register_data_version(wb, gibleed_cdr), {"owner@state.edu": "OWNER"})
    client = owner.sign_in()
    broken = upload(client, name="Broken", text='{"PrimaryCriteria": {\n  "CriteriaList": [,]}}')
    assert broken.status_code == 422 and "line 2, column" in broken.text
    invalid = upload(client, name="Invalid", text=json.dumps({"ConceptSets": [], "PrimaryCriteria": {"CriteriaList": [
        {"ConditionOccurrence": {"CodesetId": 7}}]}}))
    assert invalid.status_code == 422 and "PrimaryCriteria.CriteriaList[0].ConditionOccurrence.CodesetId" in invalid.text
    empty = upload(client, name="Empty", text="")
    assert empty.status_code == 422 and "paste the cohort" in empty.text
    with wb.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Resource)) == 0
