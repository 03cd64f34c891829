"""Area-level socioeconomic measures: the ``zip3_ses_map`` table, one row per three-digit zip code area.

Every area a synthetic participant can live in has a row: each state of ``vocabulary/states.csv`` owns the zip3
range ``zip3_from``–``zip3_to``, and participants draw their zip code inside their state's range
(``participants.make_people``). So the map depends on the seed and the vocabulary, never on N: the zip-code
socioeconomic dataset finds measures for every participant whatever the program's size.

The measures imitate the American Community Survey 5-year estimates All of Us joins to participants' zip areas. They
are correlated as real areas' are: one latent deprivation per area (a state's share plus the area's own) raises
poverty, public assistance, the uninsured and vacant housing and lowers income and schooling; each measure adds
noise of its own. The deprivation index is then derived from the six measures as Brokamp et al.'s is (their first
principal component, rescaled to 0–1), here as the mean of their standardised values, signed so that higher means
more deprived.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..cdr.model import cdm
from .rng import stream
from .vocab import Vocabulary

TABLE = "zip3_ses_map"
ACS_YEAR = 2017  # the ACS 5-year estimates All of Us' map was built from
# measure → (value at an average area, change per unit of latent deprivation, own noise sd, lowest, highest)
MEASURES: dict[str, tuple[float, float, float, float, float]] = {
    "fraction_assisted_income": (0.024, 0.010, 0.005, 0.003, 0.12),
    "fraction_high_school_edu": (0.885, -0.040, 0.020, 0.60, 0.985),
    "fraction_no_health_ins": (0.085, 0.030, 0.018, 0.015, 0.35),
    "fraction_poverty": (0.125, 0.045, 0.020, 0.02, 0.45),
    "fraction_vacant_housing": (0.105, 0.025, 0.030, 0.02, 0.45),
}
MEDIAN_INCOME = (np.log(62_000.0), -0.22, 0.10, 22_000.0, 190_000.0)  # on the log scale; then whole dollars
STATE_SD, AREA_SD = 0.5, 0.85  # latent deprivation: between states, and between a state's areas
# Signs that make each measure point towards deprivation (income and schooling point away from it).
DEPRIVATION_SIGNS = {"fraction_assisted_income": 1, "fraction_high_school_edu": -1, "median_income": -1,
                     "fraction_no_health_ins": 1, "fraction_poverty": 1, "fraction_vacant_housing": 1}


def zip3_areas(vocab: Vocabulary) -> tuple[list[str], np.ndarray]:
    """Every three-digit zip area of the states (``"010"`` …), in order, and the index of the state owning each."""
    owner: dict[int, int] = {}
    for i, state in enumerate(vocab.states):
        for zip3 in range(state.zip3_from, state.zip3_to + 1):
            if zip3 in owner:
                raise ValueError(f"vocabulary/states.csv: zip3 {zip3:03d} is in both {vocab.states[owner[zip3]].code} "
                                 f"and {state.code}")
            owner[zip3] = i
    areas = sorted(owner)
    return [f"{z:03d}" for z in areas], np.array([owner[z] for z in areas], dtype=np.int64)


def zip3_ses_map(seed: int, vocab: Vocabulary) -> pa.Table:
    """The ``zip3_ses_map`` rows of the program of ``seed``: the same seed gives the same table."""
    rng = stream(seed, "zip3_ses_map")
    zip3, state = zip3_areas(vocab)
    n = len(zip3)
    latent = rng.normal(0.0, STATE_SD, len(vocab.states))[state] + rng.normal(0.0, AREA_SD, n)
    values: dict[str, np.ndarray] = {}
    for name, (mean, slope, sd, low, high) in MEASURES.items():
        values[name] = np.round(np.clip(mean + slope * latent + rng.normal(0.0, sd, n), low, high), 4)
    mean, slope, sd, low, high = MEDIAN_INCOME
    values["median_income"] = np.round(np.clip(np.exp(mean + slope * latent + rng.normal(0.0, sd, n)), low, high))
    standardised = [DEPRIVATION_SIGNS[k] * (v - v.mean()) / (v.std() or 1.0) for k, v in values.items()]
    raw = np.mean(standardised, axis=0)
    span = raw.max() - raw.min()
    deprivation = (raw - raw.min()) / span if span > 0 else np.full(n, 0.5)
    schema = cdm().table(TABLE).arrow_schema()
    columns = {"zip3": zip3, **values, "deprivation_index": np.round(deprivation, 4), "acs_year": np.full(n, ACS_YEAR)}
    return pa.table({f.name: pa.array(columns[f.name], type=f.type) for f in schema}, schema=schema)
