"""Genomics jobs in the Workbench (``workspaces.genomics_jobs``, ``workbench.genomics_jobs``, the API and the SDK):
a job started through the API runs in the background on the workspace's data version, resolving its saved cohorts
to person ids; it writes its files, records its progress and is audited with the person ids whose genotypes it
read; a participant-level file downloaded is audited and counted against the daily limit (not from a notebook's
kernels); a job is cancelled, or stops when the session or token that started it ends, keeping nothing; a
Registered Tier workspace is refused with the reason, a non-member gets a 404 before any body is read, a reader
cannot start or cancel.

The data is the synthetic program of ``tests/genomics/conftest.py`` (2,000 participants, about half with
genomes), its index's genotype stores, and the Registered Tier's index of the same release.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from research_workbench.accounts import api_tokens, egress
from research_workbench.cohorts.builder.engine import CohortEngine
from research_workbench.cohorts.builder.model import parse_definition
from research_workbench.genomics.store import GenotypeStore
from research_workbench.sdk import Workbench as Sdk
from research_workbench.sdk import WorkbenchError
from research_workbench.state.models import (
    ApiToken, AuditEvent, DataVersion, GenomicsJob, User, Workspace, WorkspaceMember,
)

from ..synthetic_genomes import synthetic_genomes
from .cohort_data import add_workspace
from .conftest import make_user
from .test_resources import token
from .test_workspace_matrix import CT_MODULES

WOMEN = {"includes": [{"id": "g1", "items": [{"id": "i1", "type": "PERSON", "searchParameters": [
    {"parameterId": "p1", "domain": "PERSON", "type": "GENDER", "conceptId": 8532}]}]}]}
MEN = {"includes": [{"id": "g1", "items": [{"id": "i1", "type": "PERSON", "searchParameters": [
    {"parameterId": "p1", "domain": "PERSON", "type": "GENDER", "conceptId": 8507}]}]}]}
ENDED = ("done", "failed", "cancelled")
MEMBERS = {"owner@citylab.org": "OWNER", "writer@citylab.org": "WRITER", "reader@citylab.org": "READER"}


@dataclass
class GenomicsWorkspace:
    wb: object
    index: Path
    personas: dict
    cohorts: dict[str, int]  # name → resource id

    def api(self, email: str = "owner@citylab.org", *scopes: str):
        return token(self.wb, email, *(scopes or ("data:read", "workspaces:read")))

    def members(self, definition: dict) -> list[int]:
        """The cohort's participants with whole genomes, computed here from the engine and the store."""
        engine = CohortEngine(self.index)
        try:
            persons = np.array(sorted(engine.cohort_persons(parse_definition(definition))), dtype=np.int64)
        finally:
            engine.close()
        return np.intersect1d(persons, GenotypeStore.open(self.index).samples).tolist()

    @property
    def services(self):
        return self.wb.app.state.services


def register(wb, name: str, tier: str, cdr: Path, index: Path) -> int:
    with wb.db.session() as session:
        row = DataVersion(name=name, tier=tier, release_number=1 if tier == "registered" else 2, cdr_path=str(cdr),
                          index_path=str(index), aggregates_path=None, manifest_sha256="0" * 64,
                          participant_count=2000, data_types=[], is_default=True, created_at=wb.clock.now,
                          archived_at=None)
        session.add(row)
        session.flush()
        return row.id


@pytest.fixture(scope="session")
def genomes(tmp_path_factory) -> dict[str, Path]:
    """The synthetic program of ``tests/synthetic_genomes.py``, curated, both tiers indexed: ``ct_release``,
    ``ct_index``, ``rt_release``, ``rt_index``. Built once per test process, shared with ``tests/genomics``."""
    return synthetic_genomes(tmp_path_factory)


