"""Survey aggregates: modules, questions, the answer distribution of each question, and answers by gender, sex at
birth and age at the survey. A survey answer is an observation with a questionnaire response (``survey_conduct``)."""

from __future__ import annotations

from typing import NamedTuple

from ...cdr.facts import Domain, event_table_of
from ..schema import spec
from .people import first_occurrence_strata_sql
from .protect import RawTable
from .session import CdrSession
from .strata import concept_names, strata_rows

# Answers that are not concepts: a number, or free text (never published).
NO_ANSWER_CONCEPT = {-1: ("Numeric answer", "number"), -2: ("Text answer (not shown)", "text")}


class SurveyTables(NamedTuple):
    module: RawTable
    question: RawTable
    answer: RawTable
    answer_stratum: RawTable


def answers_sql() -> str:
    """``sv``: every survey answer (module, question, answer concept or -1/-2) of people of the tier."""
    o = event_table_of(Domain.SURVEY)
    return f"""
    SELECT sc.survey_concept_id AS module, o.{o.source_concept} AS question,
           CASE WHEN o.{o.value_source_concept} IS NOT NULL AND o.{o.value_source_concept} <> 0 THEN o.{o.value_source_concept}
                WHEN o.{o.value_as_number} IS NOT NULL THEN -1 ELSE -2 END AS answer,
           o.person_id, CAST(o.{o.start_date} AS DATE) AS d, o.{o.id} AS observation_id
    FROM {o.table} o
    JOIN survey_conduct sc ON sc.survey_conduct_id = o.questionnaire_response_id
    JOIN people p ON p.person_id = o.person_id
    WHERE o.questionnaire_response_id IS NOT NULL AND sc.survey_concept_id IS NOT NULL AND o.{o.source_concept} IS NOT NULL
    """


def _strata_sql() -> str:
    """Participants per answer by gender, sex at birth and age at their first such answer (``sa``)."""
    keys = ["f.module AS module_concept_id", "f.question AS question_concept_id", "f.answer AS answer_concept_id"]
    return " UNION ALL ".join(first_occurrence_strata_sql("sa", keys))


def surveys(s: CdrSession) -> tuple[SurveyTables, int]:
    """The survey_module, survey_question, survey_answer and survey_answer_stratum tables, and the participants
    with any survey answer."""
    s.materialise("sv", answers_sql())
    modules = s.records("SELECT module, count(DISTINCT person_id) AS participants, count(DISTINCT question) AS questions, "
                           "min(observation_id) AS first_id FROM sv GROUP BY module ORDER BY first_id")
    questions = s.records("SELECT module, question, count(DISTINCT person_id) AS participants, min(observation_id) AS first_id "
                             "FROM sv GROUP BY ALL ORDER BY module, first_id")
    answers = s.records("SELECT module, question, answer, count(DISTINCT person_id) AS participants FROM sv "
                           "GROUP BY ALL ORDER BY module, question, answer")
    s.materialise("sa", "SELECT module, question, answer, person_id, min(d) AS first_d FROM sv GROUP BY ALL")
    strata = strata_rows(s, _strata_sql())
    names = concept_names(s, [m.module for m in modules] + [q.question for q in questions] + [a.answer for a in answers])

    def name(cid: int) -> dict[str, str]:
        if cid in NO_ANSWER_CONCEPT:
            text, code = NO_ANSWER_CONCEPT[cid]
        else:
            n = names.get(cid)
            text, code = (n.name, n.code) if n else (f"Concept {cid}", "")
        return {"name": text, "code": code}

    module_rows = [{"module_concept_id": m.module, **name(m.module), "sort_order": i + 1, "question_count": m.questions,
                    "participant_count": m.participants} for i, m in enumerate(modules)]
    question_rows = []
    order: dict[int, int] = {}
    for q in questions:
        order[q.module] = order.get(q.module, 0) + 1
        question_rows.append({"module_concept_id": q.module, "question_concept_id": q.question, **name(q.question),
                              "sort_order": order[q.module], "participant_count": q.participants})
    # sort_order None: the disclosure pass ranks answers by their published counts (ties by name, then id)
    answer_rows = [{"module_concept_id": a.module, "question_concept_id": a.question, "answer_concept_id": a.answer,
                    **name(a.answer), "sort_order": None, "participant_count": a.participants} for a in answers]
    participants = s.record("SELECT count(DISTINCT person_id) AS n FROM sv").n
    return SurveyTables(
        RawTable.from_records(spec("survey_module"), module_rows),
        RawTable.from_records(spec("survey_question"), question_rows),
        RawTable.from_records(spec("survey_answer"), answer_rows),
        RawTable.from_records(spec("survey_answer_stratum"), strata),
    ), participants
