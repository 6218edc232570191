"""The sound of a recording's video, carried into its colorized output.

Packets are copied as they are, timestamps included, wherever the output container takes the
codec; MP4 takes no PCM (and a few others), which is re-encoded to AAC there, on the same clock.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import av

from nircolor.dataset_tools.video import VideoError

# Audio codecs FFmpeg's MP4/MOV muxer stores (ISO BMFF sample entries players know).
MP4_AUDIO_CODECS = {"aac", "mp3", "ac3", "eac3", "opus", "alac", "flac"}
MP4_SUFFIXES = {".mp4", ".mov", ".m4v"}
_STANDARD_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 8: "7.1"}


@dataclass(frozen=True)
class AudioSource:
    path: str
    index: int  # among the file's audio streams
    codec: str

    def copies_into(self, output: str | os.PathLike) -> bool:
        """Whether `output`'s container stores this codec (else it is re-encoded to AAC)."""
        return Path(output).suffix.lower() not in MP4_SUFFIXES or self.codec in MP4_AUDIO_CODECS

    def describe(self, output: str | os.PathLike) -> dict:
        return {"path": self.path, "stream": self.index, "codec": self.codec,
                "copied": self.copies_into(output)}


def find_audio(paths: Iterable[str | os.PathLike | None]) -> AudioSource | None:
    """The first audio stream of the first of `paths` that has one (files that cannot be opened are passed over)."""
    for path in paths:
        if not path:
            continue
        try:
            with av.open(str(path)) as container:
                if container.streams.audio:
                    # The codec, not its decoder ("mp3", not "mp3float").
                    return AudioSource(str(path), 0, container.streams.audio[0].codec_context.codec.canonical_name)
        except (av.FFmpegError, OSError):
            continue
    return None


class AudioTrack:
    """The audio stream of an output being muxed: added to `container`, its packets from `packets()`."""

    def __init__(self, source: AudioSource, container, output: str | os.PathLike):
        self.source = source
        self.input = av.open(source.path)
        self.input_stream = self.input.streams.audio[source.index]
        self.copy = source.copies_into(output)
        if self.copy:
            self.stream = container.add_stream_from_template(self.input_stream)
        else:
            context = self.input_stream.codec_context
            self.stream = container.add_stream("aac", rate=context.sample_rate)
            # By channel count: a layout without channel order ("1 channels") is no AAC layout.
            channels = len(context.layout.channels)
            self.stream.layout = _STANDARD_LAYOUTS.get(channels, context.layout.name)
            self.stream.format = "fltp"  # the native AAC encoder's one sample format

    def packets(self) -> Iterator[av.Packet]:
        """Packets in decode order, on the output stream."""
        try:
            if self.copy:
                for packet in self.input.demux(self.input_stream):
                    if packet.size == 0 or (packet.dts is None and packet.pts is None):
                        continue  # demuxer flush packet
                    packet.stream = self.stream
                    yield packet
                return
            for frame in self.input.decode(self.input_stream):
                yield from self._on_stream(self.stream.encode(frame))
            yield from self._on_stream(self.stream.encode(None))
        except av.FFmpegError as error:
            raise VideoError(f"{self.source.path}: reading its audio failed ({error})") from None

    def _on_stream(self, packets) -> Iterator[av.Packet]:
        for packet in packets:
            packet.stream = self.stream
            yield packet

    def close(self) -> None:
        self.input.close()


def packet_seconds(packet: av.Packet) -> float:
    """When a packet is decoded, in seconds: the order packets of several streams are muxed in."""
    value = packet.dts if packet.dts is not None else packet.pts
    return float(value * packet.time_base) if value is not None else 0.0
