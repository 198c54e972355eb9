"""The settings every simulated-episode stage shares (``generate.sim``, ``multiply.demos``), as
flat workflow parameters; stage configs extend :class:`SimSceneConfig` instead of copying it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from datapipe.config import check
from datapipe.engine.stage import Wiring
from datapipe.generators.generator import SimSettings
from datapipe.generators.render import RenderQuality
from datapipe.generators.robots.config import RobotConfig
from datapipe.generators.robots.registry import BUILTIN_ROBOTS, DEFAULT_ROBOT, resolve_robot
from datapipe.generators.tasks import TaskName


@dataclass(frozen=True)
class SimSceneConfig:
    """Task, rate, cameras and robot of simulated episodes."""

    # task: pick_place, stack, push or open_drawer
    task: TaskName = "pick_place"
    # control and recording rate, Hz
    fps: float = 20.0
    # cameras to render: scene cameras (front, side) or robot cameras (wrist)
    cameras: tuple[str, ...] = ("front", "wrist")
    # rendered frame size [height, width], pixels
    image_size: tuple[int, int] = (128, 128)
    # render kept episodes (false: state-only episodes, much faster)
    render: bool = True
    # render shadows (about 10x the cost of a frame on a CPU renderer)
    shadows: bool = False
    # render reflections
    reflections: bool = False
    # multisample anti-aliasing
    antialias: bool = False
    # robot visual meshes: auto (reduced to suit image_size on a CPU renderer, full on a GPU),
    # full or reduced
    mesh_detail: Literal["auto", "full", "reduced"] = "auto"
    # robot: franka_emika_panda (Menagerie's, with meshes), primitive_panda (the embedded arm of
    # primitive shapes: fast, collides only at the fingers) or a robot config YAML (name, mjcf or
    # menagerie, arm_joints, ee_site, gripper_actuator, gripper_open, gripper_closed, home, ...)
    robot: str = DEFAULT_ROBOT

    def __post_init__(self) -> None:
        check(0 < self.fps <= 1000, "fps", f"must be within (0, 1000] Hz, got {self.fps}")
        check(
            all(0 < s <= 4096 for s in self.image_size), "image_size", f"must be within 1..4096, got {self.image_size}"
        )
        check(
            self.robot in BUILTIN_ROBOTS or Path(self.robot).is_file(),
            "robot",
            f"{self.robot!r} is neither a built-in robot ({', '.join(sorted(BUILTIN_ROBOTS))}) nor a config file",
        )

    def sim_settings(self, **extra: Any) -> SimSettings:
        """The generator's settings for these parameters (``extra``: other SimSettings fields)."""
        quality = RenderQuality(shadows=self.shadows, reflections=self.reflections, antialias=self.antialias)
        return SimSettings(
            task=self.task,
            control_fps=self.fps,
            cameras=tuple(self.cameras),
            image_size=tuple(self.image_size),
            render_quality=quality,
            mesh_detail=self.mesh_detail,
            **extra,
        )

    def robot_config(self) -> RobotConfig:
        """The configured robot."""
        return resolve_robot(self.robot)


SIM_STEPS = ("action.ee_delta", "ee.pose", "object.poses", "task.state", "sim.qpos", "sim.qvel", "sim.ctrl")


def sim_wiring(config: SimSceneConfig) -> Wiring:
    """What a simulated episode carries: the sim arrays, and the cameras when rendered."""
    return Wiring().plus(SIM_STEPS, config.cameras if config.render else ())


def seed_range_shards(first: int, count: int, per_shard: int) -> list[str]:
    """The read units of a source over seeds ``first .. first + count - 1``, ``per_shard`` each:
    ``seeds-0000000-0000005`` holds seeds 0 to 4 (the end is exclusive)."""
    end = first + count
    return [f"seeds-{lo:07d}-{min(lo + per_shard, end):07d}" for lo in range(first, end, per_shard)]


def shard_seeds(shard: str) -> range:
    """The seeds of a name from :func:`seed_range_shards`."""
    _, lo, hi = shard.split("-")
    return range(int(lo), int(hi))
