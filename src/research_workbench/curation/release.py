"""``curate``: raw CDR → an immutable release directory with a Registered and a Controlled Tier.

Layout of ``RELEASES_DIR``::

    RELEASES_DIR/
      .lock                     held for the whole of a curation: one writer at a time (lock.py)
      .private/                 steward-only (0700, files 0600), never shipped (see private.py):
        person_map.parquet …    person → research id and date shift, response, device, sample and site maps
        row_ids.key             the key of the row-id permutation (row_ids.py)
        sandbox/NAME/           every row a rule removed, changed or added: <scope>/<rule>/<table>.parquet (scope:
                                clean, registered, controlled), remap logs in <scope>/logs/
      NAME/
        registered/             a CDR (Parquet per table + manifest.json) for the Registered Tier
        controlled/             a CDR for the Controlled Tier
        report.json, report.html   what each rule did (counts only), participants per tier, residual risk

The release is built in a hidden directory beside ``NAME``, scanned for identifiers (scan.py), and renamed into
place when complete, so ``NAME`` appears whole or not at all; an existing ``NAME`` is refused unless ``replace``.
The raw CDR is only read, and its content is checked against its manifest before anything else.
"""

from __future__ import annotations

import shutil
import time
import uuid
from concurrent.futures import Executor, Future
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from sqlglot import exp


from ..cdr.manifest import MANIFEST_NAME, Manifest
from ..cdr.model import cdm
from ..cdr.problems import Problem, ProblemsError
from ..cdr.sql import col
from ..cdr.store import Cdr, CdrBuilder, CdrExistsError, sha256_file, swap_into_place, typed_select
from ..cdr.workers import worker_pool
from ..engines.base import Engine
from .config import CurationConfig, load_config
from .engine import RuleEffect, Workspace, qualified
from .genomes import deidentify_vcf, genome_files
from .lock import ReleasesLock
from .private import PRIVATE_DIR_NAME, SANDBOX_DIR_NAME, extend_maps, load_maps, private_area, protect, save_maps
from .report import build_report, write_report
from .risk import residual_risk
from .rule import Tier
from .rules import STAGE_ORDER, rules_for
from .scan import ScanError, scan_release

Progress = Callable[[str, int, int], None]


@dataclass
class CurationResult:
    release_dir: Path
    report: dict[str, Any]
    seconds: float
    # Wall-clock seconds per phase (load, clean, maps, <tier> rules, <tier> write, ...), for benchmarks.
    phases: dict[str, float]
    scan: dict[str, Any] | None = None  # what the release scan checked (scan.py)
    sandbox_dir: Path | None = None  # steward-only: the rows each rule removed, changed or added

    def summary(self) -> dict[str, Any]:
        return {
            "release": self.report["release"],
            "path": str(self.release_dir),
            "seconds": round(self.seconds, 3),
            "participants": {"raw": self.report["raw"]["persons"], **{t: v["persons"] for t, v in self.report["tiers"].items()}},
            "rows": {"raw": self.report["raw"]["rows"], **{t: v["rows"] for t, v in self.report["tiers"].items()}},
            "balanced": self.report["balanced"],
            "residual_risk": {k: self.report["residual_risk"].get(k) for k in ("participants", "unique", "unique_share")} if self.report.get("residual_risk") else None,
            "scan": {"ok": self.scan["ok"], "checked": self.scan["checked"]} if self.scan else None,
            "phase_seconds": self.phases,
        }


def _research_ids(ws: Workspace, schema: str) -> dict[str, str]:
    """Raw person id → research id (as VCF sample names) for the participants left in the tier in ``schema``."""
    query = (
        exp.select(col("person_id", table="m"), col("research_id", table="m"))
        .from_(qualified("private", "person_map").as_("m"))
        .join(qualified(schema, "person").as_("p"), on=col("person_id", table="p").eq(col("research_id", table="m")))
    )
    return {str(raw_id): str(research_id) for raw_id, research_id in ws.sql(query)}


def _start_genomes(ws: Workspace, raw: Cdr, builder: CdrBuilder, schema: str, level: int, pool: Executor) -> list[Future]:
    """Start rewriting the raw VCFs into ``builder`` (samples renamed to research ids) in the background."""
    ids = _research_ids(ws, schema)
    jobs = []
    for name in genome_files(raw.manifest.files):
        description = raw.manifest.files[name].description
        vcf = builder.add_file(name, description + " (samples: research ids; AC/AN/AF over them)")
        builder.add_file(name + ".tbi", "Tabix index of " + name)
        jobs.append(pool.submit(deidentify_vcf, raw.path / name, vcf, ids, level))
    return jobs


