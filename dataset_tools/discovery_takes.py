"""Recognise the takes under a folder: what one recording.json can describe (used by discovery.py).

A take is a NIR and an RGB video side by side, a bag (ROS 1 `.bag`, ROS 2 bag folder, plain
`.mcap`) with a NIR and an RGB image topic, or a NIR and an RGB folder of frames. The folder holding
the files (for a bag folder: its parent) is the recording folder. It holds one recording.json, so a
folder with several takes is reported, never guessed at.
"""
from __future__ import annotations

import fnmatch
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from rosbags.highlevel import AnyReader

from nircolor.dataset_tools.folders import leaves_folder
from nircolor.dataset_tools.image_files import IMAGE_SUFFIXES, named_by_stamps
from nircolor.dataset_tools.recording import DRIVE_SUFFIXES, RECORDING_FILE

VIDEO_SUFFIXES = (".mkv", ".mp4", ".mov", ".avi", ".nut", ".ts", ".m4v")
BAG_SUFFIXES = (".bag", ".mcap")
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
TIMESTAMPS_FILE = "timestamps.txt"

# --nir/--rgb patterns when none are given, per what they are matched against (case-insensitively).
DEFAULT_PATTERNS = {
    "videos": (("*nir*.*",), ("*rgb*.*",)),
    "frames": (("*nir*",), ("*rgb*",)),
    "topics": (("*nir*", "*ir*", "*infra*"), ("*rgb*", "*color*")),
}


class DiscoveryError(ValueError):
    """A scan that cannot start (bad template, index or option), or a bag that cannot be used."""


@dataclass
class Take:
    kind: str  # "videos", "bag", "frames"; "recording" for an existing recording.json; "link" for a bad link
    folder: Path  # the recording folder: where recording.json goes
    source: Path  # what was found: the folder of the videos or frame folders, or the bag
    files: dict = field(default_factory=dict)  # recording.json's keys after id, day and location
    id: str = ""
    day: str = ""
    location: str = ""
    status: str = "found"  # then "written", "would write", "exists" or "skipped"
    problem: str = ""  # why it was skipped
    error: bool = False  # skipped for an error: the scan fails
    note: str = ""  # worth telling about a written take (e.g. 12-bit NIR in a 16-bit container)
    per_camera: str = ""  # two bags side by side, perhaps one per camera: why they are refused if not

    @property
    def document(self) -> dict:
        return {"id": self.id, "day": self.day, "location": self.location, **self.files}

    def skip(self, problem: str, error: bool = True) -> None:
        self.status, self.problem, self.error = "skipped", problem, error


def find_takes(root: str | os.PathLike, nir: tuple[str, ...] = (), rgb: tuple[str, ...] = (),
               fps: float | None = None) -> list[Take]:
    """Every take under `root` in path order, and one "recording" entry per existing recording.json.

    Takes that cannot be written (several in one folder, an unpaired video, frames without times)
    come back skipped with the reason. Folders below an existing recording belong to it (as in
    `find_unlabelled`) and are not searched; neither are hidden folders and ROS 2 bag folders.
    """
    root = Path(root)
    if _is_bag_folder(root):
        take = Take("bag", root.parent, root)
        take.skip("a ROS 2 bag folder: scan the folder that holds it (its recording folder)")
        return [take]
    takes = []
    for folder, subfolders, files in os.walk(root):
        folder = Path(folder)
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        files = sorted(name for name in files if not name.startswith("."))
        found, used = _takes_in(folder, subfolders, files, nir, rgb, fps)
        if RECORDING_FILE in files:
            takes.append(_existing(folder))
            subfolders.clear()
        else:
            subfolders[:] = [name for name in subfolders if name not in used]
        takes += found
    return takes


