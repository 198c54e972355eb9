"""``sink.webdataset``: episodes to WebDataset tar shards with a dataset manifest (``index.json``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datapipe.config import check
from datapipe.engine.stage import Resources, SinkStage
from datapipe.formats.shards.manifest import build_manifest
from datapipe.formats.shards.writer import ShardOptions, write_part
from datapipe.records import Episode
from datapipe.records.resize import resized_cameras
from datapipe.storage import resolve
from datapipe.wording import counted


@dataclass(frozen=True)
class WebDatasetSinkConfig:
    # output folder, a local path or a URI (s3://bucket/prefix, file:///...); the sink owns it
    path: str
    # write into a non-empty folder that this stage did not write: files already there are kept
    # (same-named ones are replaced); without it such a folder is refused
    overwrite: bool = False
    # close a shard before it passes this many MiB
    shard_max_mb: float = 512.0
    # close a shard when it holds this many episodes
    shard_max_episodes: int = 1000
    # share of episodes (by episode-id hash) that go to the "val" split, 0..1
    val_fraction: float = 0.05
    # salt of the split hash: change it for a different, independent split
    split_salt: str = ""
    # x264 CRF when a JPEG-per-frame camera is transcoded to mp4 (0 = lossless)
    jpeg_crf: int = 18
    # quantiles (q01, q99) use every value up to this many rows per feature, a seeded sample above
    max_quantile_rows: int = 5_000_000
    # resize every camera to [height, width] pixels (meta.resized_cameras keeps the original
    # sizes); without it cameras keep their sizes, which may differ between episodes
    image_size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        check(0 <= self.val_fraction <= 1, "val_fraction", f"must be within 0..1, got {self.val_fraction}")
        check(self.shard_max_mb > 0, "shard_max_mb", f"must be > 0, got {self.shard_max_mb}")
        check(self.shard_max_episodes >= 1, "shard_max_episodes", f"must be >= 1, got {self.shard_max_episodes}")
        check(0 <= self.jpeg_crf <= 51, "jpeg_crf", f"must be within 0..51, got {self.jpeg_crf}")
        check(self.max_quantile_rows >= 1, "max_quantile_rows", f"must be >= 1, got {self.max_quantile_rows}")
        check(
            self.image_size is None or all(0 < s <= 8192 for s in self.image_size),
            "image_size",
            f"must be [height, width] within 1..8192, got {self.image_size}",
        )


class WebDatasetSink(SinkStage):
    """Write episodes as WebDataset shards (meta.json, .npy per step array, .mp4 per camera,
    task.txt), split train/val by episode-id hash, with index.json: shards, sha256, feature specs
    and normalization statistics."""

    name = "sink.webdataset"
    version = "1"
    Config = WebDatasetSinkConfig
    resources = Resources(cpus=1)
    fusable = False  # its batches are its shards: not the size of an upstream source's shards
    default_batch_size = 256

    def _options(self) -> ShardOptions:
        c = self.config
        return ShardOptions(
            max_bytes=int(c.shard_max_mb * 2**20),
            max_episodes=c.shard_max_episodes,
            val_fraction=c.val_fraction,
            split_salt=c.split_salt,
            jpeg_crf=c.jpeg_crf,
        )

    def write(self, episodes: list[Episode], part: str) -> dict[str, Any]:
        if self.config.image_size is not None:
            episodes = [resized_cameras(ep, *self.config.image_size) for ep in episodes]
        return write_part(resolve(self.config.path), episodes, part, self._options(), reject=self.reject)

    def finalize(self, receipts: list[dict[str, Any]]) -> dict[str, Any]:
        root = resolve(self.config.path)
        manifest = build_manifest(
            root, receipts, self.config.val_fraction, self.config.split_salt, self.config.max_quantile_rows
        )
        return {
            "path": root.uri,
            "shards": len(manifest["shards"]),
            "episodes": manifest["episodes"],
            "frames": manifest["frames"],
            "bytes": sum(s["bytes"] for s in manifest["shards"]),
            "splits": manifest["splits"]["counts"],
            "orphans_removed": manifest["orphans_removed"],
            "val_fraction": self.config.val_fraction,
        }

    @classmethod
    def describe(cls, result: dict[str, Any]) -> list[str]:
        splits = ", ".join(f"{k} {v}" for k, v in result.get("splits", {}).items())
        return [
            f"shards: {counted(result['episodes'], 'episode')}, {counted(result['frames'], 'frame')} in "
            f"{counted(result['shards'], 'shard')} "
            f"({result['bytes'] / 2**20:.1f} MiB; {splits}) at {result['path']}; stream them:",
            "    from datapipe.training import ShardStream",
            f'    for sample in ShardStream("{result["path"].removeprefix("file://")}", action_horizon=16):',
            '        sample["observation.state"], sample["action"], sample["task"]  # + observation.images.<camera>',
        ] + _empty_val_warning(result)


def _empty_val_warning(result: dict[str, Any]) -> list[str]:
    """A warning line when a val split was asked for but no episode fell in it."""
    fraction, splits = result.get("val_fraction", 0.0), result.get("splits", {})
    if fraction <= 0 or splits.get("val", 0) or not result.get("episodes"):
        return []
    return [
        f"warning: the val split is empty (val_fraction {fraction:g} of {counted(result['episodes'], 'episode')} "
        f"picked none); validation will have no data: write more episodes or raise val_fraction"
    ]
