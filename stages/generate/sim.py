"""``generate.sim``: simulated demonstrations as a source stage (a thin adapter over
:mod:`datapipe.generators.generator`).

Shards are seed ranges, so Ray workers simulate in parallel and resume skips finished ranges.
Each seed is simulated without rendering; failures are discarded and counted; kept episodes are
checked by replay (re-simulated from their stored initial state and commands) and rendered.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from datapipe.config import check
from datapipe.engine.stage import Resources, SourceStage, Wiring
from datapipe.generators.generator import SimGenerator
from datapipe.generators.randomization import RandomizationRanges
from datapipe.generators.sim_config import SimSceneConfig, seed_range_shards, shard_seeds, sim_wiring
from datapipe.records import Episode

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerateSimConfig(SimSceneConfig):
    """The shared sim parameters (:class:`SimSceneConfig`, inherited) and the seeds to run."""

    # seeds to simulate (seed, seed + 1, ...); failed ones are discarded and counted
    episodes: int = 100
    # first seed
    seed: int = 0
    # seeds per shard (the unit of parallelism and resume)
    seeds_per_shard: int = 10
    # scale of every randomization range (0 = the nominal scene)
    randomization: float = 1.0
    # probability that an episode is rendered with shadows (a randomization of the light
    # quality; shadows: true renders every episode with them)
    shadow_probability: float = 0.0
    # probability that an episode is rendered with reflections
    reflection_probability: float = 0.0
    # expert retries of a failed plan phase
    max_retries: int = 2
    # re-simulate each kept episode from its stored state and commands; drop it unless it succeeds again
    replay_check: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check(0 <= self.episodes <= 10_000_000, "episodes", f"must be within 0..10000000, got {self.episodes}")
        check(self.seeds_per_shard >= 1, "seeds_per_shard", f"must be >= 1, got {self.seeds_per_shard}")
        check(self.randomization >= 0, "randomization", f"must be >= 0, got {self.randomization}")
        for name in ("shadow_probability", "reflection_probability"):
            check(0 <= getattr(self, name) <= 1, name, f"must be within 0..1, got {getattr(self, name)}")
        check(0 <= self.max_retries <= 100, "max_retries", f"must be within 0..100, got {self.max_retries}")


class GenerateSim(SourceStage):
    """Simulate scripted-expert demonstrations in MuJoCo with domain randomization; keep the
    successes (replay-checked), render them at the configured cameras."""

    name = "generate.sim"
    version = "1"
    Config = GenerateSimConfig
    resources = Resources(cpus=1)

    @classmethod
    def expected_items(cls, config) -> int:
        """The seeds it simulates, a progress total (failed seeds are discarded, so fewer may arrive)."""
        return int(config.episodes)

    @classmethod
    def produces(cls, config: GenerateSimConfig, upstream: Wiring) -> Wiring:
        return sim_wiring(config)

    def setup(self) -> None:
        c = self.config
        ranges = RandomizationRanges(
            level=c.randomization, shadows=c.shadow_probability, reflections=c.reflection_probability
        )
        settings = c.sim_settings(ranges=ranges, max_retries=c.max_retries)
        self.generator = SimGenerator(settings, c.robot_config())

    def shards(self) -> list[str]:
        c = self.config
        return seed_range_shards(c.seed, c.episodes, c.seeds_per_shard)

    def read(self, shard: str) -> Iterable[Episode]:
        seeds = shard_seeds(shard)
        kept, failed, replay_failed = [], [], []
        for seed in seeds:
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
            "seeds": len(seeds),
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
