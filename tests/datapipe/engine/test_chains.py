"""Chains: stages fused into one worker call per batch, what they persist, and reuse when a
downstream stage changes or the workflow's shape does."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from datapipe.engine.plan import chains_of
from datapipe.engine.run import run_workflow
from datapipe.engine.workflow import load_workflow
from tests.helpers import expected_synthetic, read_sink

WF = """
name: chains
defaults: {batch_size: 4}
stages:
  - id: src
    uses: source.synthetic
    with: {episodes: 24, episodes_per_shard: 6, seed: 9, min_length: 10, max_length: 30}
  - id: a
    uses: debug.noop
    needs: [src]
  - id: b
    uses: filter.expr
    needs: [a]
    with: {expr: "length >= LIMIT"}
  - id: out
    uses: sink.parquet
    needs: [b]
    with: {path: OUT}
"""


def _wf(write_workflow, tmp_path, limit=20, extra=""):
    text = WF.replace("OUT", str(tmp_path / "data")).replace("LIMIT", str(limit))
    if extra:
        text = text.replace("    uses: debug.noop\n", f"    uses: debug.noop\n{extra}")
    return load_workflow(write_workflow(text))


def _stage_dir(run, stage):
    (d,) = run.glob(f"stages/{stage}-*")
    return d


def test_linear_workflow_is_one_chain(write_workflow, tmp_path):
    wf = _wf(write_workflow, tmp_path)
    assert [[s.id for s in c] for c in chains_of(wf)] == [["src", "a", "b", "out"]]
    wf = _wf(write_workflow, tmp_path, extra="    checkpoint: true\n")
    assert [[s.id for s in c] for c in chains_of(wf)] == [["src", "a"], ["b", "out"]]
    wf = _wf(write_workflow, tmp_path, extra="    resources: {gpus: 1}\n")
    assert [[s.id for s in c] for c in chains_of(wf)] == [["src"], ["a"], ["b", "out"]]


@pytest.mark.parametrize("runner", ["local", "ray"])
def test_fused_stages_commit_no_data(runner, ray_session, write_workflow, tmp_path):
    run = tmp_path / "run"
    result = run_workflow(_wf(write_workflow, tmp_path), out=str(run), runner=runner, progress=False)
    assert result.ok, result.error
    expected = [e for e in expected_synthetic(24, seed=9, min_length=10, max_length=30) if e.length >= 20]
    got = read_sink(tmp_path / "data")
    assert sorted(e.episode_id for e in got) == sorted(e.episode_id for e in expected)
    assert all([x.stage for x in e.lineage] == ["source.synthetic", "debug.noop", "filter.expr"] for e in got)
    for stage in ("src", "a", "b"):  # fused: no parts; counts live in the sink's receipts
        d = _stage_dir(run, stage)
        assert not list(d.glob("parts/*"))
        assert json.loads((d / "COMPLETE.json").read_text())["persisted"] is False
    receipts = [json.loads(p.read_text()) for p in _stage_dir(run, "out").glob("parts/*.json")]
    assert len(receipts) == 4 and all(set(r["chain"]) == {"src", "a", "b"} for r in receipts)
    stages = json.loads((run / "manifest.json").read_text())["stages"]
    assert stages["a"]["mode"] == "fused" and stages["a"]["counts"]["in"] == 24
    assert stages["b"]["counts"]["out"] == len(expected) and stages["out"]["counts"]["in"] == len(expected)


def test_downstream_change_reruns_the_chain_and_reuses_nothing_unpersisted(write_workflow, tmp_path):
    run = tmp_path / "run"
    assert run_workflow(_wf(write_workflow, tmp_path, 20), out=str(run), runner="local", progress=False).ok
    second = run_workflow(_wf(write_workflow, tmp_path, 25), out=str(run), runner="local", progress=False)
    assert second.ok, second.error
    # src and a kept their hashes but hold no data: they ran again, for the new filter
    assert {sp.spec.id: sp.status for sp in second.plan.stages} == {
        "src": "succeeded",
        "a": "succeeded",
        "b": "succeeded",
        "out": "succeeded",
    }
    assert second.plan.get("a").counts.n_in == 24  # counted once, not twice
    expected = {e.episode_id for e in expected_synthetic(24, seed=9, min_length=10, max_length=30) if e.length >= 25}
    ids = [e.episode_id for e in read_sink(tmp_path / "data")]
    assert set(ids) == expected and max(Counter(ids).values()) == 1


def test_checkpointed_stage_is_reused_when_downstream_changes(write_workflow, tmp_path):
    run = tmp_path / "run"
    extra = "    checkpoint: true\n"
    assert run_workflow(_wf(write_workflow, tmp_path, 20, extra), out=str(run), runner="local", progress=False).ok
    assert list(_stage_dir(run, "a").glob("parts/*.parquet"))  # persisted
    second = run_workflow(_wf(write_workflow, tmp_path, 25, extra), out=str(run), runner="local", progress=False)
    assert second.ok, second.error
    assert second.plan.get("src").status == "reused" and second.plan.get("a").status == "reused"
    assert second.plan.get("a").parts_written == 0


def test_stage_completed_as_fused_is_recomputed_when_it_must_feed_a_new_consumer(write_workflow, tmp_path):
    run = tmp_path / "run"
    assert run_workflow(_wf(write_workflow, tmp_path), out=str(run), runner="local", progress=False).ok
    text = WF.replace("OUT", str(tmp_path / "data")).replace("LIMIT", "20") + (
        f"  - {{id: side, uses: sink.parquet, needs: [a], with: {{path: {tmp_path / 'side'}}}}}\n"
    )
    second = run_workflow(load_workflow(write_workflow(text, "wf2.yaml")), out=str(run), runner="local", progress=False)
    assert second.ok, second.error
    assert second.plan.get("a").mode == "commit" and second.plan.get("a").status == "succeeded"
    assert len(read_sink(tmp_path / "side")) == 24


def test_planning_reads_and_writes_nothing_and_explain_gives_reasons(write_workflow, tmp_path, capsys):
    from datapipe.cli import main
    from datapipe.engine.plan import plan_run
    from datapipe.engine.run import prepare_run

    wf = _wf(write_workflow, tmp_path)
    run = tmp_path / "never-created"
    plan = plan_run(wf, str(run))
    assert not run.exists() and [[s.spec.id for s in c] for c in plan.chains] == [["src", "a", "b", "out"]]
    prepare_run(plan)
    assert (run / "epoch").exists()
    path = tmp_path / "wf.yaml"
    path.write_text(
        (tmp_path / "wf.yaml")
        .read_text()
        .replace("    uses: debug.noop\n", "    uses: debug.noop\n    checkpoint: true\n")
    )
    assert main(["validate", "--explain", str(path)]) == 0
    out = capsys.readouterr().out
    assert "chain 1: src -> a" in out and "a -> b: not fused: 'a' has checkpoint: true" in out
    assert "src -> a: fused: 'src' is the only input of 'a'" in out and "Ray tasks" in out
