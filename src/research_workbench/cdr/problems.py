"""The one error type for refused input: ``ProblemsError``, a list of located problems.

Every loader, definition and Circe error extends it, so the CLI reports them all one way (a heading, one line per
problem, or with ``--json`` one document ``{"error": heading, "problems": [...]}``) and the web layer can answer
them with a 4xx carrying the same problems. A problem is anything with ``__str__`` (the located one-line message,
e.g. ``person.csv, line 5, column person_id: duplicate primary key``); its JSON form is its ``as_dict()`` when it
has one, else its text. Each subclass keeps its own problem type, whose fields name the location its input has:
file, line and column for loads; a JSON path for definitions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Sequence


@dataclass(frozen=True)
class Problem:
    """A problem located by a free-form place (``config.toml: rules.foo``, ``form field email``); may be empty."""

    message: str
    where: str = ""

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message

    def as_dict(self) -> dict[str, str]:
        return {"where": self.where, "message": self.message}


def problem_json(problem: Any) -> Any:
    """A problem's JSON form: its ``as_dict()``, else its text."""
    as_dict = getattr(problem, "as_dict", None)
    return as_dict() if callable(as_dict) else str(problem)


class ProblemsError(ValueError):
    """Input refused for the located ``problems`` it lists; nothing was written or run.

    ``heading`` is the one-line summary a reporter shows above the problems; ``outcome`` says what did not happen.
    """

    heading = "refused"
    outcome = "nothing was written."

    def __init__(self, problems: Sequence[Any], message: str | None = None):
        self.problems = list(problems)
        super().__init__(message if message is not None else "\n".join(str(p) for p in self.problems))

    def as_json(self) -> dict[str, Any]:
        return {"error": self.heading, "problems": [problem_json(p) for p in self.problems]}


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def iso_date(value: str | None, where: str, problems: list[Problem], *, required: bool = False,
             missing: str = "give a date (YYYY-MM-DD)") -> date | None:
    """``value`` as a date written YYYY-MM-DD, or None with a problem at ``where`` (a form field, an option)."""
    value = (value or "").strip()
    if not value:
        if required:
            problems.append(Problem(missing, where))
        return None
    if _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    problems.append(Problem(f"{value[:40]!r} is not a date like 2026-01-31 (YYYY-MM-DD)", where))
    return None
