"""Loaders: bring OMOP data from CSV, Parquet, PostgreSQL or an Athena vocabulary download into a CDR."""

from .errors import LoadError, Problem
from .omop import LoadOptions, LoadResult, load_omop_folder, load_omop_postgres
from .athena import load_athena_vocabulary

__all__ = [
    "LoadError",
    "LoadOptions",
    "LoadResult",
    "Problem",
    "load_athena_vocabulary",
    "load_omop_folder",
    "load_omop_postgres",
]
