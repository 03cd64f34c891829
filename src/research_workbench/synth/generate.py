"""``generate``: write a synthetic raw CDR (the Foundation format) for N participants from a seed.

Chunks of participants are generated (in up to two worker processes) and streamed, in chunk order, into one
Parquet writer per table, so peak memory depends on the chunk size, not on N (the only per-participant state kept
across chunks is 14 bytes per genome - id, ancestry, causal genotypes - for the VCF pass: 7 MB at 1M).
DuckDB, which hashes the table files, is capped at ``HASH_MEMORY_LIMIT``; the VCF is written in blocks of variants
sized to a fixed byte budget. The writer turns each chunk's
local row numbers into global ids. Then come the vocabulary tables, the zip areas' socioeconomic measures
(``areas.py``: every area participants can live in, whatever N), the genome VCFs and the defect ground truth
(``ground_truth/defects.parquet``), and ``CdrBuilder.commit`` with a creation time derived from the seed: the same
seed and N give byte-identical files.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .. import __version__
from ..cdr.manifest import Manifest
from ..cdr.model import cdm
from ..cdr.store import CdrBuilder
from ..cdr.workers import worker_pool
from . import config as C
from .areas import zip3_ses_map
from .chunk import NUMBERED, REFERENCES, TABLE_ORDER, ChunkResult, chunk_bounds, generate_chunk
from .defects import GROUND_TRUTH_SCHEMA, KINDS
from .genomics import make_panel, write_vcfs
from .vocab import vocabulary

Progress = Callable[[str, int, int], None]
GROUND_TRUTH_FILE = "ground_truth/defects.parquet"
HASH_MEMORY_LIMIT = "512MB"  # DuckDB only sums row hashes; a small cap keeps peak memory flat
WGS_FILE = "genomics/wgs.vcf.gz"
ARRAY_FILE = "genomics/array.vcf.gz"


class TableSink:
    """One ParquetWriter per table, fed chunk by chunk; ids offset by the rows already written."""

    def __init__(self, builder: CdrBuilder):
        self.builder = builder
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.rows: Counter[str] = Counter()
        self.model = cdm()

    def offsets(self) -> dict[str, int]:
        return dict(self.rows)

    def write_chunk(self, result: ChunkResult) -> pa.Table:
        offsets = self.offsets()
        names = [t for t in TABLE_ORDER if t in result.tables] + [t for t in result.tables if t not in TABLE_ORDER]
        for name in names:
            table = result.tables[name]
            if name in NUMBERED:
                col = f"{name}_id"
                table = table.set_column(table.schema.get_field_index(col), col, pc.add(table[col], offsets.get(name, 0) + 1))
            for (tname, col), target in REFERENCES.items():
                if tname == name and col in table.column_names:
                    table = table.set_column(table.schema.get_field_index(col), col, pc.add(table[col], offsets.get(target, 0) + 1))
            self._write(name, table)
        for name in names:
            self.rows[name] += result.tables[name].num_rows
        # ground truth: local rows → primary-key values
        gt = result.ground_truth
        if gt.num_rows:
            local = gt["row_id"].to_numpy()
            tables = gt["table"].to_numpy(zero_copy_only=False)
            offset = np.array([offsets.get(t, 0) for t in tables], dtype=np.int64)
            row_id = np.where(local >= 0, local + offset + 1, 0)
            gt = gt.set_column(2, "row_id", pa.array(row_id, pa.int64(), mask=local < 0))
        return gt

    def _write(self, name: str, table: pa.Table) -> None:
        writer = self.writers.get(name)
        if writer is None:
            writer = pq.ParquetWriter(self.builder.table_path(name), self.model.table(name).arrow_schema(), compression="zstd")
            self.writers[name] = writer
        writer.write_table(table.cast(self.model.table(name).arrow_schema()), row_group_size=1 << 20)

    def close(self) -> list[str]:
        for writer in self.writers.values():
            writer.close()
        return sorted(self.writers)


def _chunks(seed: int, participants: int, workers: int):
    """Chunk results in order, at most ``workers + 1`` in flight (bounded memory)."""
    n_chunks = len(chunk_bounds(participants))
    if workers <= 1 or n_chunks == 1:
        for c in range(n_chunks):
            yield generate_chunk(seed, participants, c)
        return
    with worker_pool(workers) as pool:
        pending = {}
        submitted = 0
        for c in range(n_chunks):
            while submitted < n_chunks and submitted < c + workers + 1:
                pending[submitted] = pool.submit(generate_chunk, seed, participants, submitted)
                submitted += 1
            yield pending.pop(c).result()


def generate(
    participants: int,
    seed: int,
    out: Path,
    *,
    replace: bool = False,
    progress: Progress | None = None,
    workers: int | None = None,
) -> Manifest:
    """Generate a synthetic program of ``participants`` participants into the CDR directory ``out``."""
    if participants < 1:
        raise ValueError("participants must be at least 1")
    if seed < 0:
        raise ValueError("seed must be a non-negative integer")
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    report = progress or (lambda stage, done, total: None)
    vocab = vocabulary()
    with CdrBuilder(Path(out), replace=replace, memory_limit=HASH_MEMORY_LIMIT) as builder:
        sink = TableSink(builder)
        gt_path = builder.add_file(GROUND_TRUTH_FILE, "Injected defects: defect, table, row_id, person_id, detail")
        gt_writer = pq.ParquetWriter(gt_path, GROUND_TRUTH_SCHEMA, compression="zstd")
        stats: Counter[str] = Counter()
        defects: Counter[str] = Counter()
        genome_ids, genome_anc, genome_gt = [], [], []
        n_chunks = len(chunk_bounds(participants))
        report("participants", 0, n_chunks)
        for i, result in enumerate(_chunks(seed, participants, workers)):
            gt = sink.write_chunk(result)
            if gt.num_rows:
                gt_writer.write_table(gt)
                defects.update(gt["defect"].to_pylist())
            stats.update(result.stats)
            genome_ids.append(result.genome["person_id"])
            genome_anc.append(result.genome["ancestry"].astype(np.int8))
            genome_gt.append(result.genome["genotypes"].astype(np.uint8))
            del result
            report("participants", i + 1, n_chunks)
        gt_writer.close()
        written = sink.close()

        # vocabulary tables
        for name, table in vocab.tables().items():
            pq.write_table(table, builder.table_path(name), compression="zstd")
            written.append(name)
        pq.write_table(zip3_ses_map(seed, vocab), builder.table_path("zip3_ses_map"), compression="zstd")
        written.append("zip3_ses_map")

        # hash every table file (DuckDB, in a thread) while the genomes are written (numpy + zlib)
        written = sorted(set(written))
        hashing_error: list[BaseException] = []

        def hash_tables() -> None:
            try:
                for i, name in enumerate(written):
                    report("hashing", i, len(written))
                    builder.register_table(name)
                report("hashing", len(written), len(written))
            except BaseException as err:  # re-raised in the main thread
                hashing_error.append(err)

        hasher = threading.Thread(target=hash_tables, name="synth-hash")
        hasher.start()
        try:
            panel = make_panel(seed, vocab)
            wgs = builder.add_file(WGS_FILE, "Whole-genome variants (GRCh38), bgzipped VCF")
            arr = builder.add_file(ARRAY_FILE, "Genotyping-array variants (GRCh38), bgzipped VCF")
            builder.add_file(WGS_FILE + ".tbi", "Tabix index of the whole-genome VCF")
            builder.add_file(ARRAY_FILE + ".tbi", "Tabix index of the array VCF")
            genome = write_vcfs(seed, panel, np.concatenate(genome_ids), np.concatenate(genome_anc),
                                np.concatenate(genome_gt), wgs, arr, progress=report)
            del genome_ids, genome_anc, genome_gt
        finally:
            hasher.join()
        if hashing_error:
            raise hashing_error[0]
        manifest = builder.commit(
            source={"kind": "synthetic", "seed": seed, "participants": participants, "generator": "research_workbench.synth",
                    "generator_version": __version__},
            vocabulary_version=C.VOCABULARY_VERSION,
            created_at=C.created_at(seed),
            notes=[
                "Synthetic program: every participant is fictional.",
                f"Deliberate defects are listed in {GROUND_TRUTH_FILE}.",
            ],
            extra={
                "synth": {
                    "participants": dict(sorted(stats.items())),
                    "defects": {k: defects.get(k, 0) for k in KINDS},
                    "genomics": genome,
                    "data_cutoff": str(np.datetime64(C.DATA_CUTOFF, "D")),
                    "chunk_size": C.CHUNK_SIZE,
                    "files": {"ground_truth": GROUND_TRUTH_FILE, "wgs_vcf": WGS_FILE, "array_vcf": ARRAY_FILE},
                }
            },
        )
    return manifest
