"""The command-line tools the Python tests run (cfn-lint, checkov, cargo-lambda),
taken from the venv that runs the tests, never from PATH: the venv is what `make
test` created from tests/python/requirements.txt, while PATH may hold another
version or none."""

from __future__ import annotations

import os
import sys
from pathlib import Path

TOOLS = Path(sys.executable).parent  # the venv's bin/


def venv_tool(name: str) -> str:
    """The tool's path in the venv; fails (never skips) when it is missing."""
    path = TOOLS / name
    assert os.access(path, os.X_OK), \
        f"{path} is missing: scripts/venv.sh tools tests/python/requirements.txt installs it"
    return str(path)
