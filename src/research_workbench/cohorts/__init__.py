"""Cohorts: definitions, compilers and executors."""
