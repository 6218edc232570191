"""Train/eval split by day and location (paper §4: evaluation on recordings from other days and locations).

Days and locations form a bipartite graph, a recording being the edge between its day and its
location. Each connected component is indivisible and goes whole to one split, so the eval split
shares no day and no location with training by construction. `split_by="day"` (or "location")
groups by that key alone, when the user accepts sharing the other one.
"""
from __future__ import annotations

from dataclasses import dataclass

SPLIT_BY_CHOICES = ("day-location", "day", "location")
SPLITS = ("train", "eval")


class SplitError(ValueError):
    """No split satisfies the request; the message says why and what to do instead."""


@dataclass(frozen=True)
class Component:
    """Recordings that must stay together (they share a day, a location, or both, transitively)."""

    recording_ids: tuple[str, ...]
    days: tuple[str, ...]
    locations: tuple[str, ...]
    weight: float


def group_recordings(
    recordings: list[tuple[str, str, str]],
    split_by: str = "day-location",
    weights: dict[str, float] | None = None,
) -> list[Component]:
    """Indivisible groups of recordings, sorted largest first (ties: by first recording id)."""
    if split_by not in SPLIT_BY_CHOICES:
        raise SplitError(f"unknown split mode {split_by!r}; choose one of {', '.join(SPLIT_BY_CHOICES)}")
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(node):
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def union(a, b):
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            parent[max(root_a, root_b)] = min(root_a, root_b)

    seen: set[str] = set()
    for recording_id, day, location in recordings:
        if recording_id in seen:
            raise SplitError(f"recording id {recording_id!r} appears twice; recording ids must be unique")
        seen.add(recording_id)
        day_node, location_node = ("day", str(day)), ("location", str(location))
        if split_by == "day-location":
            union(day_node, location_node)
        elif split_by == "day":
            find(day_node)
        else:
            find(location_node)

    members: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for recording_id, day, location in recordings:
        node = ("location", str(location)) if split_by == "location" else ("day", str(day))
        members.setdefault(find(node), []).append((str(recording_id), str(day), str(location)))
    components = [
        Component(
            recording_ids=tuple(sorted(item[0] for item in group)),
            days=tuple(sorted({item[1] for item in group})),
            locations=tuple(sorted({item[2] for item in group})),
            weight=float(sum((weights or {}).get(item[0], 1.0) for item in group)),
        )
        for group in members.values()
    ]
    components.sort(key=lambda component: (-component.weight, component.recording_ids[0]))
    return components


def _one_group_message(split_by: str, count: int) -> str:
    if split_by == "day-location":
        return (
            f"all {count} recordings are linked through shared days or locations (one group), so no eval "
            "split can avoid both the training days and the training locations; use --split-by day "
            "(eval may share locations) or --split-by location (eval may share days), or --eval-fraction 0"
        )
    other = "location" if split_by == "day" else "day"
    return (
        f"all {count} recordings share one {split_by}, so no eval split can avoid the training {split_by}s; "
        f"use --split-by {other}, or --eval-fraction 0"
    )


