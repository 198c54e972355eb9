"""The embedded arm against the Panda's published modified-DH kinematics and limits; IK; loading
a user MJCF robot through a Menagerie-style config."""

from __future__ import annotations

import math
import textwrap

import mujoco
import numpy as np
import pytest

from datapipe.generators.generator import SimGenerator, SimSettings
from datapipe.generators.ik import ArmIK
from datapipe.generators.robots.config import RobotConfigError
from datapipe.generators.robots.primitive_panda import DH_FRAMES, panda_spec
from datapipe.generators.robots.registry import load_robot_config
from datapipe.generators.scene import ROBOT_PREFIX

# Craig's modified DH of the Panda: (a_{i-1}, d_i, alpha_{i-1}), then the flange (d = 0.107)
PANDA_MDH = [
    (0, 0.333, 0),
    (0, 0, -math.pi / 2),
    (0, 0.316, math.pi / 2),
    (0.0825, 0, math.pi / 2),
    (-0.0825, 0.384, -math.pi / 2),
    (0, 0, math.pi / 2),
    (0.088, 0, math.pi / 2),
]
PUBLISHED_LIMITS = [
    (-2.8973, 2.8973),
    (-1.7628, 1.7628),
    (-2.8973, 2.8973),
    (-3.0718, -0.0698),
    (-2.8973, 2.8973),
    (-0.0175, 3.7525),
    (-2.8973, 2.8973),
]


def _mdh(a: float, d: float, alpha: float, theta: float) -> np.ndarray:
    ca, sa, ct, st = math.cos(alpha), math.sin(alpha), math.cos(theta), math.sin(theta)
    return np.array([[ct, -st, 0, a], [st * ca, ct * ca, -sa, -d * sa], [st * sa, ct * sa, ca, d * ca], [0, 0, 0, 1]])


def test_embedded_arm_matches_the_published_kinematics():
    model = panda_spec().compile()
    data = mujoco.MjData(model)
    rng = np.random.default_rng(0)
    for _ in range(5):
        q = np.array([rng.uniform(lo, hi) for lo, hi in PUBLISHED_LIMITS])
        data.qpos[:7] = q
        mujoco.mj_kinematics(model, data)
        T = np.eye(4)
        for (a, d, alpha), theta in zip(PANDA_MDH, q):
            T = T @ _mdh(a, d, alpha, theta)
        T = T @ _mdh(0, 0.107, 0, 0)
        link7 = data.body("link7")
        np.testing.assert_allclose(link7.xpos + link7.xmat.reshape(3, 3) @ [0, 0, 0.107], T[:3, 3], atol=1e-9)
        np.testing.assert_allclose(link7.xmat.reshape(3, 3), T[:3, :3], atol=1e-9)
    np.testing.assert_allclose(model.jnt_range[:7], PUBLISHED_LIMITS)
    assert [f[2] for f in DH_FRAMES] == PUBLISHED_LIMITS


def test_ik_reaches_poses_in_the_workspace():
    gen = SimGenerator(SimSettings(task="pick_place"))
    sim = gen.build(gen.scene_params(0))
    ik = ArmIK(sim.model, sim.index, ROBOT_PREFIX + "grip", np.asarray(gen.robot.home))
    from datapipe.generators.geometry import top_down_quat

    top = gen.scene_params(0)["table"]["top"]
    for pos in ([0.45, 0.1, top + 0.1], [0.6, -0.2, top + 0.05], [0.35, 0.0, top + 0.25]):
        result = ik.solve(sim.data.qpos, np.array(pos), top_down_quat(0.3))
        assert result.converged and result.position_error < 2e-3, (pos, result)
        lo, hi = sim.model.jnt_range[[sim.model.joint(ROBOT_PREFIX + f"joint{i}").id for i in range(1, 8)]].T
        assert np.all(result.q >= lo - 1e-6) and np.all(result.q <= hi + 1e-6)


