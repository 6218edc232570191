"""Every image encoding a bag may carry, image sequences and their timestamps, and the stream errors
a drive recorder's output can hold (dataset_tools/bags.py, image_files.py, streams.py)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from nircolor.dataset_tools.bags import BagError, image_pixels
from nircolor.dataset_tools.convert import ConvertOptions, bayer_mosaic, convert_recording
from nircolor.dataset_tools.image_files import SequenceError, list_frames, read_image, read_timestamps
from nircolor.dataset_tools.recording import RecordingError, load_recording
from nircolor.dataset_tools import bags
from nircolor.dataset_tools.streams import StreamSource, iter_source_frames, read_timeline, read_timelines, to_kind
from nircolor.dataset_tools.synthetic import SynthOptions, synthesize_recordings

MAX = 8192 * 4352
IMAGE = "sensor_msgs/msg/Image"


def _smooth_rgb(height=24, width=32) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], -1).astype(np.uint8)


def _message(pixels: np.ndarray, encoding: str, big_endian=False, pad=0):
    rows = pixels.reshape(pixels.shape[0], -1)
    if pixels.dtype == np.uint16:
        rows = rows.astype(">u2" if big_endian else "<u2")
    raw = rows.view(np.uint8)
    raw = np.pad(raw, ((0, 0), (0, pad)))  # rows padded to a wider step, as some drivers write
    return SimpleNamespace(encoding=encoding, height=pixels.shape[0], width=pixels.shape[1], step=raw.shape[1],
                           is_bigendian=int(big_endian), data=raw.reshape(-1))


@pytest.mark.parametrize("encoding, order", [("rgb8", "rgb"), ("bgr8", "bgr"), ("rgba8", "rgb"), ("bgra8", "bgr")])
def test_colour_encodings_give_the_same_rgb(encoding, order):
    rgb = _smooth_rgb()
    stored = rgb if order == "rgb" else rgb[..., ::-1]
    if encoding.endswith("a8"):
        stored = np.concatenate([stored, np.full(rgb.shape[:2] + (1,), 7, np.uint8)], -1)
    pixels, got_order = image_pixels(_message(np.ascontiguousarray(stored), encoding, pad=3), IMAGE, "t", MAX)
    assert np.array_equal(to_kind(pixels, got_order, "rgb", "t"), rgb)


@pytest.mark.parametrize("big_endian", [False, True])
def test_mono16_keeps_its_values_in_either_byte_order(big_endian):
    nir = np.arange(24 * 32, dtype=np.uint16).reshape(24, 32) * 61
    pixels, _ = image_pixels(_message(nir, "mono16", big_endian, pad=4), IMAGE, "t", MAX)
    assert pixels.dtype == np.uint16 and np.array_equal(pixels, nir)


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
def test_bayer_patterns_debayer_to_the_colours_the_sensor_saw(pattern):
    rgb = _smooth_rgb(48, 64)
    pixels, order = image_pixels(_message(bayer_mosaic(rgb, pattern), f"bayer_{pattern}8"), IMAGE, "t", MAX)
    restored = to_kind(pixels, order, "rgb", "t").astype(int)
    inner = (slice(2, -2), slice(2, -2))  # demosaicing guesses at the border
    assert np.abs(restored[inner] - rgb[inner]).mean() < 3  # a wrong pattern swaps red and blue: ~80 off


@pytest.mark.parametrize("encoding", ["yuv422", "yuv422_yuy2", "nv21"])
def test_yuv_encodings_of_usb_cameras_give_the_colours_the_camera_saw(encoding):
    rgb = _smooth_rgb(24, 32)
    # The camera's own conversion (BT.601, limited range, as OpenCV's YUV codes assume).
    yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)  # Y plane, then U and V at half size
    y, u, v = yuv[:24], yuv[24:30].reshape(12, 16), yuv[30:36].reshape(12, 16)
    if encoding == "nv21":
        raw = np.concatenate([y, np.stack([v, u], -1).reshape(12, 32)])
    else:
        chroma_u, chroma_v = np.repeat(u, 2, axis=0), np.repeat(v, 2, axis=0)  # 4:2:0 → 4:2:2 rows
        pairs = np.stack([chroma_u, y[:, 0::2], chroma_v, y[:, 1::2]], -1)  # U Y0 V Y1 per pixel pair
        if encoding == "yuv422_yuy2":
            pairs = pairs[..., [1, 0, 3, 2]]  # Y0 U Y1 V
        raw = pairs.reshape(24, 64)
    raw = np.pad(raw, ((0, 0), (0, 4)))  # rows padded to a wider step, as some drivers write
    message = SimpleNamespace(encoding=encoding, height=24, width=32, step=raw.shape[1], is_bigendian=0,
                              data=raw.reshape(-1))
    pixels, order = image_pixels(message, IMAGE, "t", MAX)
    assert pixels.shape == (24, 32, 3) and order == "rgb"
    assert np.abs(pixels.astype(int) - rgb).mean() < 4  # chroma subsampling of a smooth image


def test_bad_images_are_one_sentence():
    nir = np.zeros((4, 6), np.uint8)
    with pytest.raises(BagError, match="unknown encoding 'yuv420_weird'"):
        image_pixels(_message(nir, "yuv420_weird"), IMAGE, "drive.bag at 1.000 s", MAX)
    with pytest.raises(BagError, match="nv21 image of 6x3 needs even sides"):
        image_pixels(_message(np.zeros((3, 6), np.uint8), "nv21"), IMAGE, "t", MAX)
    odd = SimpleNamespace(encoding="yuv422", height=4, width=5, step=10, is_bigendian=0, data=np.zeros(40, np.uint8))
    with pytest.raises(BagError, match="yuv422 image of 5x4 needs an even width"):
        image_pixels(odd, IMAGE, "t", MAX)
    short = _message(nir, "mono8")
    short.data = short.data[:10]
    with pytest.raises(BagError, match="holds 10 bytes"):
        image_pixels(short, IMAGE, "t", MAX)
    huge = _message(nir, "mono8")
    huge.width, huge.height = 100_000, 100_000
    with pytest.raises(BagError, match="100000x100000"):
        image_pixels(huge, IMAGE, "t", MAX)
    garbage = SimpleNamespace(format="jpeg", data=np.frombuffer(b"not a jpeg", np.uint8))
    with pytest.raises(BagError, match="does not decode"):
        image_pixels(garbage, "sensor_msgs/msg/CompressedImage", "t", MAX)


def test_image_sequences_by_folder_or_pattern_in_frame_order(tmp_path):
    folder = tmp_path / "nir"
    folder.mkdir()
    for number in (10, 2, 1):  # frame_10 sorts after frame_2 by number, not by name
        cv2.imwrite(str(folder / f"frame_{number}.png"), np.full((4, 6), number, np.uint8))
    (folder / "notes.txt").write_text("not a frame")
    assert [path.name for path in list_frames(folder)] == ["frame_1.png", "frame_2.png", "frame_10.png"]
    for number in range(3):
        cv2.imwrite(str(folder / f"{number:06d}.tif"), np.full((4, 6), 4000 + number, np.uint16))
    frames = list_frames(folder / "%06d.tif")
    assert [path.name for path in frames] == ["000000.tif", "000001.tif", "000002.tif"]
    sixteen = read_image(frames[2], MAX)
    assert sixteen.dtype == np.uint16 and sixteen[0, 0] == 4002
    with pytest.raises(SequenceError, match="no file matches"):
        list_frames(folder / "%04d.png")


def test_timestamps_in_seconds_or_as_kitti_writes_them(tmp_path):
    kitti = tmp_path / "kitti.txt"
    kitti.write_text("2011-09-26 13:02:25.964389445\n2011-09-26 13:02:26.074898231\n\n")
    times = read_timestamps(kitti, 2)
    assert times[1] - times[0] == pytest.approx(0.110508786, abs=1e-6)
    plain = tmp_path / "plain.txt"
    plain.write_text("0.0\n0.04\n0.04\n")
    with pytest.raises(SequenceError, match="do not increase at line 3"):
        read_timestamps(plain, 3)
    plain.write_text("0.0\n0.04\n")
    with pytest.raises(SequenceError, match="2 times for 3 frames"):
        read_timestamps(plain, 3)
    plain.write_text("0.0\nsoon\n")
    with pytest.raises(SequenceError, match="line 2 is not a time"):
        read_timestamps(plain, 2)


def test_timestamps_in_epoch_nanoseconds_milliseconds_and_csv_rows(tmp_path):
    """What ROS-based exporters and EuRoC-style datasets write: integer epoch clocks, a header line,
    a file name after the time."""
    path = tmp_path / "t.txt"
    for text, first in (("#timestamp [ns],filename\n1403636579763555584,a.png\n1403636579813555456,b.png\n", 1403636579.7635555),
                        ("1700000000000 x\n1700000000050 y\n", 1700000000.0),  # milliseconds
                        ("1700000000000000\n1700000000050000\n", 1700000000.0),  # microseconds
                        ("1700000000.0\n1700000000.05\n", 1700000000.0)):  # seconds stay seconds
        path.write_text(text)
        times = read_timestamps(path, 2)
        assert times[0] == pytest.approx(first, abs=1e-6)
        assert times[1] - times[0] == pytest.approx(0.05, abs=1e-6), text


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    root = tmp_path_factory.mktemp("streams")
    made, = synthesize_recordings(root / "video", SynthOptions(count=1, frames=6, width=48, height=32, days=1,
                                                               locations=1))
    return made


def test_stamps_that_go_back_are_refused_unless_timed_by_log(recording, tmp_path):
    from rosbags.rosbag1 import Writer
    from rosbags.typesys import Stores, get_typestore

    bag = load_recording(convert_recording(recording.folder, tmp_path / "bag", ConvertOptions(form="ros1")))
    messages = list(_raw_messages(bag.nir.path, bag.nir.topic))
    # Frames 2 and 3 swapped, log times kept: a driver that publishes out of order.
    messages[2], messages[3] = (messages[2][0], messages[3][1]), (messages[3][0], messages[2][1])
    out = tmp_path / "swapped.bag"
    with Writer(out) as writer:
        connection = writer.add_connection("/nir/image_raw", IMAGE, typestore=get_typestore(Stores.ROS1_NOETIC))
        for log_ns, raw in messages:
            writer.write(connection, log_ns, raw)
    with pytest.raises(BagError, match="goes back in time at message 3"):
        read_timeline(StreamSource("bag", str(out), topic="/nir/image_raw"))
    by_log = read_timeline(StreamSource("bag", str(out), topic="/nir/image_raw", log_time=True))
    assert len(by_log.times) == 6 and by_log.times == sorted(by_log.times)

    # A driver that never sets header.stamp: every frame at 0 s. Refused too, with the same way out.
    unset = tmp_path / "unset.bag"
    with Writer(unset) as writer:
        connection = writer.add_connection("/nir/image_raw", IMAGE, typestore=get_typestore(Stores.ROS1_NOETIC))
        for log_ns, raw in _raw_messages(bag.nir.path, bag.nir.topic):
            writer.write(connection, log_ns, raw[:4] + bytes(8) + raw[12:])  # seq, then stamp sec and nsec
    with pytest.raises(BagError, match=r"header.stamp repeats .* at message 1 .*\"time\": \"log\""):
        read_timeline(StreamSource("bag", str(unset), topic="/nir/image_raw"))
    assert len(read_timeline(StreamSource("bag", str(unset), topic="/nir/image_raw", log_time=True)).times) == 6


@pytest.mark.parametrize("form,parts", [("ros1", None), ("ros2", None), ("mcap", None), ("mcap", 5)])
def test_planning_reads_both_topics_of_a_bag_in_one_pass(recording, tmp_path, monkeypatch, form, parts):
    bag = load_recording(convert_recording(recording.folder, tmp_path / "bag", ConvertOptions(
        form=form, rgb_offset_seconds=0.25, drop_rgb=(2,), part_messages=parts)))
    separate = read_timeline(bag.nir), read_timeline(bag.rgb)
    passes = []
    messages_of = bags.BagReader.messages_of

    def counted(self, topics, *args):
        passes.append(tuple(topics))
        return messages_of(self, topics, *args)

    monkeypatch.setattr(bags.BagReader, "messages_of", counted)
    together = read_timelines(bag.nir, bag.rgb)
    assert passes == [(bag.nir.topic, bag.rgb.topic)]
    assert together == separate  # times, keyframes and each stream's slack
    assert len(together[0].times) == 6 and len(together[1].times) == 5


def test_a_stamp_that_goes_back_in_one_topic_of_a_bag_names_that_stream(recording, tmp_path):
    from rosbags.rosbag1 import Writer
    from rosbags.typesys import Stores, get_typestore

    bag = load_recording(convert_recording(recording.folder, tmp_path / "bag", ConvertOptions(form="ros1")))
    topics = {}
    for source in (bag.nir, bag.rgb):
        topics[source.topic] = list(_raw_messages(source.path, source.topic))
    rgb = topics[bag.rgb.topic]
    rgb[2], rgb[3] = (rgb[2][0], rgb[3][1]), (rgb[3][0], rgb[2][1])  # payloads swapped, log times kept
    out = tmp_path / "swapped.bag"
    with Writer(out) as writer:
        for topic, messages in topics.items():
            connection = writer.add_connection(topic, IMAGE, typestore=get_typestore(Stores.ROS1_NOETIC))
            for log_ns, raw in messages:
                writer.write(connection, log_ns, raw)
    nir, rgb_source = (dataclasses.replace(source, path=str(out)) for source in (bag.nir, bag.rgb))
    with pytest.raises(BagError, match=f"{out} {bag.rgb.topic}: header.stamp goes back in time at message 3"):
        read_timelines(nir, rgb_source)


def _raw_messages(path, topic):
    from nircolor.dataset_tools.bags import BagReader

    with BagReader(path) as reader:
        yield from reader.messages(topic)


def test_an_unreadable_frame_file_is_one_line_naming_it(recording, tmp_path):
    sequence = convert_recording(recording.folder, tmp_path / "seq", ConvertOptions(form="images"))
    (sequence / "rgb" / "000003.png").write_bytes(b"\x89PNG broken")
    source = load_recording(sequence).rgb
    with pytest.raises(SequenceError, match=r"000003\.png: not a readable image frame"):
        list(iter_source_frames(read_timeline(source).source, "rgb"))


def test_recording_json_names_of_sequences_and_bags_stay_inside(recording, tmp_path):
    sequence = convert_recording(recording.folder, tmp_path / "seq", ConvertOptions(form="images"))
    description = sequence / "recording.json"
    document = json.loads(description.read_text())
    for change, words in (({"nir_timestamps": "../t.txt"}, "outside the recording folder"),
                          ({"nir_timestamps": None, "fps": 0}, "needs \"nir_timestamps\""),
                          ({"nir": "nir/%06d.jpg"}, "no file matches"),
                          ({"bag": "/etc/passwd", "nir_topic": "/a", "rgb_topic": "/b"}, "outside the recording folder")):
        updated = {key: value for key, value in {**document, **change}.items() if value is not None}
        description.write_text(json.dumps(updated))
        with pytest.raises(RecordingError, match=words):
            load_recording(sequence)
    assert Path(sequence).is_dir()


def test_a_homography_may_come_from_a_calibration_file_in_the_recording_folder(recording, tmp_path):
    import shutil

    folder = tmp_path / "rig"
    shutil.copytree(recording.folder, folder)
    description = folder / "recording.json"
    document = json.loads(description.read_text())
    matrix = [[1.01, 0.02, -3.0], [-0.02, 0.99, 2.5], [1e-5, 0.0, 1.0]]
    description.write_text(json.dumps({**document, "homography": matrix}))
    inline = load_recording(folder, check_streams=False).homography
    (folder / "rig.json").write_text(json.dumps({"homography": matrix, "reprojection_error_px": 0.3}))
    description.write_text(json.dumps({**document, "homography": "rig.json"}))
    assert load_recording(folder, check_streams=False).homography == inline == tuple(np.ravel(matrix))
    (folder / "rig.json").write_text(json.dumps(matrix))  # the bare matrix works too
    assert load_recording(folder, check_streams=False).homography == inline
    for content, words in (('{"matrix": []}', 'rig.json: calibration file has no "homography"'),
                           ("[[1, 0], [0, 1]]", "rig.json: homography must be"), ("{", "rig.json: not valid JSON")):
        (folder / "rig.json").write_text(content)
        with pytest.raises(RecordingError, match=words):
            load_recording(folder, check_streams=False)
    description.write_text(json.dumps({**document, "homography": "../rig.json"}))
    with pytest.raises(RecordingError, match="outside the recording folder"):
        load_recording(folder, check_streams=False)


def test_a_calibration_file_may_be_opencv_yaml_or_xml(tmp_path):
    """What cv2.FileStorage writes (stereo calibration tools' usual output) names a rig's homography."""
    recording, = synthesize_recordings(tmp_path / "video", SynthOptions(count=1, frames=4, width=64, height=48))
    description = recording.folder / "recording.json"
    document = json.loads(description.read_text())
    matrix = np.array([[1.01, 0.02, -3.0], [-0.02, 0.99, 2.5], [1e-5, 0.0, 1.0]])
    for name, node in (("rig.yaml", "H"), ("rig.yml", "homography"), ("rig.xml", "homography")):
        storage = cv2.FileStorage(str(recording.folder / name), cv2.FILE_STORAGE_WRITE)
        storage.write(node, matrix)
        storage.release()
        description.write_text(json.dumps({**document, "homography": name}))
        assert load_recording(recording.folder, check_streams=False).homography == tuple(matrix.ravel())
    for content, words in (("%YAML:1.0\nK: 3\n", r'rig.yaml: calibration file has no "homography" \(or "H"\)'),
                           ("%YAML:1.0\nH: 3\n", 'rig.yaml: "H" is not an OpenCV matrix'),
                           ("garbage: [", "rig.yaml: not an OpenCV YAML/XML file"), ("", "rig.yaml: not an OpenCV"),
                           ("%YAML:1.0\nH: !!opencv-matrix\n  rows: 2\n  cols: 2\n  dt: d\n  data: [1, 0, 0, 1]\n",
                            "rig.yaml: homography must be")):
        (recording.folder / "rig.yaml").write_text(content)
        description.write_text(json.dumps({**document, "homography": "rig.yaml"}))
        with pytest.raises(RecordingError, match=words):
            load_recording(recording.folder, check_streams=False)
    (recording.folder / "rig.yaml").unlink()
    with pytest.raises(RecordingError, match="rig.yaml: calibration file named in recording.json is missing"):
        load_recording(recording.folder, check_streams=False)


def test_a_plain_mcap_of_ros1_messages_reads_like_a_ros2_one(tmp_path):
    from mcap.writer import Writer
    from rosbags.typesys import Stores, get_typestore

    typestore = get_typestore(Stores.ROS1_NOETIC)
    types = typestore.types
    definition, _ = typestore.generate_msgdef(IMAGE, ros_version=1)
    path = tmp_path / "ros1.mcap"
    with open(path, "wb") as file:
        writer = Writer(file)
        writer.start(profile="ros1", library="test")
        schema = writer.register_schema("sensor_msgs/Image", "ros1msg", definition.encode())
        channel = writer.register_channel("/nir/image_raw", "ros1", schema)
        for number in range(4):
            stamp = types["builtin_interfaces/msg/Time"](sec=100 + number, nanosec=500_000_000)
            header = types["std_msgs/msg/Header"](seq=number, stamp=stamp, frame_id="nir")
            pixels = np.full((6, 8), 10 * number, np.uint8)
            message = types[IMAGE](header=header, height=6, width=8, encoding="mono8", is_bigendian=0, step=8,
                                   data=pixels.reshape(-1))
            log_ns = (100 + number) * 10 ** 9 + 510_000_000
            writer.add_message(channel, log_time=log_ns, data=bytes(typestore.serialize_ros1(message, IMAGE)),
                               publish_time=log_ns)
        writer.finish()
    source = StreamSource("bag", str(path), topic="/nir/image_raw")
    timeline = read_timeline(source)
    assert timeline.times == pytest.approx([100.5, 101.5, 102.5, 103.5])
    frames = list(iter_source_frames(timeline.source, "nir", 101.0, 103.0))
    assert [frame.seconds for frame in frames] == pytest.approx([101.5, 102.5])
    assert [int(frame.array[0, 0]) for frame in frames] == [10, 20]


@pytest.mark.parametrize("suffix, pixels", [
    (".png", np.zeros((23, 37), np.uint16)), (".jpg", np.zeros((23, 37, 3), np.uint8)),
    (".pgm", np.zeros((23, 37), np.uint16)), (".ppm", np.zeros((23, 37, 3), np.uint8)),
    (".bmp", np.zeros((23, 37, 3), np.uint8)), (".tif", np.zeros((23, 37), np.uint16))])
def test_frame_files_of_every_format_read_at_their_depth_and_their_headers_give_their_size(tmp_path, suffix, pixels):
    from nircolor.dataset_tools.image_files import image_header_size

    pixels = pixels + (np.arange(37) * (1000 if pixels.dtype == np.uint16 else 3)).astype(pixels.dtype).reshape(
        (1, 37) + (1,) * (pixels.ndim - 2))
    path = tmp_path / f"000000{suffix}"
    assert cv2.imwrite(str(path), pixels)
    read = read_image(path, MAX)
    assert read.shape == pixels.shape and read.dtype == pixels.dtype
    if suffix != ".jpg":  # lossless formats give back the pixels
        assert np.array_equal(read, pixels)
    expected = None if suffix == ".tif" else (37, 23)  # TIFF keeps its size in a directory anywhere in the file
    assert image_header_size(path.read_bytes()[:1 << 16]) == expected


@pytest.mark.parametrize("name, header", [
    ("huge.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
                 b"\xff\xc0\x00\x11\x08\xea\x60\xea\x60\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"),
    ("huge.pgm", b"P5\n# a comment\n60000 60000\n65535\n"),
    ("huge.bmp", b"BM" + bytes(16) + (60000).to_bytes(4, "little") + (-60000).to_bytes(4, "little", signed=True))])
def test_a_frame_header_claiming_a_huge_frame_is_refused_before_decoding(tmp_path, name, header):
    path = tmp_path / name
    path.write_bytes(header + bytes(64))
    with pytest.raises(SequenceError, match="60000x60000 pixels is larger than nircolor takes"):
        read_image(path, MAX)


def test_a_sequence_of_sixteen_bit_pgm_frames_reads_as_nir_at_its_depth(tmp_path):
    (tmp_path / "nir").mkdir()
    for index in range(3):
        assert cv2.imwrite(str(tmp_path / "nir" / f"{index:06d}.pgm"), np.full((24, 32), 1000 * (index + 1), np.uint16))
    nir = StreamSource("images", str(tmp_path / "nir"), fps=10.0)
    frames = list(iter_source_frames(nir, "nir"))
    assert [frame.seconds for frame in frames] == pytest.approx([0.0, 0.1, 0.2])
    assert all(frame.array.dtype == np.uint16 for frame in frames) and frames[2].array.max() == 3000


def test_frames_named_by_their_epoch_stamps_time_the_sequence(tmp_path):
    """As ROS bag exporters and EuRoC-style datasets write them: no timestamps file, no fps."""
    start = 1_403_636_579_763_555_584  # ns
    folder = tmp_path / "rec"
    for name, offset in (("nir", 0), ("rgb", 2_000_000)):  # the RGB camera 2 ms behind
        (folder / name).mkdir(parents=True)
        for index in range(3):
            stamp = start + offset + index * 50_000_000  # 20 fps
            assert cv2.imwrite(str(folder / name / f"{stamp}.png"), np.full((24, 32) if name == "nir" else (24, 32, 3),
                                                                             10 * index, np.uint8))
    (folder / "recording.json").write_text(json.dumps({"id": "r", "day": "2014-06-24", "location": "lab",
                                                       "nir": "nir", "rgb": "rgb"}))
    recording = load_recording(folder)
    nir_times = read_timeline(recording.nir).times
    rgb_times = read_timeline(recording.rgb).times
    assert nir_times[0] == pytest.approx(start * 1e-9, abs=1e-6)
    assert np.diff(nir_times) == pytest.approx([0.05, 0.05], abs=1e-6)
    assert rgb_times[0] - nir_times[0] == pytest.approx(0.002, abs=1e-6)
    (folder / "nir" / "notastamp.png").write_bytes((folder / "nir" / f"{start}.png").read_bytes())
    with pytest.raises(RecordingError, match="or frames named by their epoch stamps"):
        load_recording(folder)


@pytest.mark.parametrize("inside", ["drive.db3", "metadata.yaml"])
def test_a_file_inside_a_ros2_bag_folder_names_the_bag(tmp_path, inside):
    recording, = synthesize_recordings(tmp_path / "video", SynthOptions(count=1, frames=4, width=64, height=48))
    folder = convert_recording(recording.folder, tmp_path / "ros2", ConvertOptions(form="ros2"))
    description = folder / "recording.json"
    document = json.loads(description.read_text())
    bag = folder / document["bag"]
    stored = sorted(path.name for path in bag.iterdir())
    name = inside if inside == "metadata.yaml" else next(n for n in stored if n.endswith(".db3"))
    description.write_text(json.dumps({**document, "bag": f"{document['bag']}/{name}"}))
    loaded = load_recording(folder)
    assert Path(loaded.nir.path) == bag and len(read_timeline(loaded.nir).times) == 4
