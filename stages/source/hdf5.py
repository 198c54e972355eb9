"""``source.hdf5``: demonstrations from robomimic, robosuite or ALOHA HDF5 files (see
:mod:`datapipe.formats.hdf5`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from datapipe.config import check
from datapipe.engine.stage import SourceStage, Unreadable
from datapipe.formats.hdf5 import Hdf5Demos
from datapipe.records import Episode


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
    # robosuite layout: replay each demo's recorded states in its own model (model_file): ee.pose
    # per step (ee_site in base_body's frame) and the replay_cameras rendered
    replay: bool = False
    # model cameras rendered when replaying (agentview, robot0_eye_in_hand, frontview...)
    replay_cameras: tuple[str, ...] = ("agentview",)
    # [height, width] of the replayed frames, pixels
    replay_size: tuple[int, int] = (128, 128)
    # a folder holding robosuite's models/assets, where the recorder's mesh and texture paths are
    # moved (`make robosuite-demos` fetches robosuite 1.4.1's into data/robosuite-1.4.1/assets)
    assets: str = "data/robosuite-1.4.1/assets"
    # the replayed model's end-effector site (its pose becomes ee.pose)
    ee_site: str = "gripper0_grip_site"
    # the replayed model's robot base body (ee.pose is in its frame)
    base_body: str = "robot0_base"

    def __post_init__(self) -> None:
        check(self.fps >= 0, "fps", f"must be >= 0 (0 = from the file), got {self.fps}")
        check(
            all(0 < s <= 4096 for s in self.replay_size),
            "replay_size",
            f"must be within 1..4096, got {self.replay_size}",
        )
        check(self.demos_per_shard >= 1, "demos_per_shard", f"must be >= 1, got {self.demos_per_shard}")


class Hdf5Source(SourceStage):
    """Read robomimic, raw robosuite (with human-in-the-loop interventions) and ALOHA / ACT HDF5
    demonstrations, one demo at a time; the layout is detected or declared."""

    name = "source.hdf5"
    version = "1"
    Config = Hdf5SourceConfig
    input_fields = ("path", "assets")
    name_or_path_fields = ("robot",)

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
                episode = demos.read(key)
                yield self._replayed(episode) if self.config.replay else episode
            except Exception as exc:
                yield Unreadable(key, exc)

    def _replayed(self, episode: Episode) -> Episode:
        """``episode`` (raw robosuite) with ``ee.pose`` and cameras from replaying its states."""
        from datapipe.generators.mjcf_replay import ReplayError, StateReplay, remap_assets
        from datapipe.records import CameraStream

        c = self.config
        where = f"{episode.meta['hdf5']['file']}: {episode.source.span}"
        xml = episode.meta["hdf5"].get("model_file")
        if not xml or "sim.state" not in episode.steps:
            raise ReplayError(f"{where}: replay needs a robosuite demo (model_file and states)")
        replay = StateReplay(remap_assets(xml, c.assets, f"{where}: model_file"), where)
        replay.model.site_rgba[:, 3] = 0  # robosuite's marker sites are for its own viewer
        out = replay.replay(episode.steps["sim.state"], list(c.replay_cameras), c.replay_size, c.ee_site, c.base_body)
        cameras = {k: CameraStream.from_frames(v, episode.fps) for k, v in out.frames.items()}
        meta = {k: v for k, v in episode.meta["hdf5"].items() if k != "model_file"}
        meta["replayed"] = {"cameras": list(c.replay_cameras), "size": list(c.replay_size), "ee_site": c.ee_site}
        return episode.replace(
            steps={**episode.steps, "ee.pose": out.site_pose}, cameras=cameras, meta={**episode.meta, "hdf5": meta}
        )
