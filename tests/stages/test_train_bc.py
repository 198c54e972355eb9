"""``train.bc`` in the local runner: the episodes that reach it become shards and a checkpoint the
policy interface loads; a rerun reuses it; a narrower state than it was trained on is zero-padded."""

from __future__ import annotations

import numpy as np

from datapipe.engine.run import run_workflow
from datapipe.engine.workflow import parse_workflow
from datapipe.stages.train.bc import TrainBc
from datapipe.training.policy import load_checkpoint_policy


def test_train_bc_writes_a_checkpoint_that_acts_and_is_reused(tmp_path):
    doc = {
        "name": "bc",
        "stages": [
            {"id": "src", "uses": "source.synthetic", "with": {"episodes": 4, "state_dim": 6, "action_dim": 3}},
            {
                "id": "bc",
                "uses": "train.bc",
                "needs": ["src"],
                "with": {"path": str(tmp_path / "bc"), "steps": 5, "horizon": 1},
            },
        ],
    }
    workflow = parse_workflow(doc, "bc.yaml")
    first = run_workflow(workflow, out=str(tmp_path / "run"), runner="local", progress=False)
    assert first.ok, first.error
    result = first.plan.get("bc").result
    assert result["steps"] == 5 and result["episodes"] == 4 and np.isfinite(result["loss"])
    assert result["observed"] == ["observation.state"]  # synthetic episodes record no scene state
    assert (tmp_path / "bc" / "shards" / "index.json").is_file()
    policy = load_checkpoint_policy(result["checkpoint"])
    chunk = policy.predict({"observation.state": np.zeros(6, np.float32)})
    assert chunk.shape == (1, 3) and np.isfinite(chunk).all()
    narrower = policy.predict({"observation.state": np.zeros(4, np.float32)})  # zero-padded to 6
    np.testing.assert_allclose(narrower, chunk)
    assert TrainBc.describe(result)[0].startswith("policy: trained 5 steps on 4 episodes")
    again = run_workflow(workflow, out=str(tmp_path / "run"), runner="local", progress=False)
    assert again.ok and [sp.status for sp in again.plan.stages] == ["reused", "reused"]
