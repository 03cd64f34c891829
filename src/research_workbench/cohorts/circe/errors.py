"""Refused Circe definitions: every problem names the JSON path and the rule it breaks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    path: str  # e.g. "PrimaryCriteria.CriteriaList[0].DrugEra.Age", or "def.json:3:7" for unreadable JSON
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class CirceError(ValueError):
    """A definition that cannot be executed as written; nothing is run."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def json_path(loc: tuple[str | int, ...]) -> str:
    """``("PrimaryCriteria", "CriteriaList", 0, "DrugEra")`` → ``PrimaryCriteria.CriteriaList[0].DrugEra``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text