@pytest.fixture
def gws(make_workbench, genomes) -> GenomicsWorkspace:
    """A Controlled Tier workspace ``ct-study`` (owner, writer, reader) with saved cohorts "Women" and "Men", and a
    Registered Tier workspace ``rt-study`` of the same owner; ``outsider@citylab.org`` holds both tiers, no role."""
    wb = make_workbench(egress_downloads_per_day=2)
    personas = {e: make_user(wb, e, institution="city-lab", modules=CT_MODULES)
                for e in (*MEMBERS, "outsider@citylab.org")}
    add_workspace(wb, "ct-study", register(wb, "r1", "controlled", genomes["ct_release"], genomes["ct_index"]),
                  MEMBERS, tier="controlled")
    add_workspace(wb, "rt-study", register(wb, "r1", "registered", genomes["rt_release"], genomes["rt_index"]),
                  {"owner@citylab.org": "OWNER"}, tier="registered")
    writer = token(wb, "owner@citylab.org", "workspaces:read", "workspaces:write")
    cohorts = {}
    for name, definition in (("Women", WOMEN), ("Men", MEN)):
        made = writer.post("/api/workspaces/ct-study/resources", json={"kind": "cohort", "name": name,
                                                                      "content": definition})
        assert made.status_code == 201, made.text
        cohorts[name] = made.json()["id"]
    return GenomicsWorkspace(wb, genomes["ct_index"], personas, cohorts)


@pytest.fixture
def held(gws, monkeypatch):
    """Jobs are queued but not run until the test runs them (``services.genomics.run``)."""
    monkeypatch.setattr(gws.services.genomics, "submit", lambda job_id: None)
    return gws.services.genomics


def start(api, kind: str, request: dict | None = None) -> int:
    started = api.post("/api/workspaces/ct-study/genomics/jobs", json={"kind": kind, "request": request or {}})
    assert started.status_code == 202, started.text
    return started.json()["id"]


def wait(api, job_id: int, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = api.get(f"/api/workspaces/ct-study/genomics/jobs/{job_id}").json()
        if body["status"] in ENDED or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def accesses(gws) -> list[tuple[str, int, str]]:
    with gws.wb.db.session() as session:
        return [(e.details["purpose"], e.details["persons"]["count"], e.details["persons"]["sha256"])
                for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "participant_access")
                                         .order_by(AuditEvent.seq))]


def digest(ids: list[int]) -> str:
    import hashlib

    return hashlib.sha256(",".join(map(str, sorted(ids))).encode()).hexdigest()


def folders(gws) -> list[str]:
    root = gws.wb.config.resolved_genomics_dir / "ct-study"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


EXTRACT = {"cohort": "Women", "selection": {"genes": ["TCF7L2"]}, "formats": ["vcf", "plink1"]}


# -- a job from start to files ---------------------------------------------------------------------------------------

def test_an_extract_writes_the_cohorts_genotypes_and_is_audited_with_its_person_ids(gws):
    api = gws.api()
    started = api.post("/api/workspaces/ct-study/genomics/jobs", json={"kind": "extract", "request": EXTRACT})
    assert started.status_code == 202, started.text
    body = started.json()
    assert (body["status"], body["kind"]) == ("queued", "extract")
    assert body["request"]["cohort"] == {"id": gws.cohorts["Women"], "name": "Women", "version": 1}  # pinned
    done = wait(api, body["id"])
    assert (done["status"], done["message"]) == ("done", None), done
    women = gws.members(WOMEN)
    assert (done["summary"]["samples"], done["summary"]["persons_read"]) == (len(women), len(women))
    assert done["done"] == done["total"] > 0
    folder = Path(done["path"])
    assert folder == gws.wb.config.resolved_genomics_dir / "ct-study" / f"{body['id']}-extract"
    files = api.get(f"/api/workspaces/ct-study/genomics/jobs/{body['id']}/files").json()
    assert [(f["name"], f["participant_level"]) for f in files] == [
        ("extract.bed", True), ("extract.bim", True), ("extract.fam", True), ("extract.vcf.gz", True),
        ("extract.vcf.gz.tbi", True), ("manifest.json", False)]
    assert [int(line.split()[1]) for line in (folder / "extract.fam").read_text().splitlines()] == women
    assert accesses(gws) == [("genomics_extract", len(women), digest(women))]


def test_downloading_genotypes_is_audited_and_counted_against_the_daily_limit(gws):
    api = gws.api()
    job_id = start(api, "extract", EXTRACT)
    done = wait(api, job_id)
    files = f"/api/workspaces/ct-study/genomics/jobs/{job_id}/files"
    manifest = api.get(f"{files}/manifest.json")  # aggregate: neither audited nor counted
    assert manifest.status_code == 200 and manifest.headers["content-type"].startswith("application/json")
    for _ in range(2):  # the limit of this Workbench is 2 a day
        got = api.get(f"{files}/extract.bed")
        assert got.status_code == 200 and got.content == (Path(done["path"]) / "extract.bed").read_bytes()
    refused = api.get(f"{files}/extract.fam")
    assert refused.status_code == 429 and "daily limit of 2" in refused.json()["error"]
    women = gws.members(WOMEN)
    assert [a[0] for a in accesses(gws)] == ["genomics_extract", "genomics_download", "genomics_download"]
    assert accesses(gws)[1][1:] == (len(women), digest(women))
    for name in (".participants.parquet", "..%2Fx", "nothing.txt"):
        assert api.get(f"{files}/{name}").status_code == 404


