#!/usr/bin/env bash
# Sets everything up, then runs the whole test suite, slow tests included (CPU; GPU tests skip).
# A plain `.venv/bin/python -m pytest` skips the tests marked slow.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pytest -q -m "" "$@"
