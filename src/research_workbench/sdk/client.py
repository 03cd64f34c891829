"""The SDK's client: one HTTP client per ``Workbench``, answers as Arrow (and pandas or polars on request);
genomics jobs (``Workbench.genomics``) run in the Workbench and are followed from here (``GenomicsJob``)."""

from __future__ import annotations

import io
import os
import platform
from importlib import metadata
from typing import Any

import httpx2
import pyarrow as pa
import pyarrow.parquet as pq

ENV_URL, ENV_TOKEN, ENV_WORKSPACE = "RW_WORKBENCH_URL", "RW_WORKBENCH_TOKEN", "RW_WORKSPACE"
PACKAGES = ("research-workbench", "pyarrow", "pandas", "polars", "duckdb")


class WorkbenchError(RuntimeError):
    """The Workbench refused: ``status``, its message, and ``problems`` (each ``{"where", "message"}``)."""

    def __init__(self, status: int, message: str, problems: list[dict] | None = None):
        self.status, self.problems = status, problems or []
        located = "; ".join(f"{p.get('where')}: {p.get('message')}" if p.get("where") else str(p.get("message"))
                            for p in self.problems)
        super().__init__(f"{status}: {message}" + (f" ({located})" if located else ""))


class Workbench:
    """A workspace of a Workbench, as its API shows it to the token's owner."""

    def __init__(self, workspace: str | None = None, *, url: str | None = None, token: str | None = None,
                 client: httpx2.Client | None = None, timeout: float = 600):
        self.workspace = workspace or os.environ.get(ENV_WORKSPACE)
        if not self.workspace:
            raise ValueError(f"name the workspace: Workbench(workspace=...) or set {ENV_WORKSPACE}")
        if client is None:
            url, token = url or os.environ.get(ENV_URL), token or os.environ.get(ENV_TOKEN)
            if not url or not token:
                raise ValueError(f"say where the Workbench is and who you are: url= and token= (a personal API "
                                 f"token), or set {ENV_URL} and {ENV_TOKEN}")
            client = httpx2.Client(base_url=url.rstrip("/"), headers={"authorization": f"Bearer {token}"},
                                   timeout=timeout)
        self._client = client

    # -- the API ---------------------------------------------------------------------------------------------
    @staticmethod
    def _checked(response: httpx2.Response) -> httpx2.Response:
        """The response, or WorkbenchError with the API's message and located problems."""
        if response.status_code < 400:
            return response
        try:
            body = response.json()
        except ValueError:
            raise WorkbenchError(response.status_code, response.text[:500] or response.reason_phrase) from None
        raise WorkbenchError(response.status_code, body.get("error", response.reason_phrase), body.get("problems"))

    def _get(self, path: str, **params: Any) -> httpx2.Response:
        return self._checked(self._client.get(path, params={k: v for k, v in params.items() if v is not None}))

    def _post(self, path: str, body: dict[str, Any]) -> httpx2.Response:
        return self._checked(self._client.post(path, json=body))

    def _ws(self, rest: str = "") -> str:
        return f"/api/workspaces/{self.workspace}{rest}"

    def info(self) -> dict[str, Any]:
        """The workspace as the API lists it (name, tier, data version, your role, …)."""
        for workspace in self._get("/api/workspaces").json():
            if workspace["namespace"] == self.workspace:
                return workspace
        raise WorkbenchError(404, f"no workspace {self.workspace!r} that you are a member of")

    def resources(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The workspace's live resources (of ``kind``: cohort, concept_set, dataset, review_set, notebook)."""
        return [r for r in self._get(self._ws("/resources")).json() if kind is None or r["kind"] == kind]

    def dataset(self, ref: int | str, version: int | None = None) -> Dataset:
        """A dataset by id or name, at ``version`` (default: its current version)."""
        if isinstance(ref, str):
            named = [r for r in self.resources("dataset") if r["name"] == ref]
            if not named:
                raise WorkbenchError(404, f"no dataset named {ref!r} in workspace {self.workspace!r}")
            ref = named[0]["id"]
        return Dataset(self, self._get(self._ws(f"/datasets/{int(ref)}"), version=version).json())

    def _cohort_body(self, cohort: dict | int | str) -> dict[str, Any]:
        return {"definition": cohort} if isinstance(cohort, dict) else {"cohort": cohort}

    def cohort_count(self, cohort: dict | int | str) -> int:
        """How many participants of the workspace's data version a cohort holds: a definition (the Cohort Builder's,
        or ``{"circe": …}``) or a saved cohort's id or name."""
        return self._post(self._ws("/cohorts/count"), self._cohort_body(cohort)).json()["count"]

    def cohort_participants(self, cohort: dict | int | str) -> pa.Table:
        """The cohort's participants (``person_id``) as Arrow. Participant-level data: audited, and counted as a
        download outside the workspace's notebooks."""
        return pq.read_table(io.BytesIO(self._post(self._ws("/cohorts/participants"), self._cohort_body(cohort)).content))

    def genomics(self, kind: str, **request: Any) -> GenomicsJob:
        """Start a genomics job in the workspace (a Controlled Tier one; the Writer role) and return it at once: it
        runs in the Workbench, so the notebook stays free. ``kind`` is ``extract``, ``gwas``, ``pca``, ``phewas`` or
        ``frequencies``; ``request`` its fields, with saved cohorts by id or name::

            job = wb.genomics("gwas", cases="Type 2 diabetes", covariates=["age", "sex"],
                              selection={"regions": ["chr10"]})
            job.wait()                        # until it ends (WorkbenchError if it failed)
            hits = job.results().to_pandas()  # one row per tested variant
            extract = wb.genomics("extract", cohort="T2D", selection={"genes": ["TCF7L2"]}, formats=["vcf"])
            extract.wait().download("out/")   # the files, written whole
        """
        return GenomicsJob(self, self._post(self._ws("/genomics/jobs"), {"kind": kind, "request": request}).json())

    def genomics_job(self, job_id: int) -> GenomicsJob:
        """A genomics job of the workspace by id (started here, from a page, or from another notebook)."""
        return GenomicsJob(self, self._get(self._ws(f"/genomics/jobs/{int(job_id)}")).json())

    def genomics_jobs(self, kind: str | None = None) -> list[GenomicsJob]:
        """The workspace's genomics jobs (of ``kind``), newest first."""
        return [GenomicsJob(self, info) for info in self._get(self._ws("/genomics/jobs"), kind=kind).json()]

    def session_info(self) -> dict[str, Any]:
        """What a methods section needs: the workspace's data version and tier, and the versions of Python and of
        the packages that produced the results."""
        workspace = self.info()
        versions = {}
        for package in PACKAGES:
            try:
                versions[package] = metadata.version(package)
            except metadata.PackageNotFoundError:
                versions[package] = None
        return {"workspace": self.workspace, "data_version": workspace.get("data_version"),
                "tier": workspace.get("tier"), "python": platform.python_version(), "packages": versions}

    def close(self) -> None:
        self._client.close()


class Dataset:
    """A saved dataset at one version: its tables (domains such as ``CONDITION``, then ``review_<id>``)."""

    def __init__(self, workbench: Workbench, info: dict[str, Any]):
        self._wb, self.info = workbench, info
        self.id, self.name, self.version = info["id"], info["name"], info["version"]
        self.tables: list[str] = list(info["tables"])
        self.data_version: str = info["data_version"]

    def __repr__(self) -> str:
        return f"<Dataset {self.id} {self.name!r} v{self.version} on {self.data_version}: {', '.join(self.tables)}>"

    def to_arrow(self, table: str) -> pa.Table:
        response = self._wb._get(self._wb._ws(f"/datasets/{self.id}/data/{table}"), version=self.version)
        return pq.read_table(io.BytesIO(response.content))

    def to_pandas(self, table: str):
        """The table as a pandas DataFrame (dates as ``datetime64``-compatible objects, nulls as NA)."""
        return self.to_arrow(table).to_pandas()

    def to_polars(self, table: str):
        import polars as pl

        return pl.from_arrow(self.to_arrow(table))

    def to_csv(self, table: str, path: str | None = None) -> str:
        """The table written as CSV (header; ISO dates; empty for null) to ``path`` (default: a new temporary file);
        the path. R reads it with ``data.table::fread`` (what the generated R code does: reticulate cannot convert
        pandas 3 data frames)."""
        import tempfile

        from pyarrow import csv

        if path is None:
            handle, path = tempfile.mkstemp(prefix=f"dataset-{self.id}-{table.lower()}-", suffix=".csv")
            os.close(handle)
        csv.write_csv(self.to_arrow(table), path)
        return path


class GenomicsJob:
    """A genomics job of the workspace: ``id``, ``kind`` and ``info`` (its record as last read: status, progress
    ``done`` of ``total``, ``message``, ``summary``)."""

    ENDED = ("done", "failed", "cancelled")
    RESULTS = {"gwas": "results.parquet", "frequencies": "frequencies.parquet", "pca": "pcs.parquet",
               "phewas": "phewas.parquet"}

    def __init__(self, workbench: Workbench, info: dict[str, Any]):
        self._wb, self.info = workbench, info
        self.id, self.kind = info["id"], info["kind"]

    def __repr__(self) -> str:
        return f"<GenomicsJob {self.id} {self.kind}: {self.info['status']}>"

    def _path(self, rest: str = "") -> str:
        return self._wb._ws(f"/genomics/jobs/{self.id}{rest}")

    def refresh(self) -> dict[str, Any]:
        """The job's record, read again."""
        self.info = self._wb._get(self._path()).json()
        return self.info

    def status(self) -> str:
        """``queued``, ``running``, ``done``, ``failed`` or ``cancelled`` (read now)."""
        return self.refresh()["status"]

    @property
    def summary(self) -> dict[str, Any] | None:
        """What the finished analysis reports (counts, λGC and top hits, file names), as last read."""
        return self.info.get("summary")

    def wait(self, timeout: float | None = None, poll: float = 1.0) -> GenomicsJob:
        """Wait until the job ends; itself when done. WorkbenchError when it failed or was cancelled (its message
        says why), TimeoutError after ``timeout`` seconds."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while self.status() not in self.ENDED:
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"genomics job {self.id} is still {self.info['status']} after {timeout} s "
                                   f"({self.info['done']} of {self.info['total']} steps)")
            time.sleep(poll)
        if self.info["status"] != "done":
            raise WorkbenchError(409, f"genomics job {self.id} {self.info['status']}: {self.info.get('message')}")
        return self

    def cancel(self) -> dict[str, Any]:
        """Ask the job to stop (at its next step; it keeps nothing)."""
        self.info = self._wb._checked(self._wb._client.post(self._path("/cancel"))).json()
        return self.info

    def files(self) -> list[dict[str, Any]]:
        """The finished job's files: ``name``, ``bytes``, ``participant_level``."""
        return self._wb._get(self._path("/files")).json()

    def read(self, name: str) -> bytes:
        """One file's bytes. A participant-level file (genotypes, principal components) is a download: audited,
        and outside the workspace's notebooks counted against the daily limit."""
        return self._wb._get(self._path(f"/files/{name}")).content

    def results(self) -> pa.Table:
        """The analysis's table as Arrow (``.to_pandas()`` for pandas): a GWAS's results (one row per tested
        variant), frequencies by ancestry, a PCA's components, a PheWAS's phenotypes. An extract has files
        instead (``download``)."""
        if self.kind not in self.RESULTS:
            raise ValueError(f"a {self.kind} job has files, not a results table: download them")
        return pq.read_table(io.BytesIO(self.read(self.RESULTS[self.kind])))

    def download(self, path: str, names: list[str] | None = None) -> list[str]:
        """Write the job's files (or only ``names``) into the folder ``path`` (made if missing); their paths. Each
        file is written whole (a temporary name, renamed when complete)."""
        from pathlib import Path

        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name in names or [f["name"] for f in self.files()]:
            target = folder / Path(name).name
            partial = target.with_name(f".{target.name}.partial")
            try:
                with self._wb._client.stream("GET", self._path(f"/files/{name}")) as response:
                    if response.status_code >= 400:
                        response.read()
                        self._wb._checked(response)
                    with open(partial, "wb") as out:
                        for chunk in response.iter_bytes():  # streamed: an extract may be larger than memory
                            out.write(chunk)
                os.replace(partial, target)
            finally:
                partial.unlink(missing_ok=True)
            written.append(str(target))
        return written


def publication_check(results: Any, *, threshold: int | None = None, counts: str = "named"):
    """Check results before they leave the Workbench (the program's dissemination policy: no participant count from
    1 to 19, shown or recoverable by subtraction). ``results``: a pandas or polars DataFrame, an Arrow table, rows
    (dicts), a notebook (its path or JSON as a dict), or a CSV/TSV/Parquet/.ipynb file's path. Returns the
    ``publication.Report``: ``.ok``, ``.findings`` (each with its place and what to do), ``.summary()``."""
    from pathlib import Path

    from .. import publication

    options = {"counts": counts, "threshold": threshold or publication.DEFAULT_THRESHOLD}
    if isinstance(results, (str, Path)):
        return publication.check_file(results, **options)
    if isinstance(results, dict) and "cells" in results:
        return publication.check_notebook(results, **options)
    if type(results).__module__.startswith("polars"):
        results = results.to_arrow()
    return publication.check_table(results, **options)
