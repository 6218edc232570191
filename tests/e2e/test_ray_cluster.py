"""nircolor on a real Ray cluster the way Ray recommends: a driver that finds the cluster through
$RAY_ADDRESS, and `ray job submit -- nircolor train …`. The cluster is started with `ray start` in
its own temp dir and stopped by killing exactly its processes (never `ray stop`, which would stop
every Ray on the machine)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ray.job_submission import JobSubmissionClient
from ray.util.state import list_actors

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _process_table() -> list[tuple[int, int, int]]:
    table = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
                table.append((int(name), int(fields[1]), int(fields[2])))  # pid, parent, process group
            except OSError:
                pass
    return table


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:  # the process ended meanwhile
        return ""


def _kill_group_and_descendants(group: int) -> None:
    table = _process_table()
    chosen = {pid for pid, _, pgid in table if pgid == group}
    while more := {pid for pid, parent, _ in table if parent in chosen} - chosen:
        chosen |= more
    for pid in chosen:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _start_head(temp_dir: Path, environment: dict) -> dict:
    """`ray start --head` on fresh ports; the address, dashboard and environment of the cluster."""
    port, dashboard = _free_port(), _free_port()
    subprocess.run([str(BIN / "ray"), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                    "--num-cpus", "2", "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard),
                    "--include-dashboard", "true", "--temp-dir", str(temp_dir), "--disable-usage-stats",
                    # Ports of its own: the test session's embedded Ray holds the default agent ports.
                    "--dashboard-agent-listen-port", str(_free_port()), "--dashboard-agent-grpc-port",
                    str(_free_port()), "--metrics-export-port", str(_free_port()), "--runtime-env-agent-port",
                    str(_free_port())],
                   check=True, capture_output=True, env=environment, start_new_session=True)
    return {"address": f"127.0.0.1:{port}", "dashboard": f"http://127.0.0.1:{dashboard}", "env": environment}


def _stop(temp_dir: Path) -> None:
    """Kill exactly the processes of the cluster in `temp_dir`, also those of a start that failed."""
    for group in {pgid for pid, _, pgid in _process_table() if str(temp_dir) in _command_line(pid)}:
        _kill_group_and_descendants(group)
    subprocess.run(["rm", "-rf", str(temp_dir)], check=False)


@pytest.fixture
def cluster(tmp_path_factory):
    temp_dir = Path("/tmp") / f"nircolor-cluster-{os.getpid()}"  # short: Ray's socket paths have a length limit
    environment = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    environment["RAY_AUTH_MODE"] = "disabled"  # a throwaway cluster on 127.0.0.1
    try:
        try:
            started = _start_head(temp_dir, environment)
        except subprocess.CalledProcessError:
            # On a loaded machine the raylet can give up waiting for its dashboard agent: once more.
            _stop(temp_dir)
            started = _start_head(temp_dir, environment)
        yield started
    finally:
        _stop(temp_dir)


@pytest.mark.slow  # tens of seconds on 2 cores: CI runs it (scripts/test.sh), plain pytest skips it
def test_ray_address_and_ray_job_submit_run_on_the_cluster(tmp_path, cluster):
    environment = {**cluster["env"], "COLUMNS": "200"}
    nircolor = str(BIN / "nircolor")
    subprocess.run([nircolor, "synth", "recordings", str(tmp_path / "recordings"), "--count", "2", "--frames", "8",
                    "--size", "64x48"], check=True, capture_output=True, env=environment)
    # 1. A driver on this machine finds the cluster through $RAY_ADDRESS.
    build = subprocess.run([nircolor, "dataset", "build", str(tmp_path / "recordings"), str(tmp_path / "dataset"),
                            "--eval-fraction", "0.5"], capture_output=True, text=True,
                           env={**environment, "RAY_ADDRESS": cluster["address"]})
    assert build.returncode == 0, build.stdout + build.stderr
    assert json.loads((tmp_path / "dataset" / "manifest.json").read_text())["recordings"]
    # 2. `ray job submit` runs the training driver on the cluster (Ray sets RAY_ADDRESS for it).
    command = [str(BIN / "ray"), "job", "submit", "--address", cluster["dashboard"], "--", nircolor, "train",
               str(tmp_path / "dataset"), str(tmp_path / "run"), "--model", "johnson-6", "--tiny", "--steps", "2",
               "--crop", "32", "--eval-every", "0", "--sample-every", "0"]
    for _ in range(15):  # the head's job agent can register a while after `ray start` returns (a loaded machine)
        submit = subprocess.run(command, capture_output=True, text=True, env=environment)
        if "No available agent to submit job" not in submit.stderr + submit.stdout:
            break
        time.sleep(2)
    assert submit.returncode == 0, submit.stdout + submit.stderr
    assert (tmp_path / "run" / "checkpoints" / "step-0000002").is_dir()

    jobs = JobSubmissionClient(cluster["dashboard"]).list_jobs()
    by_command = {job.entrypoint: job for job in jobs}
    build_job = next(job for command, job in by_command.items() if command and "dataset build" in command)
    train_job = next(job for command, job in by_command.items() if command and " train " in command)
    assert build_job.type.name == "DRIVER" and build_job.status.name == "SUCCEEDED"
    assert train_job.type.name == "SUBMISSION" and train_job.status.name == "SUCCEEDED"
    # The work itself ran on this cluster's nodes: its actors are listed under those jobs.
    actors = list_actors(address=cluster["dashboard"], limit=1000, detail=True)
    classes_by_job = {}
    for actor in actors:
        classes_by_job.setdefault(actor.job_id, set()).add(actor.class_name)
    assert any("_ActorWorker" in classes for job, classes in classes_by_job.items() if job == build_job.job_id)
    assert any("RayTrainWorker" in classes for classes in classes_by_job.values())
