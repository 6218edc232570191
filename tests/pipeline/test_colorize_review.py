"""The side-by-side review video: NIR | colorized | RGB ground truth, paired by time."""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from nircolor.dataset_tools.synthetic import SynthOptions, read_frame_code, synthesize_recordings
from nircolor.dataset_tools.video import VideoWriter, iter_frames
from nircolor.pipeline.colorize import ColorizeOptions, colorize_inputs
from tests.pipeline.colorize_helpers import tiny_checkpoint, write_nir


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory)


def test_side_by_side_pairs_rgb_frames_by_timestamp(tmp_path, checkpoint):
    recording = tmp_path / "take-1"
    recording.mkdir()
    write_nir(recording / "nir.mkv", [0, 1, 2, 3, 4, 5], codec="ffv1")
    # The RGB camera dropped its frame at 80 ms and is late by 10 ms once: pairing by index would
    # shift every later pair, pairing by time takes the nearest RGB frame.
    rgb_milliseconds = [0, 40, 110, 160, 200]
    with VideoWriter(recording / "rgb.mkv", width=64, height=48, time_base=Fraction(1, 1000), rate=25,
                     codec="ffv1") as writer:
        for index, value in enumerate(rgb_milliseconds):
            writer.write(np.full((48, 64, 3), 40 * index, dtype=np.uint8), value)
    (recording / "recording.json").write_text(json.dumps(
        {"id": "take-1", "day": "2026-11-25", "location": "test", "nir": "nir.mkv", "rgb": "rgb.mkv"}))
    options = ColorizeOptions(executor="local", codec="ffv1", side_by_side=True)
    summary = colorize_inputs(checkpoint, [recording], tmp_path / "out", options)
    assert not summary.failed, summary.failed
    review = list(iter_frames(tmp_path / "out" / "take-1.review.mkv", kind="rgb"))
    colorized = list(iter_frames(tmp_path / "out" / "take-1.mkv", kind="rgb"))
    nir = list(iter_frames(recording / "nir.mkv", kind="nir"))
    assert review[0].array.shape == (48, 3 * 64, 3)
    truth_values = [int(frame.array[:, 128:].mean()) for frame in review]
    # NIR at 0, 40, 80, 120, 160, 200 ms -> nearest RGB at 0, 40, 110, 110, 160, 200 ms.
    assert truth_values == [0, 40, 80, 80, 120, 160]
    for panel, color, gray in zip(review, colorized, nir):
        np.testing.assert_array_equal(panel.array[:, 64:128], color.array)
        np.testing.assert_array_equal(panel.array[:, :64, 0], gray.array)


def test_synthetic_recording_with_dropped_rgb_frames(tmp_path, checkpoint):
    """A recording written by the synthetic generator: frame numbers are burnt into both streams."""
    (recording,) = synthesize_recordings(tmp_path / "synth", SynthOptions(count=1, frames=10, drop_frames=2))
    options = ColorizeOptions(executor="local", codec="ffv1", side_by_side=True, batch_size=4)
    summary = colorize_inputs(checkpoint, [recording.folder], tmp_path / "out", options)
    assert [entry.status for entry in summary.outputs] == ["done"]
    review = list(iter_frames(tmp_path / "out" / f"{recording.id}.review.mkv", kind="rgb"))
    assert len(review) == len(recording.nir_frames) == 10
    width = review[0].array.shape[1] // 3
    for frame, number in zip(review, recording.nir_frames):
        assert read_frame_code(frame.array[:, :width]) == number  # the NIR panel
        paired = read_frame_code(frame.array[:, 2 * width:])  # the RGB ground-truth panel
        if number in recording.rgb_frames:
            assert paired == number
        else:  # dropped: one of its neighbours in time, never a frame further away
            assert paired in (number - 1, number + 1)


def test_truncated_ground_truth_only_blanks_the_review(tmp_path, checkpoint):
    """The RGB file ends early: colorization is complete, the review shows black without a twin."""
    (recording,) = synthesize_recordings(tmp_path / "synth", SynthOptions(count=1, frames=16, truncate=True))
    options = ColorizeOptions(executor="local", codec="ffv1", side_by_side=True, batch_size=4)
    summary = colorize_inputs(checkpoint, [recording.folder], tmp_path / "out", options)
    (entry,) = summary.outputs
    assert entry.status == "done" and entry.frames == 16
    assert "rgb.mkv" in entry.warning and "black" in entry.warning
    review = list(iter_frames(tmp_path / "out" / f"{recording.id}.review.mkv", kind="rgb"))
    width = review[0].array.shape[1] // 3
    truth_present = [bool(frame.array[:, 2 * width:].any()) for frame in review]
    assert truth_present[0] and not truth_present[-1]
    assert truth_present == sorted(truth_present, reverse=True)  # present, then absent to the end
    assert json.loads((tmp_path / "out" / f"{recording.id}.json").read_text())["warning"] == entry.warning
