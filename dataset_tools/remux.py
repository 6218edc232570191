"""Join segment videos into one file without re-encoding: copy packets, keep their timestamps.

Segments of one recording share codec, size and time base, so their packets concatenate into a
single stream; the result is written under a temporary name and renamed when complete.
"""
from __future__ import annotations

import os
from pathlib import Path

import av

from nircolor.dataset_tools import atomic
from nircolor.dataset_tools.video import VideoError, container_options


def join_videos(parts: list[str | os.PathLike], output: str | os.PathLike) -> int:
    """Concatenate the video packets of `parts` (in order) into `output`; returns the packet count."""
    output = Path(output)
    if not parts:
        raise VideoError(f"{output}: nothing to join")
    tmp = atomic.temporary_path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    packets = 0
    try:
        with av.open(str(parts[0])) as first:
            template_time_base = first.streams.video[0].time_base
        with av.open(str(parts[0])) as first, av.open(str(tmp), "w", format=_muxer_for(output),
                                                      options=container_options(output, template_time_base)) as joined:
            template = first.streams.video[0]
            stream = joined.add_stream_from_template(template)
            stream.time_base = template.time_base
            last_dts = None
            for part in parts:
                with av.open(str(part)) as container:
                    source = container.streams.video[0]
                    for packet in container.demux(source):
                        if packet.size == 0:
                            continue  # demuxer flush packet
                        if source.time_base != template.time_base:
                            packet.pts = _rescale(packet.pts, source.time_base, template.time_base)
                            packet.dts = _rescale(packet.dts, source.time_base, template.time_base)
                        packet.time_base = template.time_base
                        # Each segment's encoder starts its decode clock a few frames before its
                        # first PTS; keep decode timestamps increasing across the seam.
                        if packet.dts is not None and last_dts is not None and packet.dts <= last_dts:
                            packet.dts = last_dts + 1
                            if packet.pts is not None and packet.pts < packet.dts:
                                raise VideoError(f"{part}: cannot join without re-encoding (timestamps overlap the previous segment)")
                        last_dts = packet.dts if packet.dts is not None else last_dts
                        packet.stream = stream
                        joined.mux(packet)
                        packets += 1
    except av.FFmpegError as error:
        atomic.discard(tmp)
        raise VideoError(f"{output}: joining segments failed ({error})") from None
    except BaseException:
        atomic.discard(tmp)
        raise
    atomic.commit(tmp, output)
    return packets


def _rescale(value, source, target):
    return None if value is None else int(round(value * source / target))


def _muxer_for(path: Path) -> str | None:
    return {".mkv": "matroska", ".mp4": "mp4", ".mov": "mov", ".nut": "nut"}.get(path.suffix.lower())
