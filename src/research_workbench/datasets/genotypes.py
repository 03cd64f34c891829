"""The "Whole genome variants" table of a dataset (Controlled Tier only): the participants' genotype calls at the
variants the dataset chooses, in long form, read from the index's genotype store (``genomics.store``), not SQL.

One row per participant and variant where the call is not homozygous reference: ``genotype`` is the ALT allele
count (1 or 2), or null for a missing call (the participant's genome has no call there; a homozygous-reference call
has no row, so a participant and variant without a row means two REF alleles). Only participants with a genome
in the store have rows. Rows are ordered by person id, then genome position (the store's variant order, which is
the VCF's: chromosome by chromosome, then position — not the text order of ``chrom``).

Which variants: the dataset's ``genome_selection`` (``GenomeSelection``: the fields of
``index.variant_query.VariantSelection``, the one meaning of "which variants"), which must name variants by
identifier (rsIDs, genes, regions or variant ids; an allele-frequency range alone would mean most of the genome)
and may mean at most ``MAX_DATASET_VARIANTS``: a dataset is read whole into memory and shown as tables, so
whole-genome scale is the Genomics page's extract (VCF, PLINK or BGEN files written in the background).

Memory: the whole read takes the selected variants a chunk at a time over the dataset's samples (at most
``CHUNK_CELLS`` genotypes in hand) and keeps only the non-reference calls; a preview reads the first participants
(in person order) block by block and stops at its row count, so it never reads the whole cohort.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, StrictStr, ValidationError, model_serializer,
                      model_validator)

from ..cdr.facts import Domain
from ..cdr.problems import Problem
from ..genomics.store import MISSING, GenomicsError, GenotypeStore
from ..index.variant_query import VariantSelection, select_variants

DOMAIN = Domain.WHOLE_GENOME_VARIANT
SET_NAME = "whole_genome"  # the prepackaged set (``datasets.prepackaged``)
KIND = "wgs"
MAX_DATASET_VARIANTS = 5000
"""Variants one dataset's genome selection may mean (more: the Genomics page's extract)."""
MAX_IDENTIFIER_CHARS = 1000  # an indel's variant id can be long; nothing legitimate is longer
CHUNK_CELLS = 8_000_000  # genotypes in hand at once (int8: 8 MB), as the genomics extract reads
PREVIEW_BLOCK = 256  # participants read first for a preview; each further block is four times the last
WHERE_SELECTION = "genome_selection"
WHERE_VALUES = f"values.{DOMAIN.value}"
SELECTION_REQUIRED = ("choose the variants: rsIDs, genes, regions or variant ids (an allele-frequency range alone "
                      "would mean most of the genome)")
SELECTION_UNUSED = (f"a variant selection is read only with the Whole genome variants set ({SET_NAME!r}): add the "
                    "set, or remove the selection")
EXTRACT_POINTER = ("for whole-genome scale, extract the cohort's genotypes as VCF, PLINK or BGEN files on the "
                   "workspace's Genomics page")

# The table's columns: the variant's description from the store's variant table, then the call.
VARIANT_COLUMNS = ("variant_id", "chrom", "pos", "ref", "alt", "rsid", "gene")
SCHEMA = pa.schema([("person_id", pa.int64()), ("variant_id", pa.string()), ("chrom", pa.string()),
                    ("pos", pa.int64()), ("ref", pa.string()), ("alt", pa.string()), ("rsid", pa.string()),
                    ("gene", pa.string()), ("genotype", pa.int8())])


# -- the selection as a dataset's content holds it ----------------------------------------------------------------

def _one(field: str, value: str) -> str:
    """``value`` checked and normalised as ``VariantSelection`` does a list item of ``field`` (one meaning), so a
    refusal is located at the item (``regions[1]``) rather than at the list."""
    try:
        return getattr(VariantSelection(**{field: [value]}), field)[0]
    except ValidationError as err:
        raise ValueError(str(err.errors()[0].get("msg", "")).removeprefix("Value error, ")) from None


def _item(field: str):
    return Annotated[StrictStr, Field(min_length=1, max_length=MAX_IDENTIFIER_CHARS),
                     AfterValidator(lambda value: _one(field, value))]


def _items(example: str):
    return Field(default_factory=list, max_length=MAX_DATASET_VARIANTS, description=f"e.g. {example}")


Rsid, Gene, Region, VariantId = _item("rsids"), _item("genes"), _item("regions"), _item("variant_ids")


class GenomeSelection(BaseModel):
    """A dataset's ``genome_selection``: ``VariantSelection``'s fields, each list item validated where it is. Stored
    with only the fields used (a dataset's content reads as it was written)."""

    model_config = ConfigDict(extra="forbid")

    rsids: list[Rsid] = _items("rs7903146")
    genes: list[Gene] = _items("TCF7L2 (HGNC symbols, case-insensitive)")
    regions: list[Region] = _items("chr10:114000000-115000000 (1-based, inclusive) or chr10")
    variant_ids: list[VariantId] = _items("10-114758349-C-T (CHROM-POS-REF-ALT)")
    min_af: float | None = Field(None, ge=0, le=1, description="lowest ALT allele frequency over the store's samples")
    max_af: float | None = Field(None, ge=0, le=1, description="highest ALT allele frequency")

    @model_validator(mode="after")
    def _range(self) -> GenomeSelection:
        if self.min_af is not None and self.max_af is not None and self.min_af > self.max_af:
            raise ValueError(f"min_af ({self.min_af:g}) is above max_af ({self.max_af:g})")
        return self

    @model_serializer(mode="wrap")
    def _used(self, handler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None and v != []}

    def selection(self) -> VariantSelection:
        return VariantSelection(**self.model_dump())


def selection_of(stored: dict[str, Any] | None) -> VariantSelection | None:
    """The ``VariantSelection`` of a dataset's stored ``genome_selection`` (None when it has none)."""
    return None if stored is None else GenomeSelection.model_validate(stored).selection()


def content_problems(prepackaged: list[str], selection: GenomeSelection | None, *,
                     root: str = "content") -> list[Problem]:
    """What is wrong with a dataset content's genome selection given its prepackaged sets: the Whole genome variants
    set needs variants named by identifier; a selection without the set is a left-over."""
    where = f"{root}.{WHERE_SELECTION}"
    used = selection is not None and bool(selection.model_dump())
    if SET_NAME in prepackaged:
        if selection is None or not (selection.rsids or selection.genes or selection.regions or selection.variant_ids):
            return [Problem(SELECTION_REQUIRED, where)]
    elif used:
        return [Problem(SELECTION_UNUSED, where)]
    return []


# -- the plan -----------------------------------------------------------------------------------------------------

@dataclass
class GenotypePlan:
    """What the table reads: the store, the variants (``variant_index``, ascending: genome order), the columns."""

    store: GenotypeStore
    selection: VariantSelection
    variants: np.ndarray
    columns: list[str]


def plan(index_dir: Path, selection: VariantSelection | None, columns: list[str]) -> tuple[GenotypePlan | None,
                                                                                           list[Problem]]:
    """The table's plan, or the problems that refuse it (located as the dataset plan locates its own:
    ``values.WHOLE_GENOME_VARIANT``, ``genome_selection``)."""
    unknown = [c for c in columns if c not in SCHEMA.names]
    if unknown:
        return None, [Problem(f"{DOMAIN.value}: no column {unknown[0]!r} (see the column catalogue)", WHERE_VALUES)]
    try:
        store = GenotypeStore.open(index_dir, KIND)
        store.variants  # noqa: B018  (read now: a store without its variant table is no store)
    except (GenomicsError, OSError):
        return None, [Problem(f"this data version has no whole genome variants (its index has no {KIND} genotype "
                              f"store): {DOMAIN.value} cannot be read from it", WHERE_VALUES)]
    if selection is None or not selection.by_identifier:
        return None, [Problem(SELECTION_REQUIRED, WHERE_SELECTION)]
    variants = np.sort(select_variants(store.variants, selection))
    if len(variants) == 0:
        return None, [Problem(f"no variant of this data version is {selection.describe()}: check the rsIDs, genes, "
                              "regions and variant ids", WHERE_SELECTION)]
    if len(variants) > MAX_DATASET_VARIANTS:
        return None, [Problem(f"{len(variants):,} variants are {selection.describe()}, more than a dataset takes "
                              f"({MAX_DATASET_VARIANTS:,}, MAX_DATASET_VARIANTS): narrow the selection, or "
                              f"{EXTRACT_POINTER}", WHERE_SELECTION)]
    return GenotypePlan(store, selection, variants, list(columns)), []


# -- the rows -----------------------------------------------------------------------------------------------------

def _calls(store: GenotypeStore, variants: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                                       np.ndarray]:
    """The non-reference calls of ``variants`` × the samples at ``positions`` (in the order the rows want: person
    order): (column into ``positions``, variant index, genotype), sorted by column then variant."""
    if len(positions) == 0 or len(variants) == 0:
        return np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, np.int8)
    # pgenlib reads samples in store order: the k-th sample read is column read_order[k] of ``positions`` (int32:
    # a column per row of a table that can reach tens of millions of rows).
    read_order = np.argsort(positions, kind="stable").astype(np.int32)
    size = int(np.clip(CHUNK_CELLS // len(positions), 1, 2000))
    columns, indices, genotypes = [], [], []
    for part, block in store.chunks(variants, positions[read_order], size=size):
        v, s = np.nonzero(block)
        columns.append(read_order[s])
        indices.append(part[v])
        genotypes.append(block[v, s])
    column, index, genotype = np.concatenate(columns), np.concatenate(indices), np.concatenate(genotypes)
    order = np.lexsort((index, column))
    return column[order], index[order], genotype[order]


def _table(planned: GenotypePlan, persons: np.ndarray, column: np.ndarray, index: np.ndarray,
           genotype: np.ndarray) -> pa.Table:
    variants = planned.store.variants  # row i is variant_index i (the .bim's order)
    take = pa.array(index, type=pa.int64())
    data: dict[str, pa.Array] = {"person_id": pa.array(persons[column], type=pa.int64())}
    for name in VARIANT_COLUMNS:
        data[name] = variants[name].take(take).combine_chunks().cast(SCHEMA.field(name).type)
    data["genotype"] = pa.array(genotype, type=pa.int8(), mask=genotype == MISSING)
    return pa.table(data, schema=SCHEMA).select(planned.columns)


def rows(planned: GenotypePlan, persons, limit: int | None = None) -> pa.Table:
    """The table for ``persons`` (a bitmap of person ids; None: everyone with a genome), whole or its first
    ``limit`` rows."""
    store = planned.store
    if persons is None:
        positions = np.arange(len(store.samples), dtype=np.int64)
    else:
        positions = store.sample_positions(np.asarray(persons.to_array(), dtype=np.int64))
    positions = positions[np.argsort(store.samples[positions], kind="stable")]  # person order
    ids = store.samples[positions]
    if limit is None:
        return _table(planned, ids, *_calls(store, planned.variants, positions))
    parts, found, start, block = [], 0, 0, PREVIEW_BLOCK
    while start < len(positions) and found < limit:
        column, index, genotype = _calls(store, planned.variants, positions[start:start + block])
        parts.append((column + start, index, genotype))
        found += len(column)
        start, block = start + block, block * 4
    if not parts:
        return _table(planned, ids, *_calls(store, planned.variants, positions[:0]))
    column, index, genotype = (np.concatenate(p)[:limit] for p in zip(*parts, strict=True))
    return _table(planned, ids, column, index, genotype)
