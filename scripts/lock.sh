#!/usr/bin/env bash
# Re-resolve the dependencies of pyproject.toml (with the test extra) in a throwaway virtual environment and write
# the exact versions to requirements.lock, which both README commands install from (scripts/env.sh passes it to pip
# as a constraints file). Run it after changing dependencies in pyproject.toml, then run the tests and commit both.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
"$PYTHON" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$tmp/venv/bin/python" -m pip install -q --disable-pip-version-check "$REPO[test]"
{
  echo "# Exact versions the tests passed with; both README commands install from this file (scripts/env.sh)."
  echo "# Made by scripts/lock.sh with $("$tmp/venv/bin/python" -V) on $(uname -sm); regenerate after changing pyproject.toml."
  echo "pip==$("$tmp/venv/bin/python" -m pip --version | cut -d' ' -f2)"
  "$tmp/venv/bin/python" -m pip freeze --exclude-editable | grep -iv '^research[-_]workbench' | LC_ALL=C sort -f
} > "$REPO/requirements.lock"
echo "wrote $REPO/requirements.lock ($(grep -vc '^#' "$REPO/requirements.lock") packages)"
