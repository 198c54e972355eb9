"""Which robot a scene uses: the embedded arm, or any MJCF robot named by a small config.

A user robot (for example a MuJoCo Menagerie arm) is an MJCF file plus the names datapipe needs:
its arm joints (in order), the end-effector site, the gripper actuator with its open and closed
control values, and a home configuration. It is attached into the scene at ``base_pos``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import yaml

from datapipe.errors import DatapipeError


class RobotConfigError(DatapipeError):
    """A robot config that does not match its MJCF: names the file and the missing element."""


@dataclass(frozen=True)
class RobotConfig:
    """A robot for the simulator. ``mjcf`` None means the embedded arm (:mod:`generators.robots.panda`).

    arm_joints: hinge or slide joints the expert drives, base to tip; ee_site: the end-effector
    site (its z axis points out of the gripper); gripper_actuator: position actuator of the
    gripper, with ``gripper_open`` / ``gripper_closed`` control values; home: arm joint values
    (rad) to start from; base_pos: where the robot base stands in the scene (m).
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

    def __post_init__(self) -> None:
        if len(self.home) != len(self.arm_joints):
            raise RobotConfigError(
                f"robot {self.name}: home has {len(self.home)} values for {len(self.arm_joints)} arm joints"
            )


def load_robot_spec(config: RobotConfig) -> mujoco.MjSpec:
    """The robot's spec: the embedded arm, or ``config.mjcf`` checked against the config's names."""
    if config.mjcf is None:
        from generators.robots.panda import panda_spec

        return panda_spec()
    path = Path(config.mjcf)
    if not path.exists():
        raise RobotConfigError(f"robot {config.name}: MJCF file {path} not found")
    try:
        spec = mujoco.MjSpec.from_file(str(path))
    except Exception as exc:
        raise RobotConfigError(f"robot {config.name}: {path} is not valid MJCF: {exc}") from exc
    model = spec.compile()
    for joint in config.arm_joints:
        if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, joint) < 0:
            raise RobotConfigError(f"robot {config.name}: {path} has no joint {joint!r} (arm_joints)")
    if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, config.ee_site) < 0:
        raise RobotConfigError(f"robot {config.name}: {path} has no site {config.ee_site!r} (ee_site)")
    if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, config.gripper_actuator) < 0:
        raise RobotConfigError(
            f"robot {config.name}: {path} has no actuator {config.gripper_actuator!r} (gripper_actuator)"
        )
    return spec


def robot_from_dict(doc: dict) -> RobotConfig:
    """A :class:`RobotConfig` from a mapping (a workflow's ``robot:`` parameter or a YAML file)."""
    known = set(RobotConfig.__dataclass_fields__)
    unknown = set(doc) - known
    if unknown:
        raise RobotConfigError(f"unknown robot config fields {sorted(unknown)}; known: {sorted(known)}")
    values = dict(doc)
    for key in ("arm_joints", "home", "base_pos", "arm_actuators"):
        if key in values:
            values[key] = tuple(values[key])
    try:
        return RobotConfig(**values)
    except TypeError as exc:
        raise RobotConfigError(f"robot config: {exc}") from None


def load_robot_config(path: str) -> RobotConfig:
    """A robot config YAML file; a relative ``mjcf`` is relative to the YAML file."""
    doc = yaml.safe_load(Path(path).read_text()) or {}
    if doc.get("mjcf") and not Path(doc["mjcf"]).is_absolute():
        doc["mjcf"] = str(Path(path).parent / doc["mjcf"])
    return robot_from_dict(doc)


def robot_config_or_default(path: str) -> RobotConfig | None:
    """The robot config YAML at ``path``; None (the embedded arm) for an empty path."""
    return load_robot_config(path) if path else None
