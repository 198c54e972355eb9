"""Writing episodes as a LeRobot v3.0 dataset that LeRobot's ``LeRobotDataset`` loads.

:class:`LeRobotWriter` takes episodes one at a time (in the order they get their
``episode_index``) and writes, as it goes, the frame tables (``data/``, several episodes per file,
rolled by ``data_file_mb``) and one mp4 per episode and camera (``videos/``: the episode's own
H.264 stream, copied when its size is even, re-encoded otherwise, so an episode is the segment
``[0, length / fps)`` of its file). :meth:`LeRobotWriter.close` writes the episodes table, tasks,
statistics and, last, ``meta/info.json``.

Columns: every step array under its name (``reward`` as ``next.reward``, plus ``next.done``),
scalars per step for ``(T,)`` arrays, fixed-size lists for ``(T, D)`` (higher ranks flattened),
and LeRobot's ``timestamp`` (``frame_index / fps``, the video's timeline), ``frame_index``,
``episode_index``, ``index``, ``task_index``. Timestamps that differ from ``frame_index / fps``
are kept in the episodes table (``datapipe/timestamp``). Each episode's datapipe record (id, source, embodiment,
tasks, success, meta, lineage) is kept in the episodes table, so ``source.lerobot`` reads an
export back equal.

All episodes must share fps, step arrays (names, dtypes, shapes) and cameras (sizes):
:class:`LeRobotFormatError` names the episode and what differs; with ``fps`` set, episodes of
another rate are resampled (nearest step in time) instead.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa

from datapipe.errors import DatapipeError
from datapipe.formats.lerobot import layout
from datapipe.formats.shards.stats import Moments, QuantileSample, feature_stats
from datapipe.records import CameraStream, Episode
from datapipe.records.arrow import episode_to_row
from datapipe.records.resample import resample
from datapipe.storage import Location

RENAMED = {"reward": "next.reward"}
IMAGE_STATS_EVERY = 5  # frames sampled per camera for image statistics


class LeRobotFormatError(DatapipeError):
    """Episodes that cannot share one LeRobot dataset (fps, shapes, cameras differ)."""


def _column(arr: np.ndarray) -> pa.Array:
    if arr.ndim == 1:
        return pa.array(arr)
    flat = np.ascontiguousarray(arr.reshape(arr.shape[0], -1))
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), flat.shape[1])


def _signature(ep: Episode) -> dict[str, Any]:
    return {
        "steps": {k: (v.dtype.str, v.shape[1:]) for k, v in ep.steps.items()},
        "cameras": {k: (c.height, c.width) for k, c in ep.cameras.items()},
    }


class LeRobotWriter:
    """Write a LeRobot v3.0 dataset under ``root`` (see the module docstring)."""

    def __init__(
        self,
        root: Location,
        robot_type: str | None = None,
        fps: float | None = None,
        data_file_mb: float = 100.0,
        max_quantile_rows: int = 5_000_000,
    ):
        self.root, self.robot_type, self.target_fps = root, robot_type, fps
        self.data_file_bytes = int(data_file_mb * 2**20)
        self.max_quantile_rows = max_quantile_rows
        self.fps: float | None = None
        self.signature: dict[str, Any] | None = None
        self.tasks: dict[str, int] = {}
        self.episodes: list[dict[str, Any]] = []
        self.frames = 0
        self.data_files = 0
        self.buffer: list[pa.Table] = []
        self.buffer_bytes = 0
        self.moments: dict[str, Moments] = {}
        self.values: dict[str, list[np.ndarray]] = {}
        self.image_samples: dict[str, list[np.ndarray]] = {}
        self.features: dict[str, dict[str, Any]] = {}
        self.written: list[str] = []  # paths relative to root, in the order written

    def _put(self, rel: str, data: bytes | pa.Table) -> None:
        """Write one file of the dataset atomically and remember it."""
        loc = self.root.join(rel)
        if isinstance(data, pa.Table):
            loc.write_parquet_atomic(data)
        else:
            loc.write_bytes_atomic(data)
        self.written.append(rel)

    # -- episodes --------------------------------------------------------------------------------
    def _check(self, ep: Episode) -> Episode:
        if self.target_fps is not None:
            ep = resample(ep, self.target_fps)
        if self.fps is None:
            self.fps, self.signature = ep.fps, _signature(ep)
            self._declare_features(ep)
            return ep
        if abs(ep.fps - self.fps) > 1e-9:
            raise LeRobotFormatError(
                f"episode {ep.episode_id}: fps {ep.fps} differs from the dataset's {self.fps}; "
                f"set the sink's fps to resample every episode to one rate"
            )
        sig = _signature(ep)
        if sig != self.signature:
            diff = {
                k: (sig[g].get(k), self.signature[g].get(k))
                for g in ("steps", "cameras")
                for k in set(sig[g]) | set(self.signature[g])
                if sig[g].get(k) != self.signature[g].get(k)
            }
            raise LeRobotFormatError(
                f"episode {ep.episode_id}: arrays or cameras differ from the dataset's (this episode, dataset): {diff}"
            )
        return ep

    def _declare_features(self, ep: Episode) -> None:
        names = {"action": list(ep.embodiment.action_names), "observation.state": list(ep.embodiment.state_names)}
        for k, v in ep.steps.items():
            if k == "timestamp":
                continue
            shape = [int(np.prod(v.shape[1:]))] if v.ndim > 1 else [1]
            self.features[RENAMED.get(k, k)] = {"dtype": v.dtype.name, "shape": shape, "names": names.get(k) or None}
        self.features["next.done"] = {"dtype": "bool", "shape": [1], "names": None}
        for k, c in ep.cameras.items():
            self.features[layout.video_key(k)] = {
                "dtype": "video",
                "shape": [c.height, c.width, 3],
                "names": ["height", "width", "channels"],
                "info": {
                    "video.height": c.height,
                    "video.width": c.width,
                    "video.codec": "h264",
                    "video.pix_fmt": "yuv420p",
                    "video.is_depth_map": False,
                    "video.fps": ep.fps,
                    "video.channels": 3,
                    "has_audio": False,
                },
            }
        for k in layout.INDEX_FEATURES:
            self.features[k] = {"dtype": "float32" if k == "timestamp" else "int64", "shape": [1], "names": None}

    def add(self, ep: Episode) -> None:
        """Append one episode (raises :class:`LeRobotFormatError` if it does not fit)."""
        ep = self._check(ep)
        index = len(self.episodes)
        T = ep.length
        task_index = self.tasks.setdefault(ep.task[0], len(self.tasks))
        for t in ep.task[1:]:
            self.tasks.setdefault(t, len(self.tasks))
        frame_index = np.arange(T, dtype=np.int64)
        cols: dict[str, Any] = {}
        for k, v in sorted(ep.steps.items()):  # one column order whatever order the episode's arrays are in
            if k != "timestamp":
                cols[RENAMED.get(k, k)] = _column(np.asarray(v))
        done = np.zeros(T, dtype=bool)
        done[-1] = True
        cols["next.done"] = pa.array(done)
        video_ts = (frame_index / ep.fps).astype(np.float32)
        own_ts = np.asarray(ep.steps["timestamp"])
        cols["timestamp"] = pa.array(video_ts)
        cols["frame_index"] = pa.array(frame_index)
        cols["episode_index"] = pa.array(np.full(T, index, dtype=np.int64))
        cols["index"] = pa.array(np.arange(self.frames, self.frames + T, dtype=np.int64))
        cols["task_index"] = pa.array(np.full(T, task_index, dtype=np.int64))
        table = pa.table(cols)
        self._accumulate_stats(table)
        if self.buffer and self.buffer_bytes + table.nbytes > self.data_file_bytes:
            self._flush_data()
        data_file = layout.chunk_file(self.data_files)
        self.buffer.append(table)
        self.buffer_bytes += table.nbytes
        row: dict[str, Any] = {
            "episode_index": index,
            "tasks": list(ep.task),
            "length": T,
            "data/chunk_index": data_file["chunk_index"],
            "data/file_index": data_file["file_index"],
            "dataset_from_index": self.frames,
            "dataset_to_index": self.frames + T,
        }
        for cam, stream in ep.cameras.items():
            key = layout.video_key(cam)
            where = layout.chunk_file(index)  # one file per episode and camera
            self._put(layout.VIDEO_PATH.format(video_key=key, **where), self._mp4(stream, ep.fps))
            row.update(
                {
                    f"videos/{key}/chunk_index": where["chunk_index"],
                    f"videos/{key}/file_index": where["file_index"],
                    f"videos/{key}/from_timestamp": 0.0,
                    f"videos/{key}/to_timestamp": T / ep.fps,
                }
            )
            frames = stream.frames()[::IMAGE_STATS_EVERY]
            self.image_samples.setdefault(key, []).append(frames.reshape(-1, 3))
        row[layout.DATAPIPE_COLUMN] = json.dumps(
            {k: v for k, v in episode_to_row(ep).items() if k not in ("steps", "cameras")}
        )
        same = own_ts.tobytes() == (frame_index / ep.fps).tobytes()
        row[layout.DATAPIPE_TIMESTAMP] = None if same else own_ts.tolist()
        self.episodes.append(row)
        self.frames += T

    @staticmethod
    def _mp4(stream: CameraStream, fps: float) -> bytes:
        if stream.encoding == "mp4" and stream.width % 2 == 0 and stream.height % 2 == 0:
            return stream.data[0]  # H.264 at i / fps already: copied as it is
        from datapipe.records import video

        frames = stream.frames()
        h, w = frames.shape[1] - frames.shape[1] % 2, frames.shape[2] - frames.shape[2] % 2
        if (h, w) != frames.shape[1:3]:
            raise LeRobotFormatError(
                f"camera frames of {frames.shape[2]}x{frames.shape[1]} pixels: LeRobot videos "
                f"(H.264 yuv420p) need even sizes"
            )
        return video.encode_mp4(frames, fps, crf=18)

    def _accumulate_stats(self, table: pa.Table) -> None:
        for name in table.column_names:
            spec = self.features.get(name)
            if spec is None or spec["dtype"] in ("video", "string"):
                continue
            col = table.column(name).combine_chunks()
            if pa.types.is_fixed_size_list(col.type):
                values = col.flatten().to_numpy(zero_copy_only=False).reshape(len(col), -1)
            else:
                values = col.to_numpy(zero_copy_only=False).reshape(-1, 1)
            values = values.astype(np.float64)
            m = Moments.of(values)
            self.moments[name] = self.moments[name].merge(m) if name in self.moments else m
            self.values.setdefault(name, []).append(values)

    def _flush_data(self) -> None:
        if not self.buffer:
            return
        where = layout.chunk_file(self.data_files)
        table = pa.concat_tables(self.buffer)
        self._put(layout.DATA_PATH.format(**where), table)
        self.data_files += 1
        self.buffer, self.buffer_bytes = [], 0

    # -- metadata ----------------------------------------------------------------------------------
    def _stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = {}
        for name, m in self.moments.items():
            sample = QuantileSample(m.count, self.max_quantile_rows)
            for v in self.values[name]:
                sample.add(v)
            doc = feature_stats(m, sample.values(), self.features[name]["shape"], sample.exact)
            stats[name] = {k: doc[k] for k in ("min", "max", "mean", "std", "q01", "q99")}
            stats[name]["count"] = [m.count]
        for key, chunks in self.image_samples.items():
            px = np.concatenate(chunks).astype(np.float64) / 255.0  # (N, 3) in [0, 1]

            def per_channel(v: np.ndarray) -> list:
                return v.reshape(3, 1, 1).tolist()

            stats[key] = {
                "min": per_channel(px.min(0)),
                "max": per_channel(px.max(0)),
                "mean": per_channel(px.mean(0)),
                "std": per_channel(px.std(0)),
                "q01": per_channel(np.quantile(px, 0.01, axis=0)),
                "q99": per_channel(np.quantile(px, 0.99, axis=0)),
                "count": [len(px) // max(1, self.features[key]["shape"][0] * self.features[key]["shape"][1])],
            }
        return stats

    def close(self) -> dict[str, Any]:
        """Write the remaining data, episodes, tasks, stats and ``meta/info.json``; return info."""
        import pandas as pd

        if not self.episodes:
            raise LeRobotFormatError("no episodes to write: a LeRobot dataset needs at least one")
        self._flush_data()
        for row in self.episodes:
            row["meta/episodes/chunk_index"], row["meta/episodes/file_index"] = 0, 0
        self._put(layout.EPISODES_PATH.format(chunk_index=0, file_index=0), pa.Table.from_pylist(self.episodes))
        tasks = pd.DataFrame({"task_index": list(self.tasks.values())}, index=pd.Index(list(self.tasks), name="task"))
        self._put(layout.TASKS, pa.Table.from_pandas(tasks))
        self._put(layout.STATS, json.dumps(self._stats(), indent=2).encode())
        info = {
            "codebase_version": layout.CODEBASE_VERSION,
            "robot_type": self.robot_type,
            "total_episodes": len(self.episodes),
            "total_frames": self.frames,
            "total_tasks": len(self.tasks),
            "chunks_size": layout.CHUNKS_SIZE,
            "data_files_size_in_mb": self.data_file_bytes / 2**20,
            "video_files_size_in_mb": 500,
            "fps": self.fps,
            "splits": {"train": f"0:{len(self.episodes)}"},
            "data_path": layout.DATA_PATH,
            "video_path": layout.VIDEO_PATH if any(f["dtype"] == "video" for f in self.features.values()) else None,
            "features": self.features,
        }
        self._put(layout.INFO, json.dumps(info, indent=4).encode())  # last: the dataset is complete
        return info
