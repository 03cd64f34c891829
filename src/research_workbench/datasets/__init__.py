"""Datasets: a cohort's data as a reproducible, versioned object (columns, rows, exports, code)."""
