#!/usr/bin/env bash
# The main job on the embedded default (DuckDB): load a real OMOP CDM into a CDR and summarise it.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/scripts/env.sh"
cd "$REPO"

DATASETS="${RW_DATASETS:-$REPO/../shared/datasets}"
OUT="${RW_DEMO_DIR:-$REPO/.demo}"
mkdir -p "$OUT"

if [ -d "$DATASETS/eunomia-gibleed" ]; then
  echo "== Loading the OHDSI Eunomia GiBleed CDM (5.3.1, upgraded to 5.4) into $OUT/gibleed"
  # GiBleed reuses some drug_exposure, measurement and observation ids for different rows: keep and count them.
  workbench load omop "$DATASETS/eunomia-gibleed" --out "$OUT/gibleed" --replace --allow-duplicate-keys
  workbench cdr info "$OUT/gibleed"
  workbench cdr verify "$OUT/gibleed"
else
  echo "No datasets at $DATASETS (set RW_DATASETS); nothing to load." >&2
  exit 1
fi
