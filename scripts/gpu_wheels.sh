#!/usr/bin/env bash
# Fetch, here, the wheels a bare GPU image lacks (its python3 is 3.12 with PyTorch, no PyAV/ISA-L)
# into .whl/ (git-ignored), for scripts/gpu_check.sh to install there. (Ray's wheel is too large to
# send along; see gpu_check.sh.)
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
fetch() { python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d .whl "$@"; }
fetch "av>=12,<19" "isal>=1.6,<2"
echo "wheels in .whl/: $(ls .whl | wc -l) files, $(du -sh .whl | cut -f1)"
