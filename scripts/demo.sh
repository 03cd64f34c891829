#!/usr/bin/env bash
# The main job on the embedded default (DuckDB): build a synthetic program from nothing, curate it into releases,
# index both tiers, build the public aggregates, set up the Researcher Workbench with a demo institution, an
# administrator and a researcher (their sign-in details are printed), publish the release as data versions, give the
# researcher a workspace with a saved cohort, and serve the Data Browser at http://127.0.0.1:8000 and the Researcher
# Workbench at http://127.0.0.1:8001.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/scripts/env.sh"
cd "$REPO"

OUT="${RW_DEMO_DIR:-$REPO/.demo}"
PARTICIPANTS="${RW_DEMO_PARTICIPANTS:-10000}"
PORT="${RW_DEMO_PORT:-8000}"
WB_PORT="${RW_DEMO_WORKBENCH_PORT:-8001}"
WB="$OUT/workbench"
RELEASE="$OUT/releases/demo"
mkdir -p "$OUT"
started=$SECONDS

echo "== 1/6 Generating a synthetic program of $PARTICIPANTS participants (EHR, surveys, measurements, wearables, genomes)"
workbench synth --participants "$PARTICIPANTS" --seed 1 --out "$OUT/raw" --replace
workbench cdr info "$OUT/raw"

echo "== 2/6 Curating it into a Registered and a Controlled Tier release (report: $RELEASE/report.html)"
workbench curate "$OUT/raw" --release demo --out "$OUT/releases" --replace

echo "== 3/6 Indexing both tiers for the Cohort Builder (a data version is published only with its index)"
workbench index "$RELEASE/registered" --replace
workbench index "$RELEASE/controlled" --replace
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

echo "== 4/6 Building the public aggregates (every count rounded up to a multiple of 20)"
workbench browser build "$RELEASE" --out "$OUT/browser.sqlite" --replace

echo "== 5/6 Setting up the Researcher Workbench in $WB (its database, secret, data versions, demo accounts and" \
     "the researcher's workspace)"
mkdir -p "$WB"
[ -f "$WB/secret" ] || workbench admin init-secret --out "$WB/secret"  # once: every key derives from it
cat > "$WB/workbench.toml" <<TOML
# Written by scripts/demo.sh. Relative paths are relative to this file; the secret is in its own file (mode 0600).
base_url = "http://127.0.0.1:$WB_PORT"
database_url = "sqlite:///workbench.sqlite"
secret_file = "secret"
notebook_host = "localhost"  # JupyterLab on another host name than the Workbench's (never its cookies)

[mail]
deliver = "log"  # no mail server in the demo: verification links and reminders are printed here instead
TOML
workbench admin migrate --config "$WB/workbench.toml"
# The release's two tiers as data versions, which workspaces are bound to. A published version is never changed (nor
# replaced once a workspace uses it), and each run regenerates the same program (same seed): a run finding the newest
# DEMO-n of this size keeps it; a first run publishes DEMO-1, a run with another RW_DEMO_PARTICIPANTS the next DEMO-n
# (the new default; the demo workspace stays on its own version: duplicate it to move).
decision="$(workbench release versions --config "$WB/workbench.toml" --archived --json | python -c '
import json, sys
people = {t: json.load(open(f"{sys.argv[1]}/{t}/manifest.json"))["tables"]["person"]["rows"]
          for t in ("registered", "controlled")}
demo = [v for v in json.load(sys.stdin)["versions"] if v["name"].startswith("DEMO-") and v["name"][5:].isdigit()]
n = max((int(v["name"][5:]) for v in demo), default=0)
newest = [v for v in demo if v["name"] == f"DEMO-{n}"]
same = len(newest) == 2 and all(v["participant_count"] == people[v["tier"]] for v in newest)
print("keep" if same else "publish", f"DEMO-{n if same else n + 1}")' "$RELEASE")"
read -r action version <<<"$decision"
if [ "$action" = publish ]; then
  workbench release publish "$RELEASE" --name "$version" --aggregates "$OUT/browser.sqlite" --config "$WB/workbench.toml"
else
  echo "Data version $version is already published for this program of $PARTICIPANTS participants: kept"
fi
workbench admin demo --config "$WB/workbench.toml" --cohort "$OUT/t2dm-metformin.json"

echo "== 6/6 Ready in $((SECONDS - started)) s. Serving the Data Browser at http://127.0.0.1:$PORT and the" \
     "Researcher Workbench at http://127.0.0.1:$WB_PORT (its mail is printed below; Ctrl-C stops both)"
workbench browser serve "$OUT/browser.sqlite" --host 127.0.0.1 --port "$PORT" --workers 2 --directory "sqlite:///$WB/workbench.sqlite" &
BROWSER_PID=$!
# Background jobs of a script ignore Ctrl-C: stop the Data Browser whenever this script ends.
trap 'kill "$BROWSER_PID" 2>/dev/null || true; wait "$BROWSER_PID" 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM
workbench serve --config "$WB/workbench.toml" --host 127.0.0.1 --port "$WB_PORT"
