"""``retarget.arm_gripper``: a tracked human hand to robot arm joint targets and gripper commands."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from datapipe.config import check
from datapipe.records import Embodiment, Episode
from datapipe.stage import Resources, Transform
from stages.ego.arm_retarget import (
    DEFAULT_CAMERA_POS,
    DEFAULT_CAMERA_QUAT,
    ArmRetargeter,
    ArmRetargetSettings,
)
from stages.ego.hand_frame import intrinsics


@dataclass(frozen=True)
class ArmGripperConfig:
    # which hand drives the arm: right or left
    hand: str = "right"
    # camera position [x, y, z] (m) and orientation [w, x, y, z] in the robot base frame
    camera_pos: tuple[float, float, float] = DEFAULT_CAMERA_POS
    camera_quat: tuple[float, float, float, float] = DEFAULT_CAMERA_QUAT
    # horizontal field of view of the video camera, degrees (used when no intrinsics are known)
    hfov_deg: float = 60.0
    # workspace: scaling about ref (m), then clipping to [workspace_min, workspace_max] (m, base frame)
    ref: tuple[float, float, float] = (0.45, 0.0, 0.3)
    scale: float = 1.0
    workspace_min: tuple[float, float, float] = (0.25, -0.4, 0.05)
    workspace_max: tuple[float, float, float] = (0.75, 0.4, 0.6)
    # gripper hysteresis on the thumb-index aperture, m
    close_aperture: float = 0.035
    open_aperture: float = 0.06
    # frames whose IK position error exceeds this are flagged unreachable, m
    max_ik_error: float = 0.01
    # robot config YAML (as generate.sim's); empty = the embedded arm
    robot: str = ""

    def __post_init__(self) -> None:
        check(self.hand in ("right", "left"), "hand", f"must be right or left, got {self.hand!r}")
        check(
            self.close_aperture < self.open_aperture,
            "close_aperture",
            f"must be below open_aperture ({self.open_aperture}) for hysteresis, got {self.close_aperture}",
        )


class ArmGripper(Transform):
    """Wrist pose (PnP) -> robot base frame -> workspace scaling and clipping -> IK (mink) to
    joint targets; gripper from the grip aperture with hysteresis; a kinematic replay flags
    joint-limit hits, unreachable poses and self-collisions. Quality metrics in meta.retarget."""

    name = "retarget.arm_gripper"
    version = "1"
    Config = ArmGripperConfig
    resources = Resources(cpus=1)

    def setup(self) -> None:
        c = self.config
        settings = ArmRetargetSettings(
            camera_pos=tuple(c.camera_pos),
            camera_quat=tuple(c.camera_quat),
            ref=tuple(c.ref),
            scale=c.scale,
            workspace_min=tuple(c.workspace_min),
            workspace_max=tuple(c.workspace_max),
            hfov_deg=c.hfov_deg,
            close_aperture=c.close_aperture,
            open_aperture=c.open_aperture,
            max_ik_error=c.max_ik_error,
        )
        from generators.sim_source import robot_config_or_default

        self.retargeter = ArmRetargeter(settings, robot_config_or_default(c.robot))

    def process(self, episode: Episode) -> Iterable[Episode]:
        side = self.config.hand
        key = f"hand.{side}"
        if f"{key}.world" not in episode.steps:
            raise KeyError(f"no {key}.* steps: run perception.hand_pose first")
        h, w = episode.meta.get("hand_pose", {}).get("image_size", [None, None])
        if h is None:
            raise KeyError("meta.hand_pose.image_size missing: run perception.hand_pose first")
        K = intrinsics(w, h, self.config.hfov_deg)
        result = self.retargeter.retarget(
            np.asarray(episode.steps[f"{key}.world"], np.float64),
            np.asarray(episode.steps[f"{key}.image"], np.float64),
            np.asarray(episode.steps[f"{key}.present"], bool),
            K,
            episode.fps,
        )
        robot = self.retargeter.robot
        steps = {**result.arrays}
        embodiment = Embodiment(
            robot=robot.name,
            action_names=(*robot.arm_joints, "gripper"),
            action_units=("rad",) * len(robot.arm_joints) + ("1",),
            action_frame="joint",
            state_names=(*robot.arm_joints, "gripper_width"),
            control_fps=episode.fps,
        )
        yield episode.replace(
            embodiment=embodiment,
            steps={**episode.steps, **steps},
            meta={
                **episode.meta,
                "retarget": {**result.quality, "hand": side, "intrinsics_hfov_deg": self.config.hfov_deg},
            },
        )
