"""``source.lerobot``: the episodes of a LeRobot v2.0, v2.1 or v3.0 dataset directory, as found
in the wild (see :mod:`datapipe.formats.lerobot.reader`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from datapipe.config import check
from datapipe.engine.stage import SourceStage, Unreadable
from datapipe.formats.lerobot.reader import LeRobotReader
from datapipe.records import Episode


@dataclass(frozen=True)
class LeRobotSourceConfig:
    # dataset folder (local path or URI) holding meta/info.json
    path: str
    # episodes per read unit (the unit of parallelism and of resume)
    episodes_per_shard: int = 20
    # decode every video frame on import, so a damaged video is caught (quarantined) here
    verify_videos: bool = True
    # a declared camera whose video file is missing: error (names the file; the episode is
    # quarantined) or drop (keep the numeric data; meta.lerobot.dropped_cameras names the files)
    on_missing_video: Literal["error", "drop"] = "error"
    # datapipe step name -> the dataset's features concatenated into it, for datasets that do not
    # use observation.state / action, e.g. {observation.state: [observation.joints, observation.gripper]}
    feature_map: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check(self.episodes_per_shard >= 1, "episodes_per_shard", f"must be >= 1, got {self.episodes_per_shard}")


class LeRobotSource(SourceStage):
    """Read a LeRobot dataset (v2.0, v2.1 or v3.0: parquet frames, mp4 videos, tasks, episode
    metadata) as episodes, as found in the wild (gapped indices, wrong totals, missing videos,
    other feature names); a datapipe export comes back as it was written."""

    name = "source.lerobot"
    version = "1"
    Config = LeRobotSourceConfig
    input_fields = ("path",)

    def _reader(self) -> LeRobotReader:
        c = self.config
        return LeRobotReader(c.path, c.on_missing_video, {k: list(v) for k, v in c.feature_map.items()})

    def shards(self) -> list[str]:
        indices = self._reader().episode_indices()
        n = self.config.episodes_per_shard
        return [
            f"episodes-{indices[i]:06d}-{indices[min(i + n, len(indices)) - 1]:06d}" for i in range(0, len(indices), n)
        ]

    def read(self, shard: str) -> Iterable[Episode | Unreadable]:
        _, lo, hi = shard.split("-")
        reader = self._reader()
        for index in reader.episode_indices():
            if int(lo) <= index <= int(hi):
                try:  # one damaged episode (a broken video...) is that episode's failure, not its shard's
                    yield reader.read_episode(index, verify_videos=self.config.verify_videos)
                except Exception as exc:
                    yield Unreadable(f"episode_index={index}", exc)
