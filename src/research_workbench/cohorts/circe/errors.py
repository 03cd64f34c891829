"""Refused Circe definitions: every problem names the JSON path and the rule it breaks."""

from __future__ import annotations

from dataclasses import dataclass

from ...cdr.problems import ProblemsError


@dataclass(frozen=True)
class Problem:
    path: str  # e.g. "PrimaryCriteria.CriteriaList[0].DrugEra.Age", or "def.json:3:7" for unreadable JSON
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class CirceError(ProblemsError):
    """A definition that cannot be executed as written; nothing is run."""

    heading = "definition refused"
    outcome = "nothing was run."
    problems: list[Problem]


def json_path(loc: tuple[str | int, ...]) -> str:
    """``("PrimaryCriteria", "CriteriaList", 0, "DrugEra")`` → ``PrimaryCriteria.CriteriaList[0].DrugEra``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text
