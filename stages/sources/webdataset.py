"""``source.webdataset``: the episodes of a datapipe WebDataset shard dataset, for re-processing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from datapipe.records import Episode
from datapipe.shards.dataset import ShardDataset
from datapipe.shards.sample import members_episode
from datapipe.stage import SourceStage


@dataclass(frozen=True)
class WebDatasetSourceConfig:
    # dataset folder or URL holding index.json (local path, file://, s3://, http(s)://)
    path: str
    # which episodes: all, train or val
    split: str = "all"

    def __post_init__(self) -> None:
        if self.split not in ("all", "train", "val"):
            raise ValueError(f"split: must be all, train or val, got {self.split!r}")


class WebDatasetSource(SourceStage):
    """Read the episodes of a shard dataset written by sink.webdataset (one shard per read unit);
    episodes keep their ids, lineage and metadata."""

    name = "source.webdataset"
    version = "1"
    Config = WebDatasetSourceConfig

    def _dataset(self) -> ShardDataset:
        return ShardDataset(self.config.path)

    def shards(self) -> list[str]:
        split = None if self.config.split == "all" else self.config.split
        return [s["name"] for s in self._dataset().shards(split)]

    def read(self, shard: str) -> Iterable[Episode]:
        ds = self._dataset()
        (entry,) = [s for s in ds.shards() if s["name"] == shard]
        for key, members in ds.iter_shard(entry):
            yield members_episode(members, f"{shard}:{key}")
