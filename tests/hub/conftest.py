"""The Research Hub's tests use the Workbench's app fixtures."""

from ..workbench.conftest import make_workbench, wb  # noqa: F401  (fixtures)
