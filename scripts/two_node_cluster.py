"""Simulate a two-node Ray cluster on one machine and run build → train → colorize through it.

Each node is a separate raylet with its own CPUs (`ray.cluster_utils.Cluster`); the stages are the
real `nircolor` commands given `--address`, as on a real cluster (docs/cluster.md). Training asks
for two workers of 2 CPUs each while each node has 2 CPUs, so one worker must run on each node.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ray.cluster_utils import Cluster


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("cluster-demo-output"), help="folder for every output")
    parser.add_argument("--steps", type=int, default=40, help="training steps")
    arguments = parser.parse_args()
    out = arguments.out.absolute()
    shutil.rmtree(out, ignore_errors=True)
    nircolor = str(Path(sys.executable).with_name("nircolor"))

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    cluster.add_node(num_cpus=2)
    cluster.wait_for_nodes()
    address = cluster.address
    print(f"two-node cluster at {address}: {len(cluster.list_all_nodes())} nodes, 2 CPUs each", flush=True)
    started = time.perf_counter()
    try:
        def recordings() -> list[str]:  # exist only once synth has run
            return sorted(map(str, (out / "recordings").glob("drive-*")))

        stages = [
            lambda: ["synth", "recordings", f"{out}/recordings", "--count", "4", "--frames", "24",
                     "--days", "2", "--locations", "2"],
            lambda: ["dataset", "build", f"{out}/recordings", f"{out}/dataset", "--eval-fraction", "0.3",
                     "--address", address],
            lambda: ["train", f"{out}/dataset", f"{out}/run", "--model", "johnson-6", "--tiny",
                     "--steps", str(arguments.steps), "--crop", "64", "--workers", "2", "--cpus-per-worker", "2",
                     "--checkpoint-every", str(arguments.steps), "--eval-every", str(arguments.steps),
                     "--address", address],
            lambda: ["colorize", f"{out}/run/checkpoints/step-{arguments.steps:07d}", *recordings(),
                     "--out", f"{out}/colorized", "--address", address],
        ]
        for make_stage in stages:
            stage = make_stage()
            print(f"\n$ nircolor {' '.join(stage)}", flush=True)
            result = subprocess.run([nircolor, *stage], env={**os.environ, "OMP_NUM_THREADS": "1"})
            if result.returncode != 0:
                print(f"two-node run failed at `nircolor {stage[0]}` (exit {result.returncode})", file=sys.stderr)
                return 1
    finally:
        cluster.shutdown()
    videos = sorted((out / "colorized").glob("*.mp4"))
    print(f"\ntwo-node cluster run finished in {time.perf_counter() - started:.0f} s: dataset {out}/dataset, "
          f"checkpoint {out}/run/checkpoints, {len(videos)} colorized videos in {out}/colorized")
    return 0 if videos else 1


if __name__ == "__main__":
    sys.exit(main())
