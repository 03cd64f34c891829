"""One chunk of participants, end to end: every table's rows for ``CHUNK_SIZE`` participants.

A chunk is a pure function of (seed, N, chunk number), so chunks can be generated in any process and in any
order; the writer assigns global ids in chunk order. Primary keys and references leave here as local row
numbers (see ``frame``); ``REFERENCES`` says which table each reference column points to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from . import config as C
from .defects import GROUND_TRUTH_SCHEMA, after_deactivation, drop_natural_duplicates, inject, person_defects, row_defects
from .ehr import Ehr, deaths
from .frame import Frame, concat, nrows, strings, to_arrow
from .genomics import chunk_genomics
from .measurements import physical_measurements, specimens
from .participants import make_people, person_tables
from .rng import stream
from .surveys import build_surveys
from .vocab import vocabulary
from .wearables import wearables
from ..cdr.model import cdm

# tables whose integer primary key "<table>_id" is numbered by the writer
NUMBERED = (
    "visit_occurrence", "condition_occurrence", "drug_exposure", "procedure_occurrence", "device_exposure",
    "measurement", "observation", "death", "specimen", "survey_conduct", "observation_period",
)
EXT = ("visit_occurrence", "condition_occurrence", "drug_exposure", "procedure_occurrence", "device_exposure",
       "measurement", "observation")
REFERENCES = {
    ("visit_occurrence", "preceding_visit_occurrence_id"): "visit_occurrence",
    ("observation", "questionnaire_response_id"): "survey_conduct",
    ("survey_conduct_ext", "survey_conduct_id"): "survey_conduct",
    **{(t, "visit_occurrence_id"): "visit_occurrence" for t in EXT if t != "visit_occurrence"},
    **{(f"{t}_ext", f"{t}_id"): t for t in EXT},
}
# order in which the writer assigns offsets (referenced tables first)
TABLE_ORDER = (
    "person", "person_ext", "participant_status", "observation_period", "visit_occurrence", "visit_occurrence_ext",
    "condition_occurrence", "condition_occurrence_ext", "drug_exposure", "drug_exposure_ext", "procedure_occurrence",
    "procedure_occurrence_ext", "device_exposure", "device_exposure_ext", "measurement", "measurement_ext",
    "survey_conduct", "survey_conduct_ext", "observation", "observation_ext", "death", "specimen", "wear_study",
    "activity_summary", "heart_rate_summary", "heart_rate_intraday", "steps_intraday", "sleep_daily_summary",
    "sleep_level", "device", "genomic_sample", "ancestry_prediction",
)


@dataclass
class ChunkResult:
    chunk: int
    participants: int
    tables: dict[str, pa.Table]
    ground_truth: pa.Table  # row_id holds the local row number (-1 = person-level)
    genome: dict[str, np.ndarray]
    stats: dict[str, int]


def chunk_bounds(participants: int) -> list[tuple[int, int]]:
    return [(s, min(C.CHUNK_SIZE, participants - s)) for s in range(0, participants, C.CHUNK_SIZE)]


def generate_chunk(seed: int, participants: int, chunk: int) -> ChunkResult:
    start, n = chunk_bounds(participants)[chunk]
    vocab = vocabulary()
    model = cdm()
    people = make_people(seed, chunk, start, n, vocab)
    frames: dict[str, Frame] = dict(person_tables(people, vocab))
    ehr = Ehr(stream(seed, "ehr", chunk), people, vocab).build()
    for name in ("measurement", "observation"):
        if name in ehr:
            ehr[name]["_src"] = np.zeros(nrows(ehr[name]), dtype=np.int8)
    frames.update({k: v for k, v in ehr.items() if k not in ("measurement", "observation")})
    frames["death"] = deaths(stream(seed, "death", chunk), people, vocab)
    surveys = build_surveys(stream(seed, "surveys", chunk), people, vocab)
    frames["survey_conduct"] = surveys["survey_conduct"]
    frames["survey_conduct_ext"] = surveys["survey_conduct_ext"]
    obs_survey = surveys["survey_observation"]
    obs_survey["_src"] = np.ones(nrows(obs_survey), dtype=np.int8)
    frames["observation"] = concat([ehr.get("observation", {}), obs_survey])
    frames["measurement"] = concat([ehr.get("measurement", {}), physical_measurements(stream(seed, "pm", chunk), people, vocab)])
    spec = specimens(stream(seed, "specimens", chunk), people)
    frames["specimen"] = spec
    frames.update(wearables(stream(seed, "wearables", chunk), people))
    specimen_day = people.enrol.copy()
    if spec:
        pr = np.asarray(spec["person_id"]) - C.PERSON_ID_BASE - 1 - start
        np.minimum.at(specimen_day, pr, np.asarray(spec["specimen_date"]).astype(np.int64))
    genomic, side = chunk_genomics(stream(seed, "genomics", chunk), people, specimen_day)
    frames.update(genomic)

    for name in ("condition_occurrence", "drug_exposure", "procedure_occurrence", "measurement", "observation"):
        if frames.get(name):
            frames[name] = drop_natural_duplicates(frames[name], f"{name}_id")
    inject(stream(seed, "defects", chunk), frames, people)
    for name in NUMBERED:
        if frames.get(name):
            frames[name][f"{name}_id"] = np.arange(nrows(frames[name]))

    # provenance: EHR rows come from the participant's site, survey and PM rows from the program (PPI/PM)
    sites = [s.site for s in vocab.states]
    for name in EXT:
        f = frames.get(name)
        if not f:
            continue
        pr = np.asarray(f["person_id"]) - C.PERSON_ID_BASE - 1 - start
        site = people.state[pr]
        src = np.asarray(f.get("_src", np.zeros(nrows(f), dtype=np.int8)))
        frames[f"{name}_ext"] = {
            f"{name}_id": f[f"{name}_id"],
            "src_id": strings(np.where(src == 1, len(sites), site), sites + ["PPI/PM"]),
        }

    truth = []
    for name in NUMBERED:
        if frames.get(name):
            truth += row_defects(name, frames[name], f"{name}_id")
    truth += after_deactivation(frames, people, model)
    truth += person_defects(people)
    gt = pa.table(
        {
            "defect": pa.array([t[0] for t in truth], pa.string()),
            "table": pa.array([t[1] for t in truth], pa.string()),
            "row_id": pa.array([t[2] for t in truth], pa.int64()),
            "person_id": pa.array([t[3] for t in truth], pa.int64()),
            "detail": pa.array([t[4] for t in truth], pa.string()),
        },
        schema=GROUND_TRUTH_SCHEMA,
    )
    tables = {}
    for name, frame in frames.items():
        if frame and nrows(frame):
            tables[name] = to_arrow(name, frame)
    stats = {
        "participants": n,
        "with_ehr": int(people.has_ehr.sum()),
        "with_physical_measurements": int(people.has_pm.sum()),
        "with_biosamples": int(people.has_bio.sum()),
        "with_wearables": int(people.has_wear.sum()),
        "with_genomes": int(people.has_genome.sum()),
        "withdrawn": int((people.withdrawn != C.NULL_DAY).sum()),
        "deactivated": int((people.deactivated != C.NULL_DAY).sum()),
        "deceased": int((people.death != C.NULL_DAY).sum()),
    }
    return ChunkResult(chunk, n, tables, gt, side, stats)
