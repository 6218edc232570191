"""`nircolor colorize` end to end: a recording folder and a bad file, then a resumed run."""
from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
from typer.testing import CliRunner

from nircolor.dataset_tools.video import VideoWriter, iter_frames
from nircolor.jobs.cli import app
from nircolor.models.checkpoint import save_generator
from nircolor.models.johnson import JohnsonConfig

runner = CliRunner()


def _recording(folder, frames=6):
    folder.mkdir()
    rng = np.random.default_rng(0)
    with VideoWriter(folder / "nir.mkv", width=48, height=32, time_base=Fraction(1, 25), rate=25, codec="ffv1",
                     kind="gray", bits=12, pix_fmt="gray12le") as writer:
        for index in range(frames):
            # A 12-bit sensor value v scaled to 16 bits by bit replication; FFmpeg stores v exactly.
            values = rng.integers(0, 4096, (32, 48), dtype=np.uint16)
            writer.write(values * 16 + (values >> 8), index)
    with VideoWriter(folder / "rgb.mkv", width=48, height=32, time_base=Fraction(1, 25), rate=25,
                     codec="ffv1") as writer:
        for index in range(frames):
            writer.write(np.full((32, 48, 3), 20 * index, dtype=np.uint8), index)
    (folder / "recording.json").write_text(json.dumps(
        {"id": "drive-7", "day": "2026-11-25", "location": "yard", "nir": "nir.mkv", "rgb": "rgb.mkv"}))
    return folder


def test_colorize_command_reports_bad_input_and_resumes(tmp_path, ray_local):
    checkpoint = save_generator(JohnsonConfig(blocks=1, base_channels=4).build(), tmp_path / "checkpoint", nir_bits=12)
    recording = _recording(tmp_path / "drive-7")
    broken = tmp_path / "broken.mkv"
    broken.write_bytes(b"\x1a\x45\xdf\xa3 not really a video")
    out = tmp_path / "out"
    arguments = ["colorize", str(checkpoint), str(recording), str(broken), "--out", str(out),
                 "--side-by-side", "--batch-size", "4", "--preset", "ultrafast", "--workers", "1"]

    first = runner.invoke(app, arguments)
    assert first.exit_code == 1, first.output
    assert "broken.mkv" in first.output and "Traceback" not in first.output
    assert "1 colorized, 0 already done, 1 failed" in first.output
    frames = list(iter_frames(out / "drive-7.mp4", kind="rgb"))
    assert [round(frame.seconds, 6) for frame in frames] == [0.0, 0.04, 0.08, 0.12, 0.16, 0.2]
    review = next(iter_frames(out / "drive-7.review.mp4", kind="rgb"))
    assert review.array.shape == (32, 3 * 48, 3)
    report = json.loads((out / "drive-7.json").read_text())
    assert report["frames"] == 6 and report["nir"]["bits"] == 12 and report["codec"] == "h264"

    second = runner.invoke(app, arguments[:3] + arguments[4:])  # without the broken file
    assert second.exit_code == 0, second.output
    assert "0 colorized, 1 already done, 0 failed" in second.output


def test_colorize_command_rejects_a_bad_checkpoint_in_one_line(tmp_path):
    video = tmp_path / "clip.mkv"
    video.write_bytes(b"")
    result = runner.invoke(app, ["colorize", str(tmp_path / "nope"), str(video), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "not a checkpoint" in result.output and "Traceback" not in result.output


def test_colorize_command_reports_workers_that_cannot_load_the_weights(tmp_path, ray_local):
    checkpoint = save_generator(JohnsonConfig(blocks=1, base_channels=4).build(), tmp_path / "checkpoint")
    (checkpoint / "generator.safetensors").write_bytes(b"garbage")  # config fine, weights broken
    video = tmp_path / "clip.mkv"
    with VideoWriter(video, width=32, height=32, time_base=Fraction(1, 25), rate=25, codec="ffv1", kind="gray") as writer:
        writer.write(np.zeros((32, 32), dtype=np.uint8), 0)
    result = runner.invoke(app, ["colorize", str(checkpoint), str(video), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "could not start" in result.output and "generator.safetensors" in result.output
    assert "Traceback" not in result.output
