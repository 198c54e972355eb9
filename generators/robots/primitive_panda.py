"""The embedded primitive arm (``primitive_panda``; the default robot is Menagerie's Panda,
:mod:`datapipe.generators.robots.menagerie_panda`): a 7-DoF arm with the Franka Emika Panda's published kinematics,
built from primitive geoms with ``mujoco.MjSpec`` (no mesh or download).

Kinematics: Craig's modified Denavit-Hartenberg parameters of the Panda (Franka's documentation),
as body offsets (metres) and rotations between consecutive joint frames; every joint is a hinge
about its local z axis, with the published position limits (radians). Link masses and inertias
are rough (cylinders of the link's size): the arm is gravity-compensated and position-controlled,
which is what scripted experts need. The parallel-jaw gripper has two coupled slide fingers
(0 to 0.04 m each), one position actuator on the opening, and a site ``grip`` between the
fingertips: the end-effector frame (z out of the hand, toward the fingertips).

Cameras: ``wrist`` on the hand, looking along the hand's z axis.
"""

from __future__ import annotations

import math

import mujoco

from datapipe.generators.robots.config import RobotConfig

ARM_JOINTS = tuple(f"joint{i}" for i in range(1, 8))
# (parent offset pos [m], frame rotation as (axis, angle [rad]) about the parent's axes, limits [rad])
DH_FRAMES = (
    ((0.0, 0.0, 0.333), None, (-2.8973, 2.8973)),
    ((0.0, 0.0, 0.0), ("x", -math.pi / 2), (-1.7628, 1.7628)),
    ((0.0, -0.316, 0.0), ("x", math.pi / 2), (-2.8973, 2.8973)),
    ((0.0825, 0.0, 0.0), ("x", math.pi / 2), (-3.0718, -0.0698)),
    ((-0.0825, 0.384, 0.0), ("x", -math.pi / 2), (-2.8973, 2.8973)),
    ((0.0, 0.0, 0.0), ("x", math.pi / 2), (-0.0175, 3.7525)),
    ((0.088, 0.0, 0.0), ("x", math.pi / 2), (-2.8973, 2.8973)),
)
FLANGE_OFFSET = 0.107  # m, joint 7 frame to the flange, along z
HOME = (0.0, -0.3, 0.0, -2.2, 0.0, 1.9, math.pi / 4)  # rad: hand above the table, pointing down
KP = (4500.0, 4500.0, 3500.0, 3500.0, 2000.0, 2000.0, 2000.0)  # N m / rad
KV = (450.0, 450.0, 350.0, 350.0, 200.0, 200.0, 200.0)  # N m s / rad
FINGER_RANGE = (0.0, 0.04)  # m per finger
GRIP_DEPTH = 0.0884  # m, hand origin to the centre of the finger pads along the hand z


def axis_angle_quat(axis: str, angle: float) -> list[float]:
    """Quaternion (w, x, y, z) of a rotation by ``angle`` about a principal ``axis``."""
    v = {"x": (1, 0, 0), "y": (0, 1, 0), "z": (0, 0, 1)}[axis]
    s = math.sin(angle / 2)
    return [math.cos(angle / 2), v[0] * s, v[1] * s, v[2] * s]


def _link(body: mujoco.MjsBody, length: float, radius: float, mass: float, rgba: list[float]) -> None:
    body.gravcomp = 1.0
    body.mass = mass
    body.ipos = [0, 0, 0]
    inertia = mass * (3 * radius**2 + length**2) / 12
    body.inertia = [inertia, inertia, mass * radius**2 / 2]
    body.explicitinertial = True
    body.add_geom(
        type=mujoco.mjtGeom.mjGEOM_CYLINDER,
        size=[radius, max(length / 2, 0.02), 0],
        rgba=rgba,
        group=1,
        contype=0,
        conaffinity=0,
    )


