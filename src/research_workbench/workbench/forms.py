"""Reading posted forms: bounded in size, one value per field unless a field is a list, problems by field."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.datastructures import FormData

from ..cdr.problems import Problem

MAX_FORM_BYTES = 64 * 1024
MAX_FIELDS = 200


class FormTooLarge(Exception):
    pass


@dataclass
class Form:
    data: FormData

    def get(self, name: str, default: str = "") -> str:
        values = self.data.getlist(name)
        value = values[-1] if values else default
        return value if isinstance(value, str) else default

    def list(self, name: str) -> list[str]:
        return [v for v in self.data.getlist(name) if isinstance(v, str) and v != ""]

    def checked(self, name: str) -> bool:
        return self.get(name) in ("on", "yes", "true", "1")

    def __contains__(self, name: str) -> bool:
        return name in self.data


async def read_form(request: Request) -> Form:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_FORM_BYTES:
        raise FormTooLarge(f"the form is larger than {MAX_FORM_BYTES // 1024} KB")
    data = await request.form(max_files=0, max_fields=MAX_FIELDS, max_part_size=MAX_FORM_BYTES)
    return Form(data)


@dataclass
class FieldErrors:
    """Problems keyed by form field, for templates: ``errors.of('email')``."""

    by_field: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of_problems(cls, problems: list[Any]) -> FieldErrors:
        out: dict[str, list[str]] = {}
        for p in problems:
            where = getattr(p, "where", "") or "form"
            out.setdefault(where, []).append(getattr(p, "message", str(p)))
        return cls(out)

    def of(self, name: str) -> list[str]:
        return self.by_field.get(name, [])

    def __bool__(self) -> bool:
        return bool(self.by_field)

    def summary(self) -> list[tuple[str, str]]:
        return [(w, m) for w, ms in self.by_field.items() for m in ms]


def problem(message: str, where: str) -> Problem:
    return Problem(message, where)
