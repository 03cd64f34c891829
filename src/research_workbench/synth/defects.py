"""Deliberate defects for curation to find, and their ground truth.

The clean data are generated so that none of these occur naturally; each defect is injected on purpose and
recorded in ``ground_truth/defects.parquet`` with columns ``defect``, ``table``, ``row_id`` (the table's primary
key value; NULL for a person-level defect), ``person_id`` and ``detail``. Defect kinds:

``duplicate_row``
    A row identical to another row of the same table except for its primary key (condition_occurrence,
    drug_exposure, measurement, survey observation). The listed row is the copy.
``out_of_range_measurement``
    A physical measurement outside the curation limits (height 903133: 90-228 cm, weight 903121: 30-250 kg,
    BMI 903124: 10-125).
``event_before_birth``
    A condition or measurement dated before the participant's birth.
``event_after_death``
    A condition or measurement dated more than 30 days after the participant's primary death record.
``end_before_start``
    A condition, drug exposure or visit whose end date is before its start date.
``unmapped_concept``
    A condition or procedure whose standard and source concepts are both 0 (only the source value is left).
``unmapped_standard_concept``
    A condition coded only with its ICD10CM source concept (standard concept 0); the source concept maps to a
    standard one through "Maps to".
``free_text_survey_answer``
    A free-text survey answer (``value_as_string`` of a question whose code contains "FreeText").
``survey_branching_violation``
    An answer to a branching question although the parent question's answer disables it.
``withdrawn_participant`` (person-level)
    A participant who withdrew (``participant_status.withdrawal_date``); all their data must go.
``under_18_participant`` (person-level)
    A participant younger than 18 at consent.
``data_after_deactivation``
    Any row (with a primary key) of a deactivated participant dated on or after the deactivation date.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..cdr.facts import event_table
from . import config as C
from .frame import NULL_DATE, NULL_INT, Frame, concat, nrows, take

DUPLICATE, OUT_OF_RANGE, BEFORE_BIRTH, AFTER_DEATH, END_BEFORE_START, UNMAPPED, UNMAPPED_STANDARD, FREE_TEXT, BRANCHING = range(1, 10)
NAMES = {
    DUPLICATE: "duplicate_row",
    OUT_OF_RANGE: "out_of_range_measurement",
    BEFORE_BIRTH: "event_before_birth",
    AFTER_DEATH: "event_after_death",
    END_BEFORE_START: "end_before_start",
    UNMAPPED: "unmapped_concept",
    UNMAPPED_STANDARD: "unmapped_standard_concept",
    FREE_TEXT: "free_text_survey_answer",
    BRANCHING: "survey_branching_violation",
}
WITHDRAWN = "withdrawn_participant"
UNDER_18 = "under_18_participant"
AFTER_DEACTIVATION = "data_after_deactivation"
KINDS = (*NAMES.values(), WITHDRAWN, UNDER_18, AFTER_DEACTIVATION)

RATE = 0.0008  # share of eligible rows given each row-level defect
MPD = C.MICROS_PER_DAY
START = {
    "condition_occurrence": ("condition_start_date", "condition_start_datetime", "condition_end_date", "condition_end_datetime"),
    "drug_exposure": ("drug_exposure_start_date", "drug_exposure_start_datetime", "drug_exposure_end_date", "drug_exposure_end_datetime"),
    "visit_occurrence": ("visit_start_date", "visit_start_datetime", "visit_end_date", "visit_end_datetime"),
    "measurement": ("measurement_date", "measurement_datetime", None, None),
}
GROUND_TRUTH_SCHEMA = pa.schema([
    pa.field("defect", pa.string(), nullable=False),
    pa.field("table", pa.string(), nullable=False),
    pa.field("row_id", pa.int64()),
    pa.field("person_id", pa.int64(), nullable=False),
    pa.field("detail", pa.string()),
])


def _ensure(frame: Frame) -> np.ndarray:
    if "_defect" not in frame:
        frame["_defect"] = np.zeros(nrows(frame), dtype=np.int8)
    frame["_defect"] = np.asarray(frame["_defect"]).astype(np.int8)
    return frame["_defect"]


def _pick(rng: np.random.Generator, frame: Frame, rate: float, eligible: np.ndarray | None = None) -> np.ndarray:
    tag = _ensure(frame)
    ok = tag == 0
    if eligible is not None:
        ok &= eligible
    return np.flatnonzero(ok & (rng.random(len(tag)) < rate))


def _set(frame: Frame, col: str, rows: np.ndarray, values) -> None:
    arr = np.array(frame[col], copy=True)
    arr[rows] = values
    frame[col] = arr


def inject(rng: np.random.Generator, tables: dict[str, Frame], people) -> None:
    """Inject the row-level defects into a chunk's frames (in place; rows are tagged in ``_defect``)."""
    dob = people.dob
    base = people.index[0] if people.n else 0

    def person_row(frame: Frame) -> np.ndarray:
        return np.asarray(frame["person_id"]) - C.PERSON_ID_BASE - 1 - base

    # events before birth
    for name in ("condition_occurrence", "measurement"):
        f = tables.get(name)
        if not f:
            continue
        rows = _pick(rng, f, RATE, eligible=np.asarray(f.get("measurement_type_concept_id", np.zeros(nrows(f)))) != 44818701)
        d, dt, e, edt = START[name]
        new = dob[person_row(f)[rows]] - rng.integers(30, 3000, len(rows))
        _set(f, d, rows, new)
        _set(f, dt, rows, new * MPD + 9 * 3_600_000_000)
        _set(f, "visit_occurrence_id", rows, NULL_INT)
        if e:
            _set(f, e, rows, NULL_DATE)
            _set(f, edt, rows, NULL_INT)
        f["_defect"][rows] = BEFORE_BIRTH

    # events long after death: a copy of one of the person's measurements or conditions, dated later
    dead = people.death != C.NULL_DAY
    for name in ("measurement", "condition_occurrence"):
        f = tables.get(name)
        if not f:
            continue
        _ensure(f)
        pr = person_row(f)
        clean = np.flatnonzero((np.asarray(f["_defect"]) == 0) & dead[pr])
        if len(clean) == 0:
            continue
        _, first = np.unique(pr[clean], return_index=True)
        candidates = clean[first]
        gap = rng.integers(45, 700, len(candidates))
        when = people.death[pr[candidates]] + gap
        keep = (when <= C.DATA_CUTOFF) & (rng.random(len(candidates)) < 0.35)
        rows, when = candidates[keep], when[keep]
        if len(rows) == 0:
            continue
        extra = take(f, rows)
        d, dt, e, edt = START[name]
        extra[d] = when.astype(np.int32)
        extra[dt] = when * MPD + 10 * 3_600_000_000
        extra["visit_occurrence_id"] = np.full(len(rows), NULL_INT)
        if e:
            extra[e] = np.full(len(rows), NULL_DATE, dtype=np.int32)
            extra[edt] = np.full(len(rows), NULL_INT)
        extra["_defect"] = np.full(len(rows), AFTER_DEATH, dtype=np.int8)
        tables[name] = concat([f, extra])

    # end before start
    for name in ("condition_occurrence", "drug_exposure", "visit_occurrence"):
        f = tables.get(name)
        if not f:
            continue
        d, dt, e, edt = START[name]
        rows = _pick(rng, f, RATE, eligible=np.asarray(f[e]) != NULL_DATE)
        new = np.asarray(f[d])[rows].astype(np.int64) - rng.integers(1, 60, len(rows))
        _set(f, e, rows, new)
        _set(f, edt, rows, new * MPD)
        f["_defect"][rows] = END_BEFORE_START

    # unmapped concepts (standard and source 0) and ICD10CM-only rows (standard 0)
    for t in (event_table("condition_occurrence"), event_table("procedure_occurrence")):
        f = tables.get(t.table)
        if not f:
            continue
        rows = _pick(rng, f, RATE)
        _set(f, t.concept, rows, 0)
        _set(f, t.source_concept, rows, 0)
        f["_defect"][rows] = UNMAPPED
    conditions = event_table("condition_occurrence")
    f = tables.get(conditions.table)
    if f:
        concept, source = np.asarray(f[conditions.concept]), np.asarray(f[conditions.source_concept])
        icd = (source != concept) & (source > 0)
        rows = _pick(rng, f, 0.01, eligible=icd)
        _set(f, conditions.concept, rows, 0)
        f["_defect"][rows] = UNMAPPED_STANDARD

    # duplicates last, copied from clean rows
    for name in ("condition_occurrence", "drug_exposure", "measurement", "observation"):
        f = tables.get(name)
        if not f:
            continue
        rows = _pick(rng, f, RATE * 1.5)
        if len(rows) == 0:
            continue
        extra = take(f, rows)
        extra["_defect"] = np.full(len(rows), DUPLICATE, dtype=np.int8)
        tables[name] = concat([f, extra])


