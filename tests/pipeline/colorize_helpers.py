"""What the colorize tests share: a tiny checkpoint, synthetic NIR videos and exact frame instants."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from nircolor.dataset_tools.video import VideoWriter, iter_frames, probe
from nircolor.models.checkpoint import save_generator
from nircolor.models.johnson import JohnsonConfig
from nircolor.pipeline.colorize import ColorizeOptions

LOCAL = ColorizeOptions(executor="local", batch_size=4, preset="ultrafast")


def tiny_checkpoint(tmp_path_factory) -> Path:
    generator = JohnsonConfig(blocks=1, base_channels=4).build()
    return save_generator(generator, tmp_path_factory.mktemp("checkpoint") / "johnson-tiny")


def write_nir(path: Path, pts: list[int], *, width=64, height=48, time_base=Fraction(1, 25), rate=25,
              codec="h264", gop: int | None = None, seed=0) -> Path:
    """A gray video with moving noise at the given PTS (irregular PTS make a variable frame rate)."""
    generator = np.random.default_rng(seed)
    base = generator.integers(0, 256, (height, width + len(pts)), dtype=np.uint8)
    writer = VideoWriter(path, width=width, height=height, time_base=time_base, rate=rate, codec=codec,
                         kind="gray", preset="ultrafast")
    if gop:
        writer.stream.codec_context.gop_size = gop
    with writer:
        for index, value in enumerate(pts):
            writer.write(np.ascontiguousarray(base[:, index:index + width]), value)
    return path


def instants(path: Path, kind="rgb") -> list[Fraction]:
    """Exact presentation instants (PTS × time base) of every frame."""
    time_base = probe(path).time_base
    return [frame.pts * time_base for frame in iter_frames(path, kind=kind)]
