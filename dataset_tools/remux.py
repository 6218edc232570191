"""Join segment videos into one file without re-encoding: copy packets, keep their timestamps.

Segments of one recording share codec, size and time base, so their packets concatenate into a
single stream, the recording's sound beside it; the result is written under a temporary name and
renamed when complete.
"""
from __future__ import annotations

import heapq
import os
from pathlib import Path
from typing import Iterator

import av

from nircolor.dataset_tools import atomic
from nircolor.dataset_tools.audio import AudioSource, AudioTrack, packet_seconds
from nircolor.dataset_tools.video import VideoError, container_options


def join_videos(parts: list[str | os.PathLike], output: str | os.PathLike, audio: AudioSource | None = None) -> int:
    """Concatenate the video packets of `parts` (in order) into `output`, with `audio`'s sound when
    given (dataset_tools/audio.py); returns the video packet count."""
    output = Path(output)
    if not parts:
        raise VideoError(f"{output}: nothing to join")
    tmp = atomic.temporary_path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    counter = {"packets": 0}
    track = None
    try:
        with av.open(str(parts[0])) as first:
            template = first.streams.video[0]
            with av.open(str(tmp), "w", format=_muxer_for(output),
                         options=container_options(output, template.time_base)) as joined:
                stream = joined.add_stream_from_template(template)
                stream.time_base = template.time_base
                packets = _video_packets(parts, stream, template.time_base, counter)
                if audio is not None:
                    track = AudioTrack(audio, joined, output)
                    # Interleaved by decode time, so the muxer never holds a whole stream back.
                    packets = heapq.merge(packets, track.packets(), key=packet_seconds)
                for packet in packets:
                    joined.mux(packet)
    except av.FFmpegError as error:
        atomic.discard(tmp)
        raise VideoError(f"{output}: joining segments failed ({error})") from None
    except BaseException:
        atomic.discard(tmp)
        raise
    finally:
        if track is not None:
            track.close()
    atomic.commit(tmp, output)
    return counter["packets"]


def _video_packets(parts, stream, time_base, counter: dict) -> Iterator[av.Packet]:
    last_dts = None
    for part in parts:
        with av.open(str(part)) as container:
            source = container.streams.video[0]
            for packet in container.demux(source):
                if packet.size == 0:
                    continue  # demuxer flush packet
                if source.time_base != time_base:
                    packet.pts = _rescale(packet.pts, source.time_base, time_base)
                    packet.dts = _rescale(packet.dts, source.time_base, time_base)
                packet.time_base = time_base
                # Each segment's encoder starts its decode clock a few frames before its
                # first PTS; keep decode timestamps increasing across the seam.
                if packet.dts is not None and last_dts is not None and packet.dts <= last_dts:
                    packet.dts = last_dts + 1
                    if packet.pts is not None and packet.pts < packet.dts:
                        raise VideoError(f"{part}: cannot join without re-encoding (timestamps overlap the previous segment)")
                last_dts = packet.dts if packet.dts is not None else last_dts
                packet.stream = stream
                counter["packets"] += 1
                yield packet


def _rescale(value, source, target):
    return None if value is None else int(round(value * source / target))


def _muxer_for(path: Path) -> str | None:
    return {".mkv": "matroska", ".mp4": "mp4", ".mov": "mov", ".nut": "nut"}.get(path.suffix.lower())
