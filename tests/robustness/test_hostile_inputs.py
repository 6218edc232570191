"""Hostile and careless inputs, one table over every command (issue 11): each case breaks one file of a
valid world in one way. Every case must end with the exit status it names, a line naming the file, no
traceback, at most one `error:` line, and every file outside the command's output byte-identical."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import h5py
import pytest

from nircolor.jobs.cli import app
from tests.robustness.world import DEEP, Case, build_world, edit_json, outside_file, run_case, runner, write

# Run it alone with `.venv/bin/python -m pytest -m robustness tests/robustness` (≈ 45 s).
pytestmark = pytest.mark.robustness

MANIFEST = "ds/manifest.json"
SHARD = "ds/train/drive-000-000.h5"
CONFIG = "ck/config.json"
WEIGHTS = "ck/generator.safetensors"
RECORDING = "recs/drive-000/recording.json"
NIR_VIDEO = "recs/drive-000/nir.mkv"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("world"))


# -- how each file is broken: (id, function(world) -> None, the name the message must carry) -----------

def _manifest_breaks():
    def shard_path(value):
        return lambda world: edit_json(world / MANIFEST, lambda m: m["shards"][1].__setitem__("path", value(world)))

    def link_out(world):
        target = outside_file(world)
        (world / "ds" / "train" / "link.h5").symlink_to(target)
        edit_json(world / MANIFEST, lambda m: m["shards"][1].__setitem__("path", "train/link.h5"))

    return [
        ("manifest-not-json", lambda w: write(w / MANIFEST, "{not json"), "manifest.json"),
        ("manifest-not-utf8", lambda w: write(w / MANIFEST, b'{"schema": "\xff\xfe"}'), "manifest.json"),
        ("manifest-deep", lambda w: write(w / MANIFEST, DEEP), "manifest.json"),
        ("manifest-a-list", lambda w: write(w / MANIFEST, "[1, 2]"), "manifest.json"),
        ("manifest-empty", lambda w: write(w / MANIFEST, ""), "manifest.json"),
        ("manifest-no-shards", lambda w: edit_json(w / MANIFEST, lambda m: m.pop("shards")), "manifest.json"),
        ("manifest-shards-a-string", lambda w: edit_json(w / MANIFEST, lambda m: m.__setitem__("shards", "x")), "manifest.json"),
        ("manifest-shard-a-number", lambda w: edit_json(w / MANIFEST, lambda m: m["shards"].__setitem__(1, 7)), "manifest.json"),
        ("manifest-splits-null", lambda w: edit_json(w / MANIFEST, lambda m: m.__setitem__("splits", None)), "manifest.json"),
        ("manifest-recordings-list", lambda w: edit_json(w / MANIFEST, lambda m: m.__setitem__("recordings", [])), "manifest.json"),
        ("manifest-pairs-a-string", lambda w: edit_json(w / MANIFEST, lambda m: m["shards"][1].__setitem__("pairs", "8")), "manifest.json"),
        ("shard-path-absolute", shard_path(lambda w: str(outside_file(w))), "manifest.json"),
        ("shard-path-dotdot", shard_path(lambda w: (outside_file(w), "../../outside/secret.h5")[1]), "manifest.json"),
        ("shard-path-a-number", shard_path(lambda w: 3), "manifest.json"),
        ("shard-path-nul", shard_path(lambda w: "train/x\x00.h5"), "manifest.json"),
        ("shard-link-outside", link_out, "link.h5"),
    ]


def _shard_breaks():
    def garble_attribute(world):
        with h5py.File(world / SHARD, "r+") as shard:
            shard.attrs["nir_bits"] = "many"

    def drop_dataset(world):
        with h5py.File(world / SHARD, "r+") as shard:
            del shard["rgb"]

    def truncate(world):
        data = (world / SHARD).read_bytes()
        write(world / SHARD, data[: len(data) // 2])

    return [
        ("shard-missing", lambda w: (w / SHARD).unlink(), "drive-000-000.h5"),
        ("shard-not-hdf5", lambda w: write(w / SHARD, b"garbage" * 100), "drive-000-000.h5"),
        ("shard-truncated", truncate, "drive-000-000.h5"),
        ("shard-attribute-garbled", garble_attribute, "drive-000-000.h5"),
        ("shard-without-rgb", drop_dataset, "drive-000-000.h5"),
        ("shard-a-folder", lambda w: ((w / SHARD).unlink(), (w / SHARD).mkdir()), "drive-000-000.h5"),
    ]


def _checkpoint_breaks():
    return [
        ("checkpoint-missing", lambda w: __import__("shutil").rmtree(w / "ck"), "ck"),
        ("config-missing", lambda w: (w / CONFIG).unlink(), "config.json"),
        ("config-not-json", lambda w: write(w / CONFIG, "{"), "config.json"),
        ("config-not-utf8", lambda w: write(w / CONFIG, b"\xff\xfe\x00"), "config.json"),
        ("config-deep", lambda w: write(w / CONFIG, DEEP), "config.json"),
        ("config-a-list", lambda w: write(w / CONFIG, "[]"), "config.json"),
        ("config-model-a-number", lambda w: edit_json(w / CONFIG, lambda c: c.__setitem__("model", 5)), "config.json"),
        ("config-unknown-family", lambda w: edit_json(w / CONFIG, lambda c: c["model"]["config"].__setitem__("family", "gpt")), "config.json"),
        ("config-huge-network", lambda w: edit_json(w / CONFIG, lambda c: c["model"]["config"].__setitem__("base_channels", 10**7)), "config.json"),
        ("config-negative-width", lambda w: edit_json(w / CONFIG, lambda c: c["model"]["config"].__setitem__("base_channels", -4)), "config.json"),
        ("config-nir-bits-a-string", lambda w: edit_json(w / CONFIG, lambda c: c["preprocessing"].__setitem__("nir_bits", "ten")), "config.json"),
        ("config-nir-bits-huge", lambda w: edit_json(w / CONFIG, lambda c: c["preprocessing"].__setitem__("nir_bits", 4000)), "config.json"),
        ("weights-missing", lambda w: (w / WEIGHTS).unlink(), "generator.safetensors"),
        ("weights-garbage", lambda w: write(w / WEIGHTS, b"\x00" * 64), "generator.safetensors"),
        ("weights-header-huge", lambda w: write(w / WEIGHTS, (2**62).to_bytes(8, "little") + b"{}"), "generator.safetensors"),
        ("weights-of-another-width", lambda w: edit_json(w / CONFIG, lambda c: c["model"]["config"].__setitem__("base_channels", 8)), "ck"),
    ]


def _recording_breaks():
    def link_out(world):
        target = outside_file(world, "nir.mkv", (world / NIR_VIDEO).read_bytes())
        (world / NIR_VIDEO).unlink()
        (world / NIR_VIDEO).symlink_to(target)

    def set_key(key, value):
        return lambda world: edit_json(world / RECORDING, lambda r: r.__setitem__(key, value))

    def as_bag(name):
        def apply(world):
            bag = name(world)

            def change(document):
                document.pop("nir"), document.pop("rgb")
                document.update(bag=bag, nir_topic="/nir/image_raw", rgb_topic="/rgb/image_raw")
            edit_json(world / RECORDING, change)
        return apply

    def stream_name(value):
        return lambda world: edit_json(world / RECORDING, lambda r: r.__setitem__("nir", value(world)))

    return [
        ("recording-json-missing", lambda w: (w / RECORDING).unlink(), "drive-000"),
        ("recording-not-json", lambda w: write(w / RECORDING, "{"), "recording.json"),
        ("recording-not-utf8", lambda w: write(w / RECORDING, b'{"id": "\xff"}'), "recording.json"),
        ("recording-deep", lambda w: write(w / RECORDING, DEEP), "recording.json"),
        ("recording-a-list", lambda w: write(w / RECORDING, "[]"), "recording.json"),
        ("recording-no-nir", lambda w: edit_json(w / RECORDING, lambda r: r.pop("nir")), "recording.json"),
        ("recording-nir-a-number", stream_name(lambda w: 12), "recording.json"),
        ("recording-nir-dotdot", stream_name(lambda w: (outside_file(w, "nir.mkv"), "../../../outside/nir.mkv")[1]), "recording.json"),
        ("recording-nir-absolute", stream_name(lambda w: str(outside_file(w, "nir.mkv"))), "recording.json"),
        ("recording-nir-link-outside", link_out, "nir.mkv"),
        ("nir-video-garbage", lambda w: write(w / NIR_VIDEO, b"\x1a\x45\xdf\xa3" + b"\x00" * 500), "nir.mkv"),
        ("nir-video-empty", lambda w: write(w / NIR_VIDEO, b""), "nir.mkv"),
        ("nir-video-truncated", lambda w: write(w / NIR_VIDEO, (w / NIR_VIDEO).read_bytes()[:300]), "nir.mkv"),
        ("recording-day-a-number", lambda w: edit_json(w / RECORDING, lambda r: r.__setitem__("day", 20170510)), "recording.json"),
        ("recording-id-nul", lambda w: edit_json(w / RECORDING, lambda r: r.__setitem__("id", "drive\x00")), "recording.json"),
        ("recording-id-long", lambda w: edit_json(w / RECORDING, lambda r: r.__setitem__("id", "d" * 300)), "recording.json"),
        ("recording-id-review", lambda w: edit_json(w / RECORDING, lambda r: r.__setitem__("id", "drive-001.review")), "recording.json"),
        ("recording-id-dotdot", lambda w: edit_json(w / RECORDING, lambda r: r.__setitem__("id", "..")), "recording.json"),
        # The optional keys and the other recording forms (issue 15).
        ("recording-nir-bits-text", set_key("nir_bits", "12"), "recording.json"),
        ("recording-nir-bits-17", set_key("nir_bits", 17), "recording.json"),
        ("recording-offset-nan", set_key("rgb_offset_seconds", float("nan")), "recording.json"),
        ("recording-offset-huge", set_key("rgb_offset_seconds", 1e300), "recording.json"),
        ("recording-homography-2x2", set_key("homography", [[1, 0], [0, 1]]), "recording.json"),
        ("recording-homography-singular", set_key("homography", [[1, 0, 0], [2, 0, 0], [0, 0, 1]]), "recording.json"),
        ("recording-calibration-yaml-garbage", lambda w: (write(w / "recs/drive-000/rig.yaml", b"\x00\xffH: [[["),
                                                          set_key("homography", "rig.yaml")(w)), "rig.yaml"),
        ("recording-calibration-yaml-no-matrix", lambda w: (write(w / "recs/drive-000/rig.xml", "<opencv_storage><H>3</H></opencv_storage>"),
                                                            set_key("homography", "rig.xml")(w)), "rig.xml"),
        ("recording-calibration-yaml-dotdot", set_key("homography", "../../../outside/rig.yaml"), "recording.json"),
        ("recording-time-unknown", set_key("time", "gps"), "recording.json"),
        ("recording-bag-dotdot", as_bag(lambda w: (outside_file(w, "d.bag"), "../../../outside/d.bag")[1]), "recording.json"),
        ("recording-bag-garbage", as_bag(lambda w: (write(w / "recs/drive-000/d.bag", b"#ROSBAG V2.0\n" + bytes(64)),
                                                     "d.bag")[1]), "d.bag"),
        ("recording-bag-missing", as_bag(lambda w: "nope.mcap"), "nope.mcap"),
        # A bag in parts (a list of files, as `rosbag record --split` writes them).
        ("recording-bag-parts-empty", as_bag(lambda w: []), "recording.json"),
        ("recording-bag-parts-not-names", as_bag(lambda w: ["d.bag", 3]), "recording.json"),
        ("recording-bag-parts-dotdot", as_bag(lambda w: ["d.bag", "../../../outside/d.bag"]), "recording.json"),
        ("recording-bag-parts-twice", as_bag(lambda w: (write(w / "recs/drive-000/d.bag", b"#ROSBAG V2.0\n"),
                                                        ["d.bag", "./d.bag"])[1]), "recording.json"),
        ("recording-bag-part-missing", as_bag(lambda w: (write(w / "recs/drive-000/d_0.bag", b"#ROSBAG V2.0\n"),
                                                         ["d_0.bag", "d_1.bag"])[1]), "d_1.bag"),
        ("recording-bag-part-garbage", as_bag(lambda w: (write(w / "recs/drive-000/d_0.mcap", b"\x89MCAP0\r\n"),
                                                         write(w / "recs/drive-000/d_1.mcap", b"\x89MCAP0\r\n" + bytes(90)),
                                                         ["d_0.mcap", "d_1.mcap"])[-1]), "d_0.mcap"),
        ("recording-bag-parts-mixed", as_bag(lambda w: (write(w / "recs/drive-000/a.bag", b"#ROSBAG V2.0\n"),
                                                        write(w / "recs/drive-000/b.mcap", b"\x89MCAP0\r\n"),
                                                        ["a.bag", "b.mcap"])[-1]), "a.bag"),
        ("recording-sequence-no-fps", stream_name(lambda w: ((w / "recs/drive-000/frames").mkdir(), "frames")[1]),
         "recording.json"),
        ("recording-sequence-huge-jpeg", lambda w: (
            (w / "recs/drive-000/frames").mkdir(),
            write(w / "recs/drive-000/frames/000000.jpg", HUGE_JPEG),
            edit_json(w / RECORDING, lambda r: r.update(nir="frames", fps=25))), "000000.jpg"),
        ("recording-timestamps-dotdot", lambda w: edit_json(w / RECORDING, lambda r: r.update(
            nir="frames/%06d.png", nir_timestamps="../../../outside/t.txt")), "recording.json"),
    ]


# A JPEG whose frame header claims 60000×60000 pixels, with no image data behind it.
HUGE_JPEG = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
             b"\xff\xc0\x00\x11\x08\xea\x60\xea\x60\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01" + bytes(64))


def _pair_breaks():
    def huge_png(world):
        # A PNG header claiming 100000 x 100000 pixels, with no data behind it.
        import struct
        import zlib

        header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
        chunk = b"IHDR" + header
        png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
        write(world / "pairs" / "p0_nir.png", png)

    return [
        ("pair-not-an-image", lambda w: write(w / "pairs" / "p0_nir.png", b"not a png"), "p0"),
        ("pair-empty-image", lambda w: write(w / "pairs" / "p0_rgb.png", b""), "p0"),
        ("pair-huge-header", huge_png, "p0"),
        ("pair-mismatched-sizes", lambda w: __import__("cv2").imwrite(str(w / "pairs" / "p0_rgb.png"),
                                                                      __import__("numpy").zeros((10, 12, 3), "uint8")), "p0"),
    ]


def _cases():
    cases = []
    train = ["train", "{w}/ds", "{w}/run", "--model", "johnson-6", "--tiny", "--steps", "1", "--crop", "32",
             "--eval-every", "0", "--sample-every", "0"]
    evaluate = ["evaluate", "{w}/ck", "--data", "{w}/ds", "--out", "{w}/report", "--no-timing"]
    for name, breaks, names in _manifest_breaks():
        for command, arguments, writes in (("verify", ["dataset", "verify", "{w}/ds"], ()),
                                           ("info", ["dataset", "info", "{w}/ds"], ()),
                                           ("train", train, ("run",)), ("evaluate", evaluate, ("report",))):
            cases.append(Case(f"{command}:{name}", _then(breaks, arguments), names, writes=writes))
    for name, breaks, names in _shard_breaks():
        for command, arguments, writes in (("verify", ["dataset", "verify", "{w}/ds"], ()),
                                           ("train", train, ("run",))):
            cases.append(Case(f"{command}:{name}", _then(breaks, arguments), names, writes=writes))
    for name, breaks, names in _checkpoint_breaks():
        for command, arguments, writes in (
                ("colorize", ["colorize", "{w}/ck", "{w}/recs/drive-000", "--out", "{w}/out"], ("out",)),
                ("evaluate", evaluate, ("report",)),
                ("export", ["export", "{w}/ck", "{w}/exported"], ("exported",))):
            cases.append(Case(f"{command}:{name}", _then(breaks, arguments), names, writes=writes))
    for name, breaks, names in _recording_breaks():
        cases.append(Case(f"build:{name}", _then(breaks, ["dataset", "build", "{w}/recs", "{w}/ds2", "--workers", "1", "--eval-fraction", "0",
                                                          "--segment-seconds", "0"]), names, writes=("ds2",),
                          extra={"complete": "ds2/manifest.json"}))
        # colorize reads recording.json with build's parser and drops a bad input before any actor
        # starts; that a good recording beside it still completes is checked for one break of each
        # layer (each such case starts an actor and loads a model: about 1.5 s on 2 cores).
        if name in COLORIZE_BESIDE_A_GOOD_ONE:
            inputs, extra = ["{w}/recs/drive-000", "{w}/recs/drive-001"], {"complete": "out/drive-001.mp4"}
        else:
            inputs, extra = ["{w}/recs/drive-000"], {}
        cases.append(Case(f"colorize:{name}", _then(breaks, ["colorize", "{w}/ck", *inputs, "--out", "{w}/out"]),
                          names, writes=("out",), extra=extra))
        # drive-001's RGB video stands in for a colorized video of drive-000 (same size and clock).
        cases.append(Case(f"evaluate-video:{name}", _then(breaks, ["evaluate-video", "{w}/recs/drive-001/rgb.mkv",
                                                                   "--recording", "{w}/recs/drive-000", "--out", "{w}/ev"]),
                          names, writes=("ev",)))
    for name, breaks, names in _pair_breaks():
        cases.append(Case(f"import-pairs:{name}", _then(breaks, ["dataset", "import-pairs", "{w}/pairs", "{w}/ds3",
                                                                 "--day", "2017-01-01", "--split", "train"]),
                          names, writes=("ds3",), extra={"complete": "ds3/manifest.json"}))
    for name in ("unet-99999-s", "estuary-100000-is", "johnson-99999", "limmer-1000-1000-1000-bp", "", "x" * 5000, "unet-64-s\x00"):
        cases.append(Case(f"models-show:{name[:20]!r}", lambda world, name=name: ["models", "show", name],
                          "model" if not name.startswith(("unet", "estuary", "johnson", "limmer")) else name.split("-")[0]))
    return cases


# One break per layer: the file, its JSON, a stream it names, a bag, an image sequence, a calibration file.
COLORIZE_BESIDE_A_GOOD_ONE = {"recording-json-missing", "recording-not-json", "recording-nir-dotdot",
                              "nir-video-truncated", "recording-bag-garbage", "recording-sequence-no-fps",
                              "recording-calibration-yaml-garbage"}


def _then(breaks, arguments):
    def apply(world: Path) -> list[str]:
        breaks(world)
        return list(arguments)
    return apply


CASES = _cases()


def test_the_table_is_large_and_covers_every_command():
    commands = {case.id.split(":")[0] for case in CASES}
    assert len(CASES) >= 100
    assert {"verify", "info", "train", "evaluate", "colorize", "export", "build", "import-pairs", "models-show",
            "evaluate-video"} <= commands
    assert COLORIZE_BESIDE_A_GOOD_ONE <= {name for name, _, _ in _recording_breaks()}  # no stale names


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_hostile_input_is_one_line_and_costs_nothing(case, pristine, tmp_path):
    run_case(case, pristine, tmp_path)
    complete = case.extra.get("complete")
    if complete:  # in a batch, the other inputs still complete
        assert (tmp_path / "w" / complete).is_file(), f"{complete} missing: the other inputs did not complete"


def test_the_unbroken_world_passes_the_commands_whose_cases_fail_on_it(pristine, tmp_path):
    """Each case fails because of its break: the same command lines on the unbroken world succeed."""
    world = tmp_path / "w"
    shutil.copytree(pristine, world, symlinks=True)
    for arguments in (["evaluate-video", f"{world}/recs/drive-001/rgb.mkv", "--recording", f"{world}/recs/drive-000",
                       "--out", f"{world}/ev"],
                      ["dataset", "build", f"{world}/recs", f"{world}/ds2", "--workers", "1", "--eval-fraction", "0",
                       "--segment-seconds", "0"],
                      ["dataset", "verify", f"{world}/ds"]):
        result = runner.invoke(app, arguments)
        assert result.exit_code == 0, (arguments[0], result.output)
