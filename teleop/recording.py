"""Recording teleoperated episodes: the per-step buffer of one robot, and the dataset writer that
puts each finished episode on disk atomically, one at a time, through the same record and sink
code as every other source.

Per step (``T`` control steps at the simulation's rate): ``timestamp`` (s), ``observation.state``
(arm joints rad + gripper opening m), ``action`` (arm joint targets rad + gripper command, 1 open
0 closed), ``ee.pose`` (position m + quaternion wxyz, world), ``object.poses`` (n, 7),
``task.state``, ``sim.qpos``/``sim.qvel``, ``is_intervention`` (a human controlled the step
after a policy had controlled the episode), ``control_mode`` (int8: 0 policy, 1 human,
2 correcting), ``policy_action`` (the policy's own action where one ran, zeros elsewhere) and
``has_policy_action`` (bool: where it ran; no NaN, which the audit would rightly flag). The view
the operator saw is the ``front`` camera.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from datapipe.errors import DatapipeError
from datapipe.formats.ownership import OwnedOutput
from datapipe.records import CameraStream, Episode, Source, make_episode_id
from datapipe.storage import resolve

FORMATS = ("webdataset", "lerobot")
RECEIPTS = ".teleop/receipts.json"  # the committed episodes of the dataset (one receipt each)
LOCK = ".teleop/lock"  # held by the one server recording into the folder


def _take_lock(path: str, uri: str) -> Any:
    """An open file holding an exclusive ``flock`` on ``path``; refuse if another process holds it."""
    import fcntl
    import os

    os.makedirs(os.path.dirname(path), exist_ok=True)
    f = open(path, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise RecordingFolderError(
            f"--out {uri}: another teleop server is recording into it; stop it or use another folder"
        ) from None
    return f


@dataclass
class StepRow:
    state: np.ndarray
    action: np.ndarray
    ee_pose: np.ndarray
    objects: np.ndarray
    task_state: np.ndarray
    qpos: np.ndarray
    qvel: np.ndarray
    control_mode: int
    is_intervention: bool
    policy_action: np.ndarray  # NaN where no policy ran (stored as zeros + has_policy_action)
    jpeg: bytes


@dataclass
class EpisodeBuffer:
    """The steps of the episode in progress (cut back on a rewind)."""

    rows: list[StepRow] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def cut(self, t: int) -> list[StepRow]:
        """Keep steps ``[0, t)``; return the cut-off steps (the abandoned branch)."""
        tail, self.rows = self.rows[t:], self.rows[:t]
        return tail

    def episode(
        self,
        rows: list[StepRow],
        fps: float,
        embodiment: Any,
        instruction: str,
        success: bool,
        uri: str,
        span: str,
        meta: dict[str, Any],
    ) -> Episode:
        """An :class:`Episode` of ``rows`` (the buffer's own, or a branch cut off it)."""
        if not rows:
            raise ValueError("an episode needs at least one step")
        T = len(rows)
        steps = {
            "timestamp": np.arange(T, dtype=np.float64) / fps,
            "observation.state": np.stack([r.state for r in rows]).astype(np.float32),
            "action": np.stack([r.action for r in rows]).astype(np.float32),
            "ee.pose": np.stack([r.ee_pose for r in rows]),
            "object.poses": np.stack([r.objects for r in rows]),
            "task.state": np.stack([r.task_state for r in rows]).astype(np.float32),
            "sim.qpos": np.stack([r.qpos for r in rows]),
            "sim.qvel": np.stack([r.qvel for r in rows]),
            "is_intervention": np.array([r.is_intervention for r in rows], dtype=bool),
            "control_mode": np.array([r.control_mode for r in rows], dtype=np.int8),
            "policy_action": np.stack([np.nan_to_num(r.policy_action) for r in rows]).astype(np.float32),
            "has_policy_action": np.array([bool(np.isfinite(r.policy_action).all()) for r in rows]),
            "reward": np.zeros(T, dtype=np.float32),
        }
        steps["reward"][-1] = 1.0 if success else 0.0
        frames = np.stack([cv2.imdecode(np.frombuffer(r.jpeg, np.uint8), cv2.IMREAD_COLOR)[..., ::-1] for r in rows])
        return Episode(
            episode_id=make_episode_id(uri, span, "teleop-1"),
            source=Source(kind="teleop", uri=uri, span=span, licence="recorded"),
            embodiment=embodiment,
            task=(instruction,),
            fps=fps,
            steps=steps,
            cameras={"front": CameraStream.from_frames(np.ascontiguousarray(frames), fps)},
            success=success,
            meta=meta,
        )


class RecordingFolderError(DatapipeError):
    """``--out`` names a folder the recorder may not write: a dataset it did not record, one of
    another format, or one another server is recording into."""


class DatasetRecorder:
    """Writes episodes into ``path`` one at a time. WebDataset: each episode is a part of its own
    (``write_part``), then the manifest is rebuilt from every committed receipt; LeRobot v3.0:
    each episode is staged (atomic parquet), then the dataset is exported again from every staged
    episode. The receipts list (``.teleop/receipts.json``, replaced atomically) is the commit: a
    crash loses at most the episode being written, and a new session on the same folder appends
    (a LeRobot export behind its receipts, after a kill, is brought up to date at once).

    A folder with files that teleop did not record (a workflow's shards or LeRobot export, anything
    else) is refused, never rebuilt from zero receipts; so is a teleop folder of the other format.
    One server records into a folder at a time: ``.teleop/lock`` is held (``flock``) while the
    recorder lives, and a second one is refused. The folder is local."""

    def __init__(self, path: str, fmt: str = "webdataset"):
        if fmt not in FORMATS:
            raise RecordingFolderError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
        if "://" in path and not path.startswith("file://"):
            raise RecordingFolderError(f"--out {path}: teleop records into a local folder")
        self.path, self.fmt = path, fmt
        self.root = resolve(path)
        loc = self.root.join(RECEIPTS)
        if not loc.exists():
            listed = OwnedOutput(self.root).files() if self.root.exists() else []
            present = [f for f in listed if not f.startswith(".teleop/")]
            if present:
                raise RecordingFolderError(
                    f"--out {self.root.uri}: holds {len(present)} file(s) that teleop did not record "
                    f"(e.g. {present[0]!r}); record into a new folder (an existing dataset is never rebuilt)"
                )
        self.root.makedirs()
        self._lock_file = _take_lock(self.root.join(LOCK).path, self.root.uri)
        self._lock = threading.Lock()
        try:
            self.receipts: list[dict[str, Any]] = json.loads(loc.read_bytes()) if loc.exists() else []
        except ValueError as exc:
            self.close()
            raise RecordingFolderError(f"{loc.uri}: not readable ({exc}); the folder was not touched") from None
        kinds = {"lerobot" if "staged" in r else "webdataset" for r in self.receipts}
        if kinds - {fmt}:
            self.close()
            raise RecordingFolderError(
                f"--out {self.root.uri}: holds a {kinds.pop()} recording; "
                "record with that --format or into a new folder"
            )
        self._prefix = f"{time.time_ns() // 1_000_000:012x}"  # parts sort in the order they were written
        self._count = 0
        if fmt == "lerobot" and self.receipts and self._lerobot_behind():
            self._export_lerobot()  # a kill came between a receipt and its export

    def _lerobot_behind(self) -> bool:
        info = self.root.join("meta", "info.json")
        try:
            return json.loads(info.read_bytes()).get("total_episodes") != len(self.receipts)
        except (OSError, ValueError):
            return True

    def close(self) -> None:
        """Let another server record here (releases ``.teleop/lock``)."""
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def write(self, ep: Episode) -> None:
        from datapipe.formats.shards.manifest import build_manifest
        from datapipe.formats.shards.writer import ShardOptions, write_part
        from datapipe.formats.staging import stage_episodes

        with self._lock:
            part = f"part-{self._prefix}{self._count:04x}"
            self._count += 1
            if self.fmt == "webdataset":
                receipt = write_part(self.root, [ep], part, ShardOptions(val_fraction=0.0))
            else:
                receipt = stage_episodes(self.path, [ep], part)
            receipts = [*self.receipts, receipt]
            self.root.join(RECEIPTS).write_bytes_atomic(json.dumps(receipts).encode())
            self.receipts = receipts
            if self.fmt == "webdataset":
                build_manifest(self.root, receipts, 0.0, "")
            else:
                self._export_lerobot()

    def _export_lerobot(self) -> None:
        from datapipe.formats.lerobot.writer import LeRobotWriter
        from datapipe.formats.staging import staged_episodes

        writer = None
        for ep in staged_episodes(self.path, self.receipts):
            if writer is None:
                writer = LeRobotWriter(self.root, robot_type=ep.embodiment.robot)
            writer.add(ep)
        if writer is not None:
            writer.close()

    @property
    def episodes(self) -> int:
        return len(self.receipts)
