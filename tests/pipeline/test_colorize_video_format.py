"""What colorize writes plays everywhere: colour tags, 4:2:0 at any size, FFV1 in Matroska, the input's sound."""
from __future__ import annotations

import dataclasses
import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from nircolor.dataset_tools.colorspace import unpad
from nircolor.dataset_tools.video import VideoWriter, iter_frames
from nircolor.pipeline.colorize import ColorizeOptions, colorize_inputs
from nircolor.pipeline.colorize_worker import Colorizer
from nircolor.pipeline.temporal import video_streams, warping_error_of_videos
from tests.pipeline.colorize_helpers import LOCAL, instants, tiny_checkpoint, write_nir


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory)


def _smooth_nir(path: Path, width: int, height: int, frames: int) -> Path:
    """Gray waves that move 3 pixels per frame, so a misplaced pixel or frame shows."""
    rows, columns = np.mgrid[0:height, 0:width]
    with VideoWriter(path, width=width, height=height, time_base=Fraction(1, 25), rate=25, kind="gray",
                     codec="ffv1") as writer:  # lossless, exactly width×height
        for index in range(frames):
            waves = np.sin((columns + 3 * index) / 5.0) * np.cos(rows / 7.0)
            writer.write((128 + 90 * waves).astype(np.uint8), index)
    return path


def _tags(path: Path) -> tuple:
    with av.open(str(path)) as container:
        context = container.streams.video[0].codec_context
        return context.pix_fmt, context.colorspace, context.color_primaries, context.color_trc, context.color_range


@pytest.mark.parametrize("width, height", [(97, 73), (960, 540)])
def test_colorized_and_review_videos_are_tagged_420_and_aligned_with_the_input(tmp_path, checkpoint, width, height):
    nir = _smooth_nir(tmp_path / "drive.mkv", width, height, frames=3)
    options = dataclasses.replace(LOCAL, side_by_side=True)
    summary = colorize_inputs(checkpoint, [nir], tmp_path / "out", options)
    assert not summary.failed, summary.failed
    output, review = tmp_path / "out" / "drive.mp4", tmp_path / "out" / "drive.review.mp4"
    # BT.601 matrix below HD (what players assume there too), BT.709 primaries and transfer, limited range.
    assert _tags(output) == ("yuv420p", 6, 1, 1, 1)
    assert _tags(review)[0] == "yuv420p" and _tags(review)[2:] == (1, 1, 1)
    assert instants(output) == instants(nir, kind="nir")
    report = json.loads((tmp_path / "out" / "drive.json").read_text())
    assert report["video"] == {"pix_fmt": "yuv420p", "encoded_width": width + width % 2,
                               "encoded_height": height + height % 2,
                               "color": {"matrix": "smpte170m", "primaries": "bt709", "transfer": "bt709", "range": "tv"}}
    # Frame i of the output is the model's colorization of NIR frame i, every pixel in place. The
    # untrained model's output is mostly pixel noise no 4:2:0 codec keeps: compare what is left
    # after a blur, where the NIR waves still tell one pixel or one frame of offset apart.
    expected = Colorizer(str(checkpoint), "cpu")(np.stack([f.array for f in iter_frames(nir, kind="nir")]), 8)
    decoded = np.stack([unpad(f.array, width, height) for f in iter_frames(output, kind="rgb")])
    assert decoded.shape == expected.shape == (3, height, width, 3)
    decoded, expected = _blurred(decoded), _blurred(expected)
    aligned = np.abs(decoded - expected).mean()
    assert aligned < 2.0
    assert aligned < np.abs(decoded[:, :, 1:] - expected[:, :, :-1]).mean()  # one column off
    assert aligned < np.abs(decoded[:, 1:] - expected[:, :-1]).mean()  # one row off
    assert aligned < np.abs(decoded[1:] - expected[:-1]).mean()  # one frame off


def _blurred(frames: np.ndarray) -> np.ndarray:
    return np.stack([cv2.GaussianBlur(frame.astype(np.float32), (0, 0), 2.0) for frame in frames])