def test_a_frequencies_job_for_everyone_genotyped_through_the_sdk_from_a_notebooks_kernels(gws, tmp_path):
    with gws.wb.db.session() as session:  # the token a notebook server's kernels get: bound to the workspace
        user = session.scalar(select(User).where(User.email == "owner@citylab.org"))
        workspace_id = session.scalar(select(Workspace.id).where(Workspace.namespace == "ct-study"))
        plain, _ = api_tokens.create_token(session, user, name=f"{api_tokens.KERNEL_TOKEN_PREFIX} in ct-study",
                                           scopes=["workspaces:read", "data:read"], days=1, now=gws.wb.clock.now,
                                           pepper=gws.services.keys.tokens, for_kernels=True,
                                           workspace_id=workspace_id)
    client = gws.wb.client()
    client.headers["authorization"] = f"Bearer {plain}"
    sdk = Sdk("ct-study", client=client)
    job = sdk.genomics("frequencies", selection={"rsids": ["rs7903146", "rs429358"]})
    assert job.wait(timeout=180, poll=0.1) is job and job.info["status"] == "done"
    table = job.results()
    assert table.equals(pq.read_table(Path(job.info["path"]) / "frequencies.parquet"))
    assert sorted(set(table["rsid"].to_pylist())) == ["rs429358", "rs7903146"]
    samples = GenotypeStore.open(gws.index).samples
    assert job.summary["samples"] == job.summary["persons_read"] == len(samples)
    written = job.download(str(tmp_path / "freq"))
    assert sorted(Path(p).name for p in written) == ["frequencies.parquet", "frequencies.tsv", "summary.json"]
    assert [j.id for j in sdk.genomics_jobs()] == [job.id] and sdk.genomics_job(job.id).kind == "frequencies"
    with pytest.raises(ValueError, match="has files, not a results table"):
        sdk.genomics("extract", cohort="Men", selection={"rsids": ["rs7903146"]}).wait(timeout=180, poll=0.1).results()
    extract = sdk.genomics_jobs("extract")[0]
    extract.download(str(tmp_path / "x"), names=["extract.bgen"])  # read in the workspace: not a download
    purposes = [a[0] for a in accesses(gws)]
    assert purposes == ["genomics_frequencies", "genomics_extract", "genomics_download_in_notebook"]
    with gws.wb.db.session() as session:
        assert egress.downloads_today(session, user.id, gws.wb.clock.now) == 0
    assert client.get("/api/workspaces/rt-study/genomics/jobs").status_code == 404  # its own workspace only


def test_bad_requests_are_refused_naming_each_field_under_the_body(gws):
    api = gws.api()

    def problems(body) -> list[tuple[str, str]]:
        r = api.post("/api/workspaces/ct-study/genomics/jobs", json=body)
        assert r.status_code == 422, r.text
        return [(p["where"], p["message"]) for p in r.json()["problems"]]

    assert problems({"kind": "extract", "request": {"cohort": "nope", "selection": {"min_af": 2}}}) == [
        ("body.request.cohort", "no saved cohort 'nope' in this workspace"),
        ("body.request.selection.min_af", "Input should be less than or equal to 1")]
    assert problems({"kind": "extract", "request": {"person_ids": [1], "selection": {}}}) == [
        ("body.request.person_ids", "name a saved cohort of the workspace in 'cohort' (its id or name)"),
        ("body.request.cohort", "required: choose one of the workspace's saved cohorts")]
    assert problems({"kind": "gwas", "request": {"cases": "Women", "pcs": "/etc/passwd"}}) == [
        ("body.request.pcs", "name a finished PCA job of this workspace in 'pcs_job'")]
    assert problems({"kind": "gwas", "request": {"cases": "Women", "pcs_job": 999}}) == [
        ("body.request.pcs_job", "no PCA job 999 in this workspace")]
    assert problems({"kind": "frequencies", "request": {"kind": "exome"}})[0][0] == "body.request.kind"
    assert problems({"kind": "bogus"})[0][0] == "body.kind"
    with gws.wb.db.session() as session:
        assert session.scalars(select(GenomicsJob)).all() == []


