"""A dataset's data: planned once from its definition, then previewed (20 rows a domain), read whole as Arrow, or
exported as a Parquet snapshot with a manifest that says how to reproduce it.

The same ``DatasetPlan`` drives all three (and the code the Dataset Builder shows, ``datasets.codegen``): a preview
is the export's first rows, never a second query written apart.

Which participants: the union of the cohorts' members (either cohort shape, ``cohorts.members``), or everyone with
``all_participants``. Which rows of a domain: those of the concepts of the dataset's concept sets of that domain
(standard concepts with their descendants), or every row of a domain taken whole (a prepackaged concept set:
demographics, all surveys, …). The person table needs no concept set.

A domain of the Controlled Tier only (zip code socioeconomic status, whole genome variants) is refused on a data
version whose manifest says it is a Registered Tier release, whatever the workspace layer let through.

Whole genome variants are the one domain not read with SQL: its rows are genotype calls read from the index's
genotype store (``datasets.genotypes``), at the variants of the request's ``genome_selection``. The plan opens the
store and counts the variants (refusing a selection of none, or of more than ``MAX_DATASET_VARIANTS``); preview,
read and export then take that domain through the same calls as every other, so the callers' audit of
participant-level reads covers it unchanged.
"""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyroaring import BitMap

from .. import __version__
from ..cdr.facts import Domain
from ..cdr.problems import Problem, ProblemsError
from ..cdr.store import Cdr, sha256_file
from ..cohorts.builder.engine import CohortEngine
from ..cohorts.members import members
from ..engines.files import join_parts, parquet_files
from ..index.variant_query import VariantSelection
from . import genotypes
from .columns import CATALOGUE
from .prepackaged import tier_problem
from .query import PERSONS_TABLE, ConceptFilter, DomainQuery, domain_query

PREVIEW_ROWS = 20
MANIFEST = "manifest.json"
FORMAT = "research-workbench-dataset"
FORMAT_VERSION = 1


class DatasetError(ProblemsError):
    """A dataset that cannot be run as defined; each problem names its place (``values.CONDITION``, …)."""

    heading = "dataset cannot be run"


@dataclass
class DatasetRequest:
    """A dataset's definition with its references resolved (the workspace layer reads the resources)."""

    cohorts: list[dict[str, Any]] = field(default_factory=list)  # the saved cohorts' contents
    all_participants: bool = False
    concept_sets: list[dict[str, Any]] = field(default_factory=list)  # {"domain", "concepts": [{conceptId, standard}]}
    whole_domains: list[Domain] = field(default_factory=list)  # prepackaged concept sets: the domain taken whole
    values: dict[Domain, list[str]] = field(default_factory=dict)
    genome_selection: VariantSelection | None = None  # the variants of the whole genome variants domain


@dataclass
class DatasetPlan:
    persons: BitMap | None  # None: every participant of the data version
    queries: dict[Domain, DomainQuery]
    filters: dict[Domain, ConceptFilter | None]
    genomes: genotypes.GenotypePlan | None = None  # the whole genome variants domain (read from the genotype store)

    @property
    def domains(self) -> list[Domain]:
        """Every domain the dataset reads: the SQL ones, then whole genome variants."""
        return [*self.queries, *([genotypes.DOMAIN] if self.genomes is not None else [])]

    def params(self, domain: Domain, cdr: Cdr | None) -> dict[str, Any]:
        """The statement's parameters: the concept ids, and each CDR table's file (``cdr``; None on an engine
        that has the tables registered)."""
        query, concepts = self.queries[domain], self.filters[domain]
        params: dict[str, Any] = {name: str(cdr.table_file(name)) for name in query.tables} if cdr is not None else {}
        if concepts is not None:
            params["standard"], params["source"] = sorted(concepts.standard), sorted(concepts.source)
        return params


