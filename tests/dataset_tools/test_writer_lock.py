"""One writer per folder: a second holder refuses at once naming the pid; dead holders' files are taken over."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from nircolor.dataset_tools.writer_lock import LOCK_NAME, WriterBusy, writer_lock

HOLD = textwrap.dedent("""
    import sys, time
    from nircolor.dataset_tools.writer_lock import writer_lock
    with writer_lock(sys.argv[1], "dataset build"):
        print("held", flush=True)
        sys.stdin.read()
""")


def test_second_process_refuses_at_once_naming_command_and_pid(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WriterBusy) as caught:
            with writer_lock(tmp_path, "colorize"):
                pass
        message = str(caught.value)
        assert str(tmp_path) in message and f"dataset build (pid {holder.pid})" in message
        assert "\n" not in message
    finally:
        holder.communicate("")
    with writer_lock(tmp_path, "colorize"):  # released when the holder ended
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert not (tmp_path / LOCK_NAME).exists()


def test_holder_killed_leaves_a_lock_that_is_taken_over(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    assert (tmp_path / LOCK_NAME).exists()  # the dead pid's file stays behind
    with writer_lock(tmp_path, "train"):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["command"] == "train"


@pytest.mark.parametrize("content", [b"", b"\xff\xfe", b"[" * 100000, b'{"pid": "x"}', b'{"pid": 1}'])
def test_garbled_stale_lock_files_are_taken_over(tmp_path, content):
    (tmp_path / LOCK_NAME).write_bytes(content)
    with writer_lock(tmp_path, "import-pairs"):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()


def test_same_process_second_writer_refuses(tmp_path):
    with writer_lock(tmp_path / "new", "train"):
        with pytest.raises(WriterBusy, match=f"pid {os.getpid()}"):
            with writer_lock(tmp_path / "new", "train"):
                pass
