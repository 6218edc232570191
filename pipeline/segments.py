"""Cut a long recording into keyframe-aligned time segments so several actors colorize it at once.

A segment is [start_seconds, end_seconds) in presentation time; cuts sit on NIR keyframes so each
segment decodes on its own without decoding the previous one, and the segments partition the frames.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    index: int
    start_seconds: float | None  # None: from the first frame
    end_seconds: float | None  # None: to the last frame


def plan_segments(
    keyframe_seconds: list[float], duration_seconds: float | None, segment_seconds: float | None,
    start_seconds: float = 0.0,
) -> list[Segment]:
    """Cut at the first keyframe at or after every multiple of `segment_seconds` (one segment if off)."""
    if not segment_seconds or segment_seconds <= 0 or not duration_seconds or duration_seconds <= segment_seconds:
        return [Segment(0, None, None)]
    keyframes = sorted(set(keyframe_seconds))
    cuts: list[float] = []
    target = start_seconds + segment_seconds
    for time in keyframes:
        if time <= start_seconds + 1e-9:
            continue  # cutting at the first frame would make an empty segment
        if time >= target - 1e-9:
            cuts.append(time)
            # The next cut aims a whole segment after this one, so long GOPs do not make tiny segments.
            target = time + segment_seconds
    bounds = [None, *cuts, None]
    return [Segment(index, bounds[index], bounds[index + 1]) for index in range(len(bounds) - 1)]
