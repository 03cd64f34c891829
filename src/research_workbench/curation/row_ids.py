"""Row ids in a release: a keyed pseudorandom permutation of the raw ids, stable across releases.

Every column that holds the id of a row (``condition_occurrence_id``, ``visit_occurrence_id`` wherever it
appears, ``measurement_event_id``, a provider id …; kind ``row`` in ``cdr/schema/identifiers.csv``) is released
as ``ROW_ID_BASE + F(id)``, where ``F`` is a 4-round Feistel network on 60-bit values whose round function is
AES-128 under the program's private key (``.private/row_ids.key``, mode 0600). This gives:

- **no link back**: without the key a release id says nothing about the raw id, so no release row can be
  matched to a raw CDR row or a sandbox row by its id; stewards holding the key can invert it (``RowIdCipher.invert``);
- **stability**: the same raw id becomes the same release id in every release, in both tiers and in every column
  that refers to it, so joins (visits, provenance ``*_ext`` tables, polymorphic event references) still hold;
- **disjoint ranges**: release ids lie in [2^61, 2^61 + 2^60) and raw ids must lie in [0, 2^60), so no release id
  can ever equal a raw id, and the release scanner can tell them apart exactly.

Why a permutation rather than a stored map (as for person ids): a map of every event row would be as large as the
CDR and every event table would have to be joined to it; the permutation is computed where the id is read, inside
the one rewrite each table gets at the end of de-identification. It runs as a vectorised DuckDB function
(``rw_row_id``) over Arrow batches; the rule wraps it in ``CASE WHEN id IS NULL`` so that DuckDB never calls it
for a batch of NULLs (most reference columns are mostly empty).

On Spark (``register_engine``) the same function is an Arrow UDF (Spark 4.1+) computing the identical permutation on the
executors; they need Research Workbench (and ``cryptography``) installed, as every Python process of a PySpark job
does. Only the 16-byte key travels with the function; each Python worker builds its cipher once.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..cdr.problems import Problem, ProblemsError

ROW_ID_BITS = 60
ROW_ID_LIMIT = 1 << ROW_ID_BITS  # raw ids must be in [0, ROW_ID_LIMIT)
ROW_ID_BASE = 1 << 61  # release ids are ROW_ID_BASE + F(raw id)
# Four rounds of a Feistel network over a pseudorandom function are a strong pseudorandom permutation (Luby and
# Rackoff). Nobody outside the stewards ever sees a (raw id, release id) pair, so the birthday bound of the 30-bit
# halves (about 2^15 such pairs) is not what protects the ids; more rounds would cost time at every release.
ROUNDS = 4
KEY_FILE = "row_ids.key"
SQL_FUNCTION = "rw_row_id"

_HALF = ROW_ID_BITS // 2
_MASK = np.uint64((1 << _HALF) - 1)


class RowIdError(ValueError):
    """A raw row id outside the range the permutation covers."""


class RowIdKeyError(ProblemsError):
    """The program's row-id key file cannot be used (located by its path)."""

    heading = "unusable row-id key"
    outcome = "nothing was curated."


