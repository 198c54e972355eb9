"""Teleoperated episodes on disk: one at a time, atomically, WebDataset or LeRobot v3.0; a crash
loses at most the episode being written; a new session on the same folder appends; and the
command line prints the page's URL with its token."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from datapipe.cli import main as cli_main
from datapipe.formats.lerobot.reader import LeRobotReader
from datapipe.formats.shards.dataset import ShardDataset
from datapipe.generators.robots.config import arm_gripper_embodiment
from datapipe.generators.robots.menagerie_panda import franka_config
from datapipe.teleop.recording import DatasetRecorder, EpisodeBuffer, RecordingFolderError, StepRow


def _episode(n: int, seed: int, success: bool = True):
    import cv2

    rng = np.random.default_rng(seed)
    views = [cv2.imencode(".jpg", np.full((48, 64, 3), (40 + 7 * t) % 256, np.uint8))[1].tobytes() for t in range(n)]
    rows = [
        StepRow(
            state=rng.normal(size=8).astype(np.float32),
            action=rng.normal(size=8),
            ee_pose=np.r_[rng.normal(size=3), 1, 0, 0, 0],
            objects=rng.normal(size=(1, 7)),
            task_state=rng.normal(size=8).astype(np.float32),
            qpos=rng.normal(size=10),
            qvel=rng.normal(size=9),
            control_mode=t % 3,
            is_intervention=t % 3 != 0,
            policy_action=np.full(8, np.nan) if t % 3 else rng.normal(size=8),
            jpeg=views[t],
        )
        for t in range(n)
    ]
    return EpisodeBuffer(rows).episode(
        rows,
        20.0,
        arm_gripper_embodiment(franka_config(), 20.0),
        f"task {seed}",
        success,
        "teleop://pick_place?robot=test",
        f"seed={seed}",
        {"teleop": {"operator": "t"}},
    )


def test_episodes_are_committed_one_at_a_time_and_a_crash_loses_only_the_one_being_written(tmp_path):
    out = tmp_path / "ds"
    rec = DatasetRecorder(str(out))
    rec.write(_episode(12, 1))
    rec.write(_episode(9, 2, success=False))
    assert [e.length for e in ShardDataset(str(out)).iter_episodes()] == [12, 9]
    # a crash while writing the third: its shard is on disk but never committed
    (out / "train-part-deadbeef00000000-0000.tar").write_bytes(b"half a tar")
    (out / ".teleop" / "receipts.json.tmp-crash").write_bytes(b"[")
    rec.close()  # the server stops (a killed one releases its lock with its process)
    again = DatasetRecorder(str(out))  # the next session on the same folder
    assert again.episodes == 2
    again.write(_episode(7, 3))
    eps = list(ShardDataset(str(out)).iter_episodes())
    assert [e.length for e in eps] == [12, 9, 7] and [e.success for e in eps] == [True, False, True]
    assert not (out / "train-part-deadbeef00000000-0000.tar").exists()
    assert eps[0].steps["control_mode"].dtype == np.int8 and eps[0].cameras["front"].width == 64
    # the recorded dataset feeds workflows like any other: the audit reads it and finds no error
    assert cli_main(["audit", str(out), "--out", str(tmp_path / "audit"), "--no-progress"]) == 0
    summary = json.loads((tmp_path / "audit" / "summary.json").read_text())
    assert not [f["message"] for f in summary["findings"] if f["severity"] == "error"]


def test_lerobot_format_is_exported_again_after_every_episode(tmp_path):
    out = tmp_path / "lr"
    rec = DatasetRecorder(str(out), "lerobot")
    rec.write(_episode(10, 1))
    assert LeRobotReader(str(out)).info["total_episodes"] == 1
    rec.write(_episode(6, 2))
    reader = LeRobotReader(str(out))
    assert reader.info["total_episodes"] == 2 and reader.info["total_frames"] == 16
    ep = reader.read_episode(1)
    assert ep.length == 6 and ep.task == ("task 2",)
    with pytest.raises(RecordingFolderError, match="format"):
        DatasetRecorder(str(tmp_path / "x"), "hdf5")


def test_the_command_line_prints_the_url_with_a_token_and_serves_it(tmp_path):
    env = {**os.environ, "LP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "datapipe", "teleop", "--robots", "1", "--out", str(tmp_path / "ds")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        url = None
        deadline = time.monotonic() + 90
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            found = re.search(r"http://127\.0\.0\.1:\d+/\?token=\S+", line)
            url = found.group(0) if found else None
        assert url is not None, "no URL printed"
        for _ in range(100):
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    assert r.status == 200 and b"datapipe teleop" in r.read()
                break
            except urllib.error.URLError:
                time.sleep(0.1)
        else:
            raise AssertionError(f"{url} did not answer")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url.split("?")[0], timeout=5)
        assert refused.value.code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)


WORKFLOW_DATASET = """
name: ds
stages:
  - id: src
    uses: source.synthetic
    with: {episodes: 8, cameras: [front], image_size: [16, 16]}
  - id: out
    uses: SINK
    needs: [src]
    with: {path: PATH}
"""


@pytest.mark.parametrize("sink", ["sink.webdataset", "sink.lerobot"])
@pytest.mark.parametrize("fmt", ["webdataset", "lerobot"])
def test_teleop_never_rebuilds_a_dataset_it_did_not_record(sink, fmt, write_workflow, tmp_path):
    """Teleop --out on a workflow's dataset is refused, naming a file; every file stays."""
    out = tmp_path / "ds"
    wf = write_workflow(WORKFLOW_DATASET.replace("SINK", sink).replace("PATH", str(out)))
    assert cli_main(["run", str(wf), "--out", str(tmp_path / "run"), "--local", "--no-progress"]) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(RecordingFolderError, match="teleop did not record"):
        DatasetRecorder(str(out), fmt)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert cli_main(["teleop", "--out", str(out), "--format", fmt, "--robots", "1"]) == 2


def test_two_recorders_on_one_folder_are_fenced_and_formats_do_not_mix(tmp_path):
    out = tmp_path / "ds"
    first = DatasetRecorder(str(out))
    first.write(_episode(5, 1))
    with pytest.raises(RecordingFolderError, match="another teleop server"):
        DatasetRecorder(str(out))
    code = "import sys; from teleop.recording import DatasetRecorder; DatasetRecorder(sys.argv[1])"
    other = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True)
    assert other.returncode != 0 and "another teleop server" in other.stderr  # another process too
    first.write(_episode(6, 2))  # the first goes on undisturbed
    first.close()
    with pytest.raises(RecordingFolderError, match="webdataset recording"):
        DatasetRecorder(str(out), "lerobot")
    assert [e.length for e in ShardDataset(str(out)).iter_episodes()] == [5, 6]


def test_a_lerobot_export_behind_its_receipts_catches_up_on_restart(tmp_path):
    out = tmp_path / "lr"
    rec = DatasetRecorder(str(out), "lerobot")
    rec.write(_episode(10, 1))
    rec.write(_episode(6, 2))
    rec.close()
    info = json.loads((out / "meta" / "info.json").read_text())
    # as a kill between the second receipt and its export leaves it: the export says one episode
    (out / "meta" / "info.json").write_text(json.dumps({**info, "total_episodes": 1}))
    DatasetRecorder(str(out), "lerobot").close()
    assert LeRobotReader(str(out)).info["total_episodes"] == 2
