"""Retargeting a human hand to a robot arm with a parallel gripper.

Per frame: the wrist position in the camera frame (PnP, :mod:`datapipe.generators.hands.hand_frame`) goes to
the robot base frame through the camera's pose (``p_base = R_bc p_cam + t_bc``), is scaled about
``ref`` and clipped to the workspace box; the gripper points down, turned about the vertical to
follow the palm's yaw. Targets are smoothed (One Euro) and rate-limited (``max_speed``,
``max_accel``: a robot cannot follow PnP depth jumps), solved to joint positions by IK (mink,
warm-started frame to frame), and the gripper follows the thumb-index aperture with hysteresis
(closes below ``close_aperture``, opens above ``open_aperture``). A kinematic replay in MuJoCo
measures what the robot really does: joint-limit hits, unreachable targets (IK error above
``max_ik_error``), self-collisions between non-adjacent links, and the end-effector acceleration.
Frames without a hand hold the last target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import mujoco
import numpy as np

from datapipe.errors import DatapipeError
from datapipe.generators.geometry import (
    quat_conj,
    quat_from_mat,
    quat_mul,
    quat_to_axis_angle,
    top_down_quat,
)
from datapipe.generators.hands.hand_frame import aperture, hand_in_camera
from datapipe.generators.hands.one_euro import one_euro
from datapipe.generators.ik import ArmIK
from datapipe.generators.robots.config import RobotConfig
from datapipe.generators.robots.primitive_panda import panda_config
from datapipe.generators.robots.registry import load_robot_spec
from datapipe.generators.sim import index_robot

# Default camera pose in the robot base frame: behind the base, looking along +x (camera z),
# image right = base -y, image down = base -z.
DEFAULT_CAMERA_POS = (-0.1, 0.0, 0.45)
DEFAULT_CAMERA_QUAT = tuple(quat_from_mat(np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]], float)).round(12))


class NoUsableHand(DatapipeError):
    """No frame of the clip has a hand that can be retargeted (absent, or no PnP solution)."""


@dataclass(frozen=True)
class ArmRetargetSettings:
    """How a hand's wrist becomes an arm's end-effector target (units: m, s, degrees)."""

    # camera position [x, y, z] in the robot base frame, m
    camera_pos: tuple[float, float, float] = DEFAULT_CAMERA_POS
    # camera orientation [w, x, y, z] in the robot base frame
    camera_quat: tuple[float, float, float, float] = DEFAULT_CAMERA_QUAT
    # centre of the workspace scaling in the base frame, m
    ref: tuple[float, float, float] = (0.45, 0.0, 0.3)
    # scale of wrist displacements about ref (1 = the human's own motion)
    scale: float = 1.0
    # lower corner [x, y, z] of the box targets are clipped to, m (base frame)
    workspace_min: tuple[float, float, float] = (0.25, -0.4, 0.05)
    # upper corner [x, y, z] of the box targets are clipped to, m (base frame)
    workspace_max: tuple[float, float, float] = (0.75, 0.4, 0.6)
    # horizontal field of view of the video camera, degrees (used when no intrinsics are known)
    hfov_deg: float = 60.0
    # the gripper closes when the thumb-index aperture falls below this, m
    close_aperture: float = 0.035
    # the gripper opens when the thumb-index aperture rises above this, m (hysteresis)
    open_aperture: float = 0.06
    # frames whose IK position error exceeds this are flagged unreachable, m
    max_ik_error: float = 0.01
    # One Euro filter on the targets: minimum cutoff, Hz
    smooth_min_cutoff: float = 1.0
    # One Euro filter on the targets: speed coefficient
    smooth_beta: float = 0.2
    # end-effector target speed limit, m/s
    max_speed: float = 1.0
    # end-effector target acceleration limit, m/s^2
    max_accel: float = 6.0


@dataclass
class ArmRetargetResult:
    arrays: dict[str, np.ndarray]
    quality: dict[str, Any] = field(default_factory=dict)


def _collision_model(robot: RobotConfig) -> mujoco.MjModel:
    """The robot alone with every geom colliding (for the self-collision check)."""
    spec = load_robot_spec(robot)
    for geom in spec.geoms:
        geom.contype, geom.conaffinity = 1, 1
    return spec.compile()


def limit_motion(pos: np.ndarray, fps: float, max_speed: float, max_accel: float) -> np.ndarray:
    """Follow ``pos`` (T, 3) with speed at most ``max_speed`` (m/s) and acceleration at most
    ``max_accel`` (m/s^2), as a robot would: a second-order rate limiter."""
    out = np.empty_like(pos)
    out[0] = pos[0]
    v = np.zeros(3)
    dt = 1.0 / fps
    for t in range(1, len(pos)):
        want = (pos[t] - out[t - 1]) / dt
        dv = want - v
        n = np.linalg.norm(dv)
        if n > max_accel * dt:
            dv *= max_accel * dt / n
        v = v + dv
        n = np.linalg.norm(v)
        if n > max_speed:
            v *= max_speed / n
        out[t] = out[t - 1] + v * dt
    return out


class ArmRetargeter:
    """Retargets hand tracks onto ``robot`` (default: the embedded arm); one per worker."""

    def __init__(self, settings: ArmRetargetSettings, robot: RobotConfig | None = None):
        self.s = settings
        self.robot = robot or panda_config()
        self.model = _collision_model(self.robot)
        self.data = mujoco.MjData(self.model)
        self.index = index_robot(self.model, self.robot, "")
        self.ik = ArmIK(self.model, self.index, self.robot.ee_site, np.asarray(self.robot.home))
        self.R_bc = np.zeros(9)
        mujoco.mju_quat2Mat(self.R_bc, np.asarray(settings.camera_quat, float))
        self.R_bc = self.R_bc.reshape(3, 3)
        self.t_bc = np.asarray(settings.camera_pos, float)
        self.structural = self._contacts_at(np.asarray(self.robot.home))  # touching by design

    def _contacts_at(self, q: np.ndarray) -> set[tuple[int, int]]:
        self.data.qpos[:] = 0
        self.data.qpos[self.index.arm_qpos] = q
        mujoco.mj_forward(self.model, self.data)
        return {tuple(sorted((int(c.geom1), int(c.geom2)))) for c in self.data.contact[: self.data.ncon]}

    def targets(
        self, world: np.ndarray, image: np.ndarray, present: np.ndarray, K: np.ndarray, fps: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """End-effector target positions (T, 3) and yaws (T,) in the base frame, gripper commands
        (T,) and a validity mask (hand seen and PnP solved)."""
        s = self.s
        T = len(world)
        pos = np.full((T, 3), np.nan)
        yaw = np.full(T, np.nan)
        ap = np.full(T, np.nan)
        for t in range(T):
            if not present[t]:
                continue
            pose = hand_in_camera(world[t], image[t], K)
            if pose is None:
                continue
            p = self.R_bc @ pose.wrist + self.t_bc
            p = np.asarray(s.ref) + s.scale * (p - np.asarray(s.ref))
            pos[t] = np.clip(p, s.workspace_min, s.workspace_max)
            x_axis = self.R_bc @ pose.palm[:, 0]
            yaw[t] = np.arctan2(x_axis[1], x_axis[0])
            ap[t] = aperture(world[t])
        valid = np.isfinite(pos).all(axis=1)
        if not valid.any():
            raise NoUsableHand("no frame with a usable hand: nothing to retarget")
        first = int(np.argmax(valid))
        for arr in (pos, yaw, ap):  # hold the last seen value (the first one before it)
            arr[:first] = arr[first]
            for t in range(first + 1, T):
                if not np.all(np.isfinite(arr[t])):
                    arr[t] = arr[t - 1]
        yaw = np.unwrap(yaw)
        yaw = (yaw + np.pi / 2) % np.pi - np.pi / 2  # a parallel gripper is symmetric under half turns
        pos = limit_motion(one_euro(pos, fps, s.smooth_min_cutoff, s.smooth_beta), fps, s.max_speed, s.max_accel)
        yaw = one_euro(np.unwrap(yaw, period=np.pi), fps, s.smooth_min_cutoff, s.smooth_beta)
        grip = np.empty(T)
        state = 1.0
        for t in range(T):  # hysteresis: 1 open, 0 closed
            if ap[t] < s.close_aperture:
                state = 0.0
            elif ap[t] > s.open_aperture:
                state = 1.0
            grip[t] = state
        return pos, yaw, grip, valid

    def retarget(
        self, world: np.ndarray, image: np.ndarray, present: np.ndarray, K: np.ndarray, fps: float
    ) -> ArmRetargetResult:
        """Joint targets and quality measures for one hand track (T frames)."""
        pos, yaw, grip, valid = self.targets(world, image, present, K, fps)
        T = len(pos)
        q_full = np.zeros(self.model.nq)
        q_full[self.index.arm_qpos] = self.robot.home
        q = np.zeros((T, len(self.index.arm_qpos)))
        quats = np.zeros((T, 4))
        pos_err = np.zeros(T)
        rot_err = np.zeros(T)
        for t in range(T):
            quats[t] = top_down_quat(float(yaw[t]))
            result = self.ik.solve(q_full, pos[t], quats[t], max_iters=60)
            q[t] = result.q
            q_full[self.index.arm_qpos] = result.q
            pos_err[t], rot_err[t] = result.position_error, result.orientation_error
        # kinematic replay: what the robot does with these joints
        lo, hi = self.model.jnt_range[[self.model.jnt_qposadr.tolist().index(a) for a in self.index.arm_qpos]].T
        ee = np.zeros((T, 3))
        ee_quat = np.zeros((T, 4))
        collisions = np.zeros(T, bool)
        for t in range(T):
            contacts = self._contacts_at(q[t])
            collisions[t] = bool(contacts - self.structural)
            ee[t] = self.data.site_xpos[self.index.ee_site]
            ee_quat[t] = quat_from_mat(self.data.site_xmat[self.index.ee_site].reshape(3, 3))
        limit_hits = np.any((q <= lo + 1e-3) | (q >= hi - 1e-3), axis=1)
        unreachable = pos_err > self.s.max_ik_error
        acc = np.diff(ee, n=2, axis=0) * fps**2 if T >= 3 else np.zeros((0, 3))
        rot_ach = np.array(
            [np.linalg.norm(quat_to_axis_angle(quat_mul(ee_quat[t], quat_conj(quats[t])))) for t in range(T)]
        )
        width = self.robot.gripper_closed + grip * (self.robot.gripper_open - self.robot.gripper_closed)
        arrays = {
            "observation.state": np.concatenate([q, width[:, None]], 1).astype(np.float32),
            "action": np.concatenate([q, grip[:, None]], 1).astype(np.float32),
            "action.ee_pose": np.concatenate([pos, quats, grip[:, None]], 1).astype(np.float32),
            "retarget.ee_achieved": np.concatenate([ee, ee_quat], 1),
            "retarget.ik_position_error": pos_err.astype(np.float32),
            "retarget.valid": valid & ~unreachable,
        }
        quality = {
            "frames": T,
            "hand_frames": int(valid.sum()),
            "ik_position_error_mm": {
                "mean": round(float(pos_err.mean() * 1000), 3),
                "max": round(float(pos_err.max() * 1000), 3),
            },
            "ik_orientation_error_deg": {
                "mean": round(float(np.degrees(rot_ach.mean())), 3),
                "max": round(float(np.degrees(rot_ach.max())), 3),
            },
            "joint_limit_hit_frames": int(limit_hits.sum()),
            "unreachable_frames": int(unreachable.sum()),
            "self_collision_frames": int(collisions.sum()),
            "ee_acceleration_m_s2": {
                "mean": round(float(np.linalg.norm(acc, axis=1).mean()), 4) if len(acc) else 0.0,
                "max": round(float(np.linalg.norm(acc, axis=1).max()), 4) if len(acc) else 0.0,
            },
            "gripper_closed_frames": int((grip < 0.5).sum()),
        }
        return ArmRetargetResult(arrays, quality)
