#!/usr/bin/env bash
# The GPU checks of docs/benchmarks.md in one command, for a machine with a CUDA GPU:
# `bench models`, `bench train`, `bench colorize` and a short paper-setting training (§4.2: batch 1,
# full 256×256 frames, λ = 0.99, Adam 1e-3) of estuary-16-is, each printing its markdown rows.
#
# Where nircolor is installed (.venv), it uses that. On a bare GPU image whose python3 has PyTorch
# but not PyAV/ISA-L, carry those wheels in .whl/ (`bash scripts/gpu_wheels.sh` fetches them here)
# and this script installs them and nircolor into /tmp/site first. Ray's wheel (~80 MB) is larger
# than such a machine may be sent at once: without Ray there, the two Ray Train checks are skipped
# with a message and the model and colorize benchmarks (no Ray) still run.
# Writes everything under ${OUT:-gpu-check}/ (logs and the bench tables).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-gpu-check}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1

if [ -x .venv/bin/nircolor ]; then
    nircolor=(.venv/bin/nircolor)
else
    if [ -d .whl ]; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    fi
    python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target /tmp/site .
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} PATH=/tmp/site/bin:$PATH
    nircolor=(python3 -m nircolor.jobs.cli)
fi
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU'; print(torch.cuda.get_device_name(0), torch.__version__)" \
    | tee "$out/device.txt"

"${nircolor[@]}" bench models --device cuda --modes fp32,bf16,bf16-compiled --output "$out/models.md" 2>&1 | tee "$out/models.log"
if ! python3 -c "import ray" 2>/dev/null && [ ! -x .venv/bin/nircolor ]; then
    echo "Ray is not installed here: skipping bench train and the training run (they use Ray Train)"
    "${nircolor[@]}" bench colorize --model unet-64-s --size 1024x768 --frames 64 --device cuda \
        --modes fp32,bf16,bf16-compiled 2>&1 | tee "$out/colorize.log"
    exit 0
fi
"${nircolor[@]}" bench train --model estuary-16-is --size 256x256 --crop 0 --gpus-per-worker 1 --cpus-per-worker 4 \
    --steps 60 2>&1 | tee "$out/train-bench.log"
"${nircolor[@]}" bench colorize --model unet-64-s --size 1024x768 --frames 64 --device cuda \
    --modes fp32,bf16,bf16-compiled 2>&1 | tee "$out/colorize.log"

# A short training with the paper's settings on synthetic drives: steps/s on the GPU and a sample.
work=/tmp/nircolor-gpu-check
rm -rf "$work"
"${nircolor[@]}" synth recordings "$work/recordings" --count 4 --frames 40 --size 256x256 --days 2 --locations 2
"${nircolor[@]}" dataset build "$work/recordings" "$work/dataset" --every 1
"${nircolor[@]}" train "$work/dataset" "$work/run" --model estuary-16-is --steps 300 --gpus-per-worker 1 \
    --cpus-per-worker 4 --checkpoint-every 300 --eval-every 300 --sample-every 300 2>&1 | tee "$out/train.log"
cp "$work"/run/samples/*.png "$out/" 2>/dev/null || true
echo "gpu check done; tables and logs in $out/"
