# Sourced by demo.sh and test.sh: a virtual environment in .venv with the package installed (editable), every
# dependency at the exact version of requirements.lock (made by scripts/lock.sh), so a fresh machine gets the
# versions the tests passed with. Re-installs only when pyproject.toml or the lock changed.
# Usage: source scripts/env.sh [extras]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EXTRAS="${1:-}"

find_python() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

if [ ! -x "$REPO/.venv/bin/python" ]; then
  PYTHON="$(find_python)" || { echo "Python 3.11 or newer is needed" >&2; exit 1; }
  if ! "$PYTHON" -m venv "$REPO/.venv" 2>/dev/null; then
    # Debian splits venv out of the interpreter package.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
      "$PYTHON" -m venv "$REPO/.venv"
    else
      echo "cannot create a virtual environment: install python3-venv" >&2; exit 1
    fi
  fi
fi

LOCK="$REPO/requirements.lock"
STAMP="$REPO/.venv/.installed-$(cat "$REPO/pyproject.toml" "$LOCK" | sha256sum | cut -c1-16)-${EXTRAS:-base}"
if [ ! -f "$STAMP" ]; then
  echo "Installing Research Workbench into .venv ${EXTRAS:+(with $EXTRAS)} ..." >&2
  spec="$REPO"; [ -n "$EXTRAS" ] && spec="$REPO[$EXTRAS]"
  log="$(mktemp)"
  if ! { "$REPO/.venv/bin/python" -m pip install -q --disable-pip-version-check -c "$LOCK" --upgrade pip &&
         "$REPO/.venv/bin/python" -m pip install -q --disable-pip-version-check -c "$LOCK" -e "$spec"; } >"$log" 2>&1; then
    grep -v '^WARNING: Location' "$log" >&2; rm -f "$log"
    echo "installation failed" >&2; exit 1
  fi
  rm -f "$log"
  rm -f "$REPO"/.venv/.installed-*
  touch "$STAMP"
fi
export PATH="$REPO/.venv/bin:$PATH"
