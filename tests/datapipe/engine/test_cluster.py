"""A 2-node Ray cluster on loopback: the worker node is killed mid-run and the run still completes
with every episode exactly once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

from tests.helpers import read_sink

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

WF = """
name: cluster
defaults: {batch_size: 2}
stages:
  - id: src
    uses: source.synthetic
    with: {episodes: 80, episodes_per_shard: 5, min_length: 5, max_length: 10}
  - id: slow
    uses: debug.sleep
    needs: [src]
    with: {ms: 100}
  - id: out
    uses: sink.parquet
    needs: [slow]
    with: {path: OUT}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray(*args: str, env: dict) -> None:
    ray_bin = Path(sys.executable).with_name("ray")
    subprocess.run([str(ray_bin), *args], check=True, env=env, capture_output=True, timeout=120)


def _processes_under(temp_dir: Path) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(str(temp_dir) in part for part in (p.info["cmdline"] or [])):
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@pytest.fixture
def two_node_cluster(request):
    """Head (1 CPU) and worker (2 CPUs; ``worker_gpus`` declared GPUs where the test is
    parametrized with it) nodes on 127.0.0.1, each with its own temp dir."""
    worker_gpus = getattr(request, "param", 0)
    base = Path("/tmp") / f"dp-cluster-{os.getpid()}"  # short: Ray's socket paths have a length limit
    head_dir, worker_dir = base / "head", base / "worker"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    port = _free_port()
    address = f"127.0.0.1:{port}"
    try:
        _ray(
            "start",
            "--head",
            "--port",
            str(port),
            "--node-ip-address",
            "127.0.0.1",
            "--num-cpus",
            "1",
            "--include-dashboard",
            "false",
            "--temp-dir",
            str(head_dir),
            "--disable-usage-stats",
            env=env,
        )
        _ray(
            "start",
            "--address",
            address,
            "--node-ip-address",
            "127.0.0.1",
            "--num-cpus",
            "2",
            "--num-gpus",
            str(worker_gpus),
            "--temp-dir",
            str(worker_dir),
            env=env,
        )
        yield address, worker_dir, env
    finally:
        for d in (worker_dir, head_dir):
            for p in _processes_under(d):
                try:
                    p.kill()
                except psutil.NoSuchProcess:
                    pass
        subprocess.run(["rm", "-rf", str(base)], check=False)


def test_worker_node_killed_mid_run(two_node_cluster, write_workflow, tmp_path):
    address, worker_dir, env = two_node_cluster
    out, run = tmp_path / "data", tmp_path / "run"
    path = write_workflow(WF.replace("OUT", str(out)))
    log = open(tmp_path / "run.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "datapipe", "run", str(path), "--out", str(run), "--address", address, "--no-progress"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    deadline = time.time() + 180
    while time.time() < deadline and len(list(run.glob("stages/out-*/parts/*.json"))) < 6:
        assert proc.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
        time.sleep(0.2)
    raylets = [p for p in _processes_under(worker_dir) if "raylet" in " ".join(p.cmdline())]
    assert raylets, "no raylet of the worker node found"
    for p in raylets:
        os.kill(p.pid, signal.SIGKILL)
    done_at_kill = len(list(run.glob("stages/out-*/parts/*.json")))
    assert proc.wait(timeout=300) == 0, (tmp_path / "run.log").read_text()[-5000:]
    assert done_at_kill < 40, "the run finished before the node was killed"
    ids = [e.episode_id for e in read_sink(out)]
    assert len(ids) == 80 and max(Counter(ids).values()) == 1
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "succeeded"
    assert manifest["stages"]["slow"]["counts"] == {
        **manifest["stages"]["slow"]["counts"],
        "in": 80,
        "out": 80,
        "failed": 0,
    }


def test_worker_warnings_go_to_the_run_directory_not_the_console(tmp_path):
    """MediaPipe, TFLite, absl and protobuf write to the workers' stderr; the console shows
    datapipe's progress and messages only, the workers' output lands in RUN/logs/."""
    import os
    import subprocess
    import sys

    import numpy as np

    from datapipe.records.video import encode_mp4
    from tests.conftest import REPO

    frames = np.full((20, 96, 128, 3), 90, np.uint8)
    (tmp_path / "clip.mp4").write_bytes(encode_mp4(frames, 10.0))
    wf = tmp_path / "wf.yaml"
    wf.write_text(f"""
name: quiet
stages:
  - id: videos
    uses: ingest.video_files
    with: {{paths: ["{tmp_path}/clip.mp4"], clip_seconds: 0, min_clip_seconds: 0.5}}
  - id: hands
    uses: perception.hand_pose
    needs: [videos]
  - id: out
    uses: sink.parquet
    needs: [hands]
    with: {{path: "{tmp_path}/out"}}
""")
    env = {**os.environ, "RAY_ADDRESS": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "datapipe", "run", str(wf), "--out", str(tmp_path / "run"), "--no-progress"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    for noise in ("TensorFlow Lite", "W0000", "UserWarning", "absl::InitializeLog"):
        assert noise not in proc.stderr, proc.stderr
    logs = "".join(p.read_text() for p in (tmp_path / "run" / "logs").glob("worker-*.log"))
    assert "TensorFlow Lite" in logs or "W0000" in logs


GPU_WF = """
name: gpu_stage
defaults: {batch_size: 2}
stages:
  - id: src
    uses: source.synthetic
    with: {episodes: 6, episodes_per_shard: 3, min_length: 5, max_length: 8}
  - id: on_gpu
    uses: debug.where
    needs: [src]
    resources: {gpus: 1}
  - id: out
    uses: sink.parquet
    needs: [on_gpu]
    with: {path: OUT}
"""


@pytest.mark.parametrize("two_node_cluster", [1], indirect=True)
def test_a_gpu_stage_is_scheduled_on_the_node_that_declares_a_gpu(two_node_cluster, write_workflow, tmp_path):
    """The worker node declares one GPU (``ray start --num-gpus 1``; no real device is needed for
    Ray's scheduling), the head none: every episode of the ``gpus: 1`` stage runs on the worker,
    with the GPU Ray assigned in CUDA_VISIBLE_DEVICES."""
    address, worker_dir, env = two_node_cluster
    out, run = tmp_path / "data", tmp_path / "run"
    path = write_workflow(GPU_WF.replace("OUT", str(out)))
    proc = subprocess.run(
        [sys.executable, "-m", "datapipe", "run", str(path), "--out", str(run), "--address", address, "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    nodes = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import ray, json; ray.init(address='{address}', logging_level='ERROR'); "
            "print(json.dumps([(n['NodeID'], n['Resources'].get('GPU', 0)) for n in ray.nodes() if n['Alive']]))",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    gpu_nodes = {node for node, gpus in json.loads(nodes.stdout.strip().splitlines()[-1]) if gpus >= 1}
    assert len(gpu_nodes) == 1
    wheres = [e.meta["where"] for e in read_sink(out)]
    assert len(wheres) == 6
    assert {w["node_id"] for w in wheres} == gpu_nodes
    assert all(w["cuda_visible_devices"] == "0" for w in wheres)
