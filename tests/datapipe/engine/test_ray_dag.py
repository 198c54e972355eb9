"""Fan-out and fan-in DAGs on real local Ray; the same results from the local runner."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from datapipe.engine.run import run_workflow
from datapipe.engine.workflow import load_workflow
from tests.helpers import expected_synthetic, read_sink

DAG = """
name: dag
defaults: {batch_size: 4}
stages:
  - id: src
    uses: source.synthetic
    with: {episodes: 40, episodes_per_shard: 5, seed: 3, cameras: [front], image_size: [32, 32]}
  - id: short
    uses: filter.expr
    needs: [src]
    with: {expr: "length < 35"}
  - id: long
    uses: filter.expr
    needs: [src]
    with: {expr: "length >= 50"}
  - id: slow_long
    uses: debug.sleep
    needs: [long]
    with: {ms: 5}
    concurrency: 2
  - id: both
    uses: debug.noop
    needs: [short, slow_long]
  - id: out
    uses: sink.parquet
    needs: [both]
    with: {path: OUT}
"""


@pytest.mark.parametrize("runner", ["ray", "local"])
def test_fan_out_fan_in(runner, ray_session, write_workflow, tmp_path):
    out = tmp_path / "dataset"
    wf = load_workflow(write_workflow(DAG.replace("OUT", str(out))))
    result = run_workflow(wf, out=str(tmp_path / "run"), runner=runner, progress=False)
    assert result.ok, result.error
    expected = {e.episode_id for e in expected_synthetic(40, seed=3) if e.length < 35 or e.length >= 50}
    got = read_sink(out)
    ids = [e.episode_id for e in got]
    assert Counter(ids).most_common(1)[0][1] == 1, "an episode was written twice"
    assert set(ids) == expected
    for ep in got:
        stages = [entry.stage for entry in ep.lineage]
        assert stages[0] == "source.synthetic" and stages[-1] == "debug.noop"
        assert stages in (
            ["source.synthetic", "filter.expr", "debug.noop"],
            ["source.synthetic", "filter.expr", "debug.sleep", "debug.noop"],
        )
        assert (ep.length >= 50) == ("debug.sleep" in stages)
        assert ep.cameras["front"].frames().shape == (ep.length, 32, 32, 3)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "succeeded"
    st = manifest["stages"]
    assert st["src"]["counts"]["out"] == 40
    assert st["both"]["counts"]["in"] == st["short"]["counts"]["out"] + st["slow_long"]["counts"]["out"]
    assert st["out"]["result"]["episodes"] == len(expected)
    assert st["both"]["needs"] == {"short": st["short"]["hash"], "slow_long": st["slow_long"]["hash"]}
    for key in ("ray", "pyarrow", "numpy"):
        assert key in manifest["packages"]


def test_rerun_reuses_every_stage_and_changed_config_recomputes_downstream(ray_session, write_workflow, tmp_path):
    out = tmp_path / "dataset"
    path = write_workflow(DAG.replace("OUT", str(out)))
    run = str(tmp_path / "run")
    assert run_workflow(load_workflow(path), out=run, runner="ray", progress=False).ok
    again = run_workflow(load_workflow(path), out=run, runner="ray", progress=False)
    assert again.ok and all(sp.status == "reused" and sp.parts_written == 0 for sp in again.plan.stages)
    changed = run_workflow(load_workflow(path, ["long.expr=length >= 55"]), out=run, runner="ray", progress=False)
    status = {sp.spec.id: sp.status for sp in changed.plan.stages}
    assert status == {
        "src": "reused",
        "short": "reused",
        "long": "succeeded",
        "slow_long": "succeeded",
        "both": "succeeded",
        "out": "succeeded",
    }
    expected = {e.episode_id for e in expected_synthetic(40, seed=3) if e.length < 35 or e.length >= 55}
    assert {e.episode_id for e in read_sink(out)} == expected  # stale files of the old run removed


def test_an_actor_pool_as_large_as_the_cluster_still_gets_its_inputs(ray_session, tmp_path):
    """A pool that would start on every CPU would leave none for the tasks that feed it (Ray Data
    then waits forever): it starts one short and the run completes."""
    from datapipe.engine.workflow import parse_workflow

    cpus = int(ray_session.cluster_resources()["CPU"])
    doc = {
        "name": "pool",
        "stages": [
            {"id": "src", "uses": "source.synthetic", "with": {"episodes": 6, "episodes_per_shard": 2}},
            {"id": "a", "uses": "debug.noop", "needs": ["src"], "concurrency": cpus},
            {"id": "out", "uses": "sink.parquet", "needs": ["a"], "with": {"path": str(tmp_path / "data")}},
        ],
    }
    result = run_workflow(parse_workflow(doc, "pool.yaml"), out=str(tmp_path / "run"), progress=False)
    assert result.ok, result.error
    assert len(read_sink(tmp_path / "data")) == 6
