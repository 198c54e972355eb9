"""``multiply.demos``: new simulated episodes from each source episode (demo multiplication, a
thin adapter over :mod:`generators.multiply`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from datapipe.config import check
from datapipe.records import Episode
from datapipe.stage import Resources, Transform
from generators.generator import SimGenerator, SimSettings
from generators.multiply import DemoMultiplier
from generators.sim_source import robot_config_or_default
from generators.tasks import task_names


@dataclass(frozen=True)
class MultiplyConfig:
    # task of the source episodes: pick_place, stack, push or open_drawer
    task: str = "pick_place"
    # new scenes tried per source episode; the successful ones are output
    per_source: int = 10
    # salt of the new scenes' seeds (seed = hash of salt, source id and attempt)
    seed: int = 0
    # control and recording rate, Hz (as the sources)
    fps: float = 20.0
    # cameras to render, and frame size [height, width]
    cameras: tuple[str, ...] = ("front", "wrist")
    image_size: tuple[int, int] = (128, 128)
    # render generated episodes
    render: bool = True
    # also output the source episode itself
    keep_source: bool = True
    # robot config YAML; empty = the embedded arm
    robot: str = ""

    def __post_init__(self) -> None:
        check(self.task in task_names(), "task", f"{self.task!r} is not one of {', '.join(task_names())}")
        check(self.per_source >= 0, "per_source", f"must be >= 0, got {self.per_source}")


class MultiplyDemos(Transform):
    """Demo multiplication (MimicGen-style): carry each source's object-centric segments into new
    randomized scenes, keep the successes; meta records the source and the generation success rate."""

    name = "multiply.demos"
    version = "1"
    Config = MultiplyConfig
    resources = Resources(cpus=1)

    def setup(self) -> None:
        c = self.config
        settings = SimSettings(task=c.task, control_fps=c.fps, cameras=tuple(c.cameras), image_size=tuple(c.image_size))
        self.multiplier = DemoMultiplier(SimGenerator(settings, robot_config_or_default(c.robot)))

    def _seed(self, episode_id: str, attempt: int) -> int:
        digest = hashlib.sha256(f"{self.config.seed}:{episode_id}:{attempt}".encode()).digest()
        return int.from_bytes(digest[:6], "big")

    def process(self, episode: Episode) -> Iterable[Episode]:
        if self.config.keep_source:
            yield episode
        seeds = [self._seed(episode.episode_id, k) for k in range(self.config.per_source)]
        kept, rate = self.multiplier.multiply([episode], seeds)
        for run, source_id in kept:
            ep = self.multiplier.episode(run, source_id, render=self.config.render)
            yield ep.with_meta(generation_success_rate=rate)
