"""``generate.rollouts``: self-exploration as a source: a policy with stochastic actions over seeds
and domain randomization, keeping the successful rollouts (optionally the failures too, labelled
``success: false``), recorded like expert demonstrations (see :mod:`datapipe.generators.evaluate`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from datapipe.config import check
from datapipe.engine.stage import SourceStage, Wiring
from datapipe.generators.sim_config import SimSceneConfig, seed_range_shards, shard_seeds
from datapipe.records import Episode


@dataclass(frozen=True)
class GenerateRolloutsConfig(SimSceneConfig):
    """The shared sim parameters (:class:`SimSceneConfig`) and the policy to explore with."""

    # expert, expert:noise=RAD, random, a checkpoint folder of datapipe train, or ws://host:port
    policy: str = "expert:noise=0.02"
    # Gaussian noise added to every action the policy gives (rad on joints), for exploration
    action_noise: float = 0.0
    # seeds to roll out (seed, seed + 1, ...)
    episodes: int = 100
    # first seed (away from generate.sim's and evaluate's)
    seed: int = 2_000_000
    # seeds per shard (the unit of parallelism and resume)
    seeds_per_shard: int = 10
    # keep failed rollouts as well (success: false)
    keep_failures: bool = False
    # control steps before a rollout is stopped as a failure
    max_steps: int = 400
    # actions of each chunk the policy returns that run before it is asked again (0: all of them)
    execute: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.episodes >= 0, "episodes", f"must be >= 0, got {self.episodes}")
        check(self.seeds_per_shard >= 1, "seeds_per_shard", f"must be >= 1, got {self.seeds_per_shard}")
        check(self.action_noise >= 0, "action_noise", f"must be >= 0, got {self.action_noise}")
        check(self.max_steps >= 1, "max_steps", f"must be >= 1, got {self.max_steps}")
        check(self.execute >= 0, "execute", f"must be >= 0 (0: the whole chunk), got {self.execute}")


class NoisyPolicy:
    """A policy whose every action gets Gaussian noise on the arm dimensions (seeded per rollout)."""

    def __init__(self, policy, noise: float):
        self.policy, self.noise, self.spec = policy, noise, policy.spec

    def reset(self, instruction: str, seed: int) -> None:
        import numpy as np

        self.rng = np.random.default_rng([seed, 53])
        self.policy.reset(instruction, seed)

    def act(self, observation):
        chunk = self.policy.act(observation).copy()
        chunk[:, :-1] += self.rng.normal(0.0, self.noise, chunk[:, :-1].shape)
        return chunk


class GenerateRollouts(SourceStage):
    """Roll a policy out over seeds (self-exploration); keep the successes (and, when asked, the
    failures labelled success: false), recorded like expert demonstrations."""

    name = "generate.rollouts"
    version = "2"  # 2: execute (a chunk at a time)
    Config = GenerateRolloutsConfig
    name_or_path_fields = ("policy",)

    @classmethod
    def expected_items(cls, config) -> int:
        """The seeds it rolls out (a progress total)."""
        return int(config.episodes)

    @classmethod
    def produces(cls, config: GenerateRolloutsConfig, upstream: Wiring) -> Wiring:
        steps = ("object.poses", "task.state", "sim.qpos", "sim.qvel")
        return Wiring().plus(steps, config.cameras if config.render else ())

    def setup(self) -> None:
        from datapipe.generators.generator import SimGenerator
        from datapipe.generators.policy import load_policy

        c = self.config
        self.generator = SimGenerator(c.sim_settings(), c.robot_config())
        policy = load_policy(c.policy, SimGenerator(c.sim_settings(), c.robot_config()))
        self.policy = NoisyPolicy(policy, c.action_noise) if c.action_noise > 0 else policy

    def shards(self) -> list[str]:
        c = self.config
        return seed_range_shards(c.seed, c.episodes, c.seeds_per_shard)

    def read(self, shard: str) -> Iterable[Episode]:
        from datapipe.generators.evaluate import rollout, rollout_episode

        for seed in shard_seeds(shard):
            execute = self.config.execute or max(1, self.policy.spec.horizon)
            r = rollout(self.generator, self.policy, seed, self.config.max_steps, execute, record=True)
            if r.success or self.config.keep_failures:
                yield rollout_episode(self.generator, r, self.config.policy, render=self.config.render)
