"""standardize.embodiment with the dataset configs of workflows/datasets/ on community fixtures."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from datapipe.formats.hdf5 import Hdf5Demos
from datapipe.stages.standardize.embodiment import load_standard
from datapipe.standardize.standard import StandardizeError, standard_from_dict, standardize
from tests.community_fixtures import write_aloha, write_robomimic
from tests.conftest import REPO

DATASETS = REPO / "workflows" / "datasets"


def test_every_dataset_config_loads():
    names = sorted(p.stem for p in DATASETS.glob("*.yaml"))
    assert {"robomimic", "bridge", "lerobot_ee", "aloha", "so100"} <= set(names)
    for name in names:
        assert load_standard(str(DATASETS / f"{name}.yaml")).dataset == name


def test_robomimic_to_the_convention(tmp_path):
    written = write_robomimic(tmp_path / "lift.hdf5", lengths=(12,), wrist=True)
    demos = Hdf5Demos(str(tmp_path / "lift.hdf5"))
    ep = demos.read(demos.keys()[0])
    out = standardize(ep, load_standard(str(DATASETS / "robomimic.yaml")))
    raw = written["demos"]["demo_0"]["actions"][::2]  # 20 -> 10 fps: every other step
    assert out.fps == 10.0 and out.length == 6
    np.testing.assert_allclose(out.steps["action"][:, :3], raw[:, :3] * 0.05, atol=1e-6)
    np.testing.assert_allclose(out.steps["action"][:, 3:6], raw[:, 3:6] * 0.5, atol=1e-6)
    np.testing.assert_array_equal(out.steps["action"][:, 6], (raw[:, 6] < 0).astype(np.float32))  # -1 = open
    assert out.embodiment.action_kinds == ("ee_position_delta",) * 3 + ("ee_rotation_delta",) * 3 + ("gripper_binary",)
    assert out.steps["observation.state"].shape == (6, 16) and not out.steps["observation.state"][:, 9:].any()
    assert set(out.cameras) == {"primary", "wrist"} and out.cameras["primary"].frames().shape[1:3] == (64, 64)
    conversions = out.meta["standardized"]["conversions"]
    assert any("x0.05" in c for c in conversions) and any("10 fps" in c for c in conversions)
    assert out.meta["standardized"]["original_robot"] == "robomimic" and out.embodiment.robot == "panda"


def test_aloha_grippers_move_last_and_cameras_get_roles(tmp_path):
    cams = ("cam_high", "cam_low", "cam_left_wrist", "cam_right_wrist")
    written = write_aloha(tmp_path / "aloha", episodes=1, cameras=cams)
    demos = Hdf5Demos(str(tmp_path / "aloha"))
    out = standardize(demos.read(demos.keys()[0]), load_standard(str(DATASETS / "aloha.yaml")))
    action = written["episode_0.hdf5"]["action"]
    np.testing.assert_allclose(out.steps["action"][:, :12], np.delete(action, [6, 13], axis=1), atol=1e-6)
    np.testing.assert_allclose(out.steps["action"][:, 12:], np.clip(action[:, [6, 13]], 0, 1), atol=1e-6)
    assert set(out.cameras) == {"primary", "secondary", "wrist"}  # cam_right_wrist: drop
    assert out.embodiment.action_kinds[-2:] == ("gripper_continuous",) * 2


def test_a_role_the_config_maps_but_the_episode_lacks_fails_the_episode_at_once(tmp_path):
    write_robomimic(tmp_path / "lift.hdf5", lengths=(6,))  # agentview only, no eye-in-hand camera
    demos = Hdf5Demos(str(tmp_path / "lift.hdf5"))
    with pytest.raises(StandardizeError) as exc:
        standardize(demos.read(demos.keys()[0]), load_standard(str(DATASETS / "robomimic.yaml")))
    said = str(exc.value)
    assert "dataset robomimic: field 'cameras': episode " in said
    assert "has no camera 'robot0_eye_in_hand' for the role 'wrist' (it has: agentview)" in said
    assert "map robot0_eye_in_hand: drop in the config" in said


def _episode(action: np.ndarray, state: np.ndarray):
    from datapipe.records.synthetic import synthetic_episode

    ep = synthetic_episode(0, 0, length=len(action), action_dim=action.shape[1], state_dim=state.shape[1])
    return ep.with_steps(action=action.astype(np.float32), **{"observation.state": state.astype(np.float32)})


def test_degrees_become_radians_and_ambiguous_units_are_refused():
    rng = np.random.default_rng(0)
    state = np.concatenate([rng.uniform(-120, 120, (20, 5)), rng.uniform(0, 100, (20, 1))], 1)
    action = state + rng.normal(0, 1, state.shape)
    so100 = dataclasses.replace(load_standard(str(DATASETS / "so100.yaml")), cameras={})  # episodes without cameras
    out = standardize(_episode(action, state), so100)
    kept = out.length
    assert kept == 20
    np.testing.assert_allclose(out.steps["action"][:, :5], np.deg2rad(action[:, :5]), atol=1e-5)
    np.testing.assert_allclose(out.steps["observation.state"][:, :5], np.deg2rad(state[:, :5]), atol=1e-5)
    np.testing.assert_allclose(out.steps["action"][:, 5], np.clip(action[:, 5] / 100, 0, 1), atol=1e-6)
    auto = standard_from_dict(
        {"dataset": "x", "action": {"space": "joint_absolute", "units": "auto"}, "gripper": {"index": -1}}, "x.yaml"
    )
    with pytest.raises(StandardizeError, match="degrees or \\+-100 normalized units: declare action.units"):
        standardize(_episode(action / 2, state / 2), auto)


def test_zero_first_action_and_noops_are_dropped():
    action = np.array([[0, 0, 0], [1, 1, 1], [1, 1, 1], [1, 1, 1], [2, 2, 2]], float)
    state = np.array([[0, 0, 0], [0, 0, 0], [1, 1, 1], [1, 1, 1], [1, 1, 1]], float)
    std = standard_from_dict({"dataset": "t", "action": {"space": "joint_absolute", "units": "radians"}}, "t.yaml")
    out = standardize(_episode(action, state), std)
    assert out.length == 3 and out.steps["action"][:, 0].tolist() == [1, 1, 2]
    np.testing.assert_allclose(out.steps["timestamp"], np.arange(3) / out.fps)


def test_bad_configs_name_the_field():
    with pytest.raises(StandardizeError, match="cameras .*roles are"):
        standard_from_dict({"dataset": "d", "cameras": {"top": "overhead"}}, "d.yaml")
    with pytest.raises(StandardizeError, match="d.yaml: .*space"):
        standard_from_dict({"dataset": "d", "action": {"space": "cartesian"}}, "d.yaml")
    with pytest.raises(StandardizeError, match="need the robot's kinematics"):
        standard_from_dict({"dataset": "d", "action": {"space": "joint_absolute", "to": "ee_delta"}}, "d.yaml")


def test_lookahead_takes_the_arm_action_from_a_later_step_and_leaves_the_gripper():
    state = np.cumsum(np.full((6, 3), 0.1), axis=0)  # measured joints
    grip = np.array([[-1], [-1], [1], [1], [1], [-1]], float)  # robosuite: -1 open, 1 closed
    ep = _episode(np.concatenate([state, grip], 1), state).with_steps(**{"sim.state": state})
    std = standard_from_dict(
        {
            "dataset": "t",
            "state": ["sim.state"],
            "action": {
                "keys": ["sim.state", "action[3:4]"],
                "space": "joint_absolute",
                "units": "radians",
                "lookahead": 1,
            },
            "gripper": {"index": -1, "kind": "binary", "range": [-1, 1], "open": "low", "output": "binary"},
            "drop_noops": False,
        },
        "t.yaml",
    )
    out = standardize(ep, std)
    np.testing.assert_allclose(out.steps["action"][:, :3], state[[1, 2, 3, 4, 5, 5]], atol=1e-6)
    assert out.steps["action"][:, 3].tolist() == [1, 1, 0, 0, 0, 1]
    assert any("1 step(s) later" in c for c in out.meta["standardized"]["conversions"])
    with pytest.raises(StandardizeError, match="lookahead must be >= 0"):
        standard_from_dict({"dataset": "t", "action": {"lookahead": -1}}, "t.yaml")


def test_crop_fit_keeps_the_centre_at_the_target_aspect_ratio():
    from datapipe.records import CameraStream
    from datapipe.records.resize import center_crop, resized_cameras

    frames = np.zeros((2, 40, 80, 3), np.uint8)
    frames[:, :, 20:60] = 200  # a bright centre square, dark sides
    assert center_crop(frames, 64, 64).shape == (2, 40, 40, 3) and center_crop(frames, 10, 40).shape == (2, 20, 80, 3)
    ep = _episode(np.zeros((2, 2)), np.zeros((2, 2)))
    ep = ep.replace(cameras={"ego": CameraStream.from_frames(frames, ep.fps)})
    cropped = resized_cameras(ep, 32, 32, fit="crop").cameras["ego"].frames()
    stretched = resized_cameras(ep, 32, 32).cameras["ego"].frames()
    assert cropped.shape == stretched.shape == (2, 32, 32, 3)
    assert cropped.mean() > 180 and stretched.mean() < 130  # the crop has no dark sides
