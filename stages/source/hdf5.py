"""``source.hdf5``: demonstrations from robomimic, robosuite or ALOHA HDF5 files (see
:mod:`datapipe.hdf5_demos`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from datapipe.config import check
from datapipe.hdf5_demos import Hdf5Demos
from datapipe.records import Episode
from datapipe.stage import SourceStage, Unreadable


@dataclass(frozen=True)
class Hdf5SourceConfig:
    # an .hdf5 / .h5 file, or a folder of them (ALOHA: one episode per file)
    path: str
    # robomimic, robosuite, aloha, or auto (detected from each file's structure)
    layout: Literal["auto", "robomimic", "robosuite", "aloha"] = "auto"
    # control rate, Hz (0: env_args' control_freq, else 20 for robomimic / robosuite, 50 for ALOHA)
    fps: float = 0.0
    # the instruction of every episode (empty: the environment name, where the file has one)
    task: str = ""
    # robomimic obs keys concatenated into observation.state (empty: eef pos, quat and gripper)
    state_keys: tuple[str, ...] = ()
    # image keys to keep as cameras (empty list: none; absent: all)
    camera_keys: tuple[str, ...] | None = None
    # robomimic split: a mask/<split> name (empty: every demo)
    split: str = ""
    # embodiment robot name (empty: the layout's name)
    robot: str = ""
    # demos per read unit (the unit of parallelism and of resume)
    demos_per_shard: int = 10

    def __post_init__(self) -> None:
        check(self.fps >= 0, "fps", f"must be >= 0 (0 = from the file), got {self.fps}")
        check(self.demos_per_shard >= 1, "demos_per_shard", f"must be >= 1, got {self.demos_per_shard}")


class Hdf5Source(SourceStage):
    """Read robomimic, raw robosuite (with human-in-the-loop interventions) and ALOHA / ACT HDF5
    demonstrations, one demo at a time; the layout is detected or declared."""

    name = "source.hdf5"
    version = "1"
    Config = Hdf5SourceConfig

    def _demos(self) -> Hdf5Demos:
        c = self.config
        return Hdf5Demos(c.path, c.layout, c.fps, c.task, tuple(c.state_keys), c.camera_keys, c.split, c.robot)

    def shards(self) -> list[str]:
        keys = self._demos().keys()
        n = self.config.demos_per_shard
        return [f"{i}:{min(i + n, len(keys))}" for i in range(0, len(keys), n)]

    def read(self, shard: str) -> Iterable[Episode | Unreadable]:
        lo, hi = (int(x) for x in shard.split(":"))
        demos = self._demos()
        for key in demos.keys()[lo:hi]:
            try:  # one broken demo is that demo's failure
                yield demos.read(key)
            except Exception as exc:
                yield Unreadable(key, exc)
