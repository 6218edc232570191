"""Finding takes and writing their recording.json: every form, labels from a template or an index,
and each bad input reported on its own line while the others are still written."""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag1 import Writer as Bag1Writer
from rosbags.rosbag2 import StoragePlugin, Writer as Bag2Writer
from rosbags.typesys import Stores, get_typestore

from nircolor.dataset_tools.discovery import ScanOptions, make_id, parse_template, read_index, scan
from nircolor.dataset_tools.discovery_takes import DiscoveryError, bag_topics, find_takes
from nircolor.dataset_tools.folders import name_problem
from nircolor.dataset_tools.recording import load_recording
from nircolor.dataset_tools.video import VideoWriter

TOPICS = ("/nir/image_raw", "/rgb/image_raw")


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, bytes]:
    """Bytes of a tiny NIR and RGB video (3 frames of 64×48), copied into every take that needs one."""
    folder = tmp_path_factory.mktemp("videos")
    for kind in ("gray", "rgb"):
        with VideoWriter(folder / f"{kind}.mkv", width=64, height=48, time_base=Fraction(1, 1000), rate=25,
                         codec="ffv1", kind=kind) as writer:
            for index in range(3):
                shape = (48, 64) if kind == "gray" else (48, 64, 3)
                writer.write(np.full(shape, 40 * index, np.uint8), 40 * index)
    return {"nir": (folder / "gray.mkv").read_bytes(), "rgb": (folder / "rgb.mkv").read_bytes()}


