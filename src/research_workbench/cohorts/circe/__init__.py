"""OHDSI Circe (ATLAS) cohort definitions: typed models, a SQLGlot compiler and a DuckDB executor."""

from .errors import CirceError, Problem
from .executor import CirceResult, CohortRow, InclusionRuleResult, run_circe
from .model import CirceExpression, load_definition, parse_expression

__all__ = [
    "CirceError", "CirceExpression", "CirceResult", "CohortRow", "InclusionRuleResult", "Problem", "load_definition",
    "parse_expression", "run_circe",
]