def plan(engine: CohortEngine, request: DatasetRequest) -> DatasetPlan:
    """The dataset's participants and one statement per domain; DatasetError naming each problem."""
    problems: list[Problem] = []
    if not request.cohorts and not request.all_participants:
        problems.append(Problem("choose at least one cohort, or All participants", "cohorts"))
    if not request.values:
        problems.append(Problem("choose the columns of at least one domain", "values"))
    narrowed: dict[Domain, tuple[set[int], set[int]]] = {}
    for i, concept_set in enumerate(request.concept_sets):
        domain = Domain(concept_set["domain"])
        standard, source = narrowed.setdefault(domain, (set(), set()))
        for ref in concept_set["concepts"]:
            if ref.get("standard", True):
                standard.update(engine.expand(int(ref["conceptId"]), True))
            else:
                source.add(int(ref["conceptId"]))
    filters: dict[Domain, ConceptFilter | None] = {}
    queries: dict[Domain, DomainQuery] = {}
    genomes: genotypes.GenotypePlan | None = None
    manifest = Cdr(engine.cdr_dir).manifest
    held, tier = manifest.tables, manifest.extra.get("tier")
    for domain, names in request.values.items():
        where = f"values.{domain.value}"
        if domain not in CATALOGUE:
            problems.append(Problem(f"{domain.value} has no dataset columns", where))
            continue
        refused = tier_problem(domain, tier, what=domain.value, holder="data version")
        if refused:
            problems.append(Problem(refused, where))
            continue
        if domain is Domain.PERSON or domain in request.whole_domains:
            filters[domain] = None
        elif domain in narrowed:
            filters[domain] = ConceptFilter(frozenset(narrowed[domain][0]), frozenset(narrowed[domain][1]))
        else:
            problems.append(Problem(f"no concept set of the {domain.value} domain is chosen: choose one (or the "
                                    f"domain's prepackaged set) or leave its columns out", where))
            continue
        if domain is genotypes.DOMAIN:  # read from the genotype store, not SQL
            genomes, refused_genomes = genotypes.plan(engine.index_dir, request.genome_selection, names)
            problems += refused_genomes
            continue
        try:
            queries[domain] = domain_query(domain, names, persons=not request.all_participants,
                                           concepts=filters[domain])
        except KeyError as err:
            problems.append(Problem(str(err.args[0]), where))
            continue
        missing = [t for t in queries[domain].tables if t not in held]
        if missing:
            problems.append(Problem(f"this data version has no {', '.join(missing)} table: {domain.value} cannot be "
                                    "read from it", where))
    if problems:
        raise DatasetError(problems)
    persons = None
    if not request.all_participants:
        persons = engine.bitmap()  # of the index's width: 64-bit where person ids pass 32 bits
        for content in request.cohorts:
            persons |= members(engine, content)
    return DatasetPlan(persons, queries, filters, genomes)


def _persons(dataset: DatasetPlan) -> dict[str, pa.Table] | None:
    """The dataset's participants as the table its statements join (None: everyone)."""
    if dataset.persons is None:
        return None
    return {PERSONS_TABLE: pa.table({"person_id": np.asarray(dataset.persons.to_array(), dtype=np.int64)})}


def _on_engine(engine: CohortEngine, dataset: DatasetPlan, domain: Domain) -> bool:
    """Whether the domain's rows come from another engine (Spark), where the CDR's tables are registered by name."""
    return engine.engine_tables is not None and not (domain is genotypes.DOMAIN and dataset.genomes is not None)


def _arrow(engine: CohortEngine, dataset: DatasetPlan, domain: Domain, limit: int | None) -> pa.Table:
    if domain is genotypes.DOMAIN and dataset.genomes is not None:
        return genotypes.rows(dataset.genomes, dataset.persons, limit)
    persons = _persons(dataset)
    if _on_engine(engine, dataset, domain):
        query = dataset.queries[domain].statement(limit, files=False)
        return engine.engine_tables.run(query, dataset.params(domain, None), persons)  # type: ignore[union-attr]
    query = dataset.queries[domain].statement(limit)
    cdr = Cdr(engine.cdr_dir)
    con = engine.con
    if persons is not None:  # the engine's connection is this thread's: the name is free until unregistered
        con.register(PERSONS_TABLE, persons[PERSONS_TABLE])
    try:
        with cdr.query_errors():
            return con.sql(query.sql(dialect="duckdb"), params=dataset.params(domain, cdr)).to_arrow_table()
    finally:
        if dataset.persons is not None:
            con.unregister(PERSONS_TABLE)


