"""One metric of many `nircolor evaluate` folders as CSV (training step, value), for scripts/plot_curves.py.

    python scripts/eval_curve.py /tmp/evals/run-step-* --metric psnr > psnr.csv

Each folder holds the evaluation.json of one checkpoint; the step is the checkpoint's training step.
`scripts/tb_scalars.py RUN --steps-to-hours psnr.csv` turns the steps into hours of that run.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--metric", default="psnr", help="l1, psnr, ssim, delta_e or angular_error")
    args = parser.parse_args()
    rows = []
    for folder in args.folders:
        document = json.loads((folder / "evaluation.json").read_text())
        for model in document["models"]:
            step = (model.get("training") or {}).get("step")
            if step is not None:
                rows.append((int(step), model["metrics"][args.metric]))
    out = csv.writer(sys.stdout)
    out.writerow(["step", args.metric])
    for step, value in sorted(rows):
        out.writerow([step, f"{value:.6f}"])


if __name__ == "__main__":
    main()
