"""Videos players trust: colour tags that match the conversion, 4:2:0 at any size, RGB decoded by its tags."""
from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from nircolor.dataset_tools.colorspace import matrix_for_size, unpad
from nircolor.dataset_tools.video import VideoError, VideoWriter, iter_frames, probe
from nircolor.pipeline.metrics import ciede2000, rgb_to_lab

# ColorChecker Classic in sRGB (BabelColor averages), then the saturated primaries and secondaries.
CHART = [
    (115, 82, 68), (194, 150, 130), (98, 122, 157), (87, 108, 67), (133, 128, 177), (103, 189, 170),
    (214, 126, 44), (80, 91, 166), (193, 90, 99), (94, 60, 108), (157, 188, 64), (224, 163, 46),
    (56, 61, 150), (70, 148, 73), (175, 54, 60), (231, 199, 31), (187, 86, 149), (8, 133, 161),
    (243, 243, 242), (200, 200, 200), (160, 160, 160), (122, 122, 121), (85, 85, 85), (52, 52, 52),
    (255, 0, 0), (0, 255, 0), (0, 0, 255), (0, 255, 255), (255, 0, 255), (255, 255, 0),
]
COLUMNS, ROWS = 6, 5
MARGIN = 8  # patch interiors: chroma subsampling and the codec blur the patch edges only

# Kr, Kb of the matrices by FFmpeg colorspace code: the decoder the tags call for, written out here
# independently of swscale.
MATRICES = {1: (0.2126, 0.0722), 5: (0.299, 0.114), 6: (0.299, 0.114)}
ACCURATE = av.video.reformatter.Interpolation.BILINEAR | av.video.reformatter.Interpolation.ACCURATE_RND


