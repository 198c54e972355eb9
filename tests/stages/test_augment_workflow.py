"""workflows/augment_sim.yaml end to end on Ray: originals and augmented episodes in one dataset,
every augmented one tracing its parent, and the audit counting them side by side."""

from __future__ import annotations

import json

import numpy as np
import pytest

from datapipe.engine.run import run_workflow
from datapipe.engine.workflow import load_workflow
from datapipe.formats.shards.dataset import ShardDataset
from tests.conftest import REPO


@pytest.mark.slow
def test_augment_sim_workflow(ray_session, tmp_path):
    overrides = [
        "sim.episodes=2",
        "sim.image_size=[64, 64]",
        f"shards.path={tmp_path / 'shards'}",
        f"audit.path={tmp_path / 'audit'}",
    ]
    result = run_workflow(
        load_workflow(REPO / "workflows" / "augment_sim.yaml", overrides), out=str(tmp_path / "run"), progress=False
    )
    assert result.ok, result.error
    eps = list(ShardDataset(str(tmp_path / "shards")).iter_episodes())
    originals = [e for e in eps if e.source.kind == "sim"]
    augmented = [e for e in eps if e.source.kind == "augmented"]
    # each original: 2 views; each of the 3 gets a background variant (front camera, with masks
    # only on the views: 2); each of the 5 gets a photometric variant: 10 episodes per original
    assert len(originals) >= 1 and len(augmented) == 9 * len(originals)
    ids = {e.episode_id: e for e in eps}
    for e in augmented:
        parent = ids[e.meta["augmentation"]["parent"]]
        assert np.array_equal(parent.steps["action"], e.steps["action"])
        assert len(e.task) == 5 and e.meta["conversations"]
    summary = json.loads((tmp_path / "audit" / "summary.json").read_text())
    assert summary["augmentation"]["original"] == len(originals)
    assert summary["augmentation"]["augmented"] == len(augmented)
    assert set(summary["augmentation"]["by_stage"]) == {
        "augment.sim_views",
        "augment.background",
        "augment.photometric",
    }
    assert "augmented episodes" in (tmp_path / "audit" / "report.html").read_text()