def _videos(folder: Path, videos, nir="front_nir.mkv", rgb="front_rgb.mkv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / nir).write_bytes(videos["nir"])
    (folder / rgb).write_bytes(videos["rgb"])
    return folder


def _image(typestore, seconds: int, compressed: bool = False):
    types = typestore.types
    header = {"stamp": types["builtin_interfaces/msg/Time"](sec=seconds, nanosec=0), "frame_id": "camera"}
    if "seq" in types["std_msgs/msg/Header"].__dataclass_fields__:  # ROS 1 headers count messages
        header["seq"] = seconds
    header = types["std_msgs/msg/Header"](**header)
    if compressed:
        return types["sensor_msgs/msg/CompressedImage"](header=header, format="png", data=np.zeros(8, np.uint8))
    return types["sensor_msgs/msg/Image"](header=header, height=2, width=2, encoding="mono8", is_bigendian=0,
                                          step=2, data=np.zeros(4, np.uint8))


def _ros2_bag(path: Path, topics=TOPICS, compressed=(), storage=StoragePlugin.MCAP) -> Path:
    """A ROS 2 bag folder: two Image messages per topic, CompressedImage on `compressed`."""
    typestore = get_typestore(Stores.ROS2_HUMBLE)
    path.parent.mkdir(parents=True, exist_ok=True)
    with Bag2Writer(path, version=9, storage_plugin=storage) as writer:
        for topic in (*topics, *compressed):
            kind = "sensor_msgs/msg/CompressedImage" if topic in compressed else "sensor_msgs/msg/Image"
            connection = writer.add_connection(topic, kind, typestore=typestore)
            for second in (1, 2):
                message = _image(typestore, second, compressed=topic in compressed)
                writer.write(connection, second * 10**9, typestore.serialize_cdr(message, kind))
    return path


def _ros1_bag(path: Path, topics=TOPICS) -> Path:
    typestore = get_typestore(Stores.ROS1_NOETIC)
    path.parent.mkdir(parents=True, exist_ok=True)
    with Bag1Writer(path) as writer:
        for topic in topics:
            connection = writer.add_connection(topic, "sensor_msgs/msg/Image", typestore=typestore)
            for second in (1, 2):
                message = typestore.serialize_ros1(_image(typestore, second), "sensor_msgs/msg/Image")
                writer.write(connection, second * 10**9, message)
    return path


def _frames(folder: Path, timestamps: bool = True) -> Path:
    for name in ("nir", "rgb"):
        (folder / name).mkdir(parents=True)
        for index in range(2):
            (folder / name / f"{index:06d}.png").write_bytes(b"\x89PNG")  # discovery reads names only
        if timestamps:
            (folder / name / "timestamps.txt").write_text("0.0\n0.04\n")
    return folder


def _read(folder: Path) -> dict:
    return json.loads((folder / "recording.json").read_text())


@pytest.fixture
def tree(tmp_path, videos) -> Path:
    """Mixed takes laid out as {day}/{location}/{take}, plus a folder of notes and one of each bad input."""
    root = tmp_path / "drives"
    _videos(root / "2024-05-01/city/take1", videos)
    _ros2_bag(root / "2024-05-01/city/take2/drive")
    _ros1_bag(root / "2024-05-02/highway/take3/drive.bag")
    plain = root / "2024-05-02/highway/take4"
    plain.mkdir(parents=True)
    (plain / "drive.mcap").write_bytes(next((root / "2024-05-01/city/take2/drive").glob("*.mcap")).read_bytes())
    _frames(root / "2024-05-03/forest/take5")
    existing = _videos(root / "2024-05-03/forest/take6", videos, "nir.mkv", "rgb.mkv")
    (existing / "recording.json").write_text('{"id": "kept", "day": "2020-01-01", "location": "old",'
                                             ' "nir": "nir.mkv", "rgb": "rgb.mkv"}\n')
    (root / "2024-05-03/forest/take7").mkdir(parents=True)
    (root / "2024-05-03/forest/take7/x.bag").write_bytes(b"not a bag " * 20)
    (root / "notes").mkdir()
    (root / "notes/readme.txt").write_text("drive log\n")
    return root


def test_a_mixed_tree_gets_one_recording_json_per_take(tree):
    existing_before = (tree / "2024-05-03/forest/take6/recording.json").read_bytes()
    result = scan(tree)
    assert _read(tree / "2024-05-01/city/take1") == {
        "id": "2024-05-01-city-take1", "day": "2024-05-01", "location": "city",
        "nir": "front_nir.mkv", "rgb": "front_rgb.mkv"}
    assert _read(tree / "2024-05-01/city/take2") == {
        "id": "2024-05-01-city-take2", "day": "2024-05-01", "location": "city",
        "bag": "drive", "nir_topic": "/nir/image_raw", "rgb_topic": "/rgb/image_raw"}
    assert _read(tree / "2024-05-02/highway/take3") == {
        "id": "2024-05-02-highway-take3", "day": "2024-05-02", "location": "highway",
        "bag": "drive.bag", "nir_topic": "/nir/image_raw", "rgb_topic": "/rgb/image_raw"}
    assert _read(tree / "2024-05-02/highway/take4")["bag"] == "drive.mcap"
    assert _read(tree / "2024-05-03/forest/take5") == {
        "id": "2024-05-03-forest-take5", "day": "2024-05-03", "location": "forest", "nir": "nir", "rgb": "rgb",
        "nir_timestamps": "nir/timestamps.txt", "rgb_timestamps": "rgb/timestamps.txt"}
    assert (tree / "2024-05-03/forest/take6/recording.json").read_bytes() == existing_before
    assert not (tree / "2024-05-03/forest/take7/recording.json").exists()
    assert not (tree / "notes/recording.json").exists()

    by_source = {take.source.relative_to(tree).as_posix(): take for take in result.takes}
    assert sorted(by_source) == ["2024-05-01/city/take1", "2024-05-01/city/take2/drive",
                                 "2024-05-02/highway/take3/drive.bag", "2024-05-02/highway/take4/drive.mcap",
                                 "2024-05-03/forest/take5", "2024-05-03/forest/take6",
                                 "2024-05-03/forest/take7/x.bag"]
    assert by_source["2024-05-03/forest/take6"].status == "exists"
    assert by_source["2024-05-03/forest/take6"].id == "kept"
    bad = by_source["2024-05-03/forest/take7/x.bag"]
    assert (bad.status, bad.error) == ("skipped", True) and bad.problem.startswith("cannot read the bag")
    assert [take.status for take in result.takes].count("written") == 5
    assert result.failed and not result.problems
    ids = [take.id.casefold() for take in result.takes if take.id]
    assert len(ids) == len(set(ids))
    recording = load_recording(tree / "2024-05-01/city/take1", check_streams=False)
    assert recording.nir_path.name == "front_nir.mkv" and recording.id == "2024-05-01-city-take1"
    assert not list(tree.rglob(".*.tmp*"))  # nothing half-written left


def test_dry_run_writes_nothing_and_overwrite_replaces(tree):
    planned = scan(tree, ScanOptions(dry_run=True))
    assert [take.status for take in planned.takes].count("would write") == 5
    assert sorted(path.parent.name for path in tree.rglob("recording.json")) == ["take6"]
    scan(tree)
    again = scan(tree)
    assert [take.status for take in again.takes].count("exists") == 6
    assert _read(tree / "2024-05-03/forest/take6")["id"] == "kept"
    replaced = scan(tree, ScanOptions(overwrite=True))
    assert [take.status for take in replaced.takes].count("written") == 6
    assert _read(tree / "2024-05-03/forest/take6") == {
        "id": "2024-05-03-forest-take6", "day": "2024-05-03", "location": "forest", "nir": "nir.mkv", "rgb": "rgb.mkv"}


def test_several_pairs_in_one_folder_are_reported_not_written(tmp_path, videos):
    root = tmp_path / "root"
    folder = _videos(root / "2024-05-01/city/both", videos)
    _videos(folder, videos, "rear_nir.mkv", "rear_rgb.mkv")
    one = _videos(root / "2024-05-01/city/one", videos, "cam_NIR.mp4", "cam_RGB.mp4")
    (one / "spare_nir.mkv").write_bytes(videos["nir"])
    (one / "drive.review.mp4").write_bytes(b"")
    result = scan(root)
    both = [take for take in result.takes if take.folder == folder]
    assert len(both) == 2 and all(take.status == "skipped" and take.error for take in both)
    assert "one of 2 takes in one folder" in both[0].problem and "rear_nir.mkv + rear_rgb.mkv" in both[0].problem
    assert not (folder / "recording.json").exists()
    # one pair plus unpaired videos: the pair is written, the others are reported without failing the scan
    assert _read(one)["nir"] == "cam_NIR.mp4" and _read(one)["rgb"] == "cam_RGB.mp4"
    leftovers = {take.source.name: take for take in result.takes if take.folder == one and take.status == "skipped"}
    assert set(leftovers) == {"spare_nir.mkv", "drive.review.mp4"}
    assert not any(take.error for take in leftovers.values())
    assert "without an RGB partner" in leftovers["spare_nir.mkv"].problem


def test_frame_folders_without_timestamps_need_fps(tmp_path):
    root = tmp_path / "root"
    folder = _frames(root / "2024-05-01/city/t1", timestamps=False)
    (skipped,) = scan(root).takes
    assert skipped.error and "--fps" in skipped.problem
    scan(root, ScanOptions(fps=30))
    assert _read(folder) == {"id": "2024-05-01-city-t1", "day": "2024-05-01", "location": "city",
                             "nir": "nir", "rgb": "rgb", "fps": 30.0}
    with pytest.raises(DiscoveryError, match="--fps"):
        scan(root, ScanOptions(fps=0))


def test_templates():
    pattern = parse_template("{any}/{day}_{location}/{take}")
    match = pattern.fullmatch("raw/disk 3/2024-05-01_old_town/take-7")
    assert (match["day"], match["location"], match["take"]) == ("2024-05-01", "old_town", "take-7")
    assert parse_template("{day}/{location}").fullmatch("2024-05-01/city/x") is None  # parts are whole
    for template, problem in [("{day}/{place}/{take}", "unknown placeholder {place}"),
                              ("{day}/{take}", "needs {location}"), ("{day}/{location}/{take", "brace"),
                              ("{day}/{day}/{location}", "twice")]:
        with pytest.raises(DiscoveryError, match=problem):
            parse_template(template)


def test_paths_off_the_template_and_bad_days_are_skipped(tmp_path, videos):
    root = tmp_path / "root"
    _videos(root / "2024-05-01/city/good", videos)
    _videos(root / "2024-13-01/city/bad-month", videos)
    _videos(root / "may-first/city/not-a-day", videos)
    _videos(root / "2024-05-01/too/deep/here", videos)
    result = scan(root, ScanOptions(template="{day}/{location}/{take}"))
    problems = {take.folder.name: take.problem for take in result.takes if take.status == "skipped"}
    assert problems == {"bad-month": "day '2024-13-01' is no date", "not-a-day": "day 'may-first' is not YYYY-MM-DD",
                        "here": "folder '2024-05-01/too/deep/here' does not match --template '{day}/{location}/{take}'"}
    assert (root / "2024-05-01/city/good/recording.json").is_file() and result.failed
    with pytest.raises(DiscoveryError, match="unknown placeholder"):
        scan(root, ScanOptions(template="{date}/{location}"))


@pytest.mark.parametrize("form", ["csv", "jsonl"])
def test_an_index_labels_takes(tmp_path, videos, form):
    root = tmp_path / "root"
    _videos(root / "a/one", videos)
    _ros1_bag(root / "b/drive.bag")
    _videos(root / "c/unlisted", videos)
    (root / "d").mkdir()
    (root / "d/broken.bag").write_bytes(b"not a bag")  # unlisted: the index chose the others
    rows = [{"path": "a/one", "day": "2024-06-01", "location": "lab", "id": "lab-run"},
            {"path": "b/drive.bag", "day": "2024-06-02", "location": "yard", "id": ""},
            {"path": "gone/take", "day": "2024-06-03", "location": "nowhere", "id": ""}]
    index = tmp_path / f"index.{form}"
    if form == "csv":
        index.write_text("path,day,location,id\n" + "".join(",".join(row.values()) + "\n" for row in rows))
    else:
        index.write_text("".join(json.dumps({k: v for k, v in row.items() if v}) + "\n" for row in rows))
    result = scan(root, ScanOptions(index=index))
    assert _read(root / "a/one") == {"id": "lab-run", "day": "2024-06-01", "location": "lab",
                                     "nir": "front_nir.mkv", "rgb": "front_rgb.mkv"}
    assert _read(root / "b") == {"id": "b", "day": "2024-06-02", "location": "yard", "bag": "drive.bag",
                                 "nir_topic": "/nir/image_raw", "rgb_topic": "/rgb/image_raw"}
    line = 4 if form == "csv" else 3  # the CSV's header is line 1
    assert result.problems == [f"{index}:{line}: path 'gone/take': no such file or folder in {root}"]
    (unlisted,) = [take for take in result.takes if take.folder.name == "unlisted"]
    assert (unlisted.status, unlisted.error, unlisted.problem) == ("skipped", False, "not listed in --index")
    assert not (root / "c/unlisted/recording.json").exists()
    assert not any(take.error for take in result.takes)


def test_index_files_that_cannot_be_used(tmp_path):
    index = tmp_path / "index.csv"
    index.write_text("folder,day,location\nx,2024-01-01,y\n")
    with pytest.raises(DiscoveryError, match="columns path, day, location"):
        read_index(index)
    index = tmp_path / "index.jsonl"
    index.write_text('{"path": "x", "day": "2024-01-01", "location": "y"}\nnot json\n{"path": "x"}\n')
    rows, problems = read_index(index)
    assert [row.path for row in rows] == ["x"]
    assert problems == [f"{index}:2: not a JSON object",
                        f"{index}:3: needs path, day and location as non-empty text (day, location is not)"]
    with pytest.raises(DiscoveryError, match="cannot read the index"):
        read_index(tmp_path / "missing.csv")


def test_ids_must_differ_ignoring_case(tmp_path, videos):
    root = tmp_path / "root"
    for name in ("one", "two", "three"):
        _videos(root / name, videos)
    old = _videos(root / "old", videos, "nir.mkv", "rgb.mkv")
    (old / "recording.json").write_text('{"id": "Taken", "day": "2020-01-01", "location": "x",'
                                        ' "nir": "nir.mkv", "rgb": "rgb.mkv"}')
    index = tmp_path / "index.csv"
    index.write_text("path,day,location,id\none,2024-01-01,x,Drive\ntwo,2024-01-01,x,drive\n"
                     "three,2024-01-01,x,taken\n")
    result = scan(root, ScanOptions(index=index))
    problems = {take.folder.name: take.problem for take in result.takes if take.status == "skipped"}
    assert problems == {"one": "id 'Drive' is also the id of 'two' (ids must differ, ignoring case)",
                        "two": "id 'drive' is also the id of 'one' (ids must differ, ignoring case)",
                        "three": "id 'taken' is also the id of 'old' (ids must differ, ignoring case)"}
    assert sorted(path.parent.name for path in root.rglob("recording.json")) == ["old"]


def test_bag_topics_are_chosen_by_pattern(tmp_path):
    bag = _ros2_bag(tmp_path / "transports", compressed=("/nir/image_raw/compressed", "/camera/color/compressed"))
    # `<topic>/compressed` beside `<topic>` is the same stream; /camera/color/compressed matches *color* too
    with pytest.raises(DiscoveryError, match=r"several image topics match --rgb \*rgb\* \*color\*"):
        bag_topics(bag)
    assert bag_topics(bag, rgb=("/rgb/*",)) == ("/nir/image_raw", "/rgb/image_raw")
    chosen = bag_topics(bag, nir=("/nir/*/compressed",), rgb=("/rgb/*",))
    assert chosen == ("/nir/image_raw/compressed", "/rgb/image_raw")
    lonely = _ros1_bag(tmp_path / "lonely.bag", topics=("/nir/image_raw",))
    with pytest.raises(DiscoveryError, match="needs a NIR and an RGB image topic .* found /nir/image_raw$"):
        bag_topics(lonely)
    unnamed = _ros1_bag(tmp_path / "unnamed.bag", topics=("/cam0/image", "/cam1/image"))
    with pytest.raises(DiscoveryError, match="no image topics match --nir .* the image topics are /cam0/image"):
        bag_topics(unnamed)


def test_bag_folders_are_takes_of_their_parent_and_are_not_searched(tmp_path):
    bag = _ros2_bag(tmp_path / "root/2024-05-01/city/rosbag2_2024_05_01", storage=StoragePlugin.SQLITE3)
    takes = find_takes(tmp_path / "root")
    assert [(take.kind, take.folder, take.source) for take in takes] == [("bag", bag.parent, bag)]
    assert bag_topics(bag) == TOPICS
    (inside,) = find_takes(bag)
    assert inside.error and "scan the folder that holds it" in inside.problem


def test_a_bag_recorded_in_parts_is_one_take_and_a_lost_part_is_reported(tmp_path):
    """`rosbag record --split` names its parts STEM_0.bag, STEM_1.bag, ...: one recording, the parts
    listed in order (10 after 9); a numbering with a gap is reported, not written. Two bags with one
    camera's topic each are one recording too; two with the same topics are two takes."""
    root = tmp_path / "root"
    stem = "drive_2024-05-01-10-00-00"
    for number in range(11):
        _ros1_bag(root / f"2024-05-01/city/split/{stem}_{number}.bag")
    for number in (0, 2):
        _ros1_bag(root / f"2024-05-01/city/gap/run_{number}.bag")
    _ros1_bag(root / "2024-05-01/city/single/run_3.bag")  # one numbered bag: an ordinary bag
    for camera in ("nir", "rgb"):  # one bag per camera, each with its own image topic: one recording
        _ros1_bag(root / f"2024-05-01/city/cameras/{camera}_camera.bag", topics=(f"/{camera}/image_raw",))
    for take in ("a", "b"):  # two takes of the same rig side by side: the same topics in both
        _ros1_bag(root / f"2024-05-01/city/two-takes/{take}.bag")
    for take in ("c", "d"):  # more than two bags: the list form is pointed out
        _ros1_bag(root / f"2024-05-01/city/three/{take}.bag")
    _ros1_bag(root / "2024-05-01/city/three/e.bag", topics=("/nir/image_raw",))
    result = scan(root)
    document = _read(root / "2024-05-01/city/split")
    assert document["bag"] == [f"{stem}_{number}.bag" for number in range(11)]
    assert (document["nir_topic"], document["rgb_topic"]) == TOPICS
    recording = load_recording(root / "2024-05-01/city/split")
    assert recording.nir.parts == tuple(str(root / f"2024-05-01/city/split/{stem}_{number}.bag") for number in range(1, 11))
    assert _read(root / "2024-05-01/city/single")["bag"] == "run_3.bag"
    assert not (root / "2024-05-01/city/gap/recording.json").exists()
    (gap,) = [take for take in result.takes if take.folder.name == "gap"]
    assert gap.status == "skipped" and "lacks part(s) 1" in gap.problem
    assert _read(root / "2024-05-01/city/cameras") == {
        "id": "2024-05-01-city-cameras", "day": "2024-05-01", "location": "city",
        "bag": ["nir_camera.bag", "rgb_camera.bag"], "nir_topic": "/nir/image_raw", "rgb_topic": "/rgb/image_raw"}
    assert load_recording(root / "2024-05-01/city/cameras").rgb.parts == (str(root / "2024-05-01/city/cameras/rgb_camera.bag"),)
    (two,) = [take for take in result.takes if take.folder.name == "two-takes"]
    assert two.status == "skipped" and "one of 2 takes" in two.problem and "two takes, not one per camera" in two.problem
    three = [take for take in result.takes if take.folder.name == "three"]
    assert len(three) == 3 and all('"bag": [...]' in take.problem for take in three)
    assert not (root / "2024-05-01/city/two-takes/recording.json").exists()


def test_ids_from_paths_can_name_files():
    for path, expected in [("2024-05-01/city/t1", "2024-05-01-city-t1"), (".hidden/x", "hidden-x"),
                           ("a/clip.review", "a-clip-review"), ("tab\there", "tab-here"), ("", "recording")]:
        assert make_id(path) == expected and name_problem(make_id(path)) is None
    assert name_problem(make_id("x" * 300)) is None


def test_links_leading_out_of_the_folder_are_refused_as_load_recording_would(tmp_path, videos):
    outside = _videos(tmp_path / "elsewhere", videos)
    folder = tmp_path / "root/2024-05-01/city/linked"
    folder.mkdir(parents=True)
    (folder / "front_nir.mkv").symlink_to(outside / "front_nir.mkv")
    (folder / "front_rgb.mkv").symlink_to(folder / "gone.mkv")
    result = scan(tmp_path / "root")
    problems = sorted((take.source.name, take.error, take.problem) for take in result.takes)
    assert problems == [("front_nir.mkv", True, "is a link leading outside its folder (a recording.json may name "
                                                "only files inside it)"),
                        ("front_rgb.mkv", True, "is a broken link")]
    assert not (folder / "recording.json").exists()


def _sixteen_bit_take(folder: Path, largest: int) -> Path:
    """A frame-folder take whose NIR is 16-bit PNG with values up to `largest`."""
    import cv2

    for name in ("nir", "rgb"):
        (folder / name).mkdir(parents=True)
        (folder / name / "timestamps.txt").write_text("0.0\n0.04\n")
    for index in range(2):
        ramp = np.linspace(0, largest, 48 * 64).reshape(48, 64).astype(np.uint16)
        cv2.imwrite(str(folder / "nir" / f"{index:06d}.png"), ramp)
        cv2.imwrite(str(folder / "rgb" / f"{index:06d}.png"), np.zeros((48, 64, 3), np.uint8))
    return folder


def test_twelve_bit_nir_in_sixteen_bits_is_pointed_out_and_nir_bits_writes_it(tmp_path):
    root = tmp_path / "root"
    twelve = _sixteen_bit_take(root / "2024-05-01/city/twelve", largest=4095)
    full = _sixteen_bit_take(root / "2024-05-01/city/full", largest=60000)
    eight = _frames(root / "2024-05-01/city/eight")  # names only: not readable, so nothing is said
    notes = {take.folder.name: take.note for take in scan(root).takes}
    assert '"nir_bits": 12' in notes["twelve"] and "12 bits (largest value 4095)" in notes["twelve"]
    assert notes["full"] == notes["eight"] == ""
    assert "nir_bits" not in _read(twelve)  # a note, not a guess written down
    scan(root, ScanOptions(overwrite=True, nir_bits=12))
    assert _read(twelve)["nir_bits"] == 12 == _read(full)["nir_bits"] == _read(eight)["nir_bits"]
    assert load_recording(twelve).nir.bits == 12
    with pytest.raises(DiscoveryError, match="--nir-bits 17"):
        scan(root, ScanOptions(nir_bits=17))


def test_frame_folders_named_by_epoch_stamps_need_no_fps(tmp_path):
    root = tmp_path / "root"
    folder = root / "2014-06-24/lab/t1"
    for name in ("nir", "rgb"):
        (folder / name).mkdir(parents=True)
        for index in range(2):
            (folder / name / f"{1_403_636_579_763_555_584 + index * 50_000_000}.png").write_bytes(b"\x89PNG")
    (take,) = scan(root).takes
    assert take.status == "written" and not take.error
    assert _read(folder) == {"id": "2014-06-24-lab-t1", "day": "2014-06-24", "location": "lab", "nir": "nir", "rgb": "rgb"}
