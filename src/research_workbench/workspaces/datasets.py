"""A dataset resource made runnable: its references read (the cohorts', concept sets' and review sets' current
versions), its prepackaged sets turned into domains or survey filters (``datasets.prepackaged``), and its review
sets' statuses and annotations as tables (``reviews.export_table``).

A reference that no longer names a live resource (deleted since the dataset was saved) is a ``ResourceError``
naming its place, e.g. ``content.cohorts[0]: the cohort 12 was deleted: …`` — never a dataset quietly missing a
cohort. So is a prepackaged set or a domain of the Controlled Tier only (zip code socioeconomic status, whole
genome variants) in a Registered Tier workspace (``tier_problems``; the Dataset Builder also asks it before saving).
The whole genome variants set's ``genome_selection`` (validated with the content, ``datasets.genotypes``) becomes
the request's ``VariantSelection``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from sqlalchemy.orm import Session

from ..cdr.facts import Domain
from ..cdr.problems import Problem
from ..datasets import genotypes, prepackaged
from ..datasets.extract import DatasetRequest
from ..state.models import Resource, Workspace
from . import reviews
from .resources import KINDS, ResourceError, find_reference, version_of


@dataclass
class ResolvedDataset:
    request: DatasetRequest
    cohorts: list[Resource] = field(default_factory=list)
    concept_sets: list[Resource] = field(default_factory=list)
    reviews: list[Resource] = field(default_factory=list)


def _resolve(session: Session, workspace: Workspace, kind: str, refs: list[int | str], where: str,
             problems: list[Problem]) -> list[tuple[Resource, dict[str, Any]]]:
    found = []
    for i, ref in enumerate(refs):
        resource = find_reference(session, workspace, kind, ref)
        if resource is None:
            problems.append(Problem(f"the {KINDS[kind].lower()} {ref!r} was deleted or renamed: remove it from the "
                                    f"dataset, or restore it", f"content.{where}[{i}]"))
            continue
        found.append((resource, version_of(session, resource).content))
    return found


def tier_problems(workspace: Workspace, content: dict[str, Any]) -> list[Problem]:
    """The prepackaged sets and domains of ``content`` that ``workspace``'s tier may not read, each at its place
    (``content.prepackaged[0]``, ``content.values.ZIP_CODE_SOCIOECONOMIC``)."""
    problems: list[Problem] = []
    names, values = content.get("prepackaged"), content.get("values")  # malformed ones: validation names them
    for i, name in enumerate(names if isinstance(names, list) else []):
        if isinstance(name, str) and name in prepackaged.WHOLE_DOMAINS:
            refused = prepackaged.tier_problem(prepackaged.domain_of(name), workspace.tier, what=repr(name),
                                               holder="workspace")
            if refused:
                problems.append(Problem(refused, f"content.prepackaged[{i}]"))
    for value in values if isinstance(values, dict) else {}:
        try:
            domain = Domain(value)
        except ValueError:  # not a domain: the content's validation names it
            continue
        refused = prepackaged.tier_problem(domain, workspace.tier, what=domain.value, holder="workspace")
        if refused:
            problems.append(Problem(refused, f"content.values.{domain.value}"))
    return problems


def resolve(session: Session, workspace: Workspace, content: dict[str, Any]) -> ResolvedDataset:
    """The dataset's definition with everything it names read; ResourceError naming each missing reference and each
    set or domain the workspace's tier may not read."""
    problems: list[Problem] = tier_problems(workspace, content)
    cohorts = _resolve(session, workspace, "cohort", content.get("cohorts", []), "cohorts", problems)
    concept_sets = _resolve(session, workspace, "concept_set", content.get("concept_sets", []), "concept_sets",
                            problems)
    review_sets = _resolve(session, workspace, "review_set", content.get("reviews", []), "reviews", problems)
    if problems:
        raise ResourceError(problems)
    sets = [c for _, c in concept_sets]
    whole: list[Domain] = []
    for name in content.get("prepackaged", []):
        module = prepackaged.survey_module(name)
        if module is not None:
            sets.append({"domain": Domain.SURVEY.value, "concepts": [{"conceptId": module, "standard": False}]})
        elif prepackaged.domain_of(name) not in whole:
            whole.append(prepackaged.domain_of(name))
    request = DatasetRequest(cohorts=[c for _, c in cohorts], all_participants=bool(content.get("all_participants")),
                             concept_sets=sets, whole_domains=whole,
                             values={Domain(d): list(cols) for d, cols in content.get("values", {}).items()},
                             genome_selection=genotypes.selection_of(content.get("genome_selection")))
    return ResolvedDataset(request, [r for r, _ in cohorts], [r for r, _ in concept_sets], [r for r, _ in review_sets])


def review_tables(session: Session, resolved: ResolvedDataset) -> dict[str, pa.Table]:
    """Each review set's statuses and annotations (``review_<id>``: person_id, status, a column per field)."""
    return {f"review_{r.id}": reviews.export_table(session, r, version_of(session, r).content) for r in resolved.reviews}
