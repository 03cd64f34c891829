"""Fixed parameters of the synthetic program: calendar, shares, chunking.

Shares are the issue's targets (EHR for about three quarters, physical measurements 85 %, biosamples 80 %,
wearables 5-10 %, genomes about half). Chunk size is a constant, never derived from N, so a participant's data
depend only on the seed and their index.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np

EPOCH = date(1970, 1, 1)


def day(d: date) -> int:
    """Days since 1970-01-01."""
    return (d - EPOCH).days


PROGRAM_START = day(date(2018, 5, 6))  # national launch
ENROLMENT_END = day(date(2024, 3, 31))
DATA_CUTOFF = day(date(2024, 6, 30))  # last day any event may fall on
EHR_EARLIEST = day(date(2005, 1, 1))
NULL_DAY = -(10**9)  # "no such date" in day arrays

CHUNK_SIZE = 5_000  # participants per generation chunk (memory is proportional to this, not to N)
PERSON_ID_BASE = 1_000_000  # person_id = PERSON_ID_BASE + index + 1

SHARE_EHR = 0.75
SHARE_PHYSICAL_MEASUREMENTS = 0.85
SHARE_BIOSAMPLES = 0.80
SHARE_WEARABLES = 0.05
SHARE_GENOMES = 0.50
SHARE_WITHDRAWN = 0.008
SHARE_DEACTIVATED = 0.01
SHARE_UNDER_18 = 0.002

WEARABLE_MIN_DAYS = 14
WEARABLE_MAX_DAYS = 60
WEARABLE_INTRADAY_DAYS = 1  # minute-level steps and heart rate for the last N days of each wear period

GENOME_VARIANTS = 10_000
ARRAY_EVERY = 5  # every 5th variant with a minor allele frequency >= 1 % is on the genotyping array
ANCESTRIES = ("afr", "amr", "eas", "eur", "mid", "sas", "oth")

VOCABULARY_VERSION = "research-workbench-synth-vocab 2024-06 (OMOP v5 subset + PPI)"


def created_at(seed: int) -> datetime:
    """A fixed creation time derived from the seed, so manifests are byte-identical across runs."""
    return datetime(2024, 7, 1, tzinfo=timezone.utc) + timedelta(seconds=int(seed) % 86_400)


def as_date32(days: np.ndarray):
    import pyarrow as pa

    return pa.array(np.asarray(days, dtype=np.int32), type=pa.int32()).cast(pa.date32())


def as_timestamp(micros: np.ndarray):
    import pyarrow as pa

    return pa.array(np.asarray(micros, dtype=np.int64), type=pa.int64()).cast(pa.timestamp("us"))


MICROS_PER_DAY = 86_400_000_000
