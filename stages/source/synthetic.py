"""``source.synthetic``: seeded random episodes of a given shape, for tests, demos and benchmarks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from datapipe.config import check
from datapipe.engine.stage import SourceStage, Wiring
from datapipe.records import Episode
from datapipe.records.synthetic import DEFAULT_TASKS, synthetic_episode

MAX_EPISODES = 100_000_000  # bounds a typo such as 1e30 (the shard list is built up front)
MAX_LENGTH = 1_000_000  # steps


@dataclass(frozen=True)
class SyntheticConfig:
    # number of episodes to generate
    episodes: int = 100
    # episodes per shard (a shard is the unit of parallelism and of resume)
    episodes_per_shard: int = 10
    # shortest episode, in steps
    min_length: int = 20
    # longest episode, in steps
    max_length: int = 60
    # steps per second (Hz)
    fps: float = 10.0
    # dimensions of observation.state
    state_dim: int = 7
    # dimensions of action
    action_dim: int = 7
    # camera names; each gets rendered frames (empty: no cameras)
    cameras: tuple[str, ...] = ()
    # camera frame size [height, width] in pixels
    image_size: tuple[int, int] = (64, 64)
    # how camera frames travel: mp4 (H.264) or jpeg (one per frame)
    camera_encoding: Literal["mp4", "jpeg"] = "mp4"
    # base seed; episode i uses (seed, i)
    seed: int = 0
    # instructions to draw from
    tasks: tuple[str, ...] = DEFAULT_TASKS

    def __post_init__(self) -> None:
        check(0 <= self.episodes <= MAX_EPISODES, "episodes", f"must be within 0..{MAX_EPISODES}, got {self.episodes}")
        check(self.episodes_per_shard >= 1, "episodes_per_shard", f"must be >= 1, got {self.episodes_per_shard}")
        check(1 <= self.min_length, "min_length", f"must be >= 1, got {self.min_length}")
        check(
            self.min_length <= self.max_length <= MAX_LENGTH,
            "max_length",
            f"must be within min_length ({self.min_length})..{MAX_LENGTH}, got {self.max_length}",
        )
        check(self.fps > 0, "fps", f"must be > 0, got {self.fps}")
        check(
            self.state_dim >= 0 and self.action_dim >= 0,
            "state_dim" if self.state_dim < 0 else "action_dim",
            "must be >= 0",
        )
        check(
            all(0 < s <= 4096 for s in self.image_size), "image_size", f"must be within 1..4096, got {self.image_size}"
        )
        check(
            self.camera_encoding in ("mp4", "jpeg"),
            "camera_encoding",
            f"must be mp4 or jpeg, got {self.camera_encoding!r}",
        )


class SyntheticSource(SourceStage):
    """Seeded random episodes (joint random walks, optional moving-disc cameras)."""

    name = "source.synthetic"
    version = "1"
    Config = SyntheticConfig

    @classmethod
    def expected_items(cls, config) -> int:
        """Its episodes (a progress total)."""
        return int(config.episodes)

    @classmethod
    def produces(cls, config: SyntheticConfig, upstream: Wiring) -> Wiring:
        return Wiring(cameras=frozenset(config.cameras))

    def shards(self) -> list[str]:
        c = self.config
        return [
            f"{lo:06d}-{min(lo + c.episodes_per_shard, c.episodes):06d}"
            for lo in range(0, c.episodes, c.episodes_per_shard)
        ]

    def read(self, shard: str) -> Iterable[Episode]:
        c = self.config
        lo, hi = (int(x) for x in shard.split("-"))
        for i in range(lo, hi):
            length = int(np.random.default_rng([c.seed, i, 1]).integers(c.min_length, c.max_length + 1))
            yield synthetic_episode(
                c.seed,
                i,
                length=length,
                fps=c.fps,
                state_dim=c.state_dim,
                action_dim=c.action_dim,
                cameras=c.cameras,
                image_size=c.image_size,
                camera_encoding=c.camera_encoding,
                tasks=c.tasks,
                stage_version=self.version,
            )
