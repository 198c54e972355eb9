"""Action-space and unit conversions for standardizing community datasets.

Conventions (the target of :mod:`datapipe.standardize.standard`): angles in radians, lengths in metres;
end-effector poses in the robot base frame, rotations as rotation vectors (axis * angle, rad);
an end-effector delta at step ``t`` is the change from the pose at ``t`` to the pose at ``t + 1``
(position difference; rotation ``R[t+1] R[t]^T`` as a rotation vector, base frame), zero at the
last step; a joint delta at ``t`` is the commanded position minus the measured position at
``t``; a gripper is in [0, 1] with 1 = open (binary grippers are exactly 0 or 1).

Arrays are ``(T, D)`` float64 unless said otherwise.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from datapipe.standardize.errors import StandardizeError

ANGLE_UNITS = ("radians", "degrees", "normalized100")
ROTATIONS = ("rotvec", "euler_xyz", "quaternion_wxyz", "quaternion_xyzw")


# -- units ----------------------------------------------------------------------------------------
def detect_angle_units(values: np.ndarray) -> str:
    """``radians``, ``degrees`` or ``ambiguous`` for joint angles ``values``: within +-2 pi (plus
    a little) is radians, beyond 100 is degrees, between the two could be degrees or +-100
    normalized units (LeRobot's SO-100 convention) and is ``ambiguous``."""
    peak = float(np.nanmax(np.abs(values))) if np.size(values) else 0.0
    if peak <= 2 * np.pi + 0.1:
        return "radians"
    if peak > 100.0 + 1e-6:
        return "degrees"
    return "ambiguous"


def to_radians(values: np.ndarray, units: str, ranges: np.ndarray | None = None) -> np.ndarray:
    """Joint angles in ``units`` to radians; ``normalized100`` maps -100..100 onto each joint's
    ``ranges`` ``(D, 2)`` (radians)."""
    v = np.asarray(values, dtype=np.float64)
    if units == "radians":
        return v
    if units == "degrees":
        return np.deg2rad(v)
    if units == "normalized100":
        if ranges is None:
            raise StandardizeError("normalized100 units need the joint ranges (radians) to map -100..100 onto")
        r = np.asarray(ranges, dtype=np.float64)
        if r.shape != (v.shape[-1], 2):
            raise StandardizeError(f"ranges: expected {v.shape[-1]} [low, high] pairs, got shape {r.shape}")
        return r[:, 0] + (v + 100.0) / 200.0 * (r[:, 1] - r[:, 0])
    raise StandardizeError(f"unknown angle units {units!r} (one of {ANGLE_UNITS})")


# -- rotations ------------------------------------------------------------------------------------
def to_rotation(values: np.ndarray, fmt: str) -> Rotation:
    v = np.asarray(values, dtype=np.float64)
    if fmt == "rotvec":
        return Rotation.from_rotvec(v)
    if fmt == "euler_xyz":
        return Rotation.from_euler("xyz", v)
    if fmt == "quaternion_wxyz":
        return Rotation.from_quat(v[..., [1, 2, 3, 0]])
    if fmt == "quaternion_xyzw":
        return Rotation.from_quat(v)
    raise StandardizeError(f"unknown rotation format {fmt!r} (one of {ROTATIONS})")


def from_rotation(rot: Rotation, fmt: str) -> np.ndarray:
    if fmt == "rotvec":
        return rot.as_rotvec()
    if fmt == "euler_xyz":
        return rot.as_euler("xyz")
    if fmt == "quaternion_wxyz":
        return rot.as_quat()[..., [3, 0, 1, 2]]
    if fmt == "quaternion_xyzw":
        return rot.as_quat()
    raise StandardizeError(f"unknown rotation format {fmt!r} (one of {ROTATIONS})")


def rotation_width(fmt: str) -> int:
    return 4 if fmt.startswith("quaternion") else 3


# -- end-effector poses -----------------------------------------------------------------------------
def ee_absolute_to_delta(pos: np.ndarray, rot: Rotation) -> np.ndarray:
    """``(T, 6)`` deltas (position m, rotation vector rad, base frame) from absolute poses."""
    T = len(pos)
    out = np.zeros((T, 6))
    if T > 1:
        out[:-1, :3] = np.diff(pos, axis=0)
        out[:-1, 3:] = (rot[1:] * rot[:-1].inv()).as_rotvec()
    return out


def ee_delta_to_absolute(delta: np.ndarray, pos0: np.ndarray, rot0: Rotation) -> tuple[np.ndarray, Rotation]:
    """Absolute poses ``(T, 3)`` and rotations from deltas (the inverse of :func:`ee_absolute_to_delta`),
    starting at ``pos0`` / ``rot0``."""
    T = len(delta)
    pos = np.empty((T, 3))
    quats = np.empty((T, 4))
    p, r = np.asarray(pos0, np.float64), rot0
    for t in range(T):
        pos[t], quats[t] = p, r.as_quat()
        p = p + delta[t, :3]
        r = Rotation.from_rotvec(delta[t, 3:6]) * r
    return pos, Rotation.from_quat(quats)


# -- joints -------------------------------------------------------------------------------------------
def joint_absolute_to_delta(action: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Commanded joint positions minus the measured ones at each step."""
    return np.asarray(action, np.float64) - np.asarray(state, np.float64)


def joint_delta_to_absolute(delta: np.ndarray, state: np.ndarray) -> np.ndarray:
    return np.asarray(delta, np.float64) + np.asarray(state, np.float64)


# -- grippers -----------------------------------------------------------------------------------------
def gripper_to_unit(values: np.ndarray, low: float, high: float, open_at: str, relative: bool = False) -> np.ndarray:
    """A gripper command in [0, 1], 1 = open, from raw ``values`` spanning ``low``..``high``
    (``open_at``: ``high`` or ``low``, the raw end that means open). A ``relative`` gripper (a
    change per step) is summed into positions first, starting at ``low``."""
    v = np.asarray(values, np.float64)
    if relative:
        v = np.clip(low + np.cumsum(v), min(low, high), max(low, high))
    if high == low:
        raise StandardizeError("gripper range: low and high are equal")
    unit = np.clip((v - low) / (high - low), 0.0, 1.0)
    if open_at == "low":
        unit = 1.0 - unit
    elif open_at != "high":
        raise StandardizeError(f"gripper open: expected high or low, got {open_at!r}")
    return unit


def binarize(unit: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """0 or 1 from a [0, 1] gripper (1 where at least ``threshold``)."""
    return (np.asarray(unit, np.float64) >= threshold).astype(np.float64)


# -- step selection -----------------------------------------------------------------------------------
def noop_steps(action: np.ndarray, state: np.ndarray, atol: float = 1e-8) -> np.ndarray:
    """Boolean ``(T,)``: steps whose action and state are both unchanged from the previous step
    (the first step is never a no-op)."""
    same = np.zeros(len(action), dtype=bool)
    if len(action) > 1:
        a = np.all(np.abs(np.diff(np.asarray(action, np.float64), axis=0)) <= atol, axis=1)
        s = np.all(np.abs(np.diff(np.asarray(state, np.float64), axis=0)) <= atol, axis=1)
        same[1:] = a & s
    return same
