"""`nircolor recordings scan` on a {day}/{location}/{take} tree of video pairs: what it writes loads as
a recording, a second run keeps it, and a bad take is one error line that fails the run but no other take."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from nircolor.dataset_tools.recording import find_recordings, load_recording
from nircolor.dataset_tools.synthetic import SynthOptions, synthesize_recordings
from nircolor.jobs.cli import app

runner = CliRunner()
TAKES = ["2024-05-01/city/morning", "2024-05-01/city/noon", "2024-05-02/highway/run-1"]


@pytest.fixture
def tree(tmp_path):
    """Synthetic two-video recordings moved into the layout a drive logger writes, their recording.json removed."""
    made = synthesize_recordings(tmp_path / "made", SynthOptions(count=len(TAKES), frames=3, width=64, height=48))
    root = tmp_path / "drives"
    for recording, take in zip(made, TAKES):
        folder = root / take
        folder.mkdir(parents=True)
        (recording.folder / "nir.mkv").rename(folder / "cam_nir.mkv")
        (recording.folder / "rgb.mkv").rename(folder / "cam_rgb.mkv")
    return root


def test_scan_writes_recordings_that_load(tree):
    result = runner.invoke(app, ["recordings", "scan", str(tree)])
    assert result.exit_code == 0, result.output
    assert "3 written, 0 existing, 0 skipped (0 for an error)" in result.output
    assert "written      videos    " in result.output and "id 2024-05-02-highway-run-1" in result.output
    assert find_recordings(tree) == sorted(tree / take for take in TAKES)
    for take in TAKES:
        recording = load_recording(tree / take)  # streams checked too: the files are real videos
        day, location, _ = take.split("/")
        assert (recording.id, recording.day, recording.location) == (take.replace("/", "-"), day, location)
        assert (recording.nir_path.name, recording.rgb_path.name) == ("cam_nir.mkv", "cam_rgb.mkv")

    again = runner.invoke(app, ["recordings", "scan", str(tree)])
    assert again.exit_code == 0 and "0 written, 3 existing" in again.output


def test_a_bad_take_is_one_line_and_fails_the_run(tree):
    (tree / "2024-05-02/highway/run-2").mkdir()
    (tree / "2024-05-02/highway/run-2/x.bag").write_bytes(b"\0garbage" * 10)
    dry = runner.invoke(app, ["recordings", "scan", str(tree), "--dry-run"])
    assert dry.exit_code == 1 and "3 to write (dry run)" in dry.output and find_recordings(tree) == []
    result = runner.invoke(app, ["recordings", "scan", str(tree), "--template", "{day}/{location}/{take}"])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {tree}/2024-05-02/highway/run-2/x.bag: cannot read the bag (File magic is invalid.)"]
    assert "Traceback" not in result.output and len(find_recordings(tree)) == 3


def test_bad_options_are_one_line(tree, tmp_path):
    result = runner.invoke(app, ["recordings", "scan", str(tree), "--template", "{day}/{where}"])
    assert result.exit_code == 1 and "error: --template '{day}/{where}': unknown placeholder {where}" in result.output
    index = tmp_path / "index.csv"
    index.write_text("path,day,location\n")
    both = runner.invoke(app, ["recordings", "scan", str(tree), "--template", "{day}/{location}",
                               "--index", str(index)])
    assert both.exit_code == 1 and "use --template or --index, not both" in both.output
    index.write_text("path,day,location\n2024-05-01/city/noon,2024-05-09,lab\n")
    indexed = runner.invoke(app, ["recordings", "scan", str(tree), "--index", str(index)])
    assert indexed.exit_code == 0, indexed.output
    assert json.loads((tree / "2024-05-01/city/noon/recording.json").read_text())["day"] == "2024-05-09"
    assert "1 written, 0 existing, 2 skipped (0 for an error)" in indexed.output


def test_dataset_build_runs_on_a_scanned_tree_of_mixed_takes(tmp_path):
    """Videos, a ROS 1 bag, an MCAP file, an image sequence and a bag recorded in parts, laid out
    {day}/{location}/{take}: scan writes their recording.json files and dataset build ingests every one."""
    import shutil

    from nircolor.dataset_tools.convert import ConvertOptions, convert_recording
    from nircolor.pipeline.ingest import IngestOptions, build_dataset

    made = synthesize_recordings(tmp_path / "made", SynthOptions(count=5, frames=6, width=64, height=48))
    root = tmp_path / "drives"
    layout = {"2024-05-01/city/cam": "video", "2024-05-01/city/bag": "ros1", "2024-05-02/road/mcap": "mcap",
              "2024-05-02/road/frames": "images", "2024-05-02/road/split": "ros1-parts"}
    for recording, (take, form) in zip(made, layout.items()):
        folder = root / take
        if form == "video":
            folder.mkdir(parents=True)
            shutil.copy(recording.folder / "nir.mkv", folder / "front_nir.mkv")
            shutil.copy(recording.folder / "rgb.mkv", folder / "front_rgb.mkv")
        else:
            parts = {"part_messages": 5} if form.endswith("-parts") else {}
            convert_recording(recording.folder, folder, ConvertOptions(form=form.removesuffix("-parts"), **parts))
            (folder / "recording.json").unlink()  # as the recorder left it
    result = runner.invoke(app, ["recordings", "scan", str(root)])
    assert result.exit_code == 0 and "5 written" in result.output, result.output
    assert "split/drive_0.bag (+2 parts)" in result.output
    summary = build_dataset(root, tmp_path / "ds", IngestOptions(executor="local", eval_fraction=0.25,
                                                                 split_by="day"))
    assert summary.ok, [recording.error for recording in summary.failed]
    assert sorted(recording.id for recording in summary.recordings) == sorted(take.replace("/", "-") for take in layout)
    assert all(recording.pairs > 0 for recording in summary.recordings)
