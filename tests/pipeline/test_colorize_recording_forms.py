"""colorize reads every recording form: an image sequence or a bag colorizes to the same frames, at
the same instants (from the first frame on), as the video recording it was made from (issue 15)."""
from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from nircolor.dataset_tools.calibration import warp_to_nir
from nircolor.dataset_tools.convert import ConvertOptions, convert_recording
from nircolor.dataset_tools.rig import make_two_camera_rig, store_homography
from nircolor.dataset_tools.synthetic import SynthOptions, synthesize_recordings
from nircolor.dataset_tools.video import iter_frames
from nircolor.jobs.cli import app
from nircolor.pipeline.colorize import colorize_inputs
from nircolor.pipeline.temporal import recording_sources, warping_error_of_videos
from tests.pipeline.colorize_helpers import LOCAL, tiny_checkpoint



@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory)


@pytest.mark.parametrize("form", ["images", "mcap"])
def test_image_sequences_and_bags_colorize_like_their_video(tmp_path, checkpoint, form):
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


@pytest.mark.parametrize("form", ["images", "ros1"])
def test_evaluate_video_measures_bag_and_image_recordings_like_their_video(tmp_path, checkpoint, form):
    """The flicker of a colorized bag or image sequence is measured on the recording's own clock:
    the same pairs and the same errors as for the video recording it was made from."""
    video, = synthesize_recordings(tmp_path / "video", SynthOptions(count=1, frames=8, width=64, height=48, days=1,
                                                                    locations=1, drop_frames=2))
    other = convert_recording(video.folder, tmp_path / form / video.id, ConvertOptions(form=form))
    options = dataclasses.replace(LOCAL, codec="ffv1")
    for folder, out in ((video.folder, "out-video"), (other, "out")):
        assert not colorize_inputs(checkpoint, [folder], tmp_path / out, options).failed
    expected = warping_error_of_videos(tmp_path / "out-video" / f"{video.id}.mkv", recording_sources(video.folder))
    measured = warping_error_of_videos(tmp_path / "out" / f"{video.id}.mkv", recording_sources(other))
    assert measured.pairs == expected.pairs >= 4 and measured.skipped_frames == expected.skipped_frames
    assert measured.colorized == pytest.approx(expected.colorized, abs=1e-6)
    assert measured.ground_truth == pytest.approx(expected.ground_truth, abs=1e-6)
    # A ground truth given as a video of its own starts at 0 like the colorized video: it goes onto
    # the recording's (epoch) clock the same way and pairs with the same frames.
    rgb_video = video.folder / json.loads((video.folder / "recording.json").read_text())["rgb"]
    result = CliRunner().invoke(app, ["evaluate-video", str(tmp_path / "out" / f"{video.id}.mkv"), "--recording",
                                      str(other), "--rgb", str(rgb_video), "--out", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "cli" / f"{video.id}.warping.json").read_text())
    assert document["pairs"] == expected.pairs and document["skipped_frames"] == expected.skipped_frames
    assert document["ground_truth"] == pytest.approx(expected.ground_truth, abs=1e-6)


def test_a_rigs_ground_truth_is_warped_onto_the_nir_grid(tmp_path, checkpoint):
    """A two-camera rig's RGB reaches the review video and evaluate-video through its homography:
    what they compare with is the registered RGB the rig was made from (where the rig's camera sees)."""
    video, = synthesize_recordings(tmp_path / "video", SynthOptions(count=1, frames=6, width=64, height=48, days=1,
                                                                    locations=1))
    angle, scale = np.deg2rad(3.0), 1.1
    homography = [[scale * np.cos(angle), -scale * np.sin(angle), 3.0],
                  [scale * np.sin(angle), scale * np.cos(angle), 1.0], [0.0, 0.0, 1.0]]
    # A smaller camera that sees the middle of the NIR frame, so part of the NIR grid has no RGB.
    rig = make_two_camera_rig(video.folder, tmp_path / "rig" / video.id, homography, rgb_size=(52, 38))
    store_homography(rig, homography)
    options = dataclasses.replace(LOCAL, codec="ffv1", side_by_side=True)
    assert not colorize_inputs(checkpoint, [rig], tmp_path / "out", options).failed
    review = list(iter_frames(tmp_path / "out" / f"{video.id}.review.mkv", kind="rgb"))
    truth = [frame.array.astype(int) for frame in iter_frames(video.folder / "rgb.mkv", kind="rgb")]
    rig_rgb = [frame.array for frame in iter_frames(rig / "rgb.mkv", kind="rgb")]
    assert len(review) == len(truth) == len(rig_rgb) == 6
    seen_mask = warp_to_nir(np.full((38, 52, 3), 255, np.uint8), homography, 48, 64)[..., 0]
    covered = cv2.erode(seen_mask, np.ones((3, 3), np.uint8)) == 255  # away from the interpolated edges
    unseen = seen_mask == 0
    for panel, reference, seen in zip(review, truth, rig_rgb):
        shown = panel.array[:, 2 * 64:].astype(int)
        resized = cv2.resize(seen, (64, 48), interpolation=cv2.INTER_AREA).astype(int)  # the camera's view, unwarped
        # Two bilinear resamplings blur the fine synthetic texture, but far less than the views differ.
        assert np.abs(shown - reference)[covered].mean() < 0.5 * np.abs(resized - reference)[covered].mean()
        assert shown[unseen].max() == 0 < reference[unseen].mean()  # what the rig's camera does not see is black
    measured = warping_error_of_videos(tmp_path / "out" / f"{video.id}.mkv", recording_sources(rig))
    unwarped = dataclasses.replace(recording_sources(rig), homography=None)
    with pytest.raises(ValueError, match=r"ground-truth RGB frame is 52×38 but the NIR frame is 64×48"):
        warping_error_of_videos(tmp_path / "out" / f"{video.id}.mkv", unwarped)
    assert measured.pairs == 5 and measured.ground_truth is not None and 0 < measured.ground_truth < 1
