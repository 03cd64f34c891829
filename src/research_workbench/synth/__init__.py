"""The synthetic program generator: a raw CDR for N participants from a seed (``workbench synth``).

``generate(participants, seed, out)`` writes, in the Foundation CDR format: the authored vocabulary, participants
with program status, EHR, surveys, physical measurements, biosamples, wearables, genomes (VCF) and a ground-truth
list of deliberately injected defects. Same seed and N → byte-identical files.
"""

from __future__ import annotations

from .generate import generate

__all__ = ["generate"]
