"""Faults injected into training through its step hook (pipeline.train_worker.StepHook), never through
production options: a worker lost mid-run, for the tests of Ray Train's restart from the last checkpoint."""
from __future__ import annotations

import os
from pathlib import Path


class LoseWorkerOnce:
    """Worker `rank` exits at `step`, once (the marker file remembers it across restarts), as a lost node would.

    Picklable, so Ray Train hands it to its worker processes with the train loop config.
    """

    def __init__(self, step: int, marker: Path, rank: int = 1):
        self.step, self.marker, self.rank = step, Path(marker), rank

    def __call__(self, step: int, rank: int, device) -> None:
        if rank == self.rank and step == self.step and not self.marker.exists():
            self.marker.write_text(f"rank {rank} exited at step {step}\n")
            os._exit(1)  # no exception, no cleanup: the process is simply gone
