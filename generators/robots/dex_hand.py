"""An embedded five-finger dexterous hand with 20 hinge joints, built with ``mujoco.MjSpec``.

Proportions follow an average adult hand as MediaPipe measures it (knuckle positions and
phalanx lengths, m), expressed in the palm frame of :func:`datapipe.generators.hands.hand_frame.palm_frame`:
origin at the wrist, y toward the fingers, z the palm normal (fingers curl toward +z), x = y x z.
So the model's own palm frame is its body frame, and human and robot vectors compare directly.

Joints: per finger (index, middle, ring, little) MCP abduction, MCP, PIP and DIP flexion; the
thumb CMC abduction, CMC flexion, MCP and IP. Sites: ``wrist``, ``<finger>_knuckle`` (MCP, or
CMC for the thumb) and ``<finger>_tip``.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from datapipe.generators.geometry import quat_from_mat

FINGERS = ("thumb", "index", "middle", "ring", "little")
# knuckle (MCP; CMC for the thumb) positions in the palm frame (m)
KNUCKLES = {
    "thumb": (0.026, 0.027, 0.015),
    "index": (0.033, 0.101, 0.0),
    "middle": (0.010, 0.102, -0.007),
    "ring": (-0.0145, 0.0965, -0.0045),
    "little": (-0.033, 0.080, 0.0),
}
# rest direction of each finger's first segment, palm frame
DIRECTIONS = {
    "thumb": (0.527, 0.797, 0.296),
    "index": (0.127, 0.987, 0.10),
    "middle": (0.007, 0.998, 0.06),
    "ring": (-0.096, 0.982, 0.163),
    "little": (-0.287, 0.956, 0.056),
}
# segment lengths, knuckle outward (m)
LENGTHS = {
    "thumb": (0.034, 0.036, 0.030),
    "index": (0.040, 0.025, 0.022),
    "middle": (0.045, 0.028, 0.024),
    "ring": (0.042, 0.027, 0.023),
    "little": (0.033, 0.021, 0.020),
}
FINGER_JOINTS = (
    ("abd", "z", (-0.45, 0.45)),
    ("mcp", "x", (-0.4, 1.7)),
    ("pip", "x", (0.0, 1.9)),
    ("dip", "x", (0.0, 1.6)),
)
THUMB_JOINTS = (
    ("cmc_abd", "z", (-0.8, 0.8)),
    ("cmc", "x", (-0.6, 1.2)),
    ("mcp", "x", (-0.4, 1.4)),
    ("ip", "x", (-0.3, 1.6)),
)


@dataclass(frozen=True)
class HandModelConfig:
    """A dexterous hand for retargeting: MJCF (None = embedded), the wrist, knuckle and tip sites
    in thumb, index, middle, ring, little order."""

    # a hand MJCF file (empty = the embedded 20-joint hand)
    mjcf: str | None = None
    # the hand's wrist site
    wrist_site: str = "wrist"
    # knuckle sites, thumb to little finger (five)
    knuckle_sites: tuple[str, ...] = tuple(f"{f}_knuckle" for f in FINGERS)
    # fingertip sites, thumb to little finger (five)
    tip_sites: tuple[str, ...] = tuple(f"{f}_tip" for f in FINGERS)


def _finger_frame(direction: tuple[float, float, float]) -> np.ndarray:
    """Rotation whose y is the finger direction and x the palm x made orthogonal to it."""
    y = np.asarray(direction, float)
    y /= np.linalg.norm(y)
    x = np.array([1.0, 0, 0]) - y * y[0]
    x /= np.linalg.norm(x)
    return np.stack([x, y, np.cross(x, y)], axis=1)


def dex_hand_spec() -> mujoco.MjSpec:
    spec = mujoco.MjSpec()
    spec.modelname = "datapipe_dex_hand"
    spec.compiler.degree = False
    palm = spec.worldbody.add_body(name="palm")
    palm.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.04, 0.045, 0.012], pos=[0, 0.05, 0], rgba=[0.8, 0.7, 0.6, 1])
    palm.add_site(name="wrist", pos=[0, 0, 0], size=[0.004, 0, 0])
    for finger in FINGERS:
        palm.add_site(name=f"{finger}_knuckle", pos=list(KNUCKLES[finger]), size=[0.004, 0, 0])
        joints = THUMB_JOINTS if finger == "thumb" else FINGER_JOINTS
        parent = palm.add_body(
            name=f"{finger}_base",
            pos=list(KNUCKLES[finger]),
            quat=quat_from_mat(_finger_frame(DIRECTIONS[finger])).tolist(),
        )
        # the first two joints sit at the knuckle; each later one at the end of a segment
        offsets = (0.0, 0.0) + LENGTHS[finger][:2]
        lengths = (0.0,) + LENGTHS[finger]
        body = parent
        for (name, axis, limits), offset, length in zip(joints, offsets, lengths):
            body = body.add_body(name=f"{finger}_{name}", pos=[0, offset, 0])
            body.add_geom(
                type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[0.009, 0, 0], mass=0.01, group=3, rgba=[0.8, 0.7, 0.6, 1]
            )  # the joint's knuckle; also gives the body inertia
            body.add_joint(
                name=f"{finger}_{name}",
                type=mujoco.mjtJoint.mjJNT_HINGE,
                axis=[1, 0, 0] if axis == "x" else [0, 0, 1],
                range=list(limits),
            )
            if length:
                body.add_geom(
                    type=mujoco.mjtGeom.mjGEOM_CAPSULE,
                    fromto=[0, 0, 0, 0, length, 0],
                    size=[0.008, 0, 0],
                    rgba=[0.8, 0.7, 0.6, 1],
                )
        body.add_site(name=f"{finger}_tip", pos=[0, LENGTHS[finger][2], 0], size=[0.004, 0, 0])
    return spec
