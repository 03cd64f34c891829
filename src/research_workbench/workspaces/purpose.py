"""A workspace's research purpose: the All of Us sections, with their limits. The public part is what the
Research Projects Directory shows; the AI/AN explanation and the review request stay private.

Errors name the form field (``intended_study``, ``population_details``…) so the form can show each beside it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ANSWER_MAX = 1000  # each plain-language answer, with a counter on the form

PURPOSE_FLAGS = {
    "disease_focused_research": "Disease-focused research", "methods_development": "Methods development",
    "control_set": "Research control", "ancestry": "Genetic research", "social_behavioral": "Social / behavioral research",
    "population_health": "Population health / public health", "ethics": "Ethical, legal and social implications",
    "drug_development": "Drug development", "commercial_purpose": "For-profit purpose",
    "educational": "Educational purpose", "other_purpose": "Other purpose",
}
POPULATION_DETAILS = {
    "RACE_ETHNICITY": "Race or ethnicity", "AGE_GROUPS": "Age groups", "SEX": "Sex", "GENDER_IDENTITY": "Gender identity",
    "SEXUAL_ORIENTATION": "Sexual orientation", "GEOGRAPHY": "Geography (e.g. rural)", "DISABILITY_STATUS": "Disability status",
    "ACCESS_TO_CARE": "Access to care", "EDUCATION_LEVEL": "Education level", "INCOME_LEVEL": "Income level",
    "OTHER": "Other",
}
RESEARCH_OUTCOMES = {
    "PROMOTE_HEALTHY_LIVING": "Promote healthy living", "IMPROVE_HEALTH_EQUALITY_UBR_POPULATIONS":
    "Improve health equity in underrepresented populations", "IMPROVED_RISK_ASSESMENT": "Improve risk assessment",
    "DECREASE_ILLNESS_BURDEN": "Decrease the burden of illness", "PRECISION_INTERVENTION": "Develop precision interventions",
    "NONE_APPLY": "None of these apply",
}
DISSEMINATION = {
    "PUBLICATION_PEER_REVIEWED_JOURNALS": "Peer-reviewed journals", "PRESENTATION_SCIENTIFIC_CONFERENCES":
    "Scientific conferences", "PRESS_RELEASE": "Press release or media", "PUBLICATION_COMMUNITY_FORUMS":
    "Community forums", "PUBLICATION_PERSONAL_BLOG": "Personal blog or social media", "OTHER": "Other",
}
AIAN_RESEARCH_TYPES = {
    "EXCLUSIVE_AI_AN_POPULATION": "This research focuses exclusively on American Indian and Alaska Native people",
    "CASE_CONTROL_AI_AN": "American Indian and Alaska Native people are a case or control group",
    "FINDINGS_BY_AI_AN": "Findings will be reported for American Indian and Alaska Native people",
    "NO_AI_AN_ANALYSIS": "No analysis specific to American Indian and Alaska Native people",
}

PopulationDetail = Literal[tuple(POPULATION_DETAILS)]  # type: ignore[valid-type]
ResearchOutcome = Literal[tuple(RESEARCH_OUTCOMES)]  # type: ignore[valid-type]
Dissemination = Literal[tuple(DISSEMINATION)]  # type: ignore[valid-type]
AianResearchType = Literal[tuple(AIAN_RESEARCH_TYPES)]  # type: ignore[valid-type]


class ResearchPurpose(BaseModel):
    """What a workspace's owners declare; every workspace has one."""

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
    disease_of_focus: str | None = Field(None, max_length=200)
    other_purpose_details: str | None = Field(None, max_length=500)
    intended_study: str = Field(min_length=1, max_length=ANSWER_MAX,
                                description="What are the research questions, and why are they important?")
    scientific_approach: str = Field(min_length=1, max_length=ANSWER_MAX,
                                     description="What are the scientific approaches, data and tools?")
    anticipated_findings: str = Field(min_length=1, max_length=ANSWER_MAX,
                                      description="What findings are anticipated, and how will they be used?")
    dissemination: list[Dissemination] = Field(default_factory=list)
    research_outcomes: list[ResearchOutcome] = Field(default_factory=list)
    population_focus: bool = False  # does the study focus on a population underrepresented in research?
    population_details: list[PopulationDetail] = Field(default_factory=list)
    other_population_details: str | None = Field(None, max_length=200)
    aian_research_type: AianResearchType | None = None
    aian_research_details: str | None = Field(None, max_length=ANSWER_MAX)  # private: not in the directory
    review_requested: bool = False  # ask the Resource Access Board to review this purpose

    @model_validator(mode="after")
    def _consistent(self) -> ResearchPurpose:
        if self.disease_focused_research and not (self.disease_of_focus or "").strip():
            raise ValueError("disease_of_focus: name the disease for disease-focused research")
        if self.other_purpose and not (self.other_purpose_details or "").strip():
            raise ValueError("other_purpose_details: describe the other purpose")
        if not any(getattr(self, key) for key in PURPOSE_FLAGS):
            raise ValueError("purposes: choose at least one primary purpose")
        if self.population_details and not self.population_focus:
            raise ValueError("population_details: only when the study focuses on a population")
        if "OTHER" in self.population_details and not (self.other_population_details or "").strip():
            raise ValueError("other_population_details: describe the other population")
        if "NONE_APPLY" in self.research_outcomes and len(self.research_outcomes) > 1:
            raise ValueError("research_outcomes: 'None of these apply' goes alone")
        return self

    @property
    def purposes(self) -> list[str]:
        return [label for key, label in PURPOSE_FLAGS.items() if getattr(self, key)]

    def public(self) -> dict:
        """What the public Research Projects Directory shows (not the AI/AN explanation or the review request)."""
        return self.model_dump(exclude={"aian_research_details", "review_requested"})