def _takes_in(folder: Path, subfolders: list[str], files: list[str], nir, rgb, fps) -> tuple[list[Take], set[str]]:
    """The takes of one folder, and the subfolders they use (bag and frame folders: not searched)."""
    takes, leftovers = [], []
    # recording.json may name only what stays inside its folder (load_recording refuses the rest).
    # Linked folders are passed by quietly, as os.walk passes them, unless they hold a bag.
    files = [name for name in files if Path(name).suffix.lower() in DRIVE_SUFFIXES]
    for name in [*files, *subfolders]:
        problem = _link_problem(folder, name)
        if problem:
            is_file = name in files
            (files if is_file else subfolders).remove(name)
            if is_file or _is_bag_folder(folder / name):
                leftovers.append(Take("link", folder, folder / name, error=True, problem=problem))
    videos = [name for name in files if Path(name).suffix.lower() in VIDEO_SUFFIXES]
    pairs, unpaired = _pair(videos, nir or DEFAULT_PATTERNS["videos"][0], rgb or DEFAULT_PATTERNS["videos"][1], "video")
    for nir_name, rgb_name in pairs:
        takes.append(Take("videos", folder, folder, {"nir": nir_name, "rgb": rgb_name}))
    leftovers += [Take("videos", folder, folder / name, problem=why) for name, why in unpaired]
    for parts, missing in split_bags([name for name in files if Path(name).suffix.lower() in BAG_SUFFIXES]):
        take = Take("bag", folder, folder / parts[0], {"bag": parts if len(parts) > 1 else parts[0]})
        if missing:
            take.problem = (f"a bag recorded in parts ({parts[0]} ... {parts[-1]}) lacks part(s) "
                            f"{', '.join(map(str, missing))}; name the parts in {RECORDING_FILE} by hand to use it")
            leftovers.append(take)
        else:
            takes.append(take)
    for name in files:
        if Path(name).suffix.lower() == ".db3":
            leftovers.append(Take("bag", folder, folder / name, error=True,
                                  problem="a .db3 file outside a ROS 2 bag folder (no metadata.yaml beside it)"))
    bags = [name for name in subfolders if _is_bag_folder(folder / name)]
    takes += [Take("bag", folder, folder / name, {"bag": name}) for name in bags]
    nir_frames, rgb_frames = nir or DEFAULT_PATTERNS["frames"][0], rgb or DEFAULT_PATTERNS["frames"][1]
    frame_folders = [name for name in subfolders if name not in bags and (
        _matches(name, nir_frames) or _matches(name, rgb_frames)) and _holds_frames(folder / name)]
    pairs, unpaired = _pair(frame_folders, nir_frames, rgb_frames, "frame folder")
    for nir_name, rgb_name in pairs:
        takes.append(_frames_take(folder, nir_name, rgb_name, fps))
    leftovers += [Take("frames", folder, folder / name, problem=why) for name, why in unpaired]
    if _one_bag_per_camera(takes):
        # Two bags side by side may be one per camera (a recorder per driver): scan reads their
        # topics to tell that from two takes (discovery.scan, per_camera_topics); names stay in order.
        names = [take.files["bag"] for take in takes]
        take = Take("bag", folder, takes[0].source, {"bag": names})
        take.per_camera = (f"one of 2 takes in one folder ({', '.join(names)}); a folder holds one "
                           f"{RECORDING_FILE}: move each take into a folder of its own")
        takes = [take]
    if len(takes) > 1:
        names = ", ".join(_what(take) for take in takes)
        # Bags side by side may be one recording's parts (one bag per camera): a list in recording.json.
        parts = (f", or list them in one {RECORDING_FILE} (\"bag\": [...]) if they are parts of one recording"
                 if all(take.kind == "bag" for take in takes) else "")
        for take in takes:
            take.skip(f"one of {len(takes)} takes in one folder ({names}); a folder holds one {RECORDING_FILE}: "
                      f"move each take into a folder of its own{parts}")
    leftovers.sort(key=lambda take: take.source.name)
    for take in leftovers:
        take.skip(take.problem, take.error)
    used = set(bags) | {take.files[key] for take in takes if take.kind == "frames" for key in ("nir", "rgb")}
    return takes + leftovers, used


_PART = re.compile(r"^(?P<stem>.+)_(?P<number>\d+)(?P<suffix>\.[^.]+)$")


def split_bags(names: list[str]) -> list[tuple[list[str], list[int]]]:
    """Bag files grouped into recordings: ([files in order], [missing part numbers]) each.

    `rosbag record --split` names its parts STEM_0.bag, STEM_1.bag, ...: files of one stem and
    suffix numbered from 0 are one bag. Every other file is a bag of its own."""
    groups: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for name in names:
        match = _PART.match(name)
        if match:
            groups.setdefault((match["stem"], match["suffix"].lower()), []).append((int(match["number"]), name))
    found, grouped = [], set()
    for numbered in groups.values():
        numbered.sort()
        numbers = [number for number, _ in numbered]
        if len(numbered) < 2 or numbers[0] != 0 or len(set(numbers)) < len(numbers):
            continue
        missing = sorted(set(range(numbers[-1] + 1)) - set(numbers))
        found.append(([name for _, name in numbered], missing))
        grouped.update(name for _, name in numbered)
    found += [([name], []) for name in names if name not in grouped]
    return sorted(found, key=lambda group: group[0][0])


