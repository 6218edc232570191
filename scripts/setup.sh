#!/usr/bin/env bash
# Creates .venv and installs nircolor with its pinned CPU PyTorch (no CUDA download).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/pip install -q --upgrade pip
# These machines' package mirror serves the CPU build as torch==2.13.0. Elsewhere PyPI's torch is the
# CUDA build (gigabytes): set TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu for the CPU one.
.venv/bin/pip install -q torch==2.13.0 ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
.venv/bin/pip install -q -e ".[dev]"
