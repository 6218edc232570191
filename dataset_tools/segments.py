"""Cut a long recording into keyframe-aligned time segments so several actors colorize it at once.

A segment is [start_seconds, end_seconds) in presentation time. Float convolutions give results
that depend (in the last bit) on a batch's shape, so batches never span a "batch break" — the
first keyframe at or after each multiple of a fixed grid — and segments are cut only at breaks:
a frame then meets the same batch neighbours whether its recording is cut or not.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    index: int
    start_seconds: float | None  # None: from the first frame
    end_seconds: float | None  # None: to the last frame


def plan_batch_breaks(keyframe_seconds: list[float], grid_seconds: float, start_seconds: float = 0.0) -> list[float]:
    """The first keyframe at or after each multiple of `grid_seconds` after the start (sorted, unique)."""
    if not grid_seconds or grid_seconds <= 0:
        return []
    breaks: list[float] = []
    target = start_seconds + grid_seconds
    for time in sorted(set(keyframe_seconds)):
        if time >= target - 1e-9:
            breaks.append(time)
            while target <= time + 1e-9:
                target += grid_seconds
    return breaks


def plan_segments(cut_candidates: list[float], duration_seconds: float | None, segment_seconds: float | None,
                  start_seconds: float = 0.0) -> list[Segment]:
    """Cut at the first candidate at or after every `segment_seconds` (one segment when off or short)."""
    if not segment_seconds or segment_seconds <= 0 or not duration_seconds or duration_seconds <= segment_seconds:
        return [Segment(0, None, None)]
    cuts: list[float] = []
    target = start_seconds + segment_seconds
    for time in sorted(set(cut_candidates)):
        if time <= start_seconds + 1e-9:
            continue  # cutting at the first frame would make an empty segment
        if time >= target - 1e-9:
            cuts.append(time)
            # The next cut aims a whole segment after this one, so long GOPs do not make tiny segments.
            target = time + segment_seconds
    bounds = [None, *cuts, None]
    return [Segment(index, bounds[index], bounds[index + 1]) for index in range(len(bounds) - 1)]


def breaks_within(breaks: list[float], segment: Segment) -> tuple[float, ...]:
    low = float("-inf") if segment.start_seconds is None else segment.start_seconds
    high = float("inf") if segment.end_seconds is None else segment.end_seconds
    return tuple(time for time in breaks if low + 1e-9 < time < high - 1e-9)
