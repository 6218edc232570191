"""dataset_tools/storage.py's Mirror against the local S3 server: what a pull fetches, what a push uploads."""
from __future__ import annotations

import os

import pytest

from nircolor.dataset_tools.storage import Mirror, StorageError, split_uri
from tests.s3_server import BUCKET


def put(client, key: str, body: bytes) -> None:
    client.put_object(Bucket=BUCKET, Key=key, Body=body)


def test_a_pull_fetches_only_what_changed_and_follows_remote_deletions(s3):
    put(s3, "ds/a.h5", b"a" * 10)
    put(s3, "ds/sub/b.json", b"{}")
    mirror = Mirror.of(f"s3://{BUCKET}/ds")
    assert mirror.pull() == 2
    assert (mirror.local / "a.h5").read_bytes() == b"a" * 10 and (mirror.local / "sub" / "b.json").read_bytes() == b"{}"
    assert Mirror.of(f"s3://{BUCKET}/ds/").pull() == 0  # the record persists: a second command fetches nothing

    put(s3, "ds/a.h5", b"changed")
    s3.delete_object(Bucket=BUCKET, Key="ds/sub/b.json")
    (mirror.local / "mine.h5").write_bytes(b"not pushed yet")  # the command's own work stays
    mirror = Mirror.of(f"s3://{BUCKET}/ds")
    assert mirror.pull() == 1
    assert (mirror.local / "a.h5").read_bytes() == b"changed"
    assert not (mirror.local / "sub" / "b.json").exists() and (mirror.local / "mine.h5").exists()


def test_a_push_uploads_complete_files_once_and_deletes_what_the_command_removed(s3):
    mirror = Mirror.of(f"s3://{BUCKET}/run")
    mirror.pull()
    (mirror.local / "checkpoints").mkdir(parents=True)
    (mirror.local / "checkpoints" / "weights.safetensors").write_bytes(b"w")
    (mirror.local / "checkpoints" / f".weights.safetensors.{os.getpid()}.tmp.safetensors").write_bytes(b"half")
    (mirror.local / ".nircolor.lock").write_text("pid")
    (mirror.local / "report.json").write_text("{}")
    assert mirror.push() == 2
    listed = {item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix="run/")["Contents"]}
    assert listed == {"run/checkpoints/weights.safetensors", "run/report.json"}
    assert mirror.push() == 0  # nothing changed

    (mirror.local / "checkpoints" / "weights.safetensors").unlink()
    (mirror.local / "report.json").write_text('{"done": true}')
    assert mirror.push() == 1
    # pyarrow keeps an emptied folder as a marker object "name/"; readers see no file there.
    listed = {item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix="run/")["Contents"]}
    assert {key for key in listed if not key.endswith("/")} == {"run/report.json"}
    assert s3.get_object(Bucket=BUCKET, Key="run/report.json")["Body"].read() == b'{"done": true}'
    # The local copy took the object's time: a pull right after fetches nothing.
    assert Mirror.of(f"s3://{BUCKET}/run").pull() == 0


@pytest.mark.parametrize("uri", ["s3://", "s3:///x", "s3://b//x", "s3://b/./x", "s3://b/a/../x", "gs://b/x"])
def test_a_malformed_or_foreign_uri_is_refused(uri):
    with pytest.raises(StorageError, match="s3://"):
        split_uri(uri)


def test_a_bucket_and_key_are_split():
    assert split_uri("s3://bucket/a/b/") == ("bucket", "a/b")
    assert split_uri("S3://bucket") == ("bucket", "")
