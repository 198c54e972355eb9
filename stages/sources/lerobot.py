"""``source.lerobot``: the episodes of a LeRobot v2.1 or v3.0 dataset directory."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from datapipe.lerobot.reader import LeRobotReader
from datapipe.records import Episode
from datapipe.stage import SourceStage


@dataclass(frozen=True)
class LeRobotSourceConfig:
    # dataset folder (local path or URI) holding meta/info.json
    path: str
    # episodes per read unit (the unit of parallelism and of resume)
    episodes_per_shard: int = 20

    def __post_init__(self) -> None:
        if self.episodes_per_shard < 1:
            raise ValueError(f"episodes_per_shard: must be >= 1, got {self.episodes_per_shard}")


class LeRobotSource(SourceStage):
    """Read a LeRobot dataset (v2.1 or v3.0: parquet frames, mp4 videos, tasks, episode metadata)
    as episodes; a datapipe export comes back as it was written."""

    name = "source.lerobot"
    version = "1"
    Config = LeRobotSourceConfig

    def shards(self) -> list[str]:
        indices = LeRobotReader(self.config.path).episode_indices()
        n = self.config.episodes_per_shard
        return [f"episodes-{indices[i]:06d}-{indices[min(i + n, len(indices)) - 1]:06d}"
                for i in range(0, len(indices), n)]

    def read(self, shard: str) -> Iterable[Episode]:
        _, lo, hi = shard.split("-")
        reader = LeRobotReader(self.config.path)
        for index in reader.episode_indices():
            if int(lo) <= index <= int(hi):
                yield reader.read_episode(index)
