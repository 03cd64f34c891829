#!/usr/bin/env bash
# The main job on the embedded default (DuckDB): build a synthetic program from nothing, curate it into releases,
# index the Registered Tier, build the public aggregates and serve the Data Browser at http://127.0.0.1:8000.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/scripts/env.sh"
cd "$REPO"

OUT="${RW_DEMO_DIR:-$REPO/.demo}"
PARTICIPANTS="${RW_DEMO_PARTICIPANTS:-10000}"
PORT="${RW_DEMO_PORT:-8000}"
RELEASE="$OUT/releases/demo"
mkdir -p "$OUT"
started=$SECONDS

echo "== 1/5 Generating a synthetic program of $PARTICIPANTS participants (EHR, surveys, measurements, wearables, genomes)"
workbench synth --participants "$PARTICIPANTS" --seed 1 --out "$OUT/raw" --replace
workbench cdr info "$OUT/raw"

echo "== 2/5 Curating it into a Registered and a Controlled Tier release (report: $RELEASE/report.html)"
workbench curate "$OUT/raw" --release demo --out "$OUT/releases" --replace

echo "== 3/5 Indexing the Registered Tier for the Cohort Builder"
workbench index "$RELEASE/registered" --replace
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
echo "   Cohort: type 2 diabetes (with descendants) and metformin, without chronic kidney disease:"
workbench cohort count "$OUT/t2dm-metformin.json" --cdr "$RELEASE/registered"

echo "== 4/5 Building the public aggregates (every count rounded up to a multiple of 20)"
workbench browser build "$RELEASE" --out "$OUT/browser.sqlite" --replace

echo "== 5/5 Ready in $((SECONDS - started)) s. Serving the Data Browser at http://127.0.0.1:$PORT (Ctrl-C to stop)"
exec workbench browser serve "$OUT/browser.sqlite" --host 127.0.0.1 --port "$PORT" --workers 2
