"""The association kernel's blocked, threaded sums: the same answers whatever the block size, the thread count or
where the missing calls fall; and an association process that never imports pandas (its start-up cost)."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pytest

from research_workbench.genomics import gwas
from research_workbench.genomics.arrow_arrays import numbers, strings

from .gwas_data import covariates, simulate, write_store


def direct_stats(prep: gwas.Prepared, G: np.ndarray) -> dict[str, np.ndarray]:
    """The sums computed the plain way: one float matrix, missing calls as 0, no blocks."""
    Gf = np.maximum(G, 0).astype(np.float64)
    P = Gf @ prep.rhs
    gg = (Gf * Gf).sum(axis=1) if prep.w is None else (Gf * Gf) @ prep.w
    return {"P": P, "gg": gg, "called": (G >= 0).sum(axis=1)}


@pytest.mark.parametrize("model", ["linear", "logistic"])
@pytest.mark.parametrize("block_bytes", [8 * 50, 8 * 50 * 3, 1 << 21])  # one row, three rows, the default
def test_blocked_sums_equal_the_plain_sums_for_any_block_size_and_missing_rows_anywhere(monkeypatch, model, block_bytes):
    rng = np.random.default_rng(5)
    n, m = 50, 300
    G = simulate(rng, n, m)
    G[[0, 2, 3, 149, 150, 299], :] = np.where(rng.random((6, n)) < 0.2, -9, G[[0, 2, 3, 149, 150, 299], :])  # block edges
    C = covariates(rng, n)
    y = rng.normal(size=n) if model == "linear" else (rng.random(n) < 0.4).astype(float)
    prep = gwas.prepare_linear(y, C) if model == "linear" else gwas.prepare_logistic(y, C)
    monkeypatch.setattr(gwas, "BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(gwas, "MIN_BLOCK_ROWS", 1)
    st = gwas.chunk_stats(prep, G)
    ref = direct_stats(prep, G)
    assert st.n.tolist() == ref["called"].tolist()
    np.testing.assert_allclose(st.gg_raw, ref["gg"], rtol=1e-13)
    complete = ref["called"] == n
    np.testing.assert_allclose(st.gv[complete], ref["P"][complete, 0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(st.alt_freq, np.maximum(G, 0).sum(axis=1) / (2.0 * ref["called"]), rtol=1e-13)


def test_threads_give_the_same_statistics_as_one_thread():
    rng = np.random.default_rng(9)
    n, m = 200, 700
    G = simulate(rng, n, m, missing=0.01)
    C = covariates(rng, n)
    prep = gwas.prepare_linear(rng.normal(size=n), C)
    one = gwas.chunk_stats(prep, G)
    with ThreadPoolExecutor(3) as pool:
        three = gwas.chunk_stats(prep, G, pool, 3)
    for field in ("n", "alt_freq", "gg", "gv", "vv", "gg_raw"):
        np.testing.assert_allclose(getattr(three, field), getattr(one, field), rtol=1e-12, err_msg=field)


def test_associate_with_two_threads_equals_one_thread(tmp_path):
    rng = np.random.default_rng(3)
    n, m = 300, 400
    G = simulate(rng, n, m, missing=0.02)
    store = write_store(tmp_path, G)
    C = covariates(rng, n)
    y = rng.normal(size=n)
    runs = [gwas.associate(store, np.arange(n), y, C, np.arange(m), "linear", chunk_size=128, threads=t) for t in (1, 2)]
    assert runs[0].results.column("variant_id").to_pylist() == runs[1].results.column("variant_id").to_pylist()
    np.testing.assert_allclose(runs[1].results.column("beta").to_numpy(), runs[0].results.column("beta").to_numpy(), rtol=1e-12)
    assert runs[0].counts == runs[1].counts


def test_an_association_process_never_imports_pandas(tmp_path):
    """pa.array and pq.read_table import pandas (0.2-0.5 s, as long as a 10k x 10k association): the kernel and its
    result tables avoid both."""
    rng = np.random.default_rng(1)
    write_store(tmp_path, simulate(rng, 40, 30))
    script = f"""
import sys, numpy as np
from research_workbench.genomics import gwas
from research_workbench.genomics.store import GenotypeStore
store = GenotypeStore.open({str(tmp_path)!r})
rng = np.random.default_rng(2)
result = gwas.associate(store, np.arange(40), rng.normal(size=40), rng.normal(size=(40, 2)), np.arange(30), "linear")
assert result.results.num_rows + result.filtered.num_rows == 30
print(sorted(m for m in ("pandas", "scipy", "pydantic") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_arrow_arrays_from_numpy_and_strings_equal_pa_array():
    assert numbers(np.array([1, -2, 3], dtype=np.int64)).equals(pa.array([1, -2, 3], pa.int64()))
    floats = numbers(np.array([0.5, np.nan, -np.inf]))
    assert floats.type == pa.float64() and floats.null_count == 0 and np.isnan(floats.to_numpy()[1])
    assert numbers(np.arange(6, dtype=np.int64)[::2]).to_pylist() == [0, 2, 4]  # a strided view is copied
    assert strings(["linear", "", "firth", "é"]).equals(pa.array(["linear", "", "firth", "é"], pa.string()))
    assert strings([]).equals(pa.array([], pa.string()))
    with pytest.raises(TypeError, match="int8"):
        numbers(np.zeros(2, dtype=np.int8))