def _frames_take(folder: Path, nir_name: str, rgb_name: str, fps: float | None) -> Take:
    take = Take("frames", folder, folder, {"nir": nir_name, "rgb": rgb_name})
    timed = [(folder / name / TIMESTAMPS_FILE).is_file() for name in (nir_name, rgb_name)]
    if all(timed):
        take.files.update(nir_timestamps=f"{nir_name}/{TIMESTAMPS_FILE}",
                          rgb_timestamps=f"{rgb_name}/{TIMESTAMPS_FILE}")
    elif any(timed):
        untimed = rgb_name if timed[0] else nir_name
        take.skip(f"{untimed}/{TIMESTAMPS_FILE} is missing (its partner folder has one)")
    elif fps is None and all(named_by_stamps(folder / name) for name in (nir_name, rgb_name)):
        pass  # frames named by their epoch stamps (ROS exporters, EuRoC): the names time them
    elif fps is None:
        take.skip(f"no {TIMESTAMPS_FILE} in {nir_name}/ and {rgb_name}/: give the frame rate with --fps")
    else:
        take.files["fps"] = float(fps)
    return take


def _pair(names: list[str], nir: tuple[str, ...], rgb: tuple[str, ...], what: str):
    """([(nir, rgb)], [(name, why unpaired)]). Several pairs are matched by what is left of each name
    without its NIR/RGB marker (front_nir.mkv ↔ front_rgb.mkv); a single pair needs no match."""
    nirs = [name for name in names if _matches(name, nir) and not _matches(name, rgb)]
    rgbs = [name for name in names if _matches(name, rgb) and not _matches(name, nir)]
    unpaired = [(name, f"{what} name matches " + ("both --nir and --rgb" if _matches(name, nir) else
                                                  "neither --nir nor --rgb"))
                for name in names if name not in nirs and name not in rgbs]
    if len(nirs) == 1 and len(rgbs) == 1:
        return [(nirs[0], rgbs[0])], unpaired
    rgb_by_key = {}
    for name in rgbs:
        rgb_by_key.setdefault(_key(name, rgb), []).append(name)
    pairs = []
    for name in nirs:
        partners = rgb_by_key.get(_key(name, nir), [])
        if len(partners) == 1 and sum(_key(other, nir) == _key(name, nir) for other in nirs) == 1:
            pairs.append((name, partners[0]))
    paired = {name for pair in pairs for name in pair}
    unpaired += [(name, f"NIR {what} without an RGB partner") for name in nirs if name not in paired]
    unpaired += [(name, f"RGB {what} without a NIR partner") for name in rgbs if name not in paired]
    return pairs, unpaired


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name.lower(), pattern.lower()) for pattern in patterns)


def _key(name: str, patterns: tuple[str, ...]) -> str:
    """`name` without its suffix and without the marker (longest literal part) of the pattern it matches."""
    stem = name[: -len(Path(name).suffix)] if Path(name).suffix.lower() in VIDEO_SUFFIXES else name
    pattern = next(pattern for pattern in patterns if fnmatch.fnmatchcase(name.lower(), pattern.lower()))
    marker = max(re.split(r"[*?\[\]]+", pattern.lower()), key=len).strip(".")
    return stem.lower().replace(marker, "", 1) if marker else stem.lower()


def _link_problem(folder: Path, name: str) -> str | None:
    if leaves_folder(folder, name):
        return "is a link leading outside its folder (a recording.json may name only files inside it)"
    if not (folder / name).exists():
        return "is a broken link"
    return None


def _is_bag_folder(path: Path) -> bool:
    try:
        return (path / "metadata.yaml").is_file() and any(
            entry.suffix.lower() in (".db3", ".mcap") for entry in path.iterdir())
    except OSError:
        return False


def _holds_frames(path: Path) -> bool:
    try:
        with os.scandir(path) as entries:  # stops at the first frame: such folders hold many
            return any(Path(entry.name).suffix.lower() in IMAGE_SUFFIXES for entry in entries)
    except OSError:
        return False


