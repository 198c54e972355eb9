"""workflows/community_mix.yaml end to end: robomimic HDF5, RLDS and LeRobot v3.0 (written by
LeRobot itself) -> standardized -> task text cleaned -> one shard dataset that streams, and one
LeRobot export that LeRobot 0.4.4 loads."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from datapipe.engine.run import run_workflow
from datapipe.engine.workflow import load_workflow
from datapipe.formats.shards.dataset import ShardDataset
from datapipe.training.stream import ShardStream
from tests.community_fixtures import LEROBOT_PY, write_community_inputs
from tests.conftest import REPO


@pytest.mark.slow
def test_community_mix_workflow(ray_session, tmp_path):
    inputs = tmp_path / "inputs"
    if not LEROBOT_PY.exists():
        pytest.skip("the LeRobot venv is missing: run `make lerobot-venv` (make test builds it)")
    write_community_inputs(inputs)  # what the workflow's header tells a user to run
    out = tmp_path / "out"
    overrides = [
        f"robomimic.path={inputs / 'robomimic_lift.hdf5'}",
        f"bridge.path={inputs / 'bridge_rlds'}",
        f"lerobot.path={inputs / 'lerobot_ee'}",
        f"shards.path={out / 'shards'}",
        f"lerobot_export.path={out / 'lerobot'}",
    ] + [
        f"{s}_std.config={REPO / 'workflows' / 'datasets' / c}.yaml"
        for s, c in (("robomimic", "robomimic"), ("bridge", "bridge"), ("lerobot", "lerobot_ee"))
    ]
    workflow = load_workflow(REPO / "workflows" / "community_mix.yaml", overrides)
    result = run_workflow(workflow, out=str(tmp_path / "run"), progress=False)
    assert result.ok, result.error
    ds = ShardDataset(str(out / "shards"))
    eps = list(ds.iter_episodes())
    families = {e.meta["standardized"]["dataset"] for e in eps}
    assert families == {"robomimic", "bridge", "lerobot_ee"} and len(eps) == 3 + 3 + 2
    assert ds.features["action"]["shape"] == [7] and ds.features["observation.state"]["shape"] == [16]
    assert ds.features["primary"]["shape"] == [64, 64, 3]
    for ep in eps:
        assert ep.fps == 10.0 and set(np.unique(ep.steps["action"][:, 6])) <= {0.0, 1.0}
        assert ep.embodiment.action_kinds[-1] == "gripper_binary" and "task_text" in ep.meta
    samples = list(ShardStream(ds, split=None, shuffle=False))
    assert len(samples) == sum(e.length for e in eps)
    # LeRobot itself loads the export
    check = REPO / "tests" / "lerobot_venv" / "load_check.py"
    proc = subprocess.run(
        [str(LEROBOT_PY), str(check), str(out / "lerobot"), str(tmp_path / "loaded.npz")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded["episodes"] == len(eps) and loaded["frames"] == sum(e.length for e in eps)
