"""Frames above the pixel bound are refused per input, from the header, before anything is decoded."""
from __future__ import annotations

import struct
import zlib
from fractions import Fraction

import cv2
import numpy as np
import pytest

from nircolor.dataset_tools import video
from nircolor.dataset_tools.image_files import file_header_size
from nircolor.dataset_tools.pair_folders import PairFile, read_pair
from nircolor.dataset_tools.video import VideoError, VideoWriter, probe


def _png_header(path, width, height):
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + header
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk)))


def test_a_png_claiming_a_huge_frame_is_refused_before_decoding(tmp_path):
    _png_header(tmp_path / "p_nir.png", 100_000, 100_000)
    cv2.imwrite(str(tmp_path / "p_rgb.png"), np.zeros((4, 4, 3), np.uint8))
    assert file_header_size(tmp_path / "p_nir.png") == (100_000, 100_000)
    with pytest.raises(ValueError, match=r"p_nir.png: frames of 100000x100000 are larger than nircolor takes"):
        read_pair(PairFile("p", tmp_path / "p_nir.png", tmp_path / "p_rgb.png"))


def test_a_video_above_the_bound_is_refused_and_one_at_it_is_probed(tmp_path, monkeypatch):
    path = tmp_path / "nir.mkv"
    with VideoWriter(path, width=64, height=48, kind="gray", time_base=Fraction(1, 25)) as writer:
        writer.write(np.zeros((48, 64), np.uint8), 0)
    monkeypatch.setattr(video, "MAX_FRAME_PIXELS", 64 * 48)
    assert probe(path).width == 64
    monkeypatch.setattr(video, "MAX_FRAME_PIXELS", 64 * 48 - 1)
    with pytest.raises(VideoError, match="nir.mkv: frames of 64x48 are larger than nircolor takes"):
        probe(path)
