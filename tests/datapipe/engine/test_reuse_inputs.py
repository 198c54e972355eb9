"""Reuse never hides changed inputs (issue 24, item 6): a source's listed files are part of its
hash, and a config file is read once, its text hashed and used."""

from __future__ import annotations

import json
import os

import numpy as np

from datapipe.engine.run import run_workflow
from datapipe.engine.workflow import load_workflow
from datapipe.records.video import encode_mp4
from tests.helpers import read_sink

VIDEOS = """
name: videos
stages:
  - id: videos
    uses: ingest.video_files
    with: {paths: ["GLOB"], clip_seconds: 0}
  - id: out
    uses: sink.parquet
    needs: [videos]
    with: {path: OUT}
"""


def _video(path, frames: int, level: int) -> None:
    path.write_bytes(encode_mp4(np.full((frames, 32, 32, 3), level, np.uint8), 10.0))


def _lengths(out) -> dict[str, int]:
    return {e.source.uri.rsplit("/", 1)[-1]: e.length for e in read_sink(out)}


def test_a_video_added_or_replaced_under_a_glob_is_seen(write_workflow, tmp_path):
    clips, out, run_dir = tmp_path / "clips", tmp_path / "out", str(tmp_path / "run")
    clips.mkdir()
    _video(clips / "a.mp4", 10, 50)
    wf = write_workflow(VIDEOS.replace("GLOB", str(clips / "*.mp4")).replace("OUT", str(out)))

    def run() -> dict[str, str]:
        result = run_workflow(load_workflow(wf), run_dir, runner="local", progress=False)
        assert result.ok, result.error
        return {sp.spec.id: sp.status for sp in result.plan.stages}

    assert run() == {"videos": "succeeded", "out": "succeeded"}
    assert run() == {"videos": "reused", "out": "reused"}  # nothing changed
    _video(clips / "b.mp4", 12, 90)  # added under the glob
    assert run()["videos"] == "succeeded"
    assert _lengths(out) == {"a.mp4": 10, "b.mp4": 12}
    before = os.stat(clips / "a.mp4")
    _video(clips / "a.mp4", 15, 50)  # replaced under its name
    os.utime(clips / "a.mp4", ns=(before.st_atime_ns, before.st_mtime_ns + 1))
    assert run()["videos"] == "succeeded"
    assert _lengths(out) == {"a.mp4": 15, "b.mp4": 12}
    (clips / "b.mp4").unlink()
    assert run()["videos"] == "succeeded"
    assert _lengths(out) == {"a.mp4": 15}


STANDARDIZE = """
name: std
stages:
  - id: src
    uses: source.synthetic
    with: {episodes: 2, cameras: [front], image_size: [16, 16]}
  - id: std
    uses: standardize.embodiment
    needs: [src]
    with: {config: CONFIG}
  - id: out
    uses: sink.parquet
    needs: [std]
    with: {path: OUT}
"""

DATASET = """
dataset: synthetic
cameras: {front: primary}
fps: FPS
"""


def test_a_config_file_edited_during_a_run_never_gives_new_output_under_the_old_hash(write_workflow, tmp_path):
    config, out, run = tmp_path / "ds.yaml", tmp_path / "out", str(tmp_path / "run")
    config.write_text(DATASET.replace("FPS", "10"))
    wf = write_workflow(STANDARDIZE.replace("CONFIG", str(config)).replace("OUT", str(out)))
    loaded = load_workflow(wf)  # validation reads the config once
    config.write_text(DATASET.replace("FPS", "5"))  # edited while the run starts
    result = run_workflow(loaded, run, runner="local", progress=False)
    assert result.ok, result.error
    assert {e.fps for e in read_sink(out)} == {10.0}  # made from the text that was hashed
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    hash_10 = manifest["stages"]["std"]["hash"]
    again = run_workflow(load_workflow(wf), run, runner="local", progress=False)  # sees the edit
    assert again.ok and again.plan.get("std").status == "succeeded" and again.plan.get("std").out_hash != hash_10
    assert {e.fps for e in read_sink(out)} == {5.0}
