"""One small synthetic program with genomes, curated and both tiers indexed, built once per test process and shared
by every test folder that needs it (``tests/genomics``, the Workbench's genomics and dataset tests): 2,000
participants, seed 7 (about half with genomes). Building it takes about a minute, so it is never built twice in one
process."""

from __future__ import annotations

from pathlib import Path

PARTICIPANTS = 2000
SEED = 7
_BUILT: dict[str, Path] = {}


def synthetic_genomes(tmp_path_factory) -> dict[str, Path]:
    """``ct_release``, ``ct_index``, ``rt_release``, ``rt_index`` of the program (see the module docstring)."""
    if not _BUILT:
        from research_workbench.curation import curate
        from research_workbench.index.build import build_index
        from research_workbench.synth.generate import generate

        root = tmp_path_factory.mktemp("synthetic-genomes")
        generate(PARTICIPANTS, SEED, root / "raw")
        curate(root / "raw", "r1", root / "releases")
        releases = root / "releases" / "r1"
        _BUILT.update(ct_release=releases / "controlled", ct_index=build_index(releases / "controlled").path,
                      rt_release=releases / "registered", rt_index=build_index(releases / "registered").path)
    return _BUILT
