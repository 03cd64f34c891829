"""Genomics of a Controlled Tier: reading the index's genotype stores, cohort extracts, GWAS, PCA, PheWAS and
per-ancestry allele frequencies (see docs/architecture.md)."""
