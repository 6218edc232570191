"""Warping error (acceptance 2): a temporally smooth colorization scores lower than a flickering one."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from nircolor.dataset_tools.recording import RecordingError
from nircolor.dataset_tools.video import Frame, VideoError
from nircolor.pipeline import temporal

FRAMES, HEIGHT, WIDTH, SHIFT = 6, 64, 96, 2


def _moving_scene():
    """A smooth random texture panning left by SHIFT px per frame: NIR (T,H,W) uint8 and a colour version."""
    rng = np.random.default_rng(3)
    texture = gaussian_filter(rng.random((HEIGHT, WIDTH + SHIFT * FRAMES)), sigma=2.0)
    texture = (texture - texture.min()) / (texture.max() - texture.min())
    nir = np.stack([texture[:, t * SHIFT:t * SHIFT + WIDTH] for t in range(FRAMES)])
    # A fixed colour mapping of the NIR frame: what a temporally consistent colorizer produces.
    colour = np.stack([0.2 + 0.7 * nir, 0.9 * nir, 1.0 - 0.8 * nir], axis=-1)
    return (nir * 255).round().astype(np.uint8), colour


def test_smooth_video_has_lower_warping_error_than_jittered_one():
    nir, smooth = _moving_scene()
    rng = np.random.default_rng(4)
    # Per-frame colour jitter: each frame gets its own channel gains and offsets (flicker).
    gains = rng.uniform(0.8, 1.2, size=(FRAMES, 1, 1, 3))
    offsets = rng.uniform(-0.08, 0.08, size=(FRAMES, 1, 1, 3))
    jittered = np.clip(smooth * gains + offsets, 0.0, 1.0)

    smooth_result = temporal.warping_error(smooth, nir, smooth)
    jittered_result = temporal.warping_error(jittered, nir, smooth)

    assert smooth_result.pairs == FRAMES - 1
    assert smooth_result.colorized < 0.02  # a consistent video warps onto itself almost exactly
    assert jittered_result.colorized > 3 * smooth_result.colorized
    # The ground-truth column uses the same flow and mask: identical to the smooth video's value.
    assert jittered_result.ground_truth == pytest.approx(smooth_result.colorized)
    # Pure translation: almost every pixel is visible in both frames (only the entering edge is not).
    assert smooth_result.valid_fraction > 0.8


def test_flow_follows_the_nir_motion_and_masks_the_entering_edge():
    nir, _ = _moving_scene()
    backward, mask = temporal.backward_flow_and_mask(nir[0], nir[1])
    # Content moves left by SHIFT, so pixel x of frame 1 came from x + SHIFT in frame 0.
    assert np.median(backward[mask][:, 0]) == pytest.approx(SHIFT, abs=0.25)
    # The right-most columns enter the view: their source lies outside frame 0.
    assert not mask[:, -1].any()


def test_farneback_gives_the_same_verdict():
    nir, smooth = _moving_scene()
    flicker = smooth.copy()
    flicker[1::2] = np.clip(flicker[1::2] + 0.1, 0, 1)
    smooth_error = temporal.warping_error(smooth, nir, method="farneback").colorized
    flicker_error = temporal.warping_error(flicker, nir, method="farneback").colorized
    assert flicker_error > 3 * smooth_error


def test_frames_of_different_size_are_refused():
    nir, smooth = _moving_scene()
    with pytest.raises(ValueError, match="colorized frame is 48×64"):
        temporal.warping_error(smooth[:, :, :48], nir)


def _frames(times, stream):
    return [Frame(pts=index, seconds=seconds, array=stream) for index, seconds in enumerate(times)]


def test_pairing_by_time_skips_a_dropped_frame_instead_of_shifting():
    nir = _frames([t / 25 for t in range(5)], "nir")
    colorized = _frames([t / 25 + 0.001 for t in (0, 1, 3, 4)], "colorized")  # frame 2 dropped
    rgb = _frames([t / 25 - 0.001 for t in (0, 1, 2, 4)], "rgb")  # frame 3 dropped
    triples = list(temporal.frames_by_time(nir, colorized, rgb, tolerance_seconds=0.02))
    matched = [tuple(None if frame is None else round(frame.seconds * 25) for frame in triple) for triple in triples]
    assert matched == [(0, 0, 0), (1, 1, 1), (2, None, 2), (3, 3, None), (4, 4, 4)]
    assert [triple[1].array for triple in triples if triple[1] is not None] == ["colorized"] * 4


def test_a_colorized_video_that_fails_to_decode_is_an_error_not_a_short_result():
    def broken():
        yield from _frames([0.0], "colorized")
        raise VideoError("smooth.mkv: cannot decode frame 1")

    with pytest.raises(VideoError, match="cannot decode frame 1"):
        list(temporal.frames_by_time(_frames([0.0, 0.04], "nir"), broken(), None, tolerance_seconds=0.02))


def test_recording_sources_reads_recording_json_with_the_one_parser(tmp_path):
    (tmp_path / "drive.mkv").write_bytes(b"")
    (tmp_path / "recording.json").write_text(json.dumps(
        {"id": "d", "day": "2026-06-01", "location": "lab", "video": "drive.mkv", "nir_stream": 1, "rgb_stream": 0}))
    with pytest.raises(RecordingError, match="drive.mkv"):  # load_recording checks the streams exist
        temporal.recording_sources(tmp_path)
    (tmp_path / "recording.json").write_text(json.dumps({"id": "d", "day": "2026-06-01", "nir": "nir.mkv"}))
    with pytest.raises(RecordingError, match=r"recording\.json: missing key\(s\) location, rgb"):
        temporal.recording_sources(tmp_path)
