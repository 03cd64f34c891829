"""``curate``: raw CDR → an immutable release directory with a Registered and a Controlled Tier.

Layout of ``RELEASES_DIR``::

    RELEASES_DIR/
      .private/                 person → research id and date shift, response, device and site maps (0700);
                                outside every release, never shipped (see private.py)
      NAME/
        registered/             a CDR (Parquet per table + manifest.json) for the Registered Tier
        controlled/             a CDR for the Controlled Tier
        sandbox/                every row a rule removed, changed or added: sandbox/<scope>/<rule>/<table>.parquet
                                (scope: clean, registered, controlled), remap logs in sandbox/<scope>/logs/;
                                for data stewards only, never shipped to researchers
        report.json, report.html

The release is built in a hidden directory beside ``NAME`` and renamed into place when complete, so ``NAME``
appears whole or not at all; an existing ``NAME`` is refused unless ``replace``. The raw CDR is only read.
"""

from __future__ import annotations

import multiprocessing
import shutil
import time
import uuid
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from sqlglot import exp


from ..cdr.manifest import MANIFEST_NAME, Manifest
from ..cdr.model import cdm
from ..cdr.store import Cdr, CdrBuilder, CdrExistsError, sha256_file, swap_into_place, typed_select
from .config import CurationConfig, load_config
from .engine import RuleEffect, Workspace, qualified
from .genomes import deidentify_vcf, genome_files
from .private import PRIVATE_DIR_NAME, extend_maps, load_maps, save_maps
from .report import build_report, write_report
from .rule import Tier
from .rules import STAGE_ORDER, rules_for

Progress = Callable[[str, int, int], None]


@dataclass
class CurationResult:
    release_dir: Path
    report: dict[str, Any]
    seconds: float
    # Wall-clock seconds per phase (load, clean, maps, <tier> rules, <tier> write, ...), for benchmarks.
    phases: dict[str, float]

    def summary(self) -> dict[str, Any]:
        return {
            "release": self.report["release"],
            "path": str(self.release_dir),
            "seconds": round(self.seconds, 3),
            "participants": {"raw": self.report["raw"]["persons"], **{t: v["persons"] for t, v in self.report["tiers"].items()}},
            "rows": {"raw": self.report["raw"]["rows"], **{t: v["rows"] for t, v in self.report["tiers"].items()}},
            "balanced": self.report["balanced"],
            "phase_seconds": self.phases,
        }


def _research_ids(ws: Workspace, schema: str) -> dict[str, str]:
    """Raw person id → research id (as VCF sample names) for the participants left in the tier in ``schema``."""
    query = (
        exp.select(exp.column("person_id", table="m"), exp.column("research_id", table="m"))
        .from_(exp.alias_(qualified("private", "person_map"), "m", table=True))
        .join(exp.alias_(qualified(schema, "person"), "p", table=True),
              on=exp.EQ(this=exp.column("person_id", table="p"), expression=exp.column("research_id", table="m")))
    )
    return {str(raw_id): str(research_id) for raw_id, research_id in ws.con.execute(query.sql(dialect="duckdb")).fetchall()}


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
        query = typed_select(model.table(name), qualified(schema, name)).sql(dialect="duckdb")
        ws.con.sql(query).write_parquet(str(builder.table_path(name)), compression="zstd")
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
) -> CurationResult:
    """Curate the raw CDR at ``raw_dir`` into ``out/release`` (both tiers, sandboxes, report)."""
    started = time.perf_counter()
    if not release or release.startswith(".") or "/" in release or "\\" in release:
        raise ValueError(f"invalid release name {release!r}: a plain directory name is expected")
    cfg = config if isinstance(config, CurationConfig) else load_config(config)
    raw = Cdr(Path(raw_dir))
    out = Path(out).absolute()
    target = out / release
    if target.exists() and not replace:
        raise CdrExistsError(f"release {release!r} already exists in {out} (use --replace to overwrite it)")
    private = Path(private_dir) if private_dir else out / PRIVATE_DIR_NAME
    raw_manifest_sha = sha256_file(raw.path / MANIFEST_NAME)
    cutoff = cfg.effective_cutoff()

    out.mkdir(parents=True, exist_ok=True)
    work = out / f".{release}.building-{uuid.uuid4().hex[:8]}"
    work.mkdir()
    ws = None
    phases: dict[str, float] = {}
    last = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal last
        now = time.perf_counter()
        phases[phase], last = round(now - last, 1), now

    stack = ExitStack()  # the tiers' builders and the genome process, closed (aborted if uncommitted) on any exit
    try:
        ws = Workspace(raw, work / ".scratch", memory_limit=memory_limit)
        ws.load_raw()
        raw_counts = ws.counts("clean")
        lap("load")
        effects: list[RuleEffect] = []
        effects += ws.run(rules_for(STAGE_ORDER[0]), schema="clean", scope="clean", config=cfg, tier=None, progress=progress)
        clean_counts = ws.counts("clean")
        lap("clean rules")
        sandbox_files = {"clean": ws.write_sandboxes("clean", work / "sandbox" / "clean")}
        lap("clean sandboxes")

        load_maps(ws, private)
        new_ids = extend_maps(ws, "clean", release, cfg.registered.max_date_shift_days)
        lap("private maps")

        tier_counts: dict[str, dict[str, int]] = {}
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
            sandbox_files[tier.value] = ws.write_sandboxes(tier.value, work / "sandbox" / tier.value)
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
                pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
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
        )
        write_report(report, work)
        save_maps(ws, private)  # before the release appears: its research ids must already be on record
        stack.close()
        ws.close()
        ws = None
        shutil.rmtree(work / ".scratch", ignore_errors=True)
        swap_into_place(work, target)
        lap("report and swap")
    except BaseException:
        stack.close()
        if ws is not None:
            ws.close()
        shutil.rmtree(work, ignore_errors=True)
        raise
    return CurationResult(release_dir=target, report=report, seconds=time.perf_counter() - started, phases=phases)
