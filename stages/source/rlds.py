"""``source.rlds``: episodes of an RLDS / TFDS dataset folder, read without TensorFlow (see
:mod:`datapipe.formats.rlds`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from datapipe.config import check
from datapipe.engine.stage import SourceStage, Unreadable
from datapipe.formats.rlds import RldsDataset
from datapipe.records import Episode


@dataclass(frozen=True)
class RldsSourceConfig:
    # TFDS dataset folder (holding dataset_info.json, features.json and the TFRecord files)
    path: str
    # split to read
    split: str = "train"
    # control rate, Hz (RLDS does not record it; see the dataset's documentation)
    fps: float = 10.0
    # observation tensors concatenated into observation.state (empty: "state", else every float tensor)
    state_keys: tuple[str, ...] = ()
    # observation images to keep as cameras (absent: all)
    camera_keys: tuple[str, ...] | None = None
    # embodiment robot name (empty: the dataset's name)
    robot: str = ""

    def __post_init__(self) -> None:
        check(self.fps > 0, "fps", f"must be > 0, got {self.fps}")


class RldsSource(SourceStage):
    """Read RLDS / TFDS datasets (Open X-Embodiment style: features.json, dataset_info.json,
    TFRecord shards) with the tfrecord package and protobuf, without TensorFlow; one read unit
    per TFRecord file."""

    name = "source.rlds"
    version = "1"
    Config = RldsSourceConfig
    input_fields = ("path",)
    name_or_path_fields = ("robot",)

    def _dataset(self) -> RldsDataset:
        c = self.config
        return RldsDataset(c.path, c.split, c.fps, tuple(c.state_keys), c.camera_keys, c.robot)

    def shards(self) -> list[str]:
        return [f.name for f in self._dataset().files]

    def read(self, shard: str) -> Iterable[Episode | Unreadable]:
        ds = self._dataset()
        file = next(f for f in ds.files if f.name == shard)
        try:
            yield from (ep for _, ep in ds.episodes(file))
        except Exception as exc:  # a damaged file: what was read is kept, the rest is its failure
            yield Unreadable(shard, exc)
