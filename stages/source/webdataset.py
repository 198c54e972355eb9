"""``source.webdataset``: the episodes of a datapipe WebDataset shard dataset, for re-processing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import pyarrow.compute as pc

from datapipe.config import check
from datapipe.engine.stage import SourceStage, Unreadable
from datapipe.formats.shards.dataset import ShardDataset
from datapipe.formats.shards.sample import SampleError, camera_frames, members_episode, sample_digest
from datapipe.records import Episode
from datapipe.records.names import sample_key


@dataclass(frozen=True)
class WebDatasetSourceConfig:
    # dataset folder or URL holding index.json (local path, file://, s3://, http(s)://)
    path: str
    # which episodes: all, train or val
    split: Literal["all", "train", "val"] = "all"
    # decode every video frame, so a damaged video is quarantined here rather than copied on
    verify_videos: bool = True

    def __post_init__(self) -> None:
        check(self.split in ("all", "train", "val"), "split", f"must be all, train or val, got {self.split!r}")


class WebDatasetSource(SourceStage):
    """Read the episodes of a shard dataset written by sink.webdataset (one shard per read unit);
    episodes keep their ids, lineage and metadata. A sample that does not match its sha256 or
    cannot be decoded is quarantined alone."""

    name = "source.webdataset"
    version = "1"
    Config = WebDatasetSourceConfig
    input_fields = ("path",)

    def _dataset(self) -> ShardDataset:
        return ShardDataset(self.config.path)

    def shards(self) -> list[str]:
        split = None if self.config.split == "all" else self.config.split
        return [s["name"] for s in self._dataset().shards(split)]

    def read(self, shard: str) -> Iterable[Episode | Unreadable]:
        ds = self._dataset()
        (entry,) = [s for s in ds.shards() if s["name"] == shard]
        table = ds.episodes  # this shard's rows only: the table holds every episode of the dataset
        rows = table.filter(pc.equal(table["shard"], shard)).to_pylist()
        digests = {sample_key(r["episode_id"]): r.get("sha256") for r in rows}
        for key, members in ds.iter_shard(entry):
            where = f"{shard}:{key}"
            if digests.get(key) and sample_digest(members) != digests[key]:
                yield Unreadable(
                    where,
                    SampleError(f"{where}: the sample's sha256 does not match episodes.parquet (damaged); not copied"),
                )
                continue
            try:
                ep = members_episode(members, where)
                if self.config.verify_videos:
                    for cam in ep.cameras:
                        camera_frames(ep, cam, where, strict=True)
            except SampleError as exc:
                yield Unreadable(where, exc)
                continue
            yield ep
