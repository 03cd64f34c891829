"""Which variants a request means: the one selection model shared by variant criteria (the Cohort Builder), extracts,
GWAS and per-ancestry frequencies, so "gene TCF7L2, AF 1–50 %" selects the same variants everywhere.

A selection is a union of identifiers — rsIDs, genes, regions, variant ids — (none given: every variant),
intersected with an allele-frequency range over the store's samples. Regions are ``chr10:114000000-115000000`` or
``10:114000000-115000000`` (1-based, inclusive), or a whole chromosome (``chr10``).
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_REGION = re.compile(r"^(?:chr)?([0-9]{1,2}|[XYM]|MT)(?::([0-9][0-9,]*)-([0-9][0-9,]*))?$", re.IGNORECASE)
_RSID = re.compile(r"^rs[0-9]+$", re.IGNORECASE)
_VARIANT_ID = re.compile(r"^(?:chr)?([0-9]{1,2}|[XYM]|MT)-([0-9]+)-([ACGTN]+)-([ACGTN]+)$", re.IGNORECASE)


def parse_region(text: str) -> tuple[str, int, int]:
    """(chromosome without "chr", first position, last position) of a region; ValueError naming the problem."""
    m = _REGION.match(text.strip().replace(" ", ""))
    if not m:
        raise ValueError(f"{text!r} is not a region (chr10:114000000-115000000, 10:1-2000 or chr10)")
    chrom = m.group(1).upper()
    if m.group(2) is None:
        return chrom, 1, 2**62
    start, end = int(m.group(2).replace(",", "")), int(m.group(3).replace(",", ""))
    if start < 1 or end < start:
        raise ValueError(f"{text!r}: the region must start at 1 or later and end at or after its start")
    return chrom, start, end


class VariantSelection(BaseModel):
    """Variants by identifier (a union; none: all) and allele-frequency range (fractions, inclusive)."""

    model_config = ConfigDict(extra="forbid")

    rsids: list[str] = Field(default_factory=list, description="dbSNP ids, e.g. rs7903146")
    genes: list[str] = Field(default_factory=list, description="HGNC symbols, e.g. TCF7L2 (case-insensitive)")
    regions: list[str] = Field(default_factory=list, description="chr10:114000000-115000000 (1-based, inclusive)")
    variant_ids: list[str] = Field(default_factory=list, description="CHROM-POS-REF-ALT, e.g. 10-114758349-C-T")
    min_af: float | None = Field(None, ge=0, le=1, description="Lowest ALT allele frequency over the store's samples")
    max_af: float | None = Field(None, ge=0, le=1, description="Highest ALT allele frequency")

    @field_validator("rsids")
    @classmethod
    def _rsids(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not _RSID.match(v.strip())]
        if bad:
            raise ValueError(f"not an rsID: {', '.join(map(repr, bad))} (rs followed by digits)")
        return [v.strip().lower() for v in value]

    @field_validator("genes")
    @classmethod
    def _genes(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", v.strip())]
        if bad:
            raise ValueError(f"not a gene symbol: {', '.join(map(repr, bad))}")
        return [v.strip().upper() for v in value]

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        for v in value:
            parse_region(v)
        return [v.strip() for v in value]

    @field_validator("variant_ids")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not _VARIANT_ID.match(v.strip())]
        if bad:
            raise ValueError(f"not a variant id: {', '.join(map(repr, bad))} (CHROM-POS-REF-ALT)")
        return [_normal_id(v) for v in value]

    @model_validator(mode="after")
    def _range(self) -> VariantSelection:
        if self.min_af is not None and self.max_af is not None and self.min_af > self.max_af:
            raise ValueError("min_af is above max_af")
        return self

    @property
    def by_identifier(self) -> bool:
        return bool(self.rsids or self.genes or self.regions or self.variant_ids)

    def describe(self) -> str:
        """The selection in words, for pages, logs and manifests."""
        parts = [*self.rsids, *(f"gene {g}" for g in self.genes), *self.regions, *self.variant_ids]
        text = ", ".join(parts) if parts else "all variants"
        if self.min_af is not None or self.max_af is not None:
            low = f"{self.min_af:g}" if self.min_af is not None else "0"
            high = f"{self.max_af:g}" if self.max_af is not None else "1"
            text += f" with allele frequency {low}–{high}"
        return text


def _normal_id(text: str) -> str:
    m = _VARIANT_ID.match(text.strip())
    return f"{m.group(1).upper()}-{int(m.group(2))}-{m.group(3).upper()}-{m.group(4).upper()}"


def select_variants(variants: pa.Table, selection: VariantSelection) -> np.ndarray:
    """The ``variant_index`` values (ascending) of the rows of a store's variant table that ``selection`` means."""
    n = variants.num_rows
    if selection.by_identifier:
        hit = np.zeros(n, dtype=bool)
        if selection.rsids:
            hit |= _isin(pc.utf8_lower(variants["rsid"]), selection.rsids)
        if selection.genes:
            hit |= _isin(pc.utf8_upper(variants["gene"]), selection.genes)
        if selection.variant_ids:
            hit |= _isin(pc.utf8_upper(variants["variant_id"]), selection.variant_ids)
        if selection.regions:
            chrom = np.array([c.upper().removeprefix("CHR") for c in variants["chrom"].to_pylist()], dtype=object)
            pos = variants["pos"].to_numpy()
            for region in selection.regions:
                c, start, end = parse_region(region)
                hit |= (chrom == c) & (pos >= start) & (pos <= end)
    else:
        hit = np.ones(n, dtype=bool)
    if selection.min_af is not None or selection.max_af is not None:
        af = variants["allele_frequency"].to_numpy(zero_copy_only=False).astype(np.float64)
        called = ~np.isnan(af)
        if selection.min_af is not None:
            hit &= called & (np.nan_to_num(af, nan=-1.0) >= selection.min_af)
        if selection.max_af is not None:
            hit &= called & (np.nan_to_num(af, nan=2.0) <= selection.max_af)
    return variants["variant_index"].to_numpy()[hit]


def _isin(column: pa.ChunkedArray, values: list[str]) -> np.ndarray:
    return pc.fill_null(pc.is_in(column, value_set=pa.array(values)), False).to_numpy(zero_copy_only=False)
