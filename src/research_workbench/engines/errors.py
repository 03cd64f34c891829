"""The errors of the engine boundary: refused input, unsupported SQL, and a query an engine failed to run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..cdr.problems import Problem, ProblemsError


class EngineError(ProblemsError):
    """Input an engine refuses before running anything: a bad table or parameter name, a missing parameter, a
    Parquet file with nanosecond timestamps, a path that is not there."""

    heading = "Engine request refused"
    outcome = "nothing was run or written."


@dataclass(frozen=True)
class Finding:
    """One construct of a SQLGlot tree that some engines cannot run, or that would answer differently on them.

    ``engines``: the engines that refuse it. A construct that runs everywhere but gives different answers is
    refused by every engine (no engine's answer is "the" answer); one that some engine cannot run is refused by
    that engine only, so code may still use it behind a capability check.
    """

    construct: str  # what it is, as the SQL spells it: "DATE_DIFF in MONTH", "function LIST_HAS_ANY"
    reason: str  # why it is refused
    hint: str  # what to use instead
    engines: frozenset[str]
    sql: str = ""  # the offending fragment, rendered for DuckDB (shortened)

    def message(self, engine: str) -> str:
        where = f" in `{self.sql}`" if self.sql else ""
        return f"{self.construct}{where} is not portable to {engine}: {self.reason}; {self.hint}"


class UnsupportedConstruct(EngineError):
    """SQL with constructs the engine cannot run or would answer differently (see ``capabilities``). Each problem
    names the construct and the engine; ``findings`` keeps them as data."""

    heading = "SQL not portable to this engine"

    def __init__(self, engine: str, findings: Sequence[Finding]):
        self.engine = engine
        self.findings = list(findings)
        super().__init__([Problem(f.message(engine), where=f"{engine}: {f.construct}") for f in self.findings])

    @property
    def constructs(self) -> list[str]:
        return [f.construct for f in self.findings]


class QueryFailed(RuntimeError):
    """The engine accepted the SQL and failed while planning or running it (an engine error, a division by zero
    under Spark's ANSI mode, an impossible date in MAKE_DATE…). ``sql`` is the statement as rendered for it."""

    def __init__(self, engine: str, message: str, sql: str):
        self.engine = engine
        self.sql = sql
        super().__init__(f"{engine} failed to run the query: {message}")
