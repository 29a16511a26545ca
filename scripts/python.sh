# Sourced (not run) by the scripts that run Python tools: local-up.sh, demo.sh,
# test.sh, bench.sh, deploy.sh (its own venv), install-deps.sh.
#
# Sets and exports BACKFLOW_PYTHON, the interpreter of the project's tools venv
# (.local/venv/tools: moto, boto3, cargo-lambda, pytest, cfn-lint, checkov, the
# official Intercom SDK; created once from tests/python/requirements.txt by
# scripts/venv.sh). Every Python the scripts and the Rust test harnesses run is
# this one, named explicitly, and the tools (cargo-lambda, cfn-lint, checkov)
# are taken from its bin/ directory: which `python3` comes first on PATH, or
# which virtualenv is active, changes nothing. A BACKFLOW_PYTHON already set
# (by a calling script, or by hand) is kept.
backflow_python_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z ${BACKFLOW_PYTHON:-} ]]; then
  BACKFLOW_PYTHON="$("$backflow_python_repo/scripts/venv.sh" tools "$backflow_python_repo/tests/python/requirements.txt")/bin/python3"
fi
if [[ ! -x $BACKFLOW_PYTHON ]]; then
  echo "BACKFLOW_PYTHON=$BACKFLOW_PYTHON is not an executable Python" >&2
  exit 1
fi
export BACKFLOW_PYTHON
unset backflow_python_repo
