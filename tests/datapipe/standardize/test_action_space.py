"""Action-space and unit conversions: known values and round trips."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from datapipe.standardize import StandardizeError
from datapipe.standardize import action_space as sp


def test_angle_units_are_detected_or_flagged_ambiguous():
    assert sp.detect_angle_units(np.array([[0.1, -3.0, 2.5]])) == "radians"
    assert sp.detect_angle_units(np.array([[10.0, -170.0]])) == "degrees"
    assert sp.detect_angle_units(np.array([[45.0, -80.0]])) == "ambiguous"  # degrees or +-100 units


def test_unit_conversions_known_values():
    np.testing.assert_allclose(sp.to_radians(np.array([[180.0, -90.0]]), "degrees"), [[np.pi, -np.pi / 2]])
    ranges = np.array([[-1.0, 1.0], [0.0, 2.0]])
    np.testing.assert_allclose(
        sp.to_radians(np.array([[-100.0, 0.0], [100.0, 50.0]]), "normalized100", ranges), [[-1, 1], [1, 1.5]]
    )
    with pytest.raises(StandardizeError, match="need the joint ranges"):
        sp.to_radians(np.zeros((1, 2)), "normalized100")


@pytest.mark.parametrize("fmt", sp.ROTATIONS)
def test_rotation_formats_round_trip(fmt):
    rot = Rotation.from_rotvec(np.random.default_rng(0).normal(size=(20, 3)))
    back = sp.to_rotation(sp.from_rotation(rot, fmt), fmt)
    assert np.allclose((back * rot.inv()).magnitude(), 0, atol=1e-9)


def test_euler_and_quaternion_known_values():
    q = sp.from_rotation(sp.to_rotation(np.array([[0, 0, np.pi / 2]]), "euler_xyz"), "quaternion_wxyz")
    np.testing.assert_allclose(q, [[np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)]], atol=1e-12)


def test_ee_absolute_and_delta_round_trip():
    rng = np.random.default_rng(1)
    pos = np.cumsum(rng.normal(0, 0.01, (30, 3)), axis=0)
    rot = Rotation.from_rotvec(np.cumsum(rng.normal(0, 0.05, (30, 3)), axis=0))
    delta = sp.ee_absolute_to_delta(pos, rot)
    np.testing.assert_allclose(delta[0, :3], pos[1] - pos[0])
    assert np.all(delta[-1] == 0)
    pos2, rot2 = sp.ee_delta_to_absolute(delta, pos[0], rot[0])
    np.testing.assert_allclose(pos2, pos, atol=1e-12)
    assert np.allclose((rot2 * rot.inv()).magnitude(), 0, atol=1e-9)


def test_joint_absolute_and_delta_round_trip():
    rng = np.random.default_rng(2)
    state, action = rng.normal(size=(10, 6)), rng.normal(size=(10, 6))
    delta = sp.joint_absolute_to_delta(action, state)
    np.testing.assert_allclose(delta, action - state)
    np.testing.assert_allclose(sp.joint_delta_to_absolute(delta, state), action)


def test_gripper_conventions():
    # robosuite: -1 open, 1 closed
    np.testing.assert_allclose(sp.gripper_to_unit(np.array([-1.0, 1.0, 0.0]), -1, 1, "low"), [1, 0, 0.5])
    # a 0..100 position, open at 100, binarized
    unit = sp.gripper_to_unit(np.array([0.0, 30.0, 80.0, 100.0]), 0, 100, "high")
    np.testing.assert_allclose(sp.binarize(unit), [0, 0, 1, 1])
    # relative: changes per step summed from the low end
    np.testing.assert_allclose(
        sp.gripper_to_unit(np.array([0.5, 0.5, -0.25]), 0, 1, "high", relative=True), [0.5, 1, 0.75]
    )
    with pytest.raises(StandardizeError, match="open"):
        sp.gripper_to_unit(np.zeros(2), 0, 1, "sideways")


def test_noop_steps():
    action = np.array([[0, 0], [1, 1], [1, 1], [1, 1], [2, 2]], float)
    state = np.array([[0], [0], [1], [1], [1]], float)
    assert sp.noop_steps(action, state).tolist() == [False, False, False, True, False]