def test_ffv1_lands_in_matroska_and_a_mismatched_suffix_is_one_clear_error(tmp_path, checkpoint):
    nir = write_nir(tmp_path / "drive.mp4", list(range(4)), width=64, height=48)
    options = ColorizeOptions(executor="local", codec="ffv1", batch_size=2)
    summary = colorize_inputs(checkpoint, [nir], tmp_path / "out", options)
    assert [entry.output for entry in summary.outputs] == [str(tmp_path / "out" / "drive.mkv")]
    assert _tags(tmp_path / "out" / "drive.mkv") == ("bgr0", 0, 1, 1, 2)
    report = json.loads((tmp_path / "out" / "drive.json").read_text())
    assert report["output"].endswith("drive.mkv") and report["video"]["color"]["matrix"] == "rgb"
    again = colorize_inputs(checkpoint, [nir], tmp_path / "out", options)  # the report names the .mkv: skipped
    assert [entry.status for entry in again.outputs] == ["skipped"]
    with pytest.raises(ValueError, match=r"^--codec ffv1 videos are written as \.mkv, not \.mp4$"):
        colorize_inputs(checkpoint, [nir], tmp_path / "wrong", dataclasses.replace(options, suffix=".mp4"))
    assert not (tmp_path / "wrong").exists()


def write_nir_with_audio(path: Path, frames: int, audio_codec: str, sample_rate: int = 16000) -> np.ndarray:
    """NIR video at 25 fps with a 440 Hz tone beside it; returns the samples."""
    samples = (0.4 * np.sin(2 * np.pi * 440 * np.arange(sample_rate * frames // 25) / sample_rate)).astype(np.float32)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.codec_context.gop_size = 5
        audio = container.add_stream(audio_codec, rate=sample_rate, layout="mono")
        rng = np.random.default_rng(0)
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (48, 64), dtype=np.uint8), format="gray")
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            container.mux(video.encode(frame))
        sound = samples if audio_codec == "aac" else (samples * 32767).astype(np.int16)
        chunk = av.AudioFrame.from_ndarray(sound[None], format="fltp" if audio_codec == "aac" else "s16", layout="mono")
        chunk.sample_rate, chunk.pts, chunk.time_base = sample_rate, 0, Fraction(1, sample_rate)
        container.mux(audio.encode(chunk))
        container.mux(audio.encode(None))
        container.mux(video.encode(None))
    return samples


def _decoded_audio(path: Path) -> tuple[str, np.ndarray]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        name = stream.codec_context.name
        chunks = [frame.to_ndarray().astype(np.float32).reshape(-1) for frame in container.decode(stream)]
    sound = np.concatenate(chunks)
    return name, sound / 32768 if name.startswith("pcm") else sound


@pytest.mark.parametrize("source, audio_codec, segment_seconds, copied", [
    ("drive.mp4", "aac", None, True),     # copied packet for packet
    ("drive.mkv", "pcm_s16le", 0.2, False),  # MP4 takes no PCM: AAC, and segments joined with it
], ids=["aac-copied", "pcm-to-aac-segmented"])
def test_the_input_sound_passes_through(tmp_path, checkpoint, source, audio_codec, segment_seconds, copied):
    nir = tmp_path / source
    samples = write_nir_with_audio(nir, 20, audio_codec)
    options = ColorizeOptions(executor="local", batch_size=4, preset="ultrafast", segment_seconds=segment_seconds,
                              batch_grid_seconds=0.2)
    summary = colorize_inputs(checkpoint, [nir], tmp_path / "out", options)
    assert not summary.failed, summary.failed
    output = tmp_path / "out" / "drive.mp4"
    report = json.loads((tmp_path / "out" / "drive.json").read_text())
    assert report["audio"] == {"path": str(nir), "stream": 0, "codec": audio_codec, "copied": copied}
    assert report["segments"] == (1 if segment_seconds is None else 4)
    assert len(instants(output)) == 20
    name, sound = _decoded_audio(output)
    assert name == "aac"
    if copied:
        _, original = _decoded_audio(nir)
        np.testing.assert_array_equal(sound, original)  # the same packets decode to the same samples
    # The tone is there, as long as the input's (AAC adds at most a frame of priming and padding).
    assert len(samples) <= len(sound) <= len(samples) + 2 * 1024
    spectrum = np.abs(np.fft.rfft(sound[:len(samples)]))
    assert abs(np.argmax(spectrum) * 16000 / len(samples) - 440) < 5
    assert not list((tmp_path / "out").glob(".*"))  # no parts folder or temporary file left


def test_flicker_of_an_odd_sized_output_is_measured_against_its_nir_frames(tmp_path, checkpoint):
    nir = _smooth_nir(tmp_path / "drive.mkv", 97, 73, frames=4)
    summary = colorize_inputs(checkpoint, [nir], tmp_path / "out", LOCAL)
    assert not summary.failed, summary.failed
    result = warping_error_of_videos(tmp_path / "out" / "drive.mp4", video_streams(nir))  # 98×74 against 97×73
    assert result.pairs == 3 and result.skipped_frames == 0 and 0 < result.colorized < 1
