"""``retarget.arm_gripper``: a tracked human hand to robot arm joint targets and gripper commands."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from datapipe.config import check, narrow
from datapipe.engine.stage import Resources, Transform, Wiring
from datapipe.generators.hands.hand_frame import intrinsics
from datapipe.generators.retarget.arm import (
    ArmRetargeter,
    ArmRetargetSettings,
    NoUsableHand,
)
from datapipe.generators.robots.config import arm_gripper_embodiment
from datapipe.generators.robots.registry import robot_config_or_default
from datapipe.records import Episode, RecordError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArmGripperConfig(ArmRetargetSettings):
    """The retargeting settings (:class:`ArmRetargetSettings`, inherited), the hand and the robot."""

    # which hand drives the arm
    hand: Literal["right", "left"] = "right"
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
    name_or_path_fields = ("robot",)
    resources = Resources(cpus=1)

    @classmethod
    def requires(cls, config: ArmGripperConfig) -> Wiring:
        return Wiring.needs(f"hand.{config.hand}.{f}" for f in ("world", "image", "present"))

    @classmethod
    def produces(cls, config: ArmGripperConfig, upstream: Wiring) -> Wiring:
        extra = ("action.ee_pose", "retarget.ee_achieved", "retarget.ik_position_error", "retarget.valid")
        return upstream.plus(extra)

    def setup(self) -> None:
        c = self.config
        self.retargeter = ArmRetargeter(narrow(c, ArmRetargetSettings), robot_config_or_default(c.robot))

    def process(self, episode: Episode) -> Iterable[Episode]:
        side = self.config.hand
        key = f"hand.{side}"
        if f"{key}.world" not in episode.steps:
            raise RecordError(f"no {key}.* steps: run perception.hand_pose first")
        h, w = episode.meta.get("hand_pose", {}).get("image_size", [None, None])
        if h is None:
            raise RecordError("meta.hand_pose.image_size missing: run perception.hand_pose first")
        K = intrinsics(w, h, self.config.hfov_deg)
        try:
            result = self.retargeter.retarget(
                np.asarray(episode.steps[f"{key}.world"], np.float64),
                np.asarray(episode.steps[f"{key}.image"], np.float64),
                np.asarray(episode.steps[f"{key}.present"], bool),
                K,
                episode.fps,
            )
        except NoUsableHand as exc:  # a clip without the hand: filtered with its reason, not a failure
            log.info("%s: dropped by %s: %s (%s hand)", episode.episode_id, self.name, exc, side)
            return
        robot = self.retargeter.robot
        steps = {**result.arrays}
        embodiment = arm_gripper_embodiment(robot, episode.fps)
        yield episode.replace(
            embodiment=embodiment,
            steps={**episode.steps, **steps},
            meta={
                **episode.meta,
                "retarget": {**result.quality, "hand": side, "intrinsics_hfov_deg": self.config.hfov_deg},
            },
        )