# -- who may, and when a job stops ----------------------------------------------------------------------------------

def test_a_registered_tier_workspace_is_refused_with_the_reason(gws):
    r = gws.api().post("/api/workspaces/rt-study/genomics/jobs", json={"kind": "frequencies", "request": {}})
    assert r.status_code == 403
    assert r.json()["error"].startswith("Genomic data is in the Controlled Tier only, and this is a Registered Tier "
                                        "workspace")


def test_a_non_member_gets_404_before_any_body_is_read(gws):
    outsider = gws.api("outsider@citylab.org")
    for body in (b"not json", b'{"kind": "extract"}'):
        r = outsider.post("/api/workspaces/ct-study/genomics/jobs", content=body,
                          headers={"content-type": "text/plain"})
        assert r.status_code == 404, r.text
    job_id = start(gws.api(), "frequencies", {"selection": {"rsids": ["rs7903146"]}})
    wait(gws.api(), job_id)
    for path in ("", f"/{job_id}", f"/{job_id}/files", f"/{job_id}/files/summary.json"):
        assert outsider.get(f"/api/workspaces/ct-study/genomics/jobs{path}").status_code == 404
    assert outsider.post(f"/api/workspaces/ct-study/genomics/jobs/{job_id}/cancel").status_code == 404


def test_a_reader_may_follow_jobs_but_not_start_or_cancel_them(gws, held):
    reader = gws.api("reader@citylab.org")
    r = reader.post("/api/workspaces/ct-study/genomics/jobs", json={"kind": "frequencies", "request": {}})
    assert r.status_code == 403 and "Writer" in r.json()["error"]
    job_id = gws.api().post("/api/workspaces/ct-study/genomics/jobs", json={"kind": "frequencies",
                                                                            "request": {}}).json()["id"]
    assert reader.get(f"/api/workspaces/ct-study/genomics/jobs/{job_id}").json()["status"] == "queued"
    assert reader.post(f"/api/workspaces/ct-study/genomics/jobs/{job_id}/cancel").status_code == 403
    writer_without_data = gws.api("writer@citylab.org", "workspaces:read", "workspaces:write")
    assert writer_without_data.get("/api/workspaces/ct-study/genomics/jobs").status_code == 403  # data:read


def test_a_cancelled_job_writes_nothing(gws, held):
    api = gws.api()
    job_id = start(api, "extract", EXTRACT)
    assert api.post(f"/api/workspaces/ct-study/genomics/jobs/{job_id}/cancel").json()["cancel_requested"] is True
    held.run(job_id)
    body = api.get(f"/api/workspaces/ct-study/genomics/jobs/{job_id}").json()
    assert (body["status"], body["message"], body["path"], body["summary"]) == (
        "cancelled", "cancelled: nothing was written", None, None)
    assert folders(gws) == [] and accesses(gws) == []


def test_a_job_stops_when_the_session_that_started_it_times_out_midway(gws, held, monkeypatch):
    client = gws.personas["owner@citylab.org"].sign_in()
    request = {"cohort": "Women", "selection": {"min_af": 0.0}, "formats": ["vcf"]}  # every variant: many chunks
    started = client.post("/api/workspaces/ct-study/genomics/jobs", json={"kind": "extract", "request": request},
                          headers={"x-csrftoken": client.cookies.get("csrftoken")})
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    real = held._progress

    def progress(job, done, total):  # the researcher walks away after the first chunk: the session runs out
        real(job, done, total)
        if done == 1:
            gws.wb.clock.advance(hours=4)  # past the Controlled Tier's idle limit (3 hours)

    monkeypatch.setattr(held, "_progress", progress)
    held.run(job_id)
    with gws.wb.db.session() as session:
        job = session.get(GenomicsJob, job_id)
        assert (job.status, job.done_steps, job.path) == ("failed", 1, None)
        assert job.message == ("the session timed out (idle) during the job: nothing was written; sign in and start "
                               "it again")
    assert folders(gws) == [] and accesses(gws) == []


