"""Splits by connected day–location components (acceptance 3: eval shares no day and no location)."""
from __future__ import annotations

import pytest

from nircolor.dataset_tools.splits import SplitError, assign_splits, group_recordings, split_groups

RECORDINGS = [
    # Component A: days d1, d2 and locations city, harbour (linked through d1/harbour).
    ("r1", "d1", "city"), ("r2", "d1", "harbour"), ("r3", "d2", "harbour"), ("r4", "d2", "city"),
    ("r5", "d1", "city"),
    # Component B: day d3, location forest.
    ("r6", "d3", "forest"), ("r7", "d3", "forest"),
    # Component C: day d4, locations hills and lake.
    ("r8", "d4", "hills"), ("r9", "d4", "lake"),
    # Component D: day d5, location coast.
    ("r10", "d5", "coast"),
]


def _disjoint(assignment, recordings=RECORDINGS):
    groups = split_groups(recordings, assignment)
    return (set(groups["train"]["days"]) & set(groups["eval"]["days"]),
            set(groups["train"]["locations"]) & set(groups["eval"]["locations"]))


def test_components_follow_the_day_location_graph():
    components = group_recordings(RECORDINGS)
    assert [c.recording_ids for c in components] == [
        ("r1", "r2", "r3", "r4", "r5"), ("r6", "r7"), ("r8", "r9"), ("r10",)]
    assert components[0].days == ("d1", "d2") and components[0].locations == ("city", "harbour")


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.3, 0.5])
def test_eval_shares_no_day_and_no_location(fraction):
    assignment = assign_splits(RECORDINGS, eval_fraction=fraction)
    assert set(assignment) == {r for r, _, _ in RECORDINGS}
    eval_count = sum(split == "eval" for split in assignment.values())
    assert 1 <= eval_count < len(RECORDINGS)
    assert abs(eval_count / len(RECORDINGS) - fraction) <= 0.1 + 1e-9
    assert _disjoint(assignment) == (set(), set())
    assert assign_splits(list(reversed(RECORDINGS)), eval_fraction=fraction) == assignment  # deterministic


def test_weights_measure_the_fraction():
    weights = {r: 1.0 for r, _, _ in RECORDINGS} | {"r10": 100.0}
    assignment = assign_splits(RECORDINGS, eval_fraction=0.2, weights=weights)
    assert assignment["r10"] == "train"  # 100 of 108 frames: far beyond 20 %
    assert _disjoint(assignment) == (set(), set())


def test_one_component_names_the_options():
    connected = [("a", "d1", "x"), ("b", "d1", "y"), ("c", "d2", "y")]
    with pytest.raises(SplitError, match=r"--split-by day.*--split-by location.*--eval-fraction 0"):
        assign_splits(connected, eval_fraction=0.2)
    by_day = assign_splits(connected, eval_fraction=0.3, split_by="day")
    assert by_day["a"] == by_day["b"] != by_day["c"]  # days kept apart, location y shared
    assert set(assign_splits(connected, eval_fraction=0.0).values()) == {"train"}
    with pytest.raises(SplitError, match="one day.*--split-by location"):
        assign_splits([("a", "d1", "x"), ("b", "d1", "y")], split_by="day")


def test_overrides_move_whole_components_or_explain():
    assignment = assign_splits(RECORDINGS, eval_fraction=0.2, overrides={"r6": "eval", "r1": "train"})
    assert assignment["r6"] == assignment["r7"] == "eval"
    assert _disjoint(assignment) == (set(), set())
    with pytest.raises(SplitError, match="r1, r3.*linked through days d1, d2 and locations city, harbour"):
        assign_splits(RECORDINGS, overrides={"r1": "train", "r3": "eval"})
    with pytest.raises(SplitError, match="unknown recording"):
        assign_splits(RECORDINGS, overrides={"nope": "eval"})
