"""The curated data repository (CDR): its data model, its on-disk format and its DDL."""