class RowIdCipher:
    """The keyed permutation of row ids (see the module docstring)."""

    def __init__(self, key: bytes):
        if len(key) != 16:
            raise ValueError("a row-id key is 16 bytes")
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        self._cipher = Cipher(algorithms.AES(key), modes.ECB())

    def _round(self, half: np.ndarray, number: int) -> np.ndarray:
        """The round function: AES of (half, round number), low 30 bits. One AES block per value."""
        block = np.zeros((len(half), 2), dtype=np.uint64)
        block[:, 0] = half | (np.uint64(number) << np.uint64(32))
        out = np.frombuffer(self._cipher.encryptor().update(block.tobytes()), dtype=np.uint64)
        return out[0::2] & _MASK

    def permute(self, ids: np.ndarray) -> np.ndarray:
        """Release ids of raw ``ids`` (int64 in [0, 2^60))."""
        values = np.asarray(ids, dtype=np.int64)
        if values.size and (values.min() < 0 or values.max() >= ROW_ID_LIMIT):
            bad = values[(values < 0) | (values >= ROW_ID_LIMIT)][0]
            raise RowIdError(f"row id {bad} is outside 0 … 2^60 − 1, the range release ids are drawn for")
        x = values.astype(np.uint64)
        left, right = x >> np.uint64(_HALF), x & _MASK
        for number in range(ROUNDS):
            left, right = right, left ^ self._round(right, number)
        return ((left << np.uint64(_HALF)) | right).astype(np.int64) + ROW_ID_BASE

    def invert(self, release_ids: np.ndarray) -> np.ndarray:
        """Raw ids of ``release_ids`` (for data stewards holding the key)."""
        x = (np.asarray(release_ids, dtype=np.int64) - ROW_ID_BASE).astype(np.uint64)
        left, right = x >> np.uint64(_HALF), x & _MASK
        for number in reversed(range(ROUNDS)):
            left, right = right ^ self._round(left, number), left
        return ((left << np.uint64(_HALF)) | right).astype(np.int64)

    def arrow_function(self, ids: pa.Array) -> pa.Array:
        """``rw_row_id(id)`` for DuckDB over one Arrow batch: NULL stays NULL."""
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        values = ids.fill_null(0).to_numpy(zero_copy_only=False)
        mask = ids.is_null().to_numpy(zero_copy_only=False) if ids.null_count else None
        return pa.array(self.permute(values), type=pa.int64(), mask=mask)


def load_key(private_dir: Path) -> tuple[bytes, bool]:
    """The program's row-id key from ``private_dir``, or a new one; returns (key, is_new)."""
    path = Path(private_dir) / KEY_FILE
    if path.is_file():
        text = path.read_text(encoding="ascii").strip()
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) != 16:
            raise RowIdKeyError([Problem("expected 32 hexadecimal digits (a 128-bit key)", str(path))])
        return key, False
    return secrets.token_bytes(16), True


def save_key(private_dir: Path, key: bytes) -> None:
    """Write a new key (mode 0600), never replacing an existing one: every release depends on it."""
    path = Path(private_dir) / KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.hex() + "\n")


def register(con, cipher: RowIdCipher) -> None:
    """Make ``rw_row_id(BIGINT) → BIGINT`` available on a DuckDB connection."""
    import duckdb

    try:
        con.remove_function(SQL_FUNCTION)
    except duckdb.InvalidInputException:  # not registered yet
        pass
    con.create_function(
        SQL_FUNCTION,
        cipher.arrow_function,
        [duckdb.sqltype("BIGINT")],
        duckdb.sqltype("BIGINT"),
        type="arrow",
        null_handling="special",
        side_effects=False,
    )


_CIPHERS: dict[bytes, RowIdCipher] = {}  # per Python process (a Spark worker builds each key's cipher once)


def _cipher_for(key: bytes) -> RowIdCipher:
    if key not in _CIPHERS:
        _CIPHERS[key] = RowIdCipher(key)
    return _CIPHERS[key]


def register_engine(engine, key: bytes) -> None:
    """Make ``rw_row_id(BIGINT) → BIGINT`` available on an engine (``engines.base.Engine``): the same values on each."""
    if engine.name == "duckdb":
        register(engine.con, RowIdCipher(key))
        return
    from pyspark.sql.functions import arrow_udf

    key = bytes(key)

    def rw_row_id(ids):
        return _cipher_for(key).arrow_function(ids)

    # An Arrow UDF, not a pandas one: pandas would carry a column with NULLs as float64, which cannot hold every
    # 60-bit id. pyspark reads the UDF's kind from its type hints as objects (this module's annotations are strings).
    rw_row_id.__annotations__ = {"ids": pa.Array, "return": pa.Array}
    engine.spark.udf.register(SQL_FUNCTION, arrow_udf(rw_row_id, "bigint"))  # type: ignore[call-overload]
