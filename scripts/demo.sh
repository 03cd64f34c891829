#!/usr/bin/env bash
# The main job on the embedded default (DuckDB): build a synthetic program from nothing, index it, query it.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/scripts/env.sh"
cd "$REPO"

OUT="${RW_DEMO_DIR:-$REPO/.demo}"
PARTICIPANTS="${RW_DEMO_PARTICIPANTS:-10000}"
mkdir -p "$OUT"

echo "== 1. Generating a synthetic program of $PARTICIPANTS participants (EHR, surveys, measurements, wearables, genomes) into $OUT/raw"
workbench synth --participants "$PARTICIPANTS" --seed 1 --out "$OUT/raw" --replace
workbench cdr info "$OUT/raw"

echo "== 2. Building the search index"
workbench index "$OUT/raw" --replace

echo "== 3. A cohort: type 2 diabetes (with descendants) and metformin, without chronic kidney disease"
cat > "$OUT/t2dm-metformin.json" <<'JSON'
{"includes": [
  {"id": "diabetes", "items": [{"id": "t2dm", "type": "CONDITION", "searchParameters": [
    {"parameterId": "t2dm", "domain": "CONDITION", "type": "SNOMED", "conceptId": 201826, "group": true}]}]},
  {"id": "metformin", "items": [{"id": "metformin", "type": "DRUG", "searchParameters": [
    {"parameterId": "metformin", "domain": "DRUG", "type": "RXNORM", "conceptId": 1503297}]}]}],
 "excludes": [
  {"id": "ckd", "items": [{"id": "ckd", "type": "CONDITION", "searchParameters": [
    {"parameterId": "ckd", "domain": "CONDITION", "type": "SNOMED", "conceptId": 46271022, "group": true}]}]}]}
JSON
workbench cohort count "$OUT/t2dm-metformin.json" --cdr "$OUT/raw"
workbench cohort breakdown "$OUT/t2dm-metformin.json" --cdr "$OUT/raw"
workbench criteria search "diabetes" --index "$OUT/raw.index" --limit 5