def drop_natural_duplicates(frame: Frame, pk: str) -> Frame:
    """Remove rows equal to an earlier row in every column but the primary key (chance collisions)."""
    n = nrows(frame)
    if n < 2:
        return frame
    h = np.zeros(n, dtype=np.uint64)
    mult = np.uint64(0x9E3779B97F4A7C15)
    for col, value in frame.items():
        if col == pk or col.startswith("_"):
            continue
        if isinstance(value, (pa.Array, pa.ChunkedArray)):
            codes = value.dictionary_encode().indices.to_numpy(zero_copy_only=False)
            v = np.nan_to_num(codes.astype(np.float64), nan=-1).astype(np.int64).view(np.uint64)
        else:
            arr = np.asarray(value)
            v = (arr.astype(np.float64).view(np.uint64) if arr.dtype.kind == "f" else arr.astype(np.int64).view(np.uint64))
        with np.errstate(over="ignore"):
            h = (h ^ v) * mult
            h ^= h >> np.uint64(29)
    _, first = np.unique(h, return_index=True)
    if len(first) == n:
        return frame
    return take(frame, np.sort(first))


def row_defects(table: str, frame: Frame, pk: str) -> list[tuple[str, str, int, int, str]]:
    """(defect, table, local row, person_id, detail) for the tagged rows of a frame."""
    if "_defect" not in frame:
        return []
    tag = np.asarray(frame["_defect"])
    rows = np.flatnonzero(tag > 0)
    out = []
    persons = np.asarray(frame["person_id"])
    for r in rows.tolist():
        kind = NAMES[int(tag[r])]
        out.append((kind, table, r, int(persons[r]), _detail(kind, table, frame, r)))
    return out


