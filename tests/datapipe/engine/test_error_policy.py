"""A failing episode goes to quarantine and the run goes on, unless max_error_rate is passed."""

from __future__ import annotations

import json

import pytest

from datapipe.cli import main
from datapipe.engine.run import run_workflow
from datapipe.engine.rundir import RunDir
from datapipe.engine.workflow import load_workflow
from tests.helpers import read_sink

WF = """
name: errors
defaults: {batch_size: 10}
stages:
  - id: src
    uses: source.synthetic
    with: {episodes: 100, episodes_per_shard: 20, min_length: 5, max_length: 8}
  - id: flaky
    uses: debug.fail
    needs: [src]
    with: {expr: 'meta["index"] in [3, 50, 97]'}
    max_error_rate: RATE
  - id: out
    uses: sink.parquet
    needs: [flaky]
    with: {path: OUT}
"""


@pytest.mark.parametrize("runner", ["ray", "local"])
def test_three_failures_in_a_hundred_are_quarantined(runner, ray_session, write_workflow, tmp_path):
    out = tmp_path / "data"
    wf = load_workflow(write_workflow(WF.replace("RATE", "0.05").replace("OUT", str(out))))
    result = run_workflow(wf, out=str(tmp_path / "run"), runner=runner, progress=False)
    assert result.ok, result.error
    assert result.counts("flaky") == {**result.counts("flaky"), "in": 100, "out": 97, "failed": 3}
    episodes = read_sink(out)
    assert len(episodes) == 97
    assert not {e.meta["index"] for e in episodes} & {3, 50, 97}
    sp = result.plan.get("flaky")
    q = sp.read_quarantine().to_pylist()
    assert sorted(r["episode"]["meta"] for r in q) == sorted(
        json.dumps({"index": i, **{k: v for k, v in _meta(q, i).items() if k != "index"}}, sort_keys=True)
        for i in (3, 50, 97)
    )
    for r in q:
        assert r["stage_id"] == "flaky" and r["stage"] == "debug.fail"
        assert r["error_type"] == "RuntimeError"
        assert "holds for episode" in r["error_message"]
        assert "Traceback" in r["traceback"] and "fail.py" in r["traceback"]
        assert r["input_key"] == r["episode"]["episode_id"]


def _meta(rows, index):
    for r in rows:
        meta = json.loads(r["episode"]["meta"])
        if meta["index"] == index:
            return meta
    raise AssertionError(index)


def test_error_rate_above_threshold_fails_the_run_with_exit_1(ray_session, write_workflow, tmp_path, capsys):
    out = tmp_path / "data"
    path = write_workflow(WF.replace("RATE", "0.02").replace("OUT", str(out)))
    run = tmp_path / "run"
    assert main(["run", str(path), "--out", str(run), "--no-progress"]) == 1
    said = capsys.readouterr().err
    assert "stage 'flaky': 3 of 100 inputs failed (3.0%), above max_error_rate 2.0%" in said
    assert "; the first: RuntimeError: debug.fail: " in said  # the reason, not only where to look
    manifest = RunDir(str(run)).read_manifest()
    assert manifest["status"] == "failed"
    assert manifest["stages"]["flaky"]["status"] == "failed"
    assert manifest["stages"]["src"]["status"] == "succeeded"
    assert not (out / "_datapipe_index.json").exists()  # the sink never finalized
    # raising the threshold and running again finishes without recomputing anything
    path.write_text(path.read_text().replace("0.02", "0.05"))
    assert main(["run", str(path), "--out", str(run), "--no-progress"]) == 0
    manifest = RunDir(str(run)).read_manifest()
    assert manifest["stages"]["flaky"]["parts_written"] == 0
    assert len(read_sink(out)) == 97
