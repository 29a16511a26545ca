#!/usr/bin/env bash
# Usage: scripts/venv.sh NAME REQUIREMENTS_FILE
#
# Creates (once) the project-local Python virtual environment NAME under
# .local/venv/ (or $BACKFLOW_VENV_ROOT) with the pinned packages of
# REQUIREMENTS_FILE, and prints its directory. Nothing is installed into the
# machine's own Python. The venv is built from a base interpreter, never from an
# active virtualenv: $BACKFLOW_BASE_PYTHON when set, else the base of whatever
# `python3` is found (a virtualenv that happens to be active lends only its base
# interpreter, never its packages).
#
# A stamp named after the requirements' hash makes a second call a no-op (a
# file test); a changed requirements file re-runs pip in the same venv. Callers
# that run at once (parallel test binaries) wait for one another on a lock.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: scripts/venv.sh NAME REQUIREMENTS_FILE" >&2; exit 2; }
name="$1" req="$2"
root="${BACKFLOW_VENV_ROOT:-$PWD/.local/venv}"
dir="$root/$name"
stamp="$dir/.stamp-$(sha1sum "$req" | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  mkdir -p "$root"
  exec 9>"$root/.$name.lock"
  flock 9
  if [ ! -f "$stamp" ]; then
    base="${BACKFLOW_BASE_PYTHON:-$(python3 -c 'import os, sys; print(os.path.join(sys.base_prefix, "bin", "python3"))')}"
    [ -x "$base" ] || { echo "venv.sh: no base python3 at $base" >&2; exit 1; }
    echo "venv.sh: installing $req into $dir (once)" >&2
    # --clear: a venv whose base interpreter went away is rebuilt, not patched.
    [ -x "$dir/bin/python3" ] || "$base" -m venv --clear "$dir" >&2
    "$dir/bin/python3" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
    rm -f "$dir"/.stamp-* && touch "$stamp"
  fi
fi
echo "$dir"
