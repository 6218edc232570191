"""Colour tags of the videos nircolor writes, and RGB decoding that follows a stream's own tags.

Written video carries the matrix, primaries, transfer and range it was converted with, so a player
never has to guess. The matrix is what players assume for untagged video of that size (BT.709 from
1280 wide or taller than 576 lines, BT.601 below), so even a player that ignores tags shows the
right colours. Primaries and transfer are BT.709 at every size: the RGB frames are sRGB-like
camera frames, whose primaries those are. YUV is limited range (what every player and browser
decodes); RGB and gray stay full range, sample values as they are.
"""
from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, Interpolation

# FFmpeg's AVColorSpace / AVColorPrimaries / AVColorTransferCharacteristic / AVColorRange codes.
MATRIX_RGB, MATRIX_BT709, MATRIX_BT601 = 0, 1, 6  # 6 = SMPTE 170M, the BT.601 matrix
PRIMARIES_BT709 = 1
TRANSFER_BT709 = 1
RANGE_LIMITED, RANGE_FULL = 1, 2

MATRIX_NAMES = {0: "rgb", 1: "bt709", 2: "unspecified", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m",
                9: "bt2020nc", 10: "bt2020c"}
RANGE_NAMES = {0: "unspecified", 1: "tv", 2: "pc"}
_BT709_NAMES = {PRIMARIES_BT709: "bt709"}  # the one primaries and transfer code nircolor writes

# Matrices swscale converts with, by AVColorSpace code (PyAV takes its own enum, not every code).
_SWSCALE_MATRIX = {1: Colorspace.ITU709, 4: Colorspace.FCC, 5: Colorspace.ITU601, 6: Colorspace.ITU601,
                   7: Colorspace.SMPTE240M, 9: Colorspace.BT2020, 10: Colorspace.BT2020}
# Exact rounding; decoding also interpolates chroma at full resolution before the matrix, without
# which swscale's YUV→RGB is off by up to 2 code values (≈6 ms instead of 0.6 ms per 1024×768 frame).
_ACCURATE = Interpolation.BILINEAR | Interpolation.ACCURATE_RND
_ACCURATE_DECODE = _ACCURATE | Interpolation.FULL_CHR_H_INT
_RGB_FORMATS = ("rgb24", "bgr24", "bgr0", "rgb0", "rgba", "bgra", "gbrp", "argb", "abgr")


@dataclass(frozen=True)
class ColorTags:
    matrix: int
    primaries: int
    transfer: int
    range: int

    def describe(self) -> dict:
        """The tags as the report states them (FFmpeg's names)."""
        return {"matrix": MATRIX_NAMES.get(self.matrix, str(self.matrix)), "primaries": _BT709_NAMES[self.primaries],
                "transfer": _BT709_NAMES[self.transfer], "range": RANGE_NAMES.get(self.range, str(self.range))}


def matrix_for_size(width: int, height: int) -> int:
    """BT.709 for HD and above, BT.601 for SD: the matrix players assume when a video has no tags."""
    return MATRIX_BT709 if width >= 1280 or height > 576 else MATRIX_BT601


def is_rgb_format(pix_fmt: str) -> bool:
    return pix_fmt in _RGB_FORMATS or pix_fmt.startswith("gbrp")


def is_gray_format(pix_fmt: str) -> bool:
    return pix_fmt.startswith("gray")


def tags_for(pix_fmt: str, width: int, height: int) -> ColorTags:
    """The tags nircolor writes for a stream of this pixel format and (display) size."""
    if is_rgb_format(pix_fmt):
        return ColorTags(MATRIX_RGB, PRIMARIES_BT709, TRANSFER_BT709, RANGE_FULL)
    if is_gray_format(pix_fmt):
        return ColorTags(matrix_for_size(width, height), PRIMARIES_BT709, TRANSFER_BT709, RANGE_FULL)
    return ColorTags(matrix_for_size(width, height), PRIMARIES_BT709, TRANSFER_BT709, RANGE_LIMITED)


def tag_codec_context(context, tags: ColorTags) -> None:
    """Tags the encoder writes into the bitstream (H.264/HEVC VUI) and the muxer into the container."""
    context.colorspace = tags.matrix
    context.color_primaries = tags.primaries
    context.color_trc = tags.transfer
    context.color_range = tags.range


def convert_for_encoder(frame: av.VideoFrame, pix_fmt: str, tags: ColorTags) -> av.VideoFrame:
    """`frame` (rgb24 or gray, full range) in the encoder's format, converted with exactly `tags`."""
    if frame.format.name == pix_fmt:
        converted = frame
    elif is_rgb_format(pix_fmt) or is_gray_format(pix_fmt):
        converted = frame.reformat(format=pix_fmt, interpolation=_ACCURATE)
    else:
        converted = frame.reformat(format=pix_fmt, src_color_range=ColorRange.JPEG,
                                   dst_colorspace=_SWSCALE_MATRIX[tags.matrix],
                                   dst_color_range=ColorRange(tags.range), interpolation=_ACCURATE)
    converted.colorspace, converted.color_range = tags.matrix, tags.range
    converted.color_primaries, converted.color_trc = tags.primaries, tags.transfer
    return converted


def frame_to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """(H,W,3) uint8 RGB, decoded with the matrix and range the stream is tagged with.

    Untagged YUV gets what players assume: the matrix by frame size (matrix_for_size) and limited
    range, except the JPEG-style full-range formats (yuvj*)."""
    name = frame.format.name
    if is_rgb_format(name) or is_gray_format(name):
        return frame.to_ndarray(format="rgb24")
    matrix = frame.colorspace if frame.colorspace in _SWSCALE_MATRIX else matrix_for_size(frame.width, frame.height)
    color_range = frame.color_range
    if color_range not in (RANGE_LIMITED, RANGE_FULL):
        color_range = RANGE_FULL if name.startswith("yuvj") else RANGE_LIMITED
    rgb = frame.reformat(format="rgb24", src_colorspace=_SWSCALE_MATRIX[matrix], src_color_range=ColorRange(color_range),
                         dst_color_range=ColorRange.JPEG, interpolation=_ACCURATE_DECODE)
    return rgb.to_ndarray()


def even_size(width: int, height: int) -> tuple[int, int]:
    return width + width % 2, height + height % 2


def needs_even_size(pix_fmt: str) -> bool:
    """4:2:0 and 4:2:2 store one chroma sample per two pixels; H.264/HEVC need even sides for them."""
    return pix_fmt.startswith(("yuv420", "yuv422", "yuvj420", "yuvj422", "nv12", "nv21", "p010"))


def pad_to(array: np.ndarray, width: int, height: int) -> np.ndarray:
    """Repeat the last column/row until `array` is `width`×`height` (content stays where it was)."""
    extra_rows, extra_columns = height - array.shape[0], width - array.shape[1]
    if not (extra_rows or extra_columns):
        return array
    padding = ((0, extra_rows), (0, extra_columns)) + ((0, 0),) * (array.ndim - 2)
    return np.pad(array, padding, mode="edge")


def unpad(array: np.ndarray, width: int, height: int) -> np.ndarray:
    """Undo `pad_to` for a `width`×`height` frame stored at its even size; any other array is returned as is."""
    if (array.shape[1], array.shape[0]) == even_size(width, height):
        return array[:height, :width]
    return array