def _existing(folder: Path) -> Take:
    """An existing recording.json as a "recording" entry, labelled from its own content."""
    take = Take("recording", folder, folder, status="exists")
    try:
        document = json.loads((folder / RECORDING_FILE).read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        document = None
    if isinstance(document, dict):
        take.kind = kind_of(document)
        take.id, take.day, take.location = (str(document.get(key, "")) for key in ("id", "day", "location"))
        take.files = {key: value for key, value in document.items() if key not in ("id", "day", "location")}
    return take


def kind_of(document: dict) -> str:
    """Which recording form a recording.json describes."""
    if "bag" in document:
        return "bag"
    if "video" in document:
        return "video"
    if "fps" in document or "nir_timestamps" in document or not Path(str(document.get("nir", "x.mkv"))).suffix:
        return "frames"  # timed by a file or a rate, or a folder of frames named by their stamps
    return "videos"


def _what(take: Take) -> str:
    if take.kind == "bag" and isinstance(take.files.get("bag"), list):
        return f"{take.source.name} (+{len(take.files['bag']) - 1} parts)"
    return take.source.name if take.source != take.folder else f"{take.files['nir']} + {take.files['rgb']}"


# --- bags ------------------------------------------------------------------------------------------


def _one_bag_per_camera(takes: list[Take]) -> bool:
    """Exactly two takes, both a single bag of one family (ROS bags, or plain .mcap files)."""
    if len(takes) != 2 or any(take.kind != "bag" or not isinstance(take.files.get("bag"), str) for take in takes):
        return False
    return len({take.source.suffix.lower() == ".mcap" for take in takes}) == 1


def per_camera_topics(bags: list[Path], nir: tuple[str, ...] = (), rgb: tuple[str, ...] = ()) -> tuple[str, str]:
    """(NIR topic, RGB topic) of two bags that are one recording's cameras: the topics the patterns
    choose over both, each bag holding one of them and the two sharing no image topic (two takes
    of one rig would repeat their topic names). DiscoveryError when they are not such a pair."""
    found = [_image_topics([bag]) for bag in bags]
    shared = set(found[0]) & set(found[1])
    if shared:
        raise DiscoveryError(f"both bags carry {', '.join(sorted(shared))}: two takes, not one per camera")
    nir_topic, rgb_topic = _chosen_topics(sorted({*found[0], *found[1]}), nir, rgb)  # each bag read once
    if (nir_topic in found[0]) == (rgb_topic in found[0]):
        raise DiscoveryError(f"{nir_topic} and {rgb_topic} are in the same bag: not one bag per camera")
    return nir_topic, rgb_topic


def _image_topics(parts: list[Path]) -> dict[str, int]:
    """Message counts of the Image/CompressedImage topics that have messages."""
    counts: dict[str, int] = {}
    try:
        with AnyReader(parts) as reader:
            for connection in reader.connections:
                if connection.msgtype in IMAGE_TYPES:
                    counts[connection.topic] = counts.get(connection.topic, 0) + connection.msgcount
    except Exception as error:  # noqa: BLE001 - parsers of damaged bags raise anything; one line, not a traceback
        reason = next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
        raise DiscoveryError(f"cannot read the bag ({reason})") from None
    return {topic: count for topic, count in counts.items() if count}


def bag_topics(bag: str | os.PathLike | list, nir: tuple[str, ...] = (), rgb: tuple[str, ...] = ()) -> tuple[str, str]:
    """(NIR topic, RGB topic) of a bag (or the list of its parts): the image topics with messages
    that the patterns choose."""
    parts = [Path(bag)] if isinstance(bag, (str, os.PathLike)) else [Path(part) for part in bag]
    return _chosen_topics(sorted(_image_topics(parts)), nir, rgb)


def _chosen_topics(topics: list[str], nir: tuple[str, ...], rgb: tuple[str, ...]) -> tuple[str, str]:
    """(NIR topic, RGB topic) that the patterns choose among a bag's image topics."""
    if len(topics) < 2:
        raise DiscoveryError(f"needs a NIR and an RGB image topic (sensor_msgs Image or CompressedImage, with "
                             f"messages); found {', '.join(topics) or 'none'}")
    nir, rgb = nir or DEFAULT_PATTERNS["topics"][0], rgb or DEFAULT_PATTERNS["topics"][1]
    return _choose(topics, nir, rgb, "--nir"), _choose(topics, rgb, nir, "--rgb")


def _choose(topics: list[str], patterns: tuple[str, ...], others: tuple[str, ...], option: str) -> str:
    found = [topic for topic in topics if _matches(topic, patterns) and not _matches(topic, others)]
    # image_transport publishes `<topic>/compressed` beside `<topic>`: the topic itself is the stream.
    found = [topic for topic in found if not any(topic.startswith(other + "/") for other in found)]
    if len(found) != 1:
        raise DiscoveryError(f"{'several' if found else 'no'} image topics match {option} {' '.join(patterns)}"
                             f"{' (' + ', '.join(found) + ')' if found else ''}; the image topics are "
                             f"{', '.join(topics)}")
    return found[0]
