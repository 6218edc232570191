"""colorize reads every recording form: an image sequence or a bag colorizes to the same frames, at
the same instants (from the first frame on), as the video recording it was made from (issue 15)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from nircolor.dataset_tools.convert import ConvertOptions, convert_recording
from nircolor.dataset_tools.synthetic import SynthOptions, synthesize_recordings
from nircolor.dataset_tools.video import iter_frames
from nircolor.pipeline.colorize import colorize_inputs
from tests.pipeline.colorize_helpers import LOCAL, tiny_checkpoint



@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory)


@pytest.mark.parametrize("form", ["images", "mcap"])
def test_image_sequences_and_bags_colorize_like_their_video(tmp_path, checkpoint, form):
    import dataclasses

    video, = synthesize_recordings(tmp_path / "video", SynthOptions(count=1, frames=9, width=64, height=48, days=1,
                                                                    locations=1, drop_frames=2))
    other = convert_recording(video.folder, tmp_path / form / video.id, ConvertOptions(form=form))
    options = dataclasses.replace(LOCAL, codec="ffv1", side_by_side=True)
    expected = colorize_inputs(checkpoint, [video.folder], tmp_path / "out-video", options)
    summary = colorize_inputs(checkpoint, [other], tmp_path / "out", options)
    assert not summary.failed and not expected.failed, summary.failed
    ours = list(iter_frames(tmp_path / "out" / f"{video.id}.mkv", kind="rgb"))
    theirs = list(iter_frames(tmp_path / "out-video" / f"{video.id}.mkv", kind="rgb"))
    assert len(ours) == len(theirs) == 9
    first = theirs[0].seconds
    for mine, reference in zip(ours, theirs):
        assert mine.seconds == pytest.approx(reference.seconds - first, abs=1e-4)  # the clock starts at 0
        assert np.array_equal(mine.array, reference.array)  # lossless: the same model output
    report = json.loads((tmp_path / "out" / f"{video.id}.json").read_text())
    assert report["frames"] == 9
    review = list(iter_frames(tmp_path / "out" / f"{video.id}.review.mkv", kind="rgb"))
    assert len(review) == 9 and review[0].array.shape[1] == 3 * 64  # NIR | colorized | RGB
