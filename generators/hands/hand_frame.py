"""From hand landmarks to poses in the camera frame.

Camera frame: OpenCV convention, x right, y down, z forward (m). Intrinsics are given, or made
from an assumed horizontal field of view with the principal point at the image centre.

The wrist pose comes from a PnP solve between MediaPipe's metric world landmarks (the hand's own
3-D shape, m) and its image landmarks (px): the rigid transform that projects the metric hand onto
the detected one, so depth follows from the hand's size. The palm frame: origin at the wrist,
y from the wrist toward the index and pinky knuckles' midpoint, z the palm normal
((index - wrist) x (pinky - wrist)), x = y x z. Grip aperture: thumb tip to index tip (m).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WRIST, THUMB_TIP, INDEX_MCP, INDEX_TIP, MIDDLE_MCP, PINKY_MCP = 0, 4, 5, 8, 9, 17


def intrinsics(width: int, height: int, hfov_deg: float = 60.0) -> np.ndarray:
    """3x3 camera matrix for an image of ``width`` x ``height`` px and horizontal FOV (deg)."""
    f = (width / 2) / np.tan(np.radians(hfov_deg) / 2)
    return np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1.0]])


@dataclass(frozen=True)
class HandPose3D:
    wrist: np.ndarray  # (3,) m, camera frame
    palm: np.ndarray  # (3, 3) rotation, columns x y z of the palm frame in the camera frame
    points: np.ndarray  # (21, 3) m, camera frame
    reprojection_px: float  # mean reprojection error of the PnP solution


def palm_frame(points: np.ndarray) -> np.ndarray:
    """Rotation (columns x, y, z) of the palm frame from landmarks ``(21, 3)`` in any frame."""
    w, i, p = points[WRIST], points[INDEX_MCP], points[PINKY_MCP]
    y = (i + p) / 2 - w
    y /= np.linalg.norm(y)
    z = np.cross(i - w, p - w)
    z -= y * (z @ y)
    z /= np.linalg.norm(z)
    return np.stack([np.cross(y, z), y, z], axis=1)


def hand_in_camera(world: np.ndarray, image: np.ndarray, K: np.ndarray) -> HandPose3D | None:
    """The hand's landmarks in the camera frame from a PnP solve; None if it fails."""
    import cv2

    obj = np.asarray(world, dtype=np.float64)
    img = np.asarray(image, dtype=np.float64)
    if not (np.isfinite(obj).all() and np.isfinite(img).all()):
        return None
    ok, rvec, tvec = cv2.solvePnP(obj, img, K, None, flags=cv2.SOLVEPNP_SQPNP)
    if not ok:
        return None
    ok, rvec, tvec = cv2.solvePnP(obj, img, K, None, rvec, tvec, useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
    R, _ = cv2.Rodrigues(rvec)
    pts = obj @ R.T + tvec.reshape(1, 3)
    proj, _ = cv2.projectPoints(obj, rvec, tvec, K, None)
    err = float(np.linalg.norm(proj.reshape(-1, 2) - img, axis=1).mean())
    return HandPose3D(pts[WRIST], palm_frame(pts), pts, err)


def aperture(world: np.ndarray) -> float:
    """Thumb tip to index tip distance (m)."""
    return float(np.linalg.norm(world[THUMB_TIP] - world[INDEX_TIP]))
