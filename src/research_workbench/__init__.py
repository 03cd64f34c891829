"""Research Workbench: collect, curate, release and study a research program's participant data."""

__version__ = "0.1.0"
