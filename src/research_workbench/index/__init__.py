"""The search index of a CDR: one narrow event table, one row per person, criteria trees and text search.

Built once per CDR (raw or release) so that cohort counts are scans of one table sorted by concept, and
criteria browsing and search never touch the wide OMOP tables (the All of Us Workbench's cb_search_* design).
"""

from .build import IndexResult, build_index
from .freshness import StaleIndexError, check_index
from .search import search_criteria

__all__ = ["IndexResult", "StaleIndexError", "build_index", "check_index", "search_criteria"]
