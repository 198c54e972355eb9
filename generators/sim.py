"""A compiled scene and what the expert and recorder need from it: robot indices, control steps,
end-effector and object poses, and the full state for replay.

Control runs at ``control_fps`` (Hz); each control step applies one ``ctrl`` vector and advances
the physics ``substeps = round(1 / (control_fps * timestep))`` times.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from datapipe.generators.geometry import quat_from_mat
from datapipe.generators.robots.config import RobotConfig, RobotConfigError


@dataclass(frozen=True)
class RobotIndex:
    """Addresses of the robot in a compiled scene."""

    arm_qpos: np.ndarray  # qpos addresses of the arm joints
    arm_dof: np.ndarray  # dof addresses of the arm joints
    arm_actuators: np.ndarray
    gripper_actuator: int
    ee_site: int
    finger_qpos: np.ndarray  # qpos addresses of joints below the end-effector body (gripper fingers)
    finger_pads: tuple[int, ...] = ()  # two pad geoms whose facing sides give the opening


def index_robot(model: mujoco.MjModel, robot: RobotConfig, prefix: str) -> RobotIndex:
    def jid(name: str) -> int:
        i = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, prefix + name)
        if i < 0:
            raise RobotConfigError(f"{robot.name}: arm joint {prefix + name!r} is not in the scene")
        return i

    joints = [jid(n) for n in robot.arm_joints]
    if robot.arm_actuators:
        acts = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, prefix + n) for n in robot.arm_actuators]
    else:  # the actuator driving each arm joint
        acts = []
        for j in joints:
            found = [
                a
                for a in range(model.nu)
                if model.actuator_trntype[a] == mujoco.mjtTrn.mjTRN_JOINT and model.actuator_trnid[a, 0] == j
            ]
            if not found:
                joint = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j)
                raise RobotConfigError(f"{robot.name}: no actuator drives arm joint {joint!r}")
            acts.append(found[0])
    site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, prefix + robot.ee_site)
    ee_body = model.site_bodyid[site]
    fingers = [
        model.jnt_qposadr[j]
        for j in range(model.njnt)
        if _is_below(model, model.jnt_bodyid[j], ee_body) and j not in joints
    ]
    return RobotIndex(
        arm_qpos=np.array([model.jnt_qposadr[j] for j in joints]),
        arm_dof=np.array([model.jnt_dofadr[j] for j in joints]),
        arm_actuators=np.array(acts),
        gripper_actuator=mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, prefix + robot.gripper_actuator),
        ee_site=site,
        finger_qpos=np.array(fingers, dtype=int),
        finger_pads=tuple(mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, prefix + g) for g in robot.finger_pads),
    )


def _is_below(model: mujoco.MjModel, body: int, ancestor: int) -> bool:
    while body > 0:
        if body == ancestor:
            return True
        body = model.body_parentid[body]
    return False


class Sim:
    """A scene's model and data with the robot's indices."""

    def __init__(
        self, model: mujoco.MjModel, robot: RobotConfig, prefix: str, control_fps: float, objects: tuple[str, ...]
    ):
        self.model, self.robot, self.prefix = model, robot, prefix
        self.data = mujoco.MjData(model)
        self.index = index_robot(model, robot, prefix)
        self.control_fps = control_fps
        self.substeps = max(1, int(round(1.0 / (control_fps * model.opt.timestep))))
        self.objects = objects
        self.object_ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, n) for n in objects]

    # -- state ------------------------------------------------------------------------------------
    def arm_q(self) -> np.ndarray:
        return self.data.qpos[self.index.arm_qpos].copy()

    def gripper_width(self) -> float:
        """Opening of the gripper (m): the gap between the finger pads' facing sides where the robot
        names its pads, else the sum of the finger joint positions (m for slide fingers)."""
        if self.index.finger_pads:
            a, b = self.index.finger_pads
            gap = self.data.geom_xpos[b] - self.data.geom_xpos[a]
            dist = float(np.linalg.norm(gap))
            line = gap / max(dist, 1e-9)
            for g in (a, b):  # half extent of each box pad along the line between them
                local = self.data.geom_xmat[g].reshape(3, 3).T @ line
                dist -= float(np.abs(local) @ self.model.geom_size[g])
            return max(dist, 0.0)
        return float(self.data.qpos[self.index.finger_qpos].sum()) if len(self.index.finger_qpos) else 0.0

    def ee_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """End-effector position (m) and quaternion (w, x, y, z), world frame."""
        s = self.index.ee_site
        return self.data.site_xpos[s].copy(), quat_from_mat(self.data.site_xmat[s].reshape(3, 3))

    def body_pose(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        b = self.model.body(name).id
        return self.data.xpos[b].copy(), self.data.xquat[b].copy()

    def object_poses(self) -> np.ndarray:
        """``(n_objects, 7)``: position and quaternion of each task object, world frame."""
        return np.array([np.concatenate([self.data.xpos[b], self.data.xquat[b]]) for b in self.object_ids])

    def set_arm(self, q: np.ndarray, gripper: float) -> None:
        """Place the arm at ``q`` and hold it there (ctrl); gripper control ``gripper``."""
        self.data.qpos[self.index.arm_qpos] = q
        self.data.ctrl[self.index.arm_actuators] = q
        self.data.ctrl[self.index.gripper_actuator] = gripper
        mujoco.mj_forward(self.model, self.data)

    # -- stepping -----------------------------------------------------------------------------------
    def control_step(self, arm_target: np.ndarray, gripper: float) -> None:
        self.data.ctrl[self.index.arm_actuators] = arm_target
        self.data.ctrl[self.index.gripper_actuator] = gripper
        mujoco.mj_step(self.model, self.data, nstep=self.substeps)

    def apply_ctrl(self, ctrl: np.ndarray) -> None:
        """One control step with a full ``ctrl`` vector (replay)."""
        self.data.ctrl[:] = ctrl
        mujoco.mj_step(self.model, self.data, nstep=self.substeps)

    def get_state(self) -> np.ndarray:
        """The full physics state (``mjSTATE_FULLPHYSICS``), enough to replay from."""
        spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        out = np.empty(mujoco.mj_stateSize(self.model, spec))
        mujoco.mj_getState(self.model, self.data, out, spec)
        return out

    def set_state(self, state: np.ndarray) -> None:
        mujoco.mj_setState(
            self.model, self.data, np.asarray(state, dtype=np.float64), mujoco.mjtState.mjSTATE_FULLPHYSICS
        )
        mujoco.mj_forward(self.model, self.data)
