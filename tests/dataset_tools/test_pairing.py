"""Pairing by presentation time: drops and duplicates cost only their own frames."""
from dataclasses import dataclass

import pytest

from nircolor.dataset_tools.pairing import NearestFrames, frame_period, pair_timestamps
from nircolor.dataset_tools.video import VideoError


def times(frames, fps=25.0, offset=0.0):
    return [offset + frame / fps for frame in frames]


def test_identical_streams_pair_one_to_one():
    result = pair_timestamps(times(range(10)), times(range(10)))
    assert result.pairs == [(index, index) for index in range(10)]
    assert result.counts() == dict.fromkeys(result.counts(), 0)
    assert result.tolerance_seconds == pytest.approx(0.02)


def test_dropped_rgb_frames_do_not_shift_later_pairs():
    rgb_frames = [0, 1, 2, 4, 5, 8, 9]
    result = pair_timestamps(times(range(10)), times(rgb_frames))
    # Each pair joins NIR frame n with the RGB frame recorded at the same instant.
    assert [(nir, rgb_frames[rgb]) for nir, rgb in result.pairs] == [(frame, frame) for frame in rgb_frames]
    assert result.dropped_rgb == 3 and result.dropped_nir == 0
    assert result.unpaired_nir == 3 and result.unpaired_rgb == 0


def test_duplicated_frame_pairs_once():
    nir = times([0, 1, 2, 2, 3])
    result = pair_timestamps(nir, times(range(4)))
    assert result.pairs == [(0, 0), (1, 1), (2, 2), (4, 3)]
    assert result.duplicated_nir == 1 and result.unpaired_nir == 1


def test_different_frame_rates_pair_within_half_the_shorter_period():
    nir = times(range(30), fps=30.0)
    rgb = times(range(25), fps=25.0)
    result = pair_timestamps(nir, rgb)
    assert result.tolerance_seconds == pytest.approx(0.5 / 30)
    assert result.pairs, "some instants coincide closely enough"
    for nir_index, rgb_index in result.pairs:
        assert abs(nir[nir_index] - rgb[rgb_index]) <= result.tolerance_seconds + 1e-9
    # Every frame pairs at most once.
    assert len({pair[0] for pair in result.pairs}) == len({pair[1] for pair in result.pairs}) == len(result.pairs)
    assert result.dropped_nir == result.dropped_rgb == 0


def test_offset_beyond_tolerance_leaves_frames_unpaired():
    result = pair_timestamps(times(range(5)), times(range(5), offset=0.01), tolerance_seconds=0.005)
    assert result.pairs == []
    assert result.unpaired_nir == result.unpaired_rgb == 5


def test_small_jitter_still_pairs():
    jittered = [time + (0.004 if index % 2 else -0.003) for index, time in enumerate(times(range(8)))]
    result = pair_timestamps(times(range(8)), jittered)
    assert result.pairs == [(index, index) for index in range(8)]


def test_frame_period_ignores_gaps():
    assert frame_period(times([0, 1, 2, 5, 6, 7])) == pytest.approx(0.04)


@dataclass
class _Frame:
    seconds: float
    label: str = ""


def test_nearest_frames_exact_match_skips_missing_frames_and_takes_the_first_of_an_instant():
    frames = [_Frame(0.0), _Frame(0.04, "first"), _Frame(0.04, "repeat"), _Frame(0.12)]
    nearest = NearestFrames(frames)
    assert nearest.at(0.0, 1e-6).seconds == 0.0
    assert nearest.at(0.04, 1e-6).label == "first"
    assert nearest.at(0.08, 1e-6) is None  # not in the stream: no stand-in
    assert nearest.at(0.12 - 5e-7, 1e-6).seconds == 0.12
    assert nearest.at(0.2, 1e-6) is None
    assert NearestFrames(frames).at(0.07).seconds == 0.04  # any tolerance: the nearest


def _broken():
    yield _Frame(0.0)
    raise VideoError("rgb.mkv: decoding failed")


def test_nearest_frames_keeps_or_raises_a_decoding_error():
    tolerant = NearestFrames(_broken())
    assert tolerant.at(0.0, 1e-6) is not None and tolerant.at(0.04, 1e-6) is None
    assert tolerant.problem == "rgb.mkv: decoding failed"
    strict = NearestFrames(_broken(), tolerate_errors=False)
    with pytest.raises(VideoError, match="decoding failed"):
        strict.at(0.04, 1e-6)
