#!/usr/bin/env bash
# Sets everything up, then runs build → train → colorize on a simulated two-node Ray cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python scripts/two_node_cluster.py "$@"
