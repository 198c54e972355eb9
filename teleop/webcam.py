"""Webcam hand teleoperation: the browser's camera frames (JPEG) through the same hand tracker as
``perception.hand_pose`` (:class:`datapipe.generators.hands.tracking.HandTracker`, MediaPipe in video mode)
and the same arm retargeting as ``retarget.arm_gripper``
(:meth:`datapipe.generators.retarget.arm.ArmRetargeter.targets`: PnP wrist position, palm yaw, thumb-index
aperture with hysteresis, One Euro smoothing and rate limits) to an end-effector target.

The retargeting runs over a sliding window of the last :data:`WINDOW` frames and the newest
target is used. Targets come out in the robot base frame; the base stands at ``(0, 0, table_top)``
in the world, so world = base + ``(0, 0, table_top)``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from datapipe.teleop.control import CommandError

WINDOW = 15  # frames the retargeting smooths over


@dataclass(frozen=True)
class HandTarget:
    pos: np.ndarray  # (3,) m, robot base frame
    yaw: float  # rad, about the vertical
    gripper: float  # 1 open, 0 closed


class WebcamTeleop:
    """One per robot; not thread-safe (the server runs one frame at a time per robot)."""

    def __init__(self, fps: float = 10.0, hfov_deg: float = 60.0):
        from datapipe.generators.hands.tracking import HandTracker
        from datapipe.generators.retarget.arm import ArmRetargeter, ArmRetargetSettings

        self.fps, self.hfov_deg = fps, hfov_deg
        self.tracker = HandTracker(max_hands=1, model_complexity=0)
        self.retargeter = ArmRetargeter(ArmRetargetSettings(hfov_deg=hfov_deg))
        self.window: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=WINDOW)
        self.frames = 0
        self.hands = 0

    def process(self, jpeg: bytes) -> HandTarget | None:
        """The end-effector target of one camera frame, or None when no hand is tracked."""
        from datapipe.generators.hands.hand_frame import intrinsics
        from datapipe.generators.retarget.arm import NoUsableHand

        bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise CommandError("the webcam frame is not a JPEG image")
        self.frames += 1
        rgb = np.ascontiguousarray(bgr[..., ::-1])
        tracks = self.tracker.track(rgb[None])
        seen = [t for t in tracks.values() if t.present[0]]
        if not seen:
            return None
        self.hands += 1
        track = max(seen, key=lambda t: t.score[0])
        self.window.append((track.world[0], track.image[0]))
        world = np.stack([w for w, _ in self.window])
        image = np.stack([i for _, i in self.window])
        K = intrinsics(rgb.shape[1], rgb.shape[0], self.hfov_deg)
        try:
            pos, yaw, grip, _ = self.retargeter.targets(world, image, np.ones(len(world), bool), K, self.fps)
        except NoUsableHand:  # no PnP solution in the window
            return None
        return HandTarget(pos[-1], float(yaw[-1]), float(grip[-1]))

    def close(self) -> None:
        self.tracker.close()