def _write_tables(ws: Workspace, raw: Cdr, builder: CdrBuilder, schema: str) -> None:
    model = cdm()
    for name in model.tables:
        if name in ws.views:  # unchanged vocabulary: the raw file, byte for byte
            shutil.copyfile(raw.table_file(name), builder.table_path(name))
            builder.tables[name] = raw.manifest.tables[name]
            continue
        # The manifest's content hash is computed from the written file (CdrBuilder.register_table, DuckDB), so it
        # is the same whichever engine wrote it: it depends on the rows only, not on their order or the layout.
        ws.write_parquet_file(typed_select(model.table(name), qualified(schema, name)), builder.table_path(name),
                              schema=model.table(name).arrow_schema())
        builder.register_table(name)


def _commit_tier(builder: CdrBuilder, raw: Cdr, manifest_extra: dict[str, Any]) -> Manifest:
    return builder.commit(
        cdm_version=raw.manifest.cdm_version,
        vocabulary_version=raw.manifest.vocabulary_version,
        source={"kind": "curation", "raw": str(raw.path.resolve()), "raw_manifest_sha256": manifest_extra["raw_input"]["manifest_sha256"]},
        notes=[f"curated by research_workbench.curation: release {manifest_extra['release']}, {manifest_extra['tier']} tier"],
        extra=manifest_extra,
    )


# The Controlled Tier is curated first so that its genomes (the longest single job at scale) are rewritten in a
# background process while the Registered Tier is curated; the Registered Tier, curated last, works on the clean
# schema itself instead of a copy of it.
TIER_ORDER = (Tier.CONTROLLED, Tier.REGISTERED)
REPORT_ORDER = (Tier.REGISTERED, Tier.CONTROLLED)