def assign_splits(
    recordings: list[tuple[str, str, str]],
    eval_fraction: float = 0.2,
    split_by: str = "day-location",
    overrides: dict[str, str] | None = None,
    weights: dict[str, float] | None = None,
) -> dict[str, str]:
    """Map each recording id to "train" or "eval", whole components at a time, deterministically.

    `weights` (e.g. frames per recording) measure the eval fraction; by default each recording
    counts 1. `overrides` force recordings (and so their whole component) into a split.
    """
    if not 0.0 <= eval_fraction < 1.0:
        raise SplitError(f"eval fraction must be in [0, 1), got {eval_fraction}")
    recordings = [(str(r), str(d), str(l)) for r, d, l in recordings]
    if not recordings:
        return {}
    components = group_recordings(recordings, split_by, weights)
    known = {recording_id for recording_id, _, _ in recordings}
    overrides = {str(key): value for key, value in (overrides or {}).items()}
    for recording_id, split in overrides.items():
        if recording_id not in known:
            raise SplitError(f"split override names unknown recording {recording_id!r}")
        if split not in SPLITS:
            raise SplitError(f"split override for {recording_id!r} is {split!r}; use train or eval")

    assignment: dict[int, str] = {}
    for index, component in enumerate(components):
        forced = {overrides[r] for r in component.recording_ids if r in overrides}
        if len(forced) > 1:
            shared = _shared_keys(component, split_by)
            raise SplitError(
                f"split overrides put recordings {', '.join(r for r in component.recording_ids if r in overrides)} "
                f"into both train and eval, but they are linked through {shared}; an eval split may not share "
                f"a {split_by.replace('-', ' or ')} with training (use --split-by day or --split-by location to relax this)"
            )
        if forced:
            assignment[index] = forced.pop()

    free = [index for index in range(len(components)) if index not in assignment]
    if eval_fraction > 0 and not any(split == "eval" for split in assignment.values()):
        if len(components) == 1:
            raise SplitError(_one_group_message(split_by, len(recordings)))
    total = sum(component.weight for component in components)
    forced_eval = sum(components[i].weight for i in assignment if assignment[i] == "eval")
    chosen = _closest_subset(
        [components[index].weight for index in free],
        target=eval_fraction * total - forced_eval,
        total=total,
        need_some=eval_fraction > 0 and forced_eval == 0,
        keep_one=not any(split == "train" for split in assignment.values()),
    )
    for position, index in enumerate(free):
        assignment[index] = "eval" if position in chosen else "train"
    if eval_fraction > 0 and not any(split == "train" for split in assignment.values()):
        raise SplitError("split overrides leave no recording for training; remove some eval overrides")

    result: dict[str, str] = {}
    for index, component in enumerate(components):
        for recording_id in component.recording_ids:
            result[recording_id] = assignment[index]
    return {recording_id: result[recording_id] for recording_id, _, _ in recordings}


def _closest_subset(weights: list[float], target: float, total: float, need_some: bool, keep_one: bool) -> set[int]:
    """Positions of the groups whose weights sum closest to `target` (subset-sum on a 1/1000 grid).

    need_some: the subset may not be empty; keep_one: it may not take every group (train needs one).
    Deterministic: the first subset found for each grid sum wins, groups visited largest first.
    """
    if not weights:
        return set()
    unit = max(total, 1e-9) / 1000.0
    steps = [max(1, round(weight / unit)) for weight in weights]
    # grid sum → (previous grid sum, position added, groups used, true weight): parent pointers, not copies.
    reachable: dict[int, tuple[int, int, int, float]] = {0: (-1, -1, 0, 0.0)}
    for position, step in enumerate(steps):
        for grid_sum, (_, _, used, weight) in list(reachable.items()):
            if grid_sum + step not in reachable:
                reachable[grid_sum + step] = (grid_sum, position, used + 1, weight + weights[position])
    candidates = [
        grid_sum for grid_sum, (_, _, used, _) in reachable.items()
        if (used or not need_some) and (used < len(weights) or not keep_one)
    ]
    if not candidates:
        return set()
    best = min(candidates, key=lambda g: (abs(reachable[g][3] - target), reachable[g][2], g))
    chosen = set()
    while best > 0:
        previous, position, _, _ = reachable[best]
        chosen.add(position)
        best = previous
    return chosen


def _shared_keys(component: Component, split_by: str) -> str:
    parts = []
    if split_by in ("day-location", "day"):
        parts.append(f"days {', '.join(component.days)}")
    if split_by in ("day-location", "location"):
        parts.append(f"locations {', '.join(component.locations)}")
    return " and ".join(parts)


def split_groups(recordings: list[tuple[str, str, str]], assignment: dict[str, str]) -> dict[str, dict]:
    """Per split: its days, locations, (day, location) groups and recording ids (for manifests and reports)."""
    summary: dict[str, dict] = {}
    for split in SPLITS:
        members = [(r, d, l) for r, d, l in recordings if assignment.get(r) == split]
        summary[split] = {
            "days": sorted({d for _, d, _ in members}),
            "locations": sorted({l for _, _, l in members}),
            "groups": sorted({(d, l) for _, d, l in members}),
            "recordings": sorted(r for r, _, _ in members),
        }
    return summary
