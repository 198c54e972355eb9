"""Small pose helpers. Quaternions are (w, x, y, z); poses are position (m) + quaternion."""

from __future__ import annotations

import mujoco
import numpy as np


def quat_from_mat(mat: np.ndarray) -> np.ndarray:
    """Quaternion (w, x, y, z) of a 3x3 rotation matrix (sign fixed so w >= 0)."""
    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.asarray(mat, dtype=np.float64).reshape(9))
    return q if q[0] >= 0 else -q


def mat_from_quat(quat: np.ndarray) -> np.ndarray:
    m = np.zeros(9)
    mujoco.mju_quat2Mat(m, np.asarray(quat, dtype=np.float64))
    return m.reshape(3, 3)


def yaw_quat(yaw: float) -> np.ndarray:
    """Rotation by ``yaw`` rad about world z."""
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros(4)
    mujoco.mju_mulQuat(out, np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return out


def top_down_quat(yaw: float) -> np.ndarray:
    """End-effector orientation pointing its z axis down (world -z), rotated by ``yaw`` about world z."""
    down = np.array([0.0, 1.0, 0.0, 0.0])  # 180 deg about x: z -> -z
    return quat_mul(yaw_quat(yaw), down)


def quat_to_axis_angle(q: np.ndarray) -> np.ndarray:
    """Rotation vector (axis * angle, rad) of a unit quaternion."""
    q = np.asarray(q, dtype=np.float64)
    q = q if q[0] >= 0 else -q
    v = np.zeros(3)
    mujoco.mju_quat2Vel(v, q, 1.0)
    return v


def quat_conj(q: np.ndarray) -> np.ndarray:
    return np.array([q[0], -q[1], -q[2], -q[3]])


def pose_to_mat(pos: np.ndarray, quat: np.ndarray) -> np.ndarray:
    """4x4 homogeneous transform of a pose."""
    T = np.eye(4)
    T[:3, :3] = mat_from_quat(quat)
    T[:3, 3] = pos
    return T


def mat_to_pose(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return T[:3, 3].copy(), quat_from_mat(T[:3, :3])
