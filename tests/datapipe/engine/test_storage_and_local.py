"""Run directories and sinks on pyarrow filesystems (plain paths and file:// URIs); the stage
contract as the local runner applies it."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import pytest

from datapipe.engine.registry import default_registry
from datapipe.engine.run import run_workflow
from datapipe.engine.stage import Transform
from datapipe.engine.workflow import load_workflow
from datapipe.errors import DatapipeError
from datapipe.storage import resolve
from tests.helpers import expected_synthetic, read_sink

WF = """
name: uri
stages:
  - id: src
    uses: source.synthetic
    with: {episodes: 12, episodes_per_shard: 4, seed: 5}
  - id: out
    uses: sink.parquet
    needs: [src]
    with: {path: "SINK"}
"""


def test_run_dir_and_sink_as_file_uris(write_workflow, tmp_path):
    sink = f"file://{tmp_path}/data"
    wf = load_workflow(write_workflow(WF.replace("SINK", sink)))
    result = run_workflow(wf, out=f"file://{tmp_path}/run", runner="local", progress=False)
    assert result.ok, result.error
    assert {e.episode_id for e in read_sink(tmp_path / "data")} == {
        e.episode_id for e in expected_synthetic(12, seed=5)
    }
    index = json.loads((tmp_path / "data" / "_datapipe_index.json").read_text())
    # the sink runs fused with the source: one part per source shard of 4 episodes
    assert index["episodes"] == 12 and len(index["files"]) == 3
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["status"] == "succeeded"


def test_atomic_write_leaves_no_partial_file(tmp_path):
    loc = resolve(tmp_path / "x" / "f.bin")
    loc.write_bytes_atomic(b"hello")
    assert loc.read_bytes() == b"hello"
    assert os.listdir(tmp_path / "x") == ["f.bin"]
    (tmp_path / "x" / "g.bin.datapipe-tmp-0badf00d").write_bytes(b"partial")  # as a crash would leave it
    (tmp_path / "x" / "sub").mkdir()
    (tmp_path / "x" / "sub" / "h.bin.datapipe-tmp-0000beef").write_bytes(b"partial")
    (tmp_path / "x" / "notes.tmp-1").write_bytes(b"another program's")  # not datapipe's pattern
    assert [p.path.rsplit("/", 1)[-1] for p in resolve(tmp_path / "x").list()] == ["f.bin", "notes.tmp-1"]
    assert resolve(tmp_path / "x").remove_temporaries() == 1
    assert resolve(tmp_path / "x").remove_temporaries(recursive=True) == 1
    assert sorted(os.listdir(tmp_path / "x")) == ["f.bin", "notes.tmp-1", "sub"]


def test_uncommitted_sink_files_are_removed_at_finalize(write_workflow, tmp_path):
    data = tmp_path / "data"
    wf = load_workflow(write_workflow(WF.replace("SINK", str(data))))
    assert run_workflow(wf, out=str(tmp_path / "run"), runner="local", progress=False).ok
    # a part of this stage that crashed before its commit, and a file someone else put there
    (data / "part-0123abcd.parquet").write_bytes(b"left by a crash before the commit")
    (data / "notes.parquet").write_bytes(b"not ours: kept")
    wf = load_workflow(write_workflow(WF.replace("SINK", str(data)).replace("seed: 5", "seed: 6")))
    result = run_workflow(wf, out=str(tmp_path / "run"), runner="local", progress=False)
    # the orphan goes (seed 6's parts replace seed 5's under the same part names); the stranger's stays
    assert result.ok and result.plan.get("out").result["orphans_removed"] == 1
    assert (data / "notes.parquet").exists() and not (data / "part-0123abcd.parquet").exists()
    assert {e.episode_id for e in read_sink(data)} == {e.episode_id for e in expected_synthetic(12, seed=6)}


@dataclass(frozen=True)
class _CountConfig:
    # label stored in meta
    label: str = "x"


class _CountSetups(Transform):
    """Counts setup() calls per process and tags episodes (test stage)."""

    name = "test.count_setups"
    Config = _CountConfig
    setups = 0

    def setup(self) -> None:
        type(self).setups += 1
        self.ready = True

    def process(self, episode):
        assert self.ready
        yield episode.with_meta(label=self.config.label)


def test_setup_runs_once_per_process_and_lineage_is_appended(write_workflow, tmp_path):
    registry = default_registry().copy()
    registry.register("test.count_setups", _CountSetups)
    import yaml

    from datapipe.engine.workflow import parse_workflow

    doc = yaml.safe_load(
        """
    name: setups
    defaults: {batch_size: 2}
    stages:
      - {id: src, uses: source.synthetic, with: {episodes: 10, episodes_per_shard: 5}}
      - {id: tag, uses: test.count_setups, needs: [src], with: {label: hello}}
      - {id: out, uses: sink.parquet, needs: [tag], with: {path: DATA}}
    """.replace("DATA", str(tmp_path / "d"))
    )
    wf = parse_workflow(doc, "inline.yaml", registry)
    _CountSetups.setups = 0
    result = run_workflow(wf, out=str(tmp_path / "run"), runner="local", progress=False)
    assert result.ok and _CountSetups.setups == 1
    eps = read_sink(tmp_path / "d")
    assert len(eps) == 10 and all(e.meta["label"] == "hello" for e in eps)
    assert all([le.stage for le in e.lineage] == ["source.synthetic", "test.count_setups"] for e in eps)
    assert eps[0].lineage[1].config_hash == wf.stage("tag").config_hash


def test_unknown_runner_is_refused(write_workflow, tmp_path):
    wf = load_workflow(write_workflow(WF.replace("SINK", str(tmp_path / "d"))))
    with pytest.raises(DatapipeError, match="unknown runner"):
        run_workflow(wf, out=str(tmp_path / "run"), runner="spark", progress=False)