def test_a_job_stops_when_its_token_is_revoked_and_when_the_writer_becomes_a_reader(gws, held):
    api = gws.api()
    first = start(api, "extract", EXTRACT)
    writer = gws.api("writer@citylab.org")
    second = start(writer, "extract", EXTRACT)
    with gws.wb.db.session() as session:
        session.get(ApiToken, session.get(GenomicsJob, first).token_id).revoked_at = gws.wb.clock.now
        writer_id = session.scalar(select(User.id).where(User.email == "writer@citylab.org"))
        session.scalar(select(WorkspaceMember).where(WorkspaceMember.user_id == writer_id)).role = "READER"
    held.run(first)
    held.run(second)
    with gws.wb.db.session() as session:
        assert session.get(GenomicsJob, first).message == ("the API token that started the job was revoked or "
                                                           "expired: nothing was written")
        assert session.get(GenomicsJob, second).message == (
            "you may no longer run genomics jobs in this workspace (This needs the Writer role in the workspace; you "
            "are a Reader.): nothing was written")
    assert folders(gws) == []


def test_a_job_whose_cohort_was_deleted_fails_naming_it(gws, held):
    api = gws.api()
    job_id = start(api, "extract", EXTRACT)
    writer = token(gws.wb, "owner@citylab.org", "workspaces:read", "workspaces:write")
    assert writer.post(f"/api/workspaces/ct-study/resources/{gws.cohorts['Women']}/delete").status_code == 204
    held.run(job_id)
    body = api.get(f"/api/workspaces/ct-study/genomics/jobs/{job_id}").json()
    assert (body["status"], body["message"]) == ("failed", "the job cannot run: cohort: the cohort 'Women' was "
                                                           "deleted: restore it, or start the job again with another "
                                                           "cohort")


def test_jobs_left_by_a_stopped_server_process_are_marked_failed_and_a_live_ones_are_not(gws, held):
    api = gws.api()
    orphan, live = (api.post("/api/workspaces/ct-study/genomics/jobs", json={"kind": "frequencies", "request": {}})
                    .json()["id"] for _ in range(2))
    with gws.wb.db.session() as session:
        session.get(GenomicsJob, orphan).runner = f"{socket.gethostname()}:{2**22 + 12345}"  # no such process
        session.get(GenomicsJob, live).runner = f"{socket.gethostname()}:{os.getppid()}"
    root = gws.wb.config.resolved_genomics_dir / "ct-study"
    for job_id in (orphan, live):  # what a library was writing when its process was killed
        (root / f".{job_id}-frequencies.building-0a1b2c3d").mkdir(parents=True)
    assert held.fail_orphans() == 1
    assert api.get(f"/api/workspaces/ct-study/genomics/jobs/{orphan}").json()["message"] == (
        "the server stopped during the job")
    assert api.get(f"/api/workspaces/ct-study/genomics/jobs/{live}").json()["status"] == "queued"
    assert sorted(p.name for p in root.iterdir()) == [f".{live}-frequencies.building-0a1b2c3d"]


def test_one_person_has_at_most_five_jobs_queued_or_running(gws, held):
    api = gws.api()
    for _ in range(5):
        assert api.post("/api/workspaces/ct-study/genomics/jobs", json={"kind": "frequencies"}).status_code == 202
    refused = api.post("/api/workspaces/ct-study/genomics/jobs", json={"kind": "frequencies"})
    assert refused.status_code == 422 and refused.json()["problems"] == [{
        "where": "body.request",
        "message": "you have 5 genomics jobs queued or running, the most at once: wait for one to end, or cancel one"}]
    assert gws.api("writer@citylab.org").post("/api/workspaces/ct-study/genomics/jobs",
                                              json={"kind": "frequencies"}).status_code == 202  # someone else's


def test_a_gwas_on_a_pca_jobs_components_through_the_sdk(gws):
    sdk = Sdk("ct-study", client=gws.api())
    pca = sdk.genomics("pca", k=3, selection={"regions": ["chr1"]}).wait(timeout=300, poll=0.2)
    assert pca.results().column_names == ["person_id", "PC1", "PC2", "PC3"]
    gwas = sdk.genomics("gwas", cases="Women", controls="Men", covariates=["age", "pcs"], pcs_job=pca.id,
                        selection={"regions": ["chr10"]})
    gwas.wait(timeout=300, poll=0.2)
    results = gwas.results()
    assert results.num_rows == gwas.summary["variants"]["tested"] > 0
    assert gwas.summary["covariates"] == ["age", "PC1", "PC2", "PC3"] and gwas.summary["model"] == "logistic"
    assert gwas.info["request"]["pcs_job"] == pca.id
    with pytest.raises(WorkbenchError, match="409: genomics job .* failed: the job cannot run"):
        sdk.genomics("gwas", cases="Women", controls="Women", covariates=["age"]).wait(timeout=300, poll=0.2)