def _detail(kind: str, table: str, frame: Frame, r: int) -> str:
    def val(col):
        v = frame.get(col)
        if v is None:
            return None
        if isinstance(v, (pa.Array, pa.ChunkedArray)):
            return v[r].as_py()
        return np.asarray(v)[r].item()

    if kind == "out_of_range_measurement":
        return f"{val('measurement_source_value')} = {val('value_as_number')}"
    if kind == "free_text_survey_answer":
        return f"{val('observation_source_value')}: free text"
    if kind == "survey_branching_violation":
        return f"{val('observation_source_value')} answered although its parent question disables it"
    if kind == "unmapped_standard_concept":
        return f"standard concept 0, source concept {val('condition_source_concept_id')}"
    if kind == "unmapped_concept":
        return "standard and source concept 0"
    if kind == "duplicate_row":
        return "identical to another row except for the primary key"
    if kind == "event_before_birth":
        return "dated before birth"
    if kind == "event_after_death":
        return "dated more than 30 days after death"
    if kind == "end_before_start":
        return "end date before start date"
    return kind


def after_deactivation(tables: dict[str, Frame], people, model) -> list[tuple[str, str, int, int, str]]:
    """Rows dated on or after their participant's deactivation date, in every table with a primary key."""
    out = []
    if not (people.deactivated != C.NULL_DAY).any():
        return out
    base = people.index[0]
    for name, frame in tables.items():
        if not frame or name not in model:
            continue
        t = model.table(name)
        if t.primary_key != (f"{name}_id",) or not t.person_column or not t.event_date_column or t.event_date_column not in frame:
            continue
        person = np.asarray(frame[t.person_column])
        deact = people.deactivated[person - C.PERSON_ID_BASE - 1 - base]
        date = np.asarray(frame[t.event_date_column]).astype(np.int64)
        rows = np.flatnonzero((deact != C.NULL_DAY) & (date >= deact) & (date != NULL_DATE))
        for r in rows.tolist():
            out.append((AFTER_DEACTIVATION, name, r, int(person[r]), "dated on or after the participant's deactivation date"))
    return out


def person_defects(people) -> list[tuple[str, str, int, int, str]]:
    out = []
    for i in np.flatnonzero(people.withdrawn != C.NULL_DAY).tolist():
        out.append((WITHDRAWN, "person", -1, int(people.person_id[i]), "withdrew from the program"))
    for i in np.flatnonzero(people.under18).tolist():
        out.append((UNDER_18, "person", -1, int(people.person_id[i]), f"age {people.age_enrol[i]:.1f} at consent"))
    return out
