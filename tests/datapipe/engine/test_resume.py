"""A run whose driver is SIGKILLed mid-stage resumes: every episode exactly once, and no stage
that had finished is computed again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.helpers import read_sink

WF = """
name: resume
defaults: {batch_size: 2}
stages:
  - id: src
    uses: source.synthetic
    with: {episodes: 60, episodes_per_shard: 10, min_length: 5, max_length: 10}
  - id: fanout
    uses: debug.noop
    needs: [src]
  - id: slow
    uses: debug.sleep
    needs: [fanout]
    with: {ms: 150}
  - id: side
    uses: filter.expr
    needs: [fanout]
    with: {expr: "length > 7"}
  - id: out
    uses: sink.parquet
    needs: [slow]
    with: {path: OUT}
"""


def _receipts(run: Path, stage: str) -> list[Path]:
    return sorted(run.glob(f"stages/{stage}-*/parts/*.json"))


def _datapipe(*args: str) -> list[str]:
    return [sys.executable, "-m", "datapipe", *args]


def test_sigkill_mid_stage_then_resume(write_workflow, tmp_path):
    out, run = tmp_path / "data", tmp_path / "run"
    path = write_workflow(WF.replace("OUT", str(out)))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = open(tmp_path / "first.log", "w")
    proc = subprocess.Popen(
        _datapipe("run", str(path), "--out", str(run), "--no-progress"),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    deadline = time.time() + 180
    # slow runs fused with the sink: a batch of both is done when the sink's receipt exists
    while time.time() < deadline and len(_receipts(run, "out")) < 4:
        assert proc.poll() is None, (tmp_path / "first.log").read_text()
        time.sleep(0.2)
    assert len(_receipts(run, "out")) >= 4, "the slow stage never started"
    os.kill(proc.pid, signal.SIGKILL)  # the driver only; its Ray workers are orphaned
    proc.wait()
    slow_done_before = len(_receipts(run, "out"))
    assert slow_done_before < 30, "the run finished before it could be killed"
    fanout_mtimes = {p: p.stat().st_mtime_ns for p in _receipts(run, "fanout")}
    assert (next(run.glob("stages/fanout-*")) / "COMPLETE.json").exists()  # finished before the kill

    second = subprocess.run(
        _datapipe("run", str(path), "--out", str(run), "--no-progress"),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert second.returncode == 0, second.stdout + second.stderr
    ids = [e.episode_id for e in read_sink(out)]
    assert len(ids) == 60 and max(Counter(ids).values()) == 1
    manifest = json.loads((run / "manifest.json").read_text())
    stages = manifest["stages"]
    assert stages["src"]["status"] == "reused" and stages["src"]["parts_written"] == 0
    assert stages["fanout"]["status"] == "reused" and stages["fanout"]["parts_written"] == 0
    assert {p: p.stat().st_mtime_ns for p in _receipts(run, "fanout")} == fanout_mtimes
    assert stages["slow"]["parts_reused"] >= slow_done_before  # resumed, not restarted
    assert stages["slow"]["counts"]["in"] == 60 and stages["slow"]["counts"]["out"] == 60
    assert stages["side"]["counts"]["in"] == 60  # the other branch of the fan-out, complete too


def test_sigterm_is_handled_like_ctrl_c_then_resume(write_workflow, tmp_path):
    """kill (SIGTERM, as a scheduler or docker stop sends): the manifest says interrupted, the
    exit code 143, and the next run resumes with every episode once."""
    out, run = tmp_path / "data", tmp_path / "run"
    path = write_workflow(WF.replace("OUT", str(out)))
    proc = subprocess.Popen(
        _datapipe("run", str(path), "--out", str(run), "--local", "--no-progress"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.time() + 120
    while time.time() < deadline and len(_receipts(run, "out")) < 2:
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143, output
    assert "terminated (SIGTERM)" in output and "Traceback" not in output
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["error"] == "interrupted (SIGTERM)"
    assert manifest["stages"]["slow"]["status"] == "interrupted"
    second = subprocess.run(
        _datapipe("run", str(path), "--out", str(run), "--local", "--no-progress"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert second.returncode == 0, second.stdout + second.stderr
    ids = [e.episode_id for e in read_sink(out)]
    assert len(ids) == 60 and max(Counter(ids).values()) == 1
