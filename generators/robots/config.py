"""Which robot a scene uses: Menagerie's Panda (the default), the embedded primitive arm, or any
MJCF robot named by a small config.

A user robot is an MJCF file (``mjcf:``) or a MuJoCo Menagerie robot (``menagerie: <name>``, see
:mod:`datapipe.generators.robots.menagerie`) plus the names datapipe needs: its arm joints (in order), the
end-effector site, the gripper actuator with its open and closed control values, and a home
configuration. It is attached into the scene at ``base_pos``.

A workflow's ``robot:`` parameter is a built-in name or a YAML file
(:mod:`datapipe.generators.robots.registry`). This module is the base type and knows no concrete robot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from datapipe.errors import DatapipeError


class RobotConfigError(DatapipeError):
    """A robot config that does not match its MJCF: names the file and the missing element."""


@dataclass(frozen=True)
class RobotConfig:
    """A robot for the simulator: ``mjcf`` (a file), ``menagerie`` (a Menagerie name), or neither
    (the embedded primitive arm, :mod:`datapipe.generators.robots.primitive_panda`).

    arm_joints: hinge or slide joints the expert drives, base to tip; ee_site: the end-effector
    site (its z axis points out of the gripper); gripper_actuator: position actuator of the
    gripper, with ``gripper_open`` / ``gripper_closed`` control values; home: arm joint values
    (rad) to start from; base_pos: where the robot base stands in the scene (m); finger_pads: two
    box geoms whose facing sides give the gripper opening (default: the sum of the finger joints).
    """

    name: str
    mjcf: str | None
    arm_joints: tuple[str, ...]
    ee_site: str
    gripper_actuator: str
    gripper_open: float
    gripper_closed: float
    home: tuple[float, ...]
    base_pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    wrist_camera: str | None = None
    arm_actuators: tuple[str, ...] = field(default_factory=tuple)  # default: the actuator of each arm joint
    menagerie: str | None = None
    finger_pads: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if len(self.home) != len(self.arm_joints):
            raise RobotConfigError(
                f"robot {self.name}: home has {len(self.home)} values for {len(self.arm_joints)} arm joints"
            )
        if self.mjcf and self.menagerie:
            raise RobotConfigError(f"robot {self.name}: give mjcf or menagerie, not both")
        if self.finger_pads and len(self.finger_pads) != 2:
            raise RobotConfigError(f"robot {self.name}: finger_pads names two geoms, got {list(self.finger_pads)}")


def arm_gripper_embodiment(config: RobotConfig, fps: float):
    """The :class:`~datapipe.records.Embodiment` of episodes whose actions are this robot's arm
    joint targets (rad) and a binary gripper command (1 open, 0 closed), and whose state is the
    arm joints and the gripper opening."""
    from datapipe.records import Embodiment

    joints = config.arm_joints
    return Embodiment(
        robot=config.name,
        action_names=(*joints, "gripper"),
        action_units=("rad",) * len(joints) + ("1",),
        action_frame="joint",
        state_names=(*joints, "gripper_width"),
        control_fps=fps,
        action_kinds=("joint_position",) * len(joints) + ("gripper_binary",),
    )
