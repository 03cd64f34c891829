"""Every raw (unrounded) Achilles-style aggregate table of a release, computed on an engine (DuckDB or Spark).

Everything but genomes comes from the Registered Tier: participants by gender, sex at birth, race, ethnicity, age
group and state (``people.py``); per concept participants by gender, sex at birth, age at first occurrence and
calendar year, and the source concepts behind it (``concepts.py``); per survey question the answers, by gender,
sex at birth and age at the survey (``surveys.py``); physical measurements and labs (``measurements.py``);
wearables (``wearables.py``). Genome counts come from the Controlled Tier (``genomes.py``). Then one card per
domain and what the search box finds.

The tables returned here hold true counts. They go through ``protect.protect`` before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ...cdr.facts import PPI_VOCABULARY, Domain
from ..domains import CARDS, CONCEPT_DOMAIN_SLUGS, DOMAIN_LABELS
from ..schema import spec
from .concepts import concepts
from .genomes import engine_for, genome_tables
from .measurements import measurements
from .people import demographics, people_table, registered_demographics
from .protect import RawTable
from .session import CdrSession
from .source import BrowserSource
from .surveys import SurveyTables, surveys
from .wearables import wearables

if TYPE_CHECKING:
    from ...engines.base import Engine

Progress = Callable[[str, int, int], None]


class Card(NamedTuple):
    """What a domain's card says: participants with any data in it, and concepts (modules, data types) with data."""

    participants: int
    concepts: int


def compute(source: BrowserSource, *, scratch: Path, progress: Progress | None = None,
            memory_limit: str | None = None, engine: Engine | None = None) -> list[RawTable]:
    """Every raw aggregate table of the results store (still unrounded). ``engine``: where the SQL runs (default:
    an embedded DuckDB spilling to ``scratch``); the Registered Tier's tables are named on it, then the Controlled
    Tier's under the same names."""
    report = progress or (lambda stage, done, total: None)
    steps = 7
    with engine_for(engine, scratch / "registered", memory_limit) as eng:
        with CdrSession(eng, source.registered) as s:
            report("participants", 0, steps)
            people_table(s, source.cutoff)
            demo = demographics(s)
            report("concepts", 1, steps)
            concept_tables, domain_counts = concepts(s)
            report("surveys", 2, steps)
            survey_tables, survey_participants = surveys(s)
            report("measurements", 3, steps)
            measurement_tables, physical_participants = measurements(s)
            report("wearables", 4, steps)
            wearable, wearable_participants = wearables(s)
            registered_people, registered_labels = registered_demographics(s)
        report("genomes", 5, steps)
        genome_summary, variant_tables, genome_participants = genome_tables(
            source, scratch=scratch / "controlled", memory_limit=memory_limit,
            registered_people=registered_people, registered_labels=registered_labels, engine=eng)
    report("search", 6, steps)
    cards = {d: Card(c.participants, c.concepts) if (c := domain_counts.get(d)) else Card(0, 0)
             for d in CONCEPT_DOMAIN_SLUGS}
    cards[Domain.SURVEY.slug] = Card(survey_participants, len(survey_tables.module.rows))
    cards[Domain.PHYSICAL_MEASUREMENT.slug] = Card(
        physical_participants, sum(1 for m in measurement_tables.measurement.records() if m["kind"] == "physical"))
    cards["wearable"] = Card(wearable_participants, _data_types(wearable))
    cards["genome"] = Card(genome_participants, _data_types(genome_summary))
    summary = [{"domain": d, "label": DOMAIN_LABELS[d], "sort_order": i + 1, "concepts_with_data": cards[d].concepts,
                "participant_count": cards[d].participants} for i, d in enumerate(CARDS)]
    tables = [demo, RawTable.from_records(spec("domain_summary"), summary), *concept_tables,
              *survey_tables, *measurement_tables, wearable, genome_summary, *variant_tables]
    tables.append(search_items(concept_tables.concept, survey_tables, measurement_tables.measurement))
    report("", steps, steps)  # the end: progress printers show no item for it
    return tables


def _data_types(table: RawTable) -> int:
    """Kinds of data with participants in a wearable or genome table (``any`` is not one)."""
    return len({r["data_type"] for r in table.records() if r["data_type"] != "any" and r["dimension"] == "total"})


def search_items(concept: RawTable, survey_tables: SurveyTables, measurement: RawTable) -> RawTable:
    """What the search box finds: concepts, survey modules and questions, physical measurements."""
    items = []
    for c in concept.records():
        items.append({"kind": "concept", "domain": c["domain"], "concept_id": c["concept_id"], "parent_id": None,
                      "name": c["name"], "code": c["code"], "vocabulary_id": c["vocabulary_id"],
                      "synonyms": c["synonyms"], "participant_count": c["participant_count"]})
    module, question = survey_tables.module, survey_tables.question
    survey, physical = Domain.SURVEY.slug, Domain.PHYSICAL_MEASUREMENT.slug
    for m in module.records():
        items.append({"kind": "survey_module", "domain": survey, "concept_id": m["module_concept_id"], "parent_id": None,
                      "name": m["name"], "code": m["code"], "vocabulary_id": PPI_VOCABULARY, "synonyms": "",
                      "participant_count": m["participant_count"]})
    for q in question.records():
        items.append({"kind": "survey_question", "domain": survey, "concept_id": q["question_concept_id"],
                      "parent_id": q["module_concept_id"], "name": q["name"], "code": q["code"],
                      "vocabulary_id": PPI_VOCABULARY, "synonyms": "", "participant_count": q["participant_count"]})
    for m in measurement.records():
        if m["kind"] == "physical":
            items.append({"kind": "physical_measurement", "domain": physical, "concept_id": m["concept_id"],
                          "parent_id": None, "name": m["name"], "code": m["code"], "vocabulary_id": m["vocabulary_id"],
                          "synonyms": "", "participant_count": m["participant_count"]})
    return RawTable.from_records(spec("search_item"), [{"item_id": i + 1, **item} for i, item in enumerate(items)])
