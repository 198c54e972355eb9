"""The Franka Emika Panda of MuJoCo Menagerie, adapted for scripted experts: the default robot.

The model is Menagerie's ``franka_emika_panda`` arm (visual meshes, collision meshes on every
link) with the Robotiq 2F-85 gripper, as the ``gym-hil`` wheel carries it (see
:mod:`datapipe.generators.robots.menagerie`). The adaptation, applied to the loaded spec:

- the seven torque motors become position servos with Menagerie's gains (the same as the
  embedded arm's: :data:`datapipe.generators.robots.primitive_panda.KP` and ``KV``) and the joint limits as control
  ranges; arm and gripper bodies are gravity-compensated, as Franka's controller does;
- a site ``grip`` between the finger pads (its z axis points out of the gripper, its y axis is the
  closing direction) is the end-effector frame; a camera ``wrist`` on the gripper base, beside it,
  looks past the fingertips;
- visual geoms weigh nothing (the bodies' masses come from their inertials and collision geoms),
  so swapping visual meshes for reduced ones (:mod:`datapipe.generators.lod`) leaves the physics as it is.

Gripper: ``fingers_actuator`` 0 opens (85 mm between the pads), 255 closes. Its width is measured
between the pads ``left_pad1`` and ``right_pad1``.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from datapipe.generators.geometry import quat_from_mat
from datapipe.generators.robots.config import RobotConfig, RobotConfigError
from datapipe.generators.robots.primitive_panda import ARM_JOINTS, DH_FRAMES, KP, KV

NAME = "franka_emika_panda"
HOME = (0.0, -0.3, 0.0, -2.2, 0.0, 1.9, math.pi / 4)  # rad: gripper above the table, pointing down
GRIP_SITE_Z = 0.131  # m, along the gripper base z: the middle of the pads' contact area when open
WRIST_CAMERA_POS = (0.1, 0.0, 0.0)  # m, gripper base frame: beside the gripper, off the closing axis
WRIST_CAMERA_TARGET = (0.0, 0.0, 0.2)  # m, a little past the fingertips
VISUAL_GROUP = 2


def franka_config() -> RobotConfig:
    """The default robot: Menagerie's Panda with the Robotiq 2F-85 (``menagerie: franka_emika_panda``)."""
    return RobotConfig(
        name=NAME,
        mjcf=None,
        menagerie=NAME,
        arm_joints=ARM_JOINTS,
        ee_site="grip",
        gripper_actuator="fingers_actuator",
        gripper_open=0.0,
        gripper_closed=255.0,
        home=HOME,
        wrist_camera="wrist",
        finger_pads=("left_pad1", "right_pad1"),
    )


def adapt_franka(spec: mujoco.MjSpec) -> mujoco.MjSpec:
    """Position servos, gravity compensation, the ``grip`` site and ``wrist`` camera (see above)."""
    names = {a.name for a in spec.actuators}
    if "fingers_actuator" not in names:
        raise RobotConfigError(
            f"menagerie {NAME}: this model has no Robotiq 'fingers_actuator' (actuators: {sorted(names)}); "
            "datapipe adapts the gym-hil layout (Panda + Robotiq 2F-85); for another layout give the "
            "robot config's arm_joints, ee_site and gripper_actuator yourself"
        )
    for i, (kp, kv) in enumerate(zip(KP, KV), start=1):
        act = spec.actuator(f"actuator{i}")
        lo, hi = DH_FRAMES[i - 1][2]
        act.gaintype = mujoco.mjtGain.mjGAIN_FIXED
        act.biastype = mujoco.mjtBias.mjBIAS_AFFINE
        act.gainprm = [kp] + [0] * 9
        act.biasprm = [0, -kp, -kv] + [0] * 7
        act.ctrlrange = [lo, hi]
        act.ctrllimited = True
        limit = 87.0 if i < 5 else 12.0
        act.forcerange = [-limit, limit]
        act.forcelimited = True
    for body in spec.bodies:
        if body.name != "world":
            body.gravcomp = 1.0
    for geom in spec.geoms:
        if geom.group == VISUAL_GROUP:
            geom.mass = 0.0
            geom.density = 0.0
    base = spec.body("base")
    base.add_site(name="grip", pos=[0, 0, GRIP_SITE_Z], size=[0.005, 0, 0], rgba=[1, 0, 0, 0.5], group=4)
    base.add_camera(name="wrist", pos=list(WRIST_CAMERA_POS), quat=_wrist_camera_quat(), fovy=70)
    return spec


def _wrist_camera_quat() -> list[float]:
    """Camera orientation (gripper base frame) looking from :data:`WRIST_CAMERA_POS` at the point
    :data:`WRIST_CAMERA_TARGET` past the fingertips, the fingers at the bottom of the image."""
    forward = np.subtract(WRIST_CAMERA_TARGET, WRIST_CAMERA_POS)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [1.0, 0.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return quat_from_mat(np.stack([right, up, -forward], axis=1)).tolist()
