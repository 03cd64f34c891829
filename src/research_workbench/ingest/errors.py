"""Load errors that say what is wrong and where: file, line (or row) and column."""

from __future__ import annotations

from dataclasses import dataclass

from ..cdr.problems import ProblemsError


@dataclass(frozen=True)
class Problem:
    file: str
    message: str
    line: int | None = None
    column: str | None = None
    value: str | None = None
    more: int = 0  # further rows with the same problem in the same column
    row_word: str = "line"  # CSV files have lines; Parquet files and database tables have rows

    def __str__(self) -> str:
        where = [self.file]
        if self.line is not None:
            where.append(f"{self.row_word} {self.line}")
        if self.column is not None:
            where.append(f"column {self.column}")
        text = ", ".join(where) + ": " + self.message
        if self.value is not None:
            text += f" (value {self.value!r})"
        if self.more:
            text += f" [and {self.more} more row{'s' if self.more > 1 else ''}]"
        return text

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            self.row_word: self.line,
            "column": self.column,
            "message": self.message,
            "value": self.value,
            "more_rows": self.more,
        }


class LoadError(ProblemsError):
    """A load refused; nothing was written to the target."""

    heading = "load refused"
    problems: list[Problem]

    @classmethod
    def one(cls, file: str, message: str, **where) -> LoadError:
        return cls([Problem(file=file, message=message, **where)])