ARM_MJCF = """
<mujoco model="toy_arm">
  <compiler angle="radian"/>
  <default><joint damping="5" armature="0.05"/><position kv="20"/></default>
  <worldbody>
    <body name="base">
      <geom type="cylinder" size="0.05 0.05" pos="0 0 0.05"/>
      <body name="l1" pos="0 0 0.1" gravcomp="1">
        <joint name="yaw" axis="0 0 1" range="-3 3"/>
        <geom type="capsule" fromto="0 0 0 0 0 0.3" size="0.03"/>
        <body name="l2" pos="0 0 0.3" gravcomp="1">
          <joint name="shoulder" axis="0 1 0" range="-2 2"/>
          <geom type="capsule" fromto="0 0 0 0.3 0 0" size="0.03"/>
          <body name="l3" pos="0.3 0 0" gravcomp="1">
            <joint name="elbow" axis="0 1 0" range="-2.5 2.5"/>
            <geom type="capsule" fromto="0 0 0 0.25 0 0" size="0.025"/>
            <body name="tool" pos="0.25 0 0" gravcomp="1">
              <joint name="wrist" axis="0 1 0" range="-2.5 2.5"/>
              <geom type="box" size="0.02 0.04 0.02"/>
              <site name="tcp" pos="0 0 -0.06" zaxis="0 0 -1"/>
              <body name="finger_a" pos="0 0.02 -0.04"><joint name="fa" type="slide" axis="0 1 0" range="0 0.03"/>
                <geom type="box" size="0.008 0.004 0.02"/></body>
            </body>
          </body>
        </body>
      </body>
    </body>
  </worldbody>
  <actuator>
    <position name="a_yaw" joint="yaw" kp="300"/>
    <position name="a_shoulder" joint="shoulder" kp="300"/>
    <position name="a_elbow" joint="elbow" kp="300"/>
    <position name="a_wrist" joint="wrist" kp="100"/>
    <position name="grip" joint="fa" kp="50" ctrlrange="0 0.03"/>
  </actuator>
</mujoco>
"""


def test_menagerie_style_config_loads_a_user_mjcf_robot(tmp_path):
    (tmp_path / "toy_arm.xml").write_text(ARM_MJCF)
    (tmp_path / "toy_arm.yaml").write_text(
        textwrap.dedent("""\
        name: toy_arm
        mjcf: toy_arm.xml
        arm_joints: [yaw, shoulder, elbow, wrist]
        ee_site: tcp
        gripper_actuator: grip
        gripper_open: 0.03
        gripper_closed: 0.0
        home: [0.0, 0.3, 0.6, 0.7]
        base_pos: [0.0, 0.0, 0.0]
    """)
    )
    robot = load_robot_config(str(tmp_path / "toy_arm.yaml"))
    gen = SimGenerator(SimSettings(task="pick_place", cameras=("front",)), robot)
    params = gen.scene_params(1)
    sim = gen.build(params)
    assert list(sim.index.arm_qpos) == [
        sim.model.jnt_qposadr[sim.model.joint(ROBOT_PREFIX + j).id] for j in robot.arm_joints
    ]
    assert sim.model.actuator(int(sim.index.gripper_actuator)).name == ROBOT_PREFIX + "grip"
    np.testing.assert_allclose(sim.arm_q(), np.asarray(robot.home) + params["robot"]["qpos_noise"], atol=0.05)
    ik = ArmIK(sim.model, sim.index, ROBOT_PREFIX + "tcp", np.asarray(robot.home))
    start = sim.data.qpos.copy()
    sim.data.qpos[sim.index.arm_qpos] = np.asarray(robot.home) + [0.2, -0.1, 0.15, 0.1]  # a pose it can reach
    mujoco.mj_kinematics(sim.model, sim.data)
    pos, quat = sim.ee_pose()
    result = ik.solve(start, pos, quat, max_iters=400)
    assert result.position_error < 5e-3 and result.orientation_error < 2e-2, result
    (tmp_path / "bad.yaml").write_text((tmp_path / "toy_arm.yaml").read_text().replace("ee_site: tcp", "ee_site: nope"))
    with pytest.raises(RobotConfigError, match="nope"):
        SimGenerator(SimSettings(task="pick_place"), load_robot_config(str(tmp_path / "bad.yaml"))).build(params)
