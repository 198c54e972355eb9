"""``sink.lerobot``: episodes to a LeRobot v3.0 dataset directory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datapipe.config import check
from datapipe.engine.stage import SinkStage
from datapipe.formats.lerobot import layout
from datapipe.formats.lerobot.writer import LeRobotWriter
from datapipe.formats.ownership import OwnedOutput
from datapipe.formats.staging import clear_staging, stage_episodes, staged_episodes
from datapipe.records import REQUIRED_STEPS, Episode
from datapipe.storage import resolve
from datapipe.wording import counted


@dataclass(frozen=True)
class LeRobotSinkConfig:
    # dataset folder (local path or URI); files of its earlier exports are replaced, others are kept
    path: str
    # write into a non-empty folder that this stage did not write: files already there are kept
    # (same-named ones are replaced); without it such a folder is refused
    overwrite: bool = False
    # robot_type written to meta/info.json (default: the first episode's embodiment robot)
    robot_type: str = ""
    # frames per second of the dataset; episodes at another rate are resampled to it.
    # 0 = keep the episodes' own rate and refuse episodes whose rate differs
    fps: float = 0.0
    # roll data/ parquet files at about this many MiB
    data_file_mb: float = 100.0
    # step arrays to export besides the required ones (timestamp, observation.state, action,
    # is_intervention, reward); absent: all of them, and every episode must carry the same ones.
    # A mixed dataset exports its standard arrays ([]) and leaves source-specific ones (task.state,
    # ee.pose...) to the shards
    steps: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        check(self.fps >= 0, "fps", f"must be >= 0 (0 = keep), got {self.fps}")
        check(self.data_file_mb > 0, "data_file_mb", f"must be > 0, got {self.data_file_mb}")


class LeRobotSink(SinkStage):
    """Write a LeRobot v3.0 dataset (meta/info.json, stats.json, tasks.parquet, episodes, data
    parquet, H.264 videos) that LeRobot's LeRobotDataset loads. Batches are staged, then the
    dataset is assembled in one pass when all are written (episode indices are global)."""

    name = "sink.lerobot"
    version = "1"
    Config = LeRobotSinkConfig
    fusable = False
    default_batch_size = 64

    def write(self, episodes: list[Episode], part: str) -> dict[str, Any]:
        return {**stage_episodes(self.config.path, episodes, part), "episodes": len(episodes)}

    def finalize(self, receipts: list[dict[str, Any]]) -> dict[str, Any]:
        root = resolve(self.config.path)
        owned = OwnedOutput(root)
        if "meta/info.json" in owned.removable(set()):  # an earlier export: incomplete until rewritten
            root.join("meta/info.json").delete()
        writer: LeRobotWriter | None = None
        keep = {*REQUIRED_STEPS, *(self.config.steps or ())}
        for ep in staged_episodes(self.config.path, receipts):
            if self.config.steps is not None:
                ep = ep.replace(steps={k: v for k, v in ep.steps.items() if k in keep})
            if writer is None:
                writer = LeRobotWriter(
                    root,
                    robot_type=self.config.robot_type or ep.embodiment.robot,
                    fps=self.config.fps or None,
                    data_file_mb=self.config.data_file_mb,
                )
            writer.add(ep)  # episodes that do not fit one dataset (fps, features) fail the export
        if writer is None:
            owned.complete(set(), own_name=layout.is_layout_path)
            return {"path": root.uri, "episodes": 0}
        info = writer.close()
        owned.complete(set(writer.written), own_name=layout.is_layout_path)  # an earlier export's, not the user's
        return {
            "path": root.uri,
            "episodes": info["total_episodes"],
            "frames": info["total_frames"],
            "fps": info["fps"],
            "tasks": info["total_tasks"],
        }

    def cleanup(self) -> None:
        clear_staging(self.config.path)  # kept until the stage is complete: a resumed finalize reads it

    @classmethod
    def describe(cls, result: dict[str, Any]) -> list[str]:
        if not result.get("episodes"):
            return [f"LeRobot v3.0: no episodes at {result['path']}"]
        return [
            f"LeRobot v3.0: {counted(result['episodes'], 'episode')}, "
            f"{counted(result['frames'], 'frame')} at {result['fps']:g} fps, "
            f"{result['tasks']} tasks at {result['path']} (LeRobotDataset(repo_id, root=...) loads it)"
        ]
