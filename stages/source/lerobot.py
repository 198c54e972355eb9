"""``source.lerobot``: the episodes of a LeRobot v2.1 or v3.0 dataset directory."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from datapipe.config import check
from datapipe.lerobot.reader import LeRobotReader
from datapipe.records import Episode
from datapipe.stage import SourceStage, Unreadable


@dataclass(frozen=True)
class LeRobotSourceConfig:
    # dataset folder (local path or URI) holding meta/info.json
    path: str
    # episodes per read unit (the unit of parallelism and of resume)
    episodes_per_shard: int = 20
    # decode every video frame on import, so a damaged video is caught (quarantined) here
    verify_videos: bool = True

    def __post_init__(self) -> None:
        check(self.episodes_per_shard >= 1, "episodes_per_shard", f"must be >= 1, got {self.episodes_per_shard}")


class LeRobotSource(SourceStage):
    """Read a LeRobot dataset (v2.1 or v3.0: parquet frames, mp4 videos, tasks, episode metadata)
    as episodes; a datapipe export comes back as it was written."""

    name = "source.lerobot"
    version = "1"
    Config = LeRobotSourceConfig

    def shards(self) -> list[str]:
        indices = LeRobotReader(self.config.path).episode_indices()
        n = self.config.episodes_per_shard
        return [
            f"episodes-{indices[i]:06d}-{indices[min(i + n, len(indices)) - 1]:06d}" for i in range(0, len(indices), n)
        ]

    def read(self, shard: str) -> Iterable[Episode | Unreadable]:
        _, lo, hi = shard.split("-")
        reader = LeRobotReader(self.config.path)
        for index in reader.episode_indices():
            if int(lo) <= index <= int(hi):
                try:  # one damaged episode (a broken video...) is that episode's failure, not its shard's
                    yield reader.read_episode(index, verify_videos=self.config.verify_videos)
                except Exception as exc:
                    yield Unreadable(f"episode_index={index}", exc)
