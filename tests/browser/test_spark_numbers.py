"""The portable numeric builders (``engines.portable_numbers``) on both engines: a finite-number test that refuses
NaN and both infinities, and exact quantiles interpolated as DuckDB's quantile_cont and numpy's linear method."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from sqlglot import exp

from research_workbench.cdr.sql import alias, col, table
from research_workbench.engines.portable_numbers import exact_quantiles, is_finite

DYADIC = {"q0": 0.0, "q25": 0.25, "q50": 0.5, "q75": 0.75, "q100": 1.0}  # positions and weights exact in binary
TENTHS = {"q10": 0.1, "q90": 0.9}
GROUPS = {"a": [4.0, 1.0, 3.0, 2.0], "b": [10.0], "c": [None, 0.0, 8.0], "d": [-1.5, 7.25, 7.25, 0.5, 100.0, 3.0]}


def _values() -> pa.Table:
    rows = [(g, v) for g, values in GROUPS.items() for v in values]
    return pa.table({"g": pa.array([g for g, _ in rows]), "x": pa.array([v for _, v in rows], pa.float64())})


def _quantiles(engine, quantiles: dict[str, float]) -> dict[str, dict[str, float]]:
    engine.register_arrow("numbers", _values())
    result = engine.run(exact_quantiles(table("numbers"), ["g"], "x", quantiles).order_by(col("g")))
    return {row.pop("g"): row for row in result.to_pylist()}


def test_is_finite_is_false_for_nan_and_both_infinities_on_every_engine(engine):
    values = [1.5, math.nan, math.inf, -math.inf, None, -2.0, 0.0]
    engine.register_arrow("numbers", pa.table({"i": list(range(len(values))), "x": pa.array(values, pa.float64())}))
    query = exp.select(col("i"), alias(is_finite(col("x")), "finite")).from_(table("numbers")).order_by(col("i"))
    assert engine.run(query).column("finite").to_pylist() == [True, False, False, False, None, True, True]


def test_exact_quantiles_interpolate_linearly_between_ranks_on_every_engine(engine):
    found = _quantiles(engine, DYADIC)
    assert found == {
        "a": {"q0": 1.0, "q25": 1.75, "q50": 2.5, "q75": 3.25, "q100": 4.0},
        "b": {"q0": 10.0, "q25": 10.0, "q50": 10.0, "q75": 10.0, "q100": 10.0},
        "c": {"q0": 0.0, "q25": 2.0, "q50": 4.0, "q75": 6.0, "q100": 8.0},  # the NULL is left out
        "d": {"q0": -1.5, "q25": 1.125, "q50": 5.125, "q75": 7.25, "q100": 100.0},
    }
    for group, values in GROUPS.items():  # numpy's linear method agrees exactly
        present = [v for v in values if v is not None]
        assert [found[group][q] for q in DYADIC] == np.quantile(present, list(DYADIC.values()), method="linear").tolist()


def test_exact_quantiles_at_tenths_match_numpy_on_every_engine(engine):
    found = _quantiles(engine, TENTHS)
    for group, values in GROUPS.items():
        present = [v for v in values if v is not None]
        expected = np.quantile(present, list(TENTHS.values()), method="linear").tolist()
        assert [found[group][q] for q in TENTHS] == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert found["a"]["q10"] == pytest.approx(1.3) and found["d"]["q90"] == pytest.approx(53.625)


@pytest.mark.parametrize("bad", [1.5, -0.1, "0.5", True, math.nan])
def test_a_quantile_outside_zero_to_one_is_refused_naming_it(bad):
    with pytest.raises(ValueError, match="quantile p: .* is not a number from 0 to 1"):
        exact_quantiles(table("numbers"), ["g"], "x", {"p": bad})
