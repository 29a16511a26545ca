#!/usr/bin/env bash
# Usage: scripts/venv.sh NAME REQUIREMENTS_FILE
#
# Creates (once) the project-local Python virtual environment NAME under
# .local/venv/ with the pinned packages of REQUIREMENTS_FILE, and prints its
# directory. Nothing is installed into the machine's own Python, and the venv is
# built from the base interpreter of whatever `python3` is found (a virtualenv that
# happens to be active lends only its base interpreter, never its packages).
# A stamp named after the requirements' hash makes a second call a no-op; a changed
# requirements file re-runs pip in the same venv.
set -euo pipefail
cd "$(dirname "$0")/.."
name="$1" req="$2"
root="${BACKFLOW_VENV_ROOT:-$PWD/.local/venv}"
dir="$root/$name"
stamp="$dir/.stamp-$(sha1sum "$req" | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  base="$(python3 -c 'import os, sys; print(os.path.join(sys.base_prefix, "bin", "python3"))')"
  [ -x "$base" ] || { echo "venv.sh: no base python3 at $base" >&2; exit 1; }
  echo "venv.sh: installing $req into $dir" >&2
  [ -x "$dir/bin/python3" ] || "$base" -m venv "$dir" >&2
  "$dir/bin/python3" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
  rm -f "$dir"/.stamp-* && touch "$stamp"
fi
echo "$dir"
