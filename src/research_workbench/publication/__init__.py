"""The publication check: All of Us' dissemination policy lets no participant count from 1 to 19 leave the
Workbench, shown or recoverable by subtraction, so a researcher checks tables and notebooks before they go.

It imports nothing of ours and no web code: the CLI, a notebook and a web page call the same functions.
"""

from .check import DEFAULT_THRESHOLD, SUFFIXES, check_file, check_notebook, check_table
from .report import KINDS, Finding, Report

__all__ = ["DEFAULT_THRESHOLD", "KINDS", "SUFFIXES", "Finding", "Report", "check_file", "check_notebook", "check_table"]
