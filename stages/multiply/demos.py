"""``multiply.demos``: new simulated episodes from each source episode (demo multiplication, a
thin adapter over :mod:`datapipe.generators.multiply`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from datapipe.config import check
from datapipe.engine.stage import Resources, Transform, Wiring
from datapipe.generators.generator import SimGenerator
from datapipe.generators.multiply import DemoMultiplier
from datapipe.generators.sim_config import SimSceneConfig, sim_wiring
from datapipe.records import Episode


@dataclass(frozen=True)
class MultiplyConfig(SimSceneConfig):
    """The shared sim parameters (:class:`SimSceneConfig`, inherited: task, rate and robot as the
    source episodes') and how many new scenes to try."""

    # new scenes tried per source episode; the successful ones are output
    per_source: int = 10
    # salt of the new scenes' seeds (seed = hash of salt, source id and attempt)
    seed: int = 0
    # also output the source episode itself
    keep_source: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check(0 <= self.per_source <= 10_000, "per_source", f"must be within 0..10000, got {self.per_source}")


class MultiplyDemos(Transform):
    """Demo multiplication (MimicGen-style): carry each source's object-centric segments into new
    randomized scenes, keep the successes; meta records the source and the generation success rate."""

    name = "multiply.demos"
    version = "1"
    Config = MultiplyConfig
    resources = Resources(cpus=1)

    @classmethod
    def requires(cls, config: MultiplyConfig) -> Wiring:
        return Wiring.needs(("ee.pose", "object.poses", "action"))

    @classmethod
    def produces(cls, config: MultiplyConfig, upstream: Wiring) -> Wiring:
        made = sim_wiring(config)
        return Wiring.fan_in([upstream, made]) if config.keep_source else made

    def setup(self) -> None:
        c = self.config
        self.multiplier = DemoMultiplier(SimGenerator(c.sim_settings(), c.robot_config()))

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
