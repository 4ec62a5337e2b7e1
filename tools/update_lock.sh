#!/usr/bin/env bash
# Refresh requirements/lock.txt: the exact versions a fresh machine gets for the runtime + tests extras.
# Usage: bash tools/update_lock.sh   (then run the suite: bash .ci/run, and commit the lock with its results)
# Resolves the ranged lists of requirements/*.txt anew in an empty virtual environment (no lock applied), so
# the lock holds every transitive package at the newest version that satisfies them today.
set -euo pipefail
cd "$(dirname "$0")/.."
venv_parent="$(mktemp -d)"
trap 'rm -rf "$venv_parent"' EXIT
python3 -m venv "$venv_parent/venv"
# shellcheck disable=SC1091
source "$venv_parent/venv/bin/activate"
pip install -e ".[tests]"
lock="requirements/lock.txt"
tmp="$lock.$$.tmp"
{
  echo "# Exact versions of everything \`pip install -e \".[tests]\"\` installs (transitive packages included),"
  echo "# resolved on $(date -u +%Y-%m-%d) with Python $(python -c 'import platform; print(platform.python_version())') on $(uname -sm)."
  echo "# Used as constraints by README's set-up lines and .ci/run: pip install -c $lock -e \".[tests]\""
  echo "# Refresh: bash tools/update_lock.sh (tests/test_lock.py checks it against requirements/*.txt)."
  pip freeze --all --exclude-editable | grep -v '^pip==' | LC_ALL=C sort -f
} > "$tmp"
mv "$tmp" "$lock"
echo "wrote $lock ($(grep -vc '^#' "$lock") packages)"