class RawCdrChangedError(ProblemsError):
    """The raw CDR's content differs from its manifest: it changed after it was built. A problem per table."""

    outcome = "nothing was curated; rebuild the raw CDR (workbench load … --replace) or restore it before curating."
    problems: list[Problem]

    def __init__(self, raw: Path, problems: list[Problem]):
        shown = "; ".join(str(p) for p in problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        super().__init__(problems, f"the raw CDR {raw} does not match its manifest, so it changed after it was built ("
                         f"{shown}): rebuild it (workbench load … --replace) or restore it before curating")
        self.heading = f"the raw CDR {raw} does not match its manifest"


def verify_raw(ws: Workspace) -> None:
    """The loaded raw tables against the raw manifest (row counts and content hashes), before any rule runs."""
    problems = ws.verify_loaded()
    if problems:
        raise RawCdrChangedError(ws.raw.path, problems)


def curate(
    raw_dir: Path,
    release: str,
    out: Path,
    *,
    config: CurationConfig | Path | None = None,
    replace: bool = False,
    private_dir: Path | None = None,
    progress: Progress | None = None,
    memory_limit: str | None = None,
    engine: Engine | None = None,
) -> CurationResult:
    """Curate the raw CDR at ``raw_dir`` into ``out/release`` (both tiers, report) and its sandbox into the private area.

    ``engine``: where the rules run (``engines``; the caller closes it); by default a DuckDB engine of the run's own.
    The release is the same on every engine: equal manifests' content hashes for the same raw CDR and private area.
    The releases folder is locked for the whole run; a second curation into it fails at once (lock.py).
    """
    if not release or release.startswith(".") or "/" in release or "\\" in release:
        raise ValueError(f"invalid release name {release!r}: a plain directory name is expected")
    cfg = config if isinstance(config, CurationConfig) else load_config(config)
    raw = Cdr(Path(raw_dir))
    out = Path(out).absolute()
    private = Path(private_dir).absolute() if private_dir else out / PRIVATE_DIR_NAME
    out.mkdir(parents=True, exist_ok=True)
    with ExitStack() as locks:
        lock = locks.enter_context(ReleasesLock(out, release=release))
        lock.remove_stale()  # what killed runs left behind: under the lock it can only be ours
        if not private.is_relative_to(out):  # a private area shared by several releases folders is locked too
            locks.enter_context(ReleasesLock(private_area(private), release=release)).remove_stale()
        sandboxes = private_area(private_area(private) / SANDBOX_DIR_NAME)
        lock.remove_stale(sandboxes)
        target = out / release
        if target.exists() and not replace:
            raise CdrExistsError(f"release {release!r} already exists in {out} (use --replace to overwrite it)")
        return _curate_locked(raw, release, out, target, private, sandboxes, cfg, progress, memory_limit, engine)


def _curate_locked(
    raw: Cdr,
    release: str,
    out: Path,
    target: Path,
    private: Path,
    sandboxes: Path,
    cfg: CurationConfig,
    progress: Progress | None,
    memory_limit: str | None,
    engine: Engine | None = None,
) -> CurationResult:
    started = time.perf_counter()
    raw_manifest_sha = sha256_file(raw.path / MANIFEST_NAME)
    cutoff = cfg.effective_cutoff()
    suffix = f"building-{uuid.uuid4().hex[:8]}"
    work = out / f".{release}.{suffix}"
    sandbox_work = sandboxes / f".{release}.{suffix}"
    work.mkdir()
    sandbox_work.mkdir(mode=0o700)
    ws = None
    phases: dict[str, float] = {}
    last = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal last
        now = time.perf_counter()
        phases[phase], last = round(now - last, 1), now

    stack = ExitStack()  # the tiers' builders and the genome process, closed (aborted if uncommitted) on any exit
    try:
        ws = Workspace(raw, work / ".scratch", memory_limit=memory_limit, engine=engine)
        ws.load_raw()
        lap("load")
        verify_raw(ws)
        raw_counts = ws.counts("clean")
        lap("verify raw")
        effects: list[RuleEffect] = []
        effects += ws.run(rules_for(STAGE_ORDER[0]), schema="clean", scope="clean", config=cfg, tier=None, progress=progress)
        clean_counts = ws.counts("clean")
        lap("clean rules")
        sandbox_files = {"clean": ws.write_sandboxes("clean", sandbox_work / "clean")}
        lap("clean sandboxes")

        load_maps(ws, private)  # read under the releases lock: no other run can be adding to them
        new_ids = extend_maps(ws, "clean", release, cfg.registered.max_date_shift_days)
        lap("private maps")

        tier_counts: dict[str, dict[str, int]] = {}
        risk: dict = {}
        pending: list[tuple[CdrBuilder, list[Future], dict[str, Any]]] = []
        for tier in TIER_ORDER:
            schema = "clean" if tier == TIER_ORDER[-1] else "tier"
            if schema == "tier":
                ws.copy_schema("clean", "tier")
                lap(f"{tier.value} copy")
            tier_effects: list[RuleEffect] = []
            for stage in STAGE_ORDER[1:]:
                tier_effects += ws.run(rules_for(stage, tier), schema=schema, scope=tier.value, config=cfg, tier=tier, progress=progress)
            effects += tier_effects
            tier_counts[tier.value] = ws.counts(schema)
            lap(f"{tier.value} rules")
            if tier == Tier.REGISTERED:
                risk = residual_risk(ws, schema)
                lap("residual risk")
            sandbox_files[tier.value] = ws.write_sandboxes(tier.value, sandbox_work / tier.value)
            lap(f"{tier.value} sandboxes")
            extra = {
                "release": release,
                "tier": tier.value,
                "raw_input": {"path": str(raw.path.resolve()), "manifest_sha256": raw_manifest_sha},
                "config_sha256": cfg.digest(),
                "cutoff_date": cutoff.isoformat(),
                "rules": [
                    {"name": e.rule.name, "stage": e.rule.stage.value, "scope": e.scope, "tables": {t: v.as_dict() for t, v in e.tables.items()}}
                    for e in effects
                    if e.scope in ("clean", tier.value)
                ],
            }
            builder = stack.enter_context(CdrBuilder(work / tier.value))
            jobs = []
            if tier == Tier.CONTROLLED:  # genomes go to the Controlled Tier only
                pool = worker_pool(1, "spawn")  # its worker dies with this process
                stack.callback(pool.shutdown, wait=True, cancel_futures=True)  # before the builder is aborted
                jobs = _start_genomes(ws, raw, builder, schema, cfg.controlled.genome_compression_level, pool)
            _write_tables(ws, raw, builder, schema)
            pending.append((builder, jobs, extra))
            if schema == "tier":
                ws.use("clean")
                ws.drop_schema("tier")
            lap(f"{tier.value} write")
        for builder, jobs, extra in pending:
            for job in jobs:
                job.result()
            _commit_tier(builder, raw, extra)
        lap("genomes wait and commit")
        tier_counts = {t.value: tier_counts[t.value] for t in REPORT_ORDER}

        report = build_report(
            release=release,
            raw=raw,
            raw_manifest_sha=raw_manifest_sha,
            config=cfg,
            raw_counts=raw_counts,
            clean_counts=clean_counts,
            tier_counts=tier_counts,
            effects=effects,
            sandbox_files=sandbox_files,
            new_ids=new_ids,
            sandbox=f"{PRIVATE_DIR_NAME}/{SANDBOX_DIR_NAME}/{release}",
            residual_risk=risk,
        )
        write_report(report, work)
        save_maps(ws, private)  # before the release appears: its research ids must already be on record
        stack.close()
        ws.close()
        ws = None
        shutil.rmtree(work / ".scratch", ignore_errors=True)
        lap("report")
        scan = scan_release(work, private_dir=private, raw_dir=raw.path, config=cfg, memory_limit=memory_limit)
        scan.release = target  # what it will be called once in place
        if not scan.ok:
            raise ScanError(target, scan.findings)
        lap("scan")
        protect(sandbox_work)
        swap_into_place(sandbox_work, sandboxes / release)
        swap_into_place(work, target)
        lap("swap")
    except BaseException:
        stack.close()
        if ws is not None:
            ws.close()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(sandbox_work, ignore_errors=True)
        raise
    return CurationResult(release_dir=target, report=report, seconds=time.perf_counter() - started, phases=phases,
                          scan=scan.as_dict(), sandbox_dir=sandboxes / release)
