"""Synthetic recordings: frame codes survive the codec, defects are what they claim to be."""
import json

import numpy as np
import pytest

from nircolor.dataset_tools import video
from nircolor.dataset_tools.synthetic import (SynthOptions, read_frame_code, synthesize_recordings, truncate_file,
                                     write_frame_code)


@pytest.mark.parametrize("number", [0, 1, 37, 1000, 65535])
def test_frame_code_round_trip_in_gray16_and_rgb(number):
    nir = np.full((40, 80), 30000, np.uint16)
    rgb = np.full((40, 80, 3), 128, np.uint8)
    write_frame_code(nir, number, 65535)
    write_frame_code(rgb, number, 255)
    assert read_frame_code(nir) == number
    assert read_frame_code(rgb) == number


def test_recordings_hold_true_instants_after_dropped_frames(tmp_path):
    options = SynthOptions(count=2, frames=12, width=96, height=64, fps=20, drop_frames=3, drop_stream="rgb")
    recordings = synthesize_recordings(tmp_path, options)
    assert len({(recording.day, recording.location) for recording in recordings}) == 2
    for recording in recordings:
        document = json.loads((recording.folder / "recording.json").read_text())
        assert document == {"id": recording.id, "day": recording.day, "location": recording.location,
                            "nir": "nir.mkv", "rgb": "rgb.mkv"}
        nir = list(video.iter_frames(recording.folder / "nir.mkv", kind="nir"))
        rgb = list(video.iter_frames(recording.folder / "rgb.mkv", kind="rgb"))
        assert [read_frame_code(frame.array) for frame in nir] == list(range(12))
        codes = [read_frame_code(frame.array) for frame in rgb]
        assert len(codes) == 9 and codes == recording.rgb_frames
        # A dropped frame leaves a gap: every remaining frame keeps the instant of its frame number.
        assert [round(frame.seconds * 20) for frame in rgb] == codes


def test_sixteen_bit_nir_uses_the_full_range(tmp_path):
    (recording,) = synthesize_recordings(tmp_path, SynthOptions(count=1, frames=3, width=96, height=64, nir_bits=16))
    info = video.probe(recording.folder / "nir.mkv")
    assert info.pix_fmt == "gray16le" and info.bits == 16
    frame = next(video.iter_frames(recording.folder / "nir.mkv", kind="nir")).array
    assert frame.dtype == np.uint16 and frame.max() > 255 * 64
    # Not 8-bit data scaled up: the low byte carries information.
    assert len(np.unique(frame[40:] & 0xFF)) > 16


def test_shift_moves_rgb_content_only(tmp_path):
    base = dict(count=1, frames=2, width=96, height=64)
    (plain,) = synthesize_recordings(tmp_path / "plain", SynthOptions(**base))
    (shifted,) = synthesize_recordings(tmp_path / "shifted", SynthOptions(**base, shift=(0.0, 3.0)))

    def first(recording, name, kind):
        return next(video.iter_frames(recording.folder / name, kind=kind)).array.astype(int)

    assert np.array_equal(first(plain, "nir.mkv", "nir"), first(shifted, "nir.mkv", "nir"))
    rgb_plain, rgb_shifted = first(plain, "rgb.mkv", "rgb"), first(shifted, "rgb.mkv", "rgb")
    rows = slice(20, 60)  # below the frame code, away from the reflected border; noise differs per pixel
    moved = np.abs(rgb_shifted[rows, 13:90] - rgb_plain[rows, 10:87]).mean()
    unmoved = np.abs(rgb_shifted[rows, 13:90] - rgb_plain[rows, 13:90]).mean()
    assert moved < 3.5 and unmoved > 2 * moved


def test_truncated_file_loses_its_tail(tmp_path):
    (recording,) = synthesize_recordings(tmp_path, SynthOptions(count=1, frames=20, width=96, height=64))
    path = recording.folder / "rgb.mkv"
    truncate_file(path, 0.5)
    frames = list(video.iter_frames(path, kind="rgb"))
    assert 0 < len(frames) < 20


def test_drift_ramps_the_shift_from_zero(tmp_path):
    base = dict(count=1, frames=3, width=96, height=64, shift=(0.0, 3.0))
    (fixed,) = synthesize_recordings(tmp_path / "fixed", SynthOptions(**base))
    (drifting,) = synthesize_recordings(tmp_path / "drifting", SynthOptions(**base, drift=True))
    (plain,) = synthesize_recordings(tmp_path / "plain", SynthOptions(**{**base, "shift": (0.0, 0.0)}))

    def rgb(recording):
        return [frame.array for frame in video.iter_frames(recording.folder / "rgb.mkv", kind="rgb")]

    assert np.array_equal(rgb(drifting)[0], rgb(plain)[0])  # no shift at the start
    assert not np.array_equal(rgb(drifting)[1], rgb(plain)[1])
    assert np.array_equal(rgb(drifting)[2], rgb(fixed)[2])  # the full shift at the end
