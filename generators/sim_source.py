"""``generate.sim``: simulated demonstrations as a source stage (a thin adapter over
:mod:`generators.generator`).

Shards are seed ranges, so Ray workers simulate in parallel and resume skips finished ranges.
Each seed is simulated without rendering; failures are discarded and counted; kept episodes are
checked by replay (re-simulated from their stored initial state and commands) and rendered.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from datapipe.config import check
from datapipe.records import Episode
from datapipe.stage import Resources, SourceStage
from generators.generator import SimGenerator, SimSettings
from generators.randomization import RandomizationRanges
from generators.robots.config import RobotConfig, robot_from_dict
from generators.tasks import task_names

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerateSimConfig:
    # task: pick_place, stack, push or open_drawer
    task: str = "pick_place"
    # seeds to simulate (seed, seed + 1, ...); failed ones are discarded and counted
    episodes: int = 100
    # first seed
    seed: int = 0
    # seeds per shard (the unit of parallelism and resume)
    seeds_per_shard: int = 10
    # control and recording rate, Hz
    fps: float = 20.0
    # cameras to render: scene cameras (front, side) or robot cameras (wrist)
    cameras: tuple[str, ...] = ("front", "wrist")
    # rendered frame size [height, width], pixels
    image_size: tuple[int, int] = (128, 128)
    # render kept episodes (false: state-only episodes, much faster)
    render: bool = True
    # scale of every randomization range (0 = the nominal scene)
    randomization: float = 1.0
    # expert retries of a failed plan phase
    max_retries: int = 2
    # re-simulate each kept episode from its stored state and commands; drop it unless it succeeds again
    replay_check: bool = True
    # robot config YAML (name, mjcf, arm_joints, ee_site, gripper_actuator, gripper_open, gripper_closed,
    # home, ...); empty = the embedded Panda-kinematics arm
    robot: str = ""

    def __post_init__(self) -> None:
        check(self.task in task_names(), "task", f"{self.task!r} is not one of {', '.join(task_names())}")
        check(0 <= self.episodes <= 10_000_000, "episodes", f"must be within 0..10000000, got {self.episodes}")
        check(self.seeds_per_shard >= 1, "seeds_per_shard", f"must be >= 1, got {self.seeds_per_shard}")
        check(not self.robot or Path(self.robot).exists(), "robot", f"config file {self.robot} not found")


def load_robot_config(path: str) -> RobotConfig:
    """A robot config YAML file; a relative ``mjcf`` is relative to the YAML file."""
    doc = yaml.safe_load(Path(path).read_text()) or {}
    if doc.get("mjcf") and not Path(doc["mjcf"]).is_absolute():
        doc["mjcf"] = str(Path(path).parent / doc["mjcf"])
    return robot_from_dict(doc)


def robot_config_or_default(path: str) -> RobotConfig | None:
    """The robot config YAML at ``path``; None (the embedded arm) for an empty path."""
    return load_robot_config(path) if path else None


class GenerateSim(SourceStage):
    """Simulate scripted-expert demonstrations in MuJoCo with domain randomization; keep the
    successes (replay-checked), render them at the configured cameras."""

    name = "generate.sim"
    version = "1"
    Config = GenerateSimConfig
    resources = Resources(cpus=1)

    def setup(self) -> None:
        c = self.config
        settings = SimSettings(
            task=c.task,
            control_fps=c.fps,
            cameras=tuple(c.cameras),
            image_size=tuple(c.image_size),
            ranges=RandomizationRanges(level=c.randomization),
            max_retries=c.max_retries,
        )
        robot = robot_config_or_default(c.robot)
        self.generator = SimGenerator(settings, robot)

    def shards(self) -> list[str]:
        c = self.config
        return [
            f"seeds-{lo:07d}-{min(lo + c.seeds_per_shard, c.seed + c.episodes):07d}"
            for lo in range(c.seed, c.seed + c.episodes, c.seeds_per_shard)
        ]

    def read(self, shard: str) -> Iterable[Episode]:
        _, lo, hi = shard.split("-")
        kept, failed, replay_failed = [], [], []
        for seed in range(int(lo), int(hi)):
            run = self.generator.simulate(seed)
            if not run.success:
                failed.append(seed)
                continue
            if self.config.replay_check:
                arrays = run.recording.arrays()
                if not self.generator.replay(run.params, run.recording.initial_state, arrays["ctrl"]):
                    replay_failed.append(seed)
                    continue
            kept.append(run)
        stats = {
            "shard": shard,
            "seeds": int(hi) - int(lo),
            "kept": len(kept),
            "failed_seeds": failed,
            "replay_failed_seeds": replay_failed,
        }
        if failed or replay_failed:
            log.info(
                "%s: %d of %d seeds failed, %d failed replay", shard, len(failed), stats["seeds"], len(replay_failed)
            )
        for run in kept:
            ep = self.generator.episode(run, render=self.config.render)
            yield ep.with_meta(generation=stats, replay_checked=self.config.replay_check)
