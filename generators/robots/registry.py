"""The robots a workflow can name, and how a config becomes a MuJoCo spec.

:mod:`datapipe.generators.robots.config` holds the base type (:class:`RobotConfig`), which knows no
concrete robot; the concrete ones (:mod:`~datapipe.generators.robots.menagerie_panda`,
:mod:`~datapipe.generators.robots.primitive_panda`) import it, and this registry imports them: no cycle.
"""

from __future__ import annotations

from pathlib import Path

import mujoco
import yaml

from datapipe.generators.robots.config import RobotConfig, RobotConfigError
from datapipe.generators.robots.menagerie_panda import NAME, adapt_franka, franka_config
from datapipe.generators.robots.primitive_panda import panda_config, panda_spec


def load_robot_spec(config: RobotConfig) -> mujoco.MjSpec:
    """The robot's spec: the embedded arm, a Menagerie robot, or ``config.mjcf``, checked against the
    config's names."""
    if config.menagerie:
        from datapipe.generators.robots.menagerie import menagerie_spec

        spec = menagerie_spec(config.menagerie)
        if Path(config.menagerie).name == NAME:
            spec = adapt_franka(spec)
        path = f"menagerie {config.menagerie}"
    elif config.mjcf is None:
        return panda_spec()
    else:
        path = Path(config.mjcf)
        if not path.exists():
            raise RobotConfigError(f"robot {config.name}: MJCF file {path} not found")
        try:
            spec = mujoco.MjSpec.from_file(str(path))
        except Exception as exc:
            raise RobotConfigError(f"robot {config.name}: {path} is not valid MJCF: {exc}") from exc
    try:
        model = spec.compile()
    except Exception as exc:
        raise RobotConfigError(f"robot {config.name}: {path} does not compile: {exc}") from exc
    for joint in config.arm_joints:
        if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, joint) < 0:
            raise RobotConfigError(f"robot {config.name}: {path} has no joint {joint!r} (arm_joints)")
    if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, config.ee_site) < 0:
        raise RobotConfigError(f"robot {config.name}: {path} has no site {config.ee_site!r} (ee_site)")
    if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, config.gripper_actuator) < 0:
        raise RobotConfigError(
            f"robot {config.name}: {path} has no actuator {config.gripper_actuator!r} (gripper_actuator)"
        )
    for pad in config.finger_pads:
        if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, pad) < 0:
            raise RobotConfigError(f"robot {config.name}: {path} has no geom {pad!r} (finger_pads)")
    return spec


def robot_from_dict(doc: dict) -> RobotConfig:
    """A :class:`RobotConfig` from a mapping (a workflow's ``robot:`` parameter or a YAML file)."""
    known = set(RobotConfig.__dataclass_fields__)
    unknown = set(doc) - known
    if unknown:
        raise RobotConfigError(f"unknown robot config fields {sorted(unknown)}; known: {sorted(known)}")
    values = dict(doc)
    name = values.get("menagerie")
    if name and set(values) <= {"menagerie", "base_pos", "name"}:  # a known robot by name alone
        preset = BUILTIN_ROBOTS.get(Path(str(name)).name)
        if preset is None:
            raise RobotConfigError(
                f"robot config: menagerie {name!r} needs arm_joints, ee_site, gripper_actuator, gripper_open, "
                f"gripper_closed and home (known by name alone: {sorted(BUILTIN_ROBOTS)})"
            )
        base = preset()
        return RobotConfig(
            **{**base.__dict__, "menagerie": str(name), "base_pos": tuple(values.get("base_pos", base.base_pos))}
        )
    for key in ("arm_joints", "home", "base_pos", "arm_actuators", "finger_pads"):
        if key in values:
            values[key] = tuple(values[key])
    try:
        return RobotConfig(**values)
    except TypeError as exc:
        raise RobotConfigError(f"robot config: {exc}") from None


def load_robot_config(path: str) -> RobotConfig:
    """A robot config YAML file; a relative ``mjcf`` (or a relative ``menagerie`` folder that
    exists) is relative to the YAML file."""
    doc = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(doc, dict):
        raise RobotConfigError(f"robot config {path}: expected a mapping, got {type(doc).__name__}")
    if doc.get("mjcf") and not Path(doc["mjcf"]).is_absolute():
        doc["mjcf"] = str(Path(path).parent / doc["mjcf"])
    local = Path(path).parent / str(doc.get("menagerie", ""))
    if doc.get("menagerie") and not Path(doc["menagerie"]).is_absolute() and local.is_dir():
        doc["menagerie"] = str(local)
    try:
        return robot_from_dict(doc)
    except RobotConfigError as exc:
        raise RobotConfigError(f"robot config {path}: {exc}") from None


# robots a workflow names without a file: Menagerie's Panda (the default) and the embedded arm
# (the Panda's kinematics in primitive shapes: no meshes, fast to render, collides only at the fingers)
BUILTIN_ROBOTS = {"franka_emika_panda": franka_config, "primitive_panda": panda_config}
DEFAULT_ROBOT = "franka_emika_panda"


def resolve_robot(name_or_path: str) -> RobotConfig:
    """A built-in robot by name (:data:`BUILTIN_ROBOTS`) or a robot config YAML file."""
    if name_or_path in BUILTIN_ROBOTS:
        return BUILTIN_ROBOTS[name_or_path]()
    if not Path(name_or_path).is_file():
        raise RobotConfigError(
            f"robot {name_or_path!r}: neither a built-in robot ({', '.join(sorted(BUILTIN_ROBOTS))}) "
            "nor a robot config YAML file"
        )
    return load_robot_config(name_or_path)


def robot_config_or_default(name_or_path: str) -> RobotConfig | None:
    """:func:`resolve_robot` of ``name_or_path``; None (the caller's default) when empty."""
    return resolve_robot(name_or_path) if name_or_path else None