def panda_spec() -> mujoco.MjSpec:
    """The arm and gripper as a standalone spec (base at the origin), with a ``home`` keyframe."""
    spec = mujoco.MjSpec()
    spec.modelname = "panda"
    spec.compiler.degree = False  # joint ranges below are radians
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST  # stiff position servos need it
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = 10.0  # less slip in grasps
    white, grey = [0.95, 0.95, 0.95, 1], [0.25, 0.25, 0.25, 1]
    base = spec.worldbody.add_body(name="link0")
    base.add_geom(type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[0.07, 0.08, 0], pos=[0, 0, 0.08], rgba=white, group=1)
    parent = base
    for i, (pos, rot, limits) in enumerate(DH_FRAMES, start=1):
        body = parent.add_body(name=f"link{i}", pos=list(pos))
        if rot is not None:
            body.quat = axis_angle_quat(*rot)
        body.add_joint(
            name=f"joint{i}",
            type=mujoco.mjtJoint.mjJNT_HINGE,
            axis=[0, 0, 1],
            range=list(limits),
            armature=0.1,
            damping=1.0,
        )
        _link(body, 0.12, 0.06 if i < 5 else 0.05, 3.0 if i < 5 else 1.5, white if i % 2 else grey)
        parent = body
    hand = parent.add_body(name="hand", pos=[0, 0, FLANGE_OFFSET], quat=axis_angle_quat("z", -math.pi / 4))
    hand.gravcomp = 1.0
    hand.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.02, 0.09, 0.03], pos=[0, 0, 0.03], rgba=white, mass=0.7)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        finger = hand.add_body(name=f"{side}_finger", pos=[0, 0, 0.0584])
        finger.gravcomp = 1.0
        finger.add_joint(
            name=f"finger_joint_{side}",
            type=mujoco.mjtJoint.mjJNT_SLIDE,
            axis=[0, sign, 0],
            range=list(FINGER_RANGE),
            armature=0.1,
            damping=10.0,
        )
        finger.add_geom(
            name=f"{side}_pad",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=[0.01, 0.006, 0.025],
            pos=[0, sign * 0.006, 0.03],
            rgba=grey,
            mass=0.03,
            friction=[2.0, 0.05, 0.001],
            condim=4,
            solref=[0.01, 1],
            priority=1,
        )
    hand.add_site(name="grip", pos=[0, 0, GRIP_DEPTH], size=[0.005, 0, 0], rgba=[1, 0, 0, 0.5], group=4)
    hand.add_camera(name="wrist", pos=[0.06, 0, 0.0], quat=axis_angle_quat("y", math.pi), fovy=75)
    for i, (kp, kv) in enumerate(zip(KP, KV), start=1):
        lo, hi = DH_FRAMES[i - 1][2]
        spec.add_actuator(
            name=f"actuator{i}",
            target=f"joint{i}",
            trntype=mujoco.mjtTrn.mjTRN_JOINT,
            gainprm=[kp] + [0] * 9,
            biasprm=[0, -kp, -kv] + [0] * 7,
            ctrlrange=[lo, hi],
            biastype=mujoco.mjtBias.mjBIAS_AFFINE,
            ctrllimited=True,
            forcerange=[-87 if i < 5 else -12, 87 if i < 5 else 12],
            forcelimited=True,
        )
    spec.add_equality(
        type=mujoco.mjtEq.mjEQ_JOINT,
        name1="finger_joint_right",
        name2="finger_joint_left",
        data=[0, 1, 0, 0, 0] + [0] * 7,
    )
    spec.add_actuator(
        name="gripper",
        target="finger_joint_left",
        trntype=mujoco.mjtTrn.mjTRN_JOINT,
        gainprm=[400] + [0] * 9,
        biasprm=[0, -400, -40] + [0] * 7,
        ctrlrange=list(FINGER_RANGE),
        biastype=mujoco.mjtBias.mjBIAS_AFFINE,
        ctrllimited=True,
        forcerange=[-40, 40],
        forcelimited=True,
    )
    spec.add_key(name="home", qpos=list(HOME) + [FINGER_RANGE[1]] * 2, ctrl=list(HOME) + [FINGER_RANGE[1]])
    return spec


def panda_config() -> RobotConfig:
    """The :class:`RobotConfig` of the embedded arm."""
    return RobotConfig(
        name="datapipe_panda",
        mjcf=None,
        arm_joints=ARM_JOINTS,
        ee_site="grip",
        gripper_actuator="gripper",
        gripper_open=FINGER_RANGE[1],
        gripper_closed=FINGER_RANGE[0],
        home=HOME,
        wrist_camera="wrist",
    )
