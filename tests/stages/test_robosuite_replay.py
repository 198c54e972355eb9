"""robosuite 1.4.1's human demonstrations (fetched by ``make robosuite-demos`` from its wheel)
through ``source.hdf5`` with ``replay: true``: each demo's recorded states replayed in its own
model (asset paths moved onto the fetched assets), frames rendered and the end-effector pose
read, then standardized into datapipe's Panda convention."""

from __future__ import annotations

import numpy as np
import pytest

from datapipe.config import build_config
from datapipe.generators.mjcf_replay import ReplayError, remap_assets
from datapipe.stages.source.hdf5 import Hdf5Source
from datapipe.stages.standardize.embodiment import load_standard
from datapipe.standardize.standard import standardize
from tests.conftest import REPO

ROBOSUITE = REPO / "data" / "robosuite-1.4.1" / "assets"
LIFT = ROBOSUITE / "demonstrations" / "lift" / "demo.hdf5"

pytestmark = pytest.mark.skipif(
    not LIFT.is_file(), reason="robosuite's demonstrations are missing: run `make robosuite-demos`"
)


def _source(**kw) -> Hdf5Source:
    cfg = {"path": str(LIFT), "layout": "robosuite", "replay": True, "assets": str(ROBOSUITE), **kw}
    return Hdf5Source(build_config(Hdf5Source.Config, cfg))


def test_replayed_lift_demo_has_frames_and_an_end_effector_pose():
    src = _source(replay_cameras=["agentview", "robot0_eye_in_hand"], replay_size=[48, 64], demos_per_shard=1)
    assert src.shards() == ["0:1", "1:2", "2:3"]
    (ep,) = list(src.read("0:1"))
    assert ep.length == 482 and set(ep.cameras) == {"agentview", "robot0_eye_in_hand"}
    frames = ep.cameras["agentview"].frames()
    assert frames.shape == (482, 48, 64, 3) and frames.std() > 10
    moving = np.abs(frames[-1].astype(int) - frames[0].astype(int)).mean()
    assert moving > 1, "the replayed frames do not change"
    pose = ep.steps["ee.pose"]
    assert pose.shape == (482, 7) and np.allclose(np.linalg.norm(pose[:, 3:], axis=1), 1, atol=1e-6)
    assert 0.3 < pose[0, 0] < 0.7 and abs(pose[0, 1]) < 0.2  # the gripper in front of the base (m)
    lift = pose[:, 2].max() - pose[:, 2].min()
    assert lift > 0.05, f"the end effector should go down to the cube and up again, moved {lift:.3f} m"
    assert "model_file" not in ep.meta["hdf5"] and ep.meta["hdf5"]["replayed"]["cameras"][0] == "agentview"


def test_standardized_like_datapipes_panda():
    (ep,) = list(_source(replay_size=[32, 32], demos_per_shard=1).read("2:3"))
    out = standardize(ep, load_standard(str(REPO / "workflows" / "datasets" / "robosuite_panda.yaml")))
    joints = ep.steps["sim.state"][:, 1:8]
    assert set(out.cameras) == {"primary"} and out.fps == 20.0
    assert out.steps["observation.state"].shape[1] == 16 and out.steps["action"].shape[1] == 8
    # the arm action is the joints measured one step later, so replaying it follows the demo
    kept_state = out.steps["observation.state"][:, :7]
    step = np.abs(out.steps["action"][:-1, :7] - kept_state[1:]).max()
    assert step < 0.05, f"action and next measured joints differ by {step:.3f} rad"
    assert np.abs(out.steps["action"][:, :7]).max() < np.pi and set(np.unique(out.steps["action"][:, 7])) == {0.0, 1.0}
    assert out.length <= ep.length and np.abs(joints).max() < 3.8  # within the Panda's joint limits (rad)


def test_missing_assets_are_named(tmp_path):
    xml = (
        '<mujoco><asset><mesh file="/Users/x/robosuite/models/assets/robots/panda/meshes/link0.stl"/></asset></mujoco>'
    )
    with pytest.raises(ReplayError, match="1 asset file\\(s\\) not under .*link0.stl"):
        remap_assets(xml, tmp_path, "demo_1: model_file")
    (ep,) = list(_source(assets=str(tmp_path)).read("0:1"))
    assert type(ep).__name__ == "Unreadable" and "not under" in str(ep.error)
