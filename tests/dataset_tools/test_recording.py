"""Recording folders: a good one loads; each kind of bad one gets one sentence naming the file."""
import json

import pytest

from nircolor.dataset_tools.recording import RecordingError, find_recordings, find_unlabelled, load_recording
from nircolor.dataset_tools.video import stream_times
from nircolor.dataset_tools.synthetic import SynthOptions, recording_from_video, synthesize_recordings


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    root = tmp_path_factory.mktemp("recordings")
    (synthetic,) = synthesize_recordings(root, SynthOptions(count=1, frames=4, width=96, height=64))
    return synthetic


def _folder_with(tmp_path, recording, document, files=("nir.mkv", "rgb.mkv")):
    folder = tmp_path / "take"
    folder.mkdir()
    for name in files:
        (folder / name).write_bytes((recording.folder / name).read_bytes())
    (folder / "recording.json").write_text(document if isinstance(document, str) else json.dumps(document))
    return folder


def test_loads_two_file_recording(recording):
    loaded = load_recording(recording.folder)
    assert (loaded.id, loaded.day, loaded.location) == (recording.id, recording.day, recording.location)
    assert loaded.nir_path == recording.folder / "nir.mkv" and loaded.rgb_path == recording.folder / "rgb.mkv"
    assert stream_times(loaded.nir_path)[0] == pytest.approx([0.0, 0.04, 0.08, 0.12])


def test_find_recordings(recording, tmp_path):
    assert find_recordings(recording.folder.parent) == [recording.folder]
    assert find_recordings(recording.folder) == [recording.folder]
    assert find_recordings(tmp_path) == []


def test_folders_with_drive_files_but_no_recording_json_are_found(tmp_path):
    for path in ("good/recording.json", "good/nir.mkv", "good/frames/x.mp4",  # inside a recording: not reported
                 "lost/nir.MKV", "deeper/day2/drive.bag", "notes/readme.txt", "loose.mp4"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"")
    recordings = find_recordings(tmp_path)
    assert recordings == [tmp_path / "good"]
    assert find_unlabelled(tmp_path, recordings) == [tmp_path, tmp_path / "deeper/day2", tmp_path / "lost"]
    assert find_unlabelled(tmp_path / "good", [tmp_path / "good"]) == []


BASE = {"id": "take", "day": "2017-05-10", "location": "estuary", "nir": "nir.mkv", "rgb": "rgb.mkv"}


@pytest.mark.parametrize("document, files, expected", [
    ('{"id": "take",', ("nir.mkv", "rgb.mkv"), "not valid JSON"),
    ("[1, 2]", ("nir.mkv", "rgb.mkv"), "expected a JSON object"),
    ({key: value for key, value in BASE.items() if key != "day"}, ("nir.mkv", "rgb.mkv"), "missing key(s) day"),
    ({**BASE, "rgb": "../rgb.mkv"}, ("nir.mkv", "rgb.mkv"), "outside the recording folder"),
    ({**BASE, "nir": "/etc/passwd"}, ("nir.mkv", "rgb.mkv"), "outside the recording folder"),
    (BASE, ("nir.mkv",), "rgb.mkv: file named in"),
    ({**{k: v for k, v in BASE.items() if k not in ("nir", "rgb")}, "video": "nir.mkv", "nir_stream": 0,
      "rgb_stream": 1}, ("nir.mkv",), "RGB stream 1 is missing"),
    ({**BASE, "id": ""}, ("nir.mkv", "rgb.mkv"), "'id' must be a non-empty string"),
])
def test_bad_recordings_give_one_line(recording, tmp_path, document, files, expected):
    folder = _folder_with(tmp_path, recording, document, files)
    with pytest.raises(RecordingError) as error:
        load_recording(folder)
    message = str(error.value)
    assert expected in message and "\n" not in message
    assert str(folder) in message


def test_missing_description(tmp_path):
    with pytest.raises(RecordingError, match="recording.json: missing"):
        load_recording(tmp_path)


def test_unreadable_video_is_a_recording_error(recording, tmp_path):
    folder = _folder_with(tmp_path, recording, BASE)
    (folder / "nir.mkv").write_bytes(b"not a video at all" * 10)
    with pytest.raises(RecordingError, match="nir.mkv: cannot open video"):
        load_recording(folder)


def test_a_link_leading_out_of_the_folder_is_refused_like_dotdot(recording, tmp_path):
    folder = _folder_with(tmp_path, recording, BASE, files=("nir.mkv",))
    (folder / "rgb.mkv").symlink_to(recording.folder / "rgb.mkv")  # a real video, but outside
    with pytest.raises(RecordingError, match="'rgb.mkv' is a link leading outside the recording folder"):
        load_recording(folder)
    (folder / "rgb.mkv").unlink()
    (folder / "inner").mkdir()
    (folder / "inner" / "rgb.mkv").write_bytes((recording.folder / "rgb.mkv").read_bytes())
    (folder / "rgb.mkv").symlink_to(folder / "inner" / "rgb.mkv")  # a link that stays inside is fine
    assert load_recording(folder).rgb_path == folder / "rgb.mkv"


def test_deeply_nested_json_is_one_line(recording, tmp_path):
    folder = _folder_with(tmp_path, recording, "[" * 200_000 + "]" * 200_000)
    with pytest.raises(RecordingError, match="not valid JSON"):
        load_recording(folder)


def test_a_recording_made_from_a_video_passes_the_folder_check(recording, tmp_path):
    made = recording_from_video(recording.folder / "rgb.mkv", tmp_path / "from-video", "fv", "d1", "city")
    loaded = load_recording(made)
    assert not loaded.rgb_path.is_symlink() and loaded.rgb_path.read_bytes() == (recording.folder / "rgb.mkv").read_bytes()


def test_a_nir_only_folder_loads_only_when_rgb_is_optional(recording, tmp_path):
    document = {key: value for key, value in BASE.items() if key != "rgb"}
    folder = _folder_with(tmp_path, recording, document, files=("nir.mkv",))
    with pytest.raises(RecordingError, match="missing key"):
        load_recording(folder)
    loaded = load_recording(folder, require_rgb=False)
    assert loaded.nir_path == folder / "nir.mkv" and loaded.rgb_path is None


@pytest.mark.parametrize("identifier, problem", [
    ("a/b", "path separator"), ("..", "starts with a dot"), (".hidden", "starts with a dot"),
    ("take\x00", "control character"), ("x" * 300, "longer than 200 bytes"),
    ("take.review", "ending of side-by-side review videos"), ("Take.REVIEW", "ending of side-by-side"),
])
def test_an_id_that_cannot_name_files_is_refused(recording, tmp_path, identifier, problem):
    folder = _folder_with(tmp_path, recording, {**BASE, "id": identifier})
    with pytest.raises(RecordingError, match=problem) as error:
        load_recording(folder)
    assert "recording.json" in str(error.value) and len(str(error.value)) < 300
