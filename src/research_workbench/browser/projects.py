"""The Research Projects Directory: the public part of each workspace's research purpose.

Workspaces do not exist yet; until they do, ``workbench browser build --projects FILE`` takes their research
purposes as a JSON list of ``ResearchProject`` documents (validated here) and the directory lists them. Without
the option the directory is an empty list.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

PopulationDetail = Literal[
    "RACE_ETHNICITY", "AGE_GROUPS", "SEX", "GENDER_IDENTITY", "SEXUAL_ORIENTATION", "GEOGRAPHY", "DISABILITY_STATUS",
    "ACCESS_TO_CARE", "EDUCATION_LEVEL", "INCOME_LEVEL", "OTHER",
]
ResearchOutcome = Literal[
    "PROMOTE_HEALTHY_LIVING", "IMPROVE_HEALTH_EQUALITY_UBR_POPULATIONS", "IMPROVED_RISK_ASSESMENT",
    "DECREASE_ILLNESS_BURDEN", "PRECISION_INTERVENTION", "NONE_APPLY",
]
PURPOSE_FLAGS = {
    "ancestry": "Genetic ancestry", "commercial_purpose": "For-profit purpose", "control_set": "Control set",
    "disease_focused_research": "Disease-focused research", "drug_development": "Drug development",
    "educational": "Educational purpose", "ethics": "Ethical, legal and social implications",
    "methods_development": "Methods development", "other_purpose": "Other purpose",
    "population_health": "Population health / public health", "social_behavioral": "Social / behavioral research",
}


class ResearchPurpose(BaseModel):
    """What a workspace's owners declared (the fields the All of Us directory publishes)."""

    model_config = ConfigDict(extra="forbid")

    ancestry: bool = False
    commercial_purpose: bool = False
    control_set: bool = False
    disease_focused_research: bool = False
    drug_development: bool = False
    educational: bool = False
    ethics: bool = False
    methods_development: bool = False
    other_purpose: bool = False
    population_health: bool = False
    social_behavioral: bool = False
    disease_of_focus: str | None = None
    other_purpose_details: str | None = None
    intended_study: str = Field(min_length=1)
    scientific_approach: str = Field(min_length=1)
    anticipated_findings: str = Field(min_length=1)
    population_details: list[PopulationDetail] = Field(default_factory=list)
    research_outcomes: list[ResearchOutcome] = Field(default_factory=list)

    @property
    def purposes(self) -> list[str]:
        return [label for key, label in PURPOSE_FLAGS.items() if getattr(self, key)]


class ResearchProject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: str = Field(min_length=1, max_length=200, description="The workspace's namespace")
    name: str = Field(min_length=1, max_length=500)
    access_tier: Literal["registered", "controlled"]
    created: datetime
    owner_institution: str | None = None
    research_purpose: ResearchPurpose


def read_projects(path: Path) -> list[ResearchProject]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not JSON: {err}") from err
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of research projects")
    try:
        projects = [ResearchProject.model_validate(item) for item in data]
    except ValidationError as err:
        raise ValueError(f"{path}: {err}") from err
    ids = [p.project_id for p in projects]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: project ids repeat")
    return projects
