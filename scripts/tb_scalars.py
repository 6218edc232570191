"""One TensorBoard scalar of a training run as CSV (x,y), for scripts/plot_curves.py.

    python scripts/tb_scalars.py RUN_DIR eval/l1 > l1.csv            # x = step
    python scripts/tb_scalars.py RUN_DIR eval/psnr --hours > psnr.csv  # x = hours since the run's first scalar

With --steps-to-hours, the input is instead a CSV of (step, value) rows (for example test PSNR of
saved checkpoints) and x becomes the hours at which the run logged that step.
"""
from __future__ import annotations

import argparse
import csv
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def scalars(run_dir: str) -> EventAccumulator:
    accumulator = EventAccumulator(f"{run_dir}/tensorboard", size_guidance={"scalars": 0})
    accumulator.Reload()
    return accumulator


def step_hours(accumulator: EventAccumulator) -> dict[int, float]:
    """Hours since the run's first logged scalar at every logged step (a resumed run's pause included)."""
    events = [event for tag in accumulator.Tags()["scalars"] for event in accumulator.Scalars(tag)]
    start = min(event.wall_time for event in events)
    return {event.step: (event.wall_time - start) / 3600 for event in sorted(events, key=lambda e: e.wall_time)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("tag", nargs="?", default="eval/l1")
    parser.add_argument("--hours", action="store_true", help="x = hours since the first scalar, not the step")
    parser.add_argument("--steps-to-hours", metavar="CSV", help="map this CSV's (step, value) rows to hours")
    args = parser.parse_args()
    accumulator = scalars(args.run_dir)
    out = csv.writer(sys.stdout)
    if args.steps_to_hours:
        hours = step_hours(accumulator)
        out.writerow(["hours", "value"])
        with open(args.steps_to_hours, newline="") as handle:
            for row in csv.reader(handle):
                if row and row[0].isdigit() and int(row[0]) in hours:
                    out.writerow([f"{hours[int(row[0])]:.4f}", row[1]])
        return
    events = accumulator.Scalars(args.tag)
    start = min(event.wall_time for event in events) if args.hours else 0.0
    out.writerow(["hours" if args.hours else "step", args.tag])
    for event in events:
        out.writerow([f"{(event.wall_time - start) / 3600:.4f}" if args.hours else event.step, f"{event.value:.6f}"])


if __name__ == "__main__":
    main()