def chart_image(width: int, height: int) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    for index, colour in enumerate(CHART):
        row, column = divmod(index, COLUMNS)
        image[row * height // ROWS:(row + 1) * height // ROWS, column * width // COLUMNS:(column + 1) * width // COLUMNS] = colour
    return image


def patch_delta_e(decoded: np.ndarray, width: int, height: int) -> np.ndarray:
    """CIEDE2000 between each patch's colour and the mean of its decoded interior."""
    differences = []
    for index, colour in enumerate(CHART):
        row, column = divmod(index, COLUMNS)
        interior = decoded[row * height // ROWS + MARGIN:(row + 1) * height // ROWS - MARGIN,
                           column * width // COLUMNS + MARGIN:(column + 1) * width // COLUMNS - MARGIN]
        mean = interior.reshape(-1, 3).mean(axis=0) / 255.0
        differences.append(float(ciede2000(rgb_to_lab(mean[None]), rgb_to_lab(np.array(colour)[None] / 255.0))[0]))
    return np.array(differences)


def decode_as_tagged(frame: av.VideoFrame, matrix: int | None = None) -> np.ndarray:
    """yuv420p → RGB by the frame's own tags (or `matrix`), chroma repeated to full size."""
    assert frame.format.name == "yuv420p"
    planes = frame.to_ndarray()  # (H*3/2, W): Y, then U and V quarter planes
    height, width = frame.height, frame.width
    y = planes[:height].astype(np.float64)
    chroma = planes[height:].reshape(2, height // 2, width // 2).astype(np.float64)
    u, v = (np.repeat(np.repeat(plane, 2, axis=0), 2, axis=1) for plane in chroma)
    assert frame.color_range == 1  # limited range: Y in 16..235, chroma in 16..240
    y, u, v = (y - 16) / 219, (u - 128) / 224, (v - 128) / 224
    kr, kb = MATRICES[matrix if matrix is not None else frame.colorspace]
    kg = 1 - kr - kb
    r = y + 2 * (1 - kr) * v
    b = y + 2 * (1 - kb) * u
    g = (y - kr * r - kb * b) / kg
    return np.clip(np.round(np.stack([r, g, b], axis=-1) * 255), 0, 255)


def write_chart(path, width, height, codec="h264", frames=3):
    chart = chart_image(width, height)
    with VideoWriter(path, width=width, height=height, time_base=Fraction(1, 25), rate=25, codec=codec, crf=18,
                     preset="ultrafast") as writer:
        for index in range(frames):
            writer.write(chart, index)
    return chart


@pytest.mark.parametrize("width, height, codec, matrix", [
    (1280, 720, "h264", 1), (640, 480, "h264", 6), (960, 540, "hevc", 6),
], ids=["720p-h264-bt709", "480p-h264-bt601", "540p-hevc-bt601"])
def test_colour_chart_survives_encode_and_decode_by_its_tags(tmp_path, width, height, codec, matrix):
    path = tmp_path / "chart.mp4"
    write_chart(path, width, height, codec)
    with av.open(str(path)) as container:
        context = container.streams.video[0].codec_context
        assert (context.colorspace, context.color_primaries, context.color_trc, context.color_range) == (matrix, 1, 1, 1)
        assert context.pix_fmt == "yuv420p"
        frame = next(container.decode(video=0))
    by_tags = decode_as_tagged(frame)
    assert patch_delta_e(by_tags, width, height).max() <= 1.0
    # nircolor's own reader decodes the same way.
    ours = next(iter_frames(path, kind="rgb")).array
    assert patch_delta_e(ours.astype(np.float64), width, height).max() <= 1.0
    # The measure would see a mismatch: the other matrix moves saturated patches far beyond 1.
    other = 5 if matrix == 1 else 1
    assert patch_delta_e(decode_as_tagged(frame, other), width, height).max() > 3.0


def test_untagged_hd_rgb_is_decoded_as_bt709_and_tagged_bt601_as_bt601(tmp_path):
    """What a player assumes for an untagged stream, and the stream's tag wherever there is one."""
    chart = chart_image(1280, 720)
    results = {}
    for name, colorspace, tag in (("untagged", av.video.reformatter.Colorspace.ITU709, None),
                                  ("tagged-601", av.video.reformatter.Colorspace.ITU601, 5)):
        path = tmp_path / f"{name}.mp4"
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=25, options={"crf": "12", "preset": "ultrafast"})
            stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
            if tag is not None:
                stream.codec_context.colorspace, stream.codec_context.color_range = tag, 1
            frame = av.VideoFrame.from_ndarray(chart, format="rgb24").reformat(
                format="yuv420p", dst_colorspace=colorspace, dst_color_range=av.video.reformatter.ColorRange.MPEG,
                interpolation=ACCURATE)
            frame.pts = 0
            container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        decoded = next(iter_frames(path, kind="rgb")).array
        results[name] = patch_delta_e(decoded.astype(np.float64), 1280, 720).max()
    assert max(results.values()) <= 1.0, results


@pytest.mark.parametrize("width, height", [(97, 73), (960, 540), (64, 47)])
def test_rgb_video_is_420_at_every_size_and_keeps_every_pixel_in_place(tmp_path, width, height):
    rows, columns = np.mgrid[0:height, 0:width]
    image = np.stack([40 + 150 * columns / width, 60 + 120 * rows / height, 90 + 0 * rows], axis=-1).astype(np.uint8)
    image[-3:, -3:] = 255  # a white corner that must come back at the corner (gray: luma only)
    path = tmp_path / "odd.mp4"
    with VideoWriter(path, width=width, height=height, time_base=Fraction(1, 25), rate=25, crf=10,
                     preset="ultrafast") as writer:
        for index in range(4):
            writer.write(image, index)
    info = probe(path)
    assert info.pix_fmt == "yuv420p"
    assert (info.width, info.height) == (width + width % 2, height + height % 2)
    frames = list(iter_frames(path, kind="rgb"))
    assert len(frames) == 4
    decoded = unpad(frames[0].array, width, height).astype(int)
    assert decoded.shape == (height, width, 3)
    assert np.abs(decoded - image)[:-4, :-4].mean() < 1.5  # same pixels at the same places
    luma = decoded.sum(axis=-1)
    assert luma[-3:, -3:].min() > 720 and luma[:-4, :-4].max() < 700
    if width % 2:  # the added column repeats the last one
        assert np.abs(frames[0].array[:, -1].astype(int) - frames[0].array[:, -2]).max() <= 3


def test_ffv1_goes_into_matroska_with_tags_and_nowhere_else(tmp_path):
    with pytest.raises(VideoError, match=r"out\.mp4: a ffv1 video cannot be written as \.mp4; use \.mkv"):
        VideoWriter(tmp_path / "out.mp4", width=8, height=8, time_base=Fraction(1, 25), codec="ffv1")
    assert not list(tmp_path.iterdir())
    chart = write_chart(tmp_path / "chart.mkv", 96, 80, codec="ffv1", frames=1)
    with av.open(str(tmp_path / "chart.mkv")) as container:
        context = container.streams.video[0].codec_context
        assert (context.colorspace, context.color_primaries, context.color_trc, context.color_range) == (0, 1, 1, 2)
    np.testing.assert_array_equal(next(iter_frames(tmp_path / "chart.mkv", kind="rgb")).array, chart)


def test_matrix_follows_what_players_assume_for_the_size():
    assert [matrix_for_size(*size) for size in ((640, 480), (720, 576), (960, 540), (1280, 720), (1024, 768))] == \
        [6, 6, 6, 1, 1]