def preview(engine: CohortEngine, dataset: DatasetPlan, domain: Domain, rows: int = PREVIEW_ROWS) -> pa.Table:
    """The domain's first ``rows`` rows, in the export's order (person, then event id; for whole genome variants
    person, then genome position)."""
    return _arrow(engine, dataset, domain, rows)


def read(engine: CohortEngine, dataset: DatasetPlan, domain: Domain) -> pa.Table:
    """The domain's rows, whole."""
    return _arrow(engine, dataset, domain, None)


def _write(table: pa.Table, path: Path) -> dict[str, Any]:
    pq.write_table(table, path, compression="zstd")
    return _described(path)


def _described(path: Path) -> dict[str, Any]:
    metadata = pq.ParquetFile(path).metadata
    return {"file": path.name, "rows": metadata.num_rows, "columns": metadata.schema.to_arrow_schema().names,
            "sha256": sha256_file(path)}


def _write_domain(engine: CohortEngine, dataset: DatasetPlan, domain: Domain, path: Path) -> dict[str, Any]:
    """Write one domain's rows as ``path``. On another engine (Spark) its workers write them as parts, joined into
    the one file row group by row group: a domain larger than the driver's memory is never collected there."""
    if not _on_engine(engine, dataset, domain):
        return _write(read(engine, dataset, domain), path)
    parts = path.with_name(f".{path.name}.parts")
    query = dataset.queries[domain].statement(None, files=False)
    engine.engine_tables.write_parquet(query, parts, dataset.params(domain, None), _persons(dataset))  # type: ignore[union-attr]
    join_parts(parquet_files(parts), path, compression="zstd")
    shutil.rmtree(parts)
    return _described(path)


def export(engine: CohortEngine, dataset: DatasetPlan, target: Path, *, about: dict[str, Any],
           extra: dict[str, pa.Table] | None = None, progress=None, now: datetime | None = None) -> dict[str, Any]:
    """Write every domain of the dataset as ``<domain>.parquet`` (and each ``extra`` table — a review set's statuses
    and annotations — as ``<name>.parquet``) in the new directory ``target`` with ``manifest.json`` (``about``: the
    dataset, its definition and the data version, as the caller knows them; plus row counts, content hashes, the
    code's version). Written in a hidden directory and renamed into place: a failed or cancelled export leaves
    nothing. ``progress(done, total, name)`` is called before the first table and after each; it may raise to
    cancel."""
    target = Path(target)
    if target.exists():
        raise FileExistsError(f"{target} exists: an export writes a new directory")
    extra = extra or {}
    total = len(dataset.domains) + len(extra)
    target.parent.mkdir(parents=True, exist_ok=True)
    building = target.parent / f".{target.name}.building-{uuid.uuid4().hex[:8]}"
    building.mkdir()
    try:
        if progress is not None:
            progress(0, total, None)
        domains: dict[str, Any] = {}
        for n, domain in enumerate(dataset.domains, start=1):
            domains[domain.value] = _write_domain(engine, dataset, domain, building / f"{domain.slug}.parquet")
            if progress is not None:
                progress(n, total, domain.value)
        tables: dict[str, Any] = {}
        for n, (name, table) in enumerate(extra.items(), start=len(dataset.domains) + 1):
            tables[name] = _write(table, building / f"{name}.parquet")
            if progress is not None:
                progress(n, total, name)
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, **about,
                    "participants": None if dataset.persons is None else len(dataset.persons),
                    "domains": domains, "tables": tables, "code_version": __version__,
                    "created_at": (now or datetime.now().astimezone()).isoformat()}
        (building / MANIFEST).write_text(json.dumps(manifest, indent=1, default=str), encoding="utf-8")
        building.rename(target)
        return manifest
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
