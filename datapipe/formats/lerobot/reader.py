"""Reading LeRobot datasets (v2.0, v2.1 and v3.0 directories) as datapipe episodes.

:class:`LeRobotReader` reads ``meta/info.json``, the tasks and the episodes table, then one
episode at a time: its frame rows from ``data/`` and its segment of each camera's video. Video
features become cameras named without the ``observation.images.`` prefix; ``next.reward``
becomes ``reward``; ``next.done`` is dropped; missing ``is_intervention`` / ``reward`` are zeros.
An export written by datapipe carries each episode's record (id, source, embodiment, tasks,
success, meta, lineage and own timestamps), which is restored as it was; other datasets get
ids from the dataset address and the episode index, and source kind ``community``.

Datasets as found in the wild: v2.0 (v2.1's layout with one ``meta/stats.json`` instead of
per-episode stats); gapped episode indices; ``info.json`` totals that disagree with the files
(the files are trusted, the disagreement is recorded in :attr:`LeRobotReader.warnings` and each
episode's ``meta.lerobot.warnings``); path templates as ``info.json`` gives them (``video/`` or
``videos/``); no ``frame_index`` column (rows in file order); cameras whose files are missing
(``on_missing_video``: ``error`` names the file, ``drop`` keeps the numeric data and records the
dropped cameras in ``meta.lerobot.dropped_cameras``; a declared camera with no video file at all
is left out up front, with one warning, and named in ``meta.lerobot.absent_cameras``); and
feature names mapped by configuration
(``feature_map``: datapipe name -> dataset features, concatenated) where a dataset does not use
``observation.state`` / ``action``.
"""

from __future__ import annotations

import io
import json
import math
import posixpath
import re
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from datapipe.errors import DatapipeError
from datapipe.formats.lerobot import layout
from datapipe.records import CameraStream, Embodiment, Episode, Source, make_episode_id, video
from datapipe.records.arrow import row_to_episode, tensor_to_row
from datapipe.records.names import UnsafePathError, confined, safe_name
from datapipe.storage import Location, parse_json, resolve

SUPPORTED = ("v2.0", "v2.1", "v3.0")
MISSING_VIDEO = ("error", "drop")
DROPPED = {"next.done", "frame_index", "episode_index", "index", "task_index", "timestamp"}
READER_VERSION = "1"


class LeRobotReadError(DatapipeError):
    """A LeRobot dataset that cannot be read; the message names the file and field."""


def _names(spec: dict[str, Any]) -> tuple[str, ...]:
    names = spec.get("names")
    if isinstance(names, dict):  # v2.x style {"motors": [...]}
        names = [n for v in names.values() for n in (v if isinstance(v, list) else [v])]
    return tuple(str(n) for n in names) if isinstance(names, list) else ()


def _column_array(col: pa.ChunkedArray) -> np.ndarray:
    col = col.combine_chunks()
    if pa.types.is_fixed_size_list(col.type) or pa.types.is_list(col.type):
        values = col.flatten().to_numpy(zero_copy_only=False)
        return values.reshape(len(col), -1)
    return col.to_numpy(zero_copy_only=False)


def _decode_segment(data: bytes, start_s: float, end_s: float, where: str) -> np.ndarray:
    """RGB frames ``(T, H, W, 3)`` whose presentation time lies in ``[start_s, end_s)``."""
    import av

    eps = 1e-4
    frames = []
    try:
        with av.open(io.BytesIO(data)) as container:
            for frame in container.decode(video=0):
                t = float(frame.time)
                if start_s - eps <= t < end_s - eps:
                    frames.append(frame.to_ndarray(format="rgb24"))
    except av.error.FFmpegError as exc:
        raise LeRobotReadError(f"{where}: cannot decode video: {exc}") from exc
    if not frames:
        raise LeRobotReadError(f"{where}: no frames between {start_s:.3f} s and {end_s:.3f} s")
    return np.stack(frames)


MAX_TEMPLATE_WIDTH = 32  # of one {field:...} in a path template ({episode_index:06d} is 6)


def _wide_field(template: str) -> str | None:
    """The first ``{name:spec}`` of ``template`` whose width or precision is above the bound."""
    for field, spec in re.findall(r"\{([^{}:!]*)(?:![rsa])?:([^{}]*)\}", template):
        if any(int(n) > MAX_TEMPLATE_WIDTH for n in re.findall(r"\d+", spec)):
            return f"{field}:{spec}"[:60]
    return None


class LeRobotReader:
    """A LeRobot dataset directory (local path or pyarrow filesystem URI)."""

    def __init__(
        self, root: str, on_missing_video: str = "error", feature_map: dict[str, list[str] | str] | None = None
    ):
        if on_missing_video not in MISSING_VIDEO:
            raise LeRobotReadError(f"on_missing_video must be one of {MISSING_VIDEO}, got {on_missing_video!r}")
        self.on_missing_video = on_missing_video
        self.feature_map = {k: [v] if isinstance(v, str) else list(v) for k, v in (feature_map or {}).items()}
        self.warnings: list[str] = []
        self.uri = str(root).rstrip("/")
        self.root: Location = resolve(self.uri)
        self.info = self._json(layout.INFO)
        if not isinstance(self.info, dict):
            raise LeRobotReadError(f"{self.uri}/{layout.INFO}: expected a JSON object")
        self.version = self.info.get("codebase_version")
        if self.version not in SUPPORTED:
            raise LeRobotReadError(
                f"{self.uri}/{layout.INFO}: codebase_version {self.version!r} is not one of {SUPPORTED}"
            )
        fps = self.info.get("fps")
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
            raise LeRobotReadError(f"{self.uri}/{layout.INFO}: field 'fps': expected a positive number, got {fps!r}")
        self.fps = float(fps)
        features = self.info.get("features")
        if not isinstance(features, dict) or not all(isinstance(v, dict) for v in features.values()):
            raise LeRobotReadError(
                f"{self.uri}/{layout.INFO}: field 'features': expected a mapping of feature name to its spec"
            )
        self.features: dict[str, Any] = features
        for key in ("data_path", "video_path"):
            if self.info.get(key) is not None and not isinstance(self.info[key], str):
                raise LeRobotReadError(f"{self.uri}/{layout.INFO}: field {key!r}: expected a path template")
            wide = _wide_field(self.info.get(key) or "")
            if wide:
                raise LeRobotReadError(
                    f"{self.uri}/{layout.INFO}: field {key!r}: template field {{{wide}}} asks for a width or "
                    f"precision above {MAX_TEMPLATE_WIDTH}; a path template pads indices to a few digits"
                )
        for target, sources in self.feature_map.items():
            unknown = [s for s in sources if s not in self.features]
            if unknown:
                raise LeRobotReadError(
                    f"{self.uri}/{layout.INFO}: feature_map {target}: no feature {unknown} "
                    f"(features: {sorted(self.features)})"
                )
        self.tasks = self._tasks()
        self.episodes = self._episodes()
        declared = [k for k, f in self.features.items() if f.get("dtype") == "video"]
        self.absent_cameras = self._cameras_without_videos(declared)
        self.video_keys = [k for k in declared if k not in self.absent_cameras]
        if self.absent_cameras:  # as GR00T's demo data: two cameras declared, one shipped
            self.warnings.append(
                f"{layout.INFO} declares camera(s) {self.absent_cameras} with no video file for any "
                f"episode; reading the cameras that exist ({self.video_keys})"
            )
        self._check_totals()

    @property
    def v2(self) -> bool:
        """v2.0 and v2.1: one data file and one video per episode, jsonl metadata."""
        return str(self.version).startswith("v2")

    def _cameras_without_videos(self, keys: list[str]) -> list[str]:
        """Declared video features for which no episode's video file exists, while another
        declared camera has some (GR00T's demo data declares two cameras and ships one). Each
        episode's path comes from ``video_path`` as the reader would open it; the files come
        from one recursive listing of the template's fixed folder, so the cost is linear in
        episodes x cameras. When no camera has any video, nothing is left out here: the
        missing files are named per episode (``on_missing_video``)."""
        import pyarrow.fs as pafs

        template = self.info.get("video_path")
        if len(keys) < 2 or not isinstance(template, str):
            return []
        fixed = posixpath.dirname(template.split("{", 1)[0]).strip("/")
        folder = self.root.join(fixed) if fixed else self.root
        try:
            infos = folder.fs.get_file_info(pafs.FileSelector(folder.path, recursive=True))
        except (OSError, pa.ArrowException):
            return []
        base = folder.path.rstrip("/")
        files = {posixpath.join(fixed, i.path[len(base) :].lstrip("/")) for i in infos if i.type == pafs.FileType.File}

        def shipped(key: str) -> bool:
            for index, ep in self.episodes.items():
                try:
                    if confined(self.video_path(ep, index, key), self.uri) in files:  # as _file opens it
                        return True
                except (LeRobotReadError, UnsafePathError, KeyError, ValueError, TypeError):
                    continue
            return False

        absent = [k for k in keys if not shipped(k)]
        return absent if len(absent) < len(keys) else []

    def _check_totals(self) -> None:
        """Compare ``info.json``'s totals with the episode table; the files win, a mismatch is a warning."""
        found = {"total_episodes": len(self.episodes)}
        if all("length" in e for e in self.episodes.values()):
            found["total_frames"] = sum(int(e["length"]) for e in self.episodes.values())
        for key, value in found.items():
            declared = self.info.get(key)
            if isinstance(declared, int) and declared != value:
                self.warnings.append(f"{layout.INFO} says {key} {declared}, the files hold {value}")
        for message in self.warnings:
            import logging

            logging.getLogger(__name__).warning("%s: %s (trusting the files)", self.uri, message)

    # -- metadata -------------------------------------------------------------------------------
    def _file(self, name: str) -> Location:
        loc = self.root.join(confined(name, f"{self.uri}/{layout.INFO}"))  # templates stay in the dataset
        if not loc.exists():
            raise LeRobotReadError(f"{self.uri}/{name}: missing")
        return loc

    def _json(self, name: str) -> dict[str, Any]:
        return parse_json(self._file(name).read_bytes(), f"{self.uri}/{name}", LeRobotReadError)

    def _jsonl(self, name: str) -> list[dict[str, Any]]:
        text = self._file(name).read_bytes().decode(errors="replace")
        return [
            parse_json(line, f"{self.uri}/{name}: line {i}", LeRobotReadError)
            for i, line in enumerate(text.splitlines(), start=1)
            if line.strip()
        ]

    def _parquet(self, loc: Location) -> pa.Table:
        """A parquet file of the dataset; a damaged one is a :class:`LeRobotReadError` naming it."""
        try:
            return pq.read_table(loc.path, filesystem=loc.fs)
        except (OSError, pa.ArrowException) as exc:
            raise LeRobotReadError(f"{loc.uri}: not a readable parquet file ({str(exc)[:200]})") from None

    def _tasks(self) -> dict[int, str]:
        if self.v2:
            return {int(r["task_index"]): r["task"] for r in self._jsonl("meta/tasks.jsonl")}
        table = self._parquet(self._file(layout.TASKS))
        text_col = next((c for c in ("task", "__index_level_0__") if c in table.column_names), None)
        if text_col is None or "task_index" not in table.column_names:
            raise LeRobotReadError(f"{self.uri}/{layout.TASKS}: needs a task (index) and a task_index column")
        return dict(zip(table.column("task_index").to_pylist(), table.column(text_col).to_pylist()))

    def _episodes(self) -> dict[int, dict[str, Any]]:
        if self.v2:
            rows = self._jsonl("meta/episodes.jsonl")
        else:
            folder = self.root.join("meta", "episodes")
            files = [f for chunk in sorted(self._subdirs(folder)) for f in folder.join(chunk).list(".parquet")]
            if not files:
                raise LeRobotReadError(f"{self.uri}/meta/episodes: no episode files")
            rows = [r for f in files for r in self._parquet(f).to_pylist()]
        return {int(r["episode_index"]): r for r in rows}

    @staticmethod
    def _subdirs(folder: Location) -> list[str]:
        import pyarrow.fs as pafs

        infos = folder.fs.get_file_info(pafs.FileSelector(folder.path, recursive=False))
        return [i.base_name for i in infos if i.type == pafs.FileType.Directory]

    # -- episodes -------------------------------------------------------------------------------
    def episode_indices(self) -> list[int]:
        return sorted(self.episodes)

    def _template(self, key: str, **fields: Any) -> str:
        """A path template of ``info.json`` filled in; errors name the field."""
        template = self.info.get(key)
        if not isinstance(template, str):
            raise LeRobotReadError(f"{self.uri}/{layout.INFO}: field {key!r} missing")
        try:
            return template.format(**fields)
        except (KeyError, IndexError, ValueError, AttributeError) as exc:
            raise LeRobotReadError(
                f"{self.uri}/{layout.INFO}: field {key!r}: template {template!r} cannot be "
                f"filled ({type(exc).__name__}: {exc})"
            ) from None

    def _data_path(self, ep: dict[str, Any], index: int) -> str:
        if self.v2:
            chunk = index // int(self.info.get("chunks_size", layout.CHUNKS_SIZE))
            return self._template("data_path", episode_chunk=chunk, episode_index=index)
        return self._template("data_path", chunk_index=ep["data/chunk_index"], file_index=ep["data/file_index"])

    def _table(self, path: str) -> pa.Table:
        """A data file's table; the last two read are kept (episodes of one file are read in turn)."""
        cache = self.__dict__.setdefault("_tables", {})
        if path not in cache:
            if len(cache) >= 2:
                cache.pop(next(iter(cache)))
            cache[path] = self._parquet(self._file(path))
        return cache[path]

    def _frames(self, ep: dict[str, Any], index: int) -> pa.Table:
        path = self._data_path(ep, index)
        table = self._table(path)
        if self.version == "v3.0":
            table = table.filter(pc.equal(table["episode_index"], index))
        if "frame_index" in table.column_names:
            table = table.sort_by("frame_index")
        if table.num_rows != int(ep["length"]):
            raise LeRobotReadError(
                f"{self.uri}/{path}: episode {index} has {table.num_rows} rows, its length is {ep['length']}"
            )
        return table

    def video_path(self, ep: dict[str, Any], index: int, key: str) -> str:
        """The video file of camera feature ``key`` of episode ``index`` (relative to the root)."""
        if self.v2:
            chunk = index // int(self.info.get("chunks_size", layout.CHUNKS_SIZE))
            return self._template("video_path", episode_chunk=chunk, video_key=key, episode_index=index)
        return self._template(
            "video_path",
            video_key=key,
            chunk_index=ep[f"videos/{key}/chunk_index"],
            file_index=ep[f"videos/{key}/file_index"],
        )

    def _camera(self, ep: dict[str, Any], index: int, key: str, length: int, verify: bool = False) -> CameraStream:
        path = self.video_path(ep, index, key)
        if self.v2:
            start, end = 0.0, length / self.fps
        else:
            start, end = float(ep[f"videos/{key}/from_timestamp"]), float(ep[f"videos/{key}/to_timestamp"])
        data = self._file(path).read_bytes()
        h, w = self.features[key]["shape"][:2]
        h264 = video.codec_name(data) == "h264"  # datapipe's mp4 cameras are H.264: others (AV1...) are transcoded
        if h264 and start == 0.0 and h % 2 == 0 and w % 2 == 0 and self._frame_count(data) == length:
            if verify:  # every frame decodes, and there is one per step
                try:
                    n = len(video.decode_mp4(data, w, h, strict=True))
                except video.VideoError as exc:
                    raise LeRobotReadError(f"{self.uri}/{path}: {exc}") from None
                if n != length:
                    raise LeRobotReadError(
                        f"{self.uri}/{path}: {n} decodable frames for episode {index} of {length} steps"
                    )
            return CameraStream(encoding="mp4", width=w, height=h, n_frames=length, data=(data,))
        frames = _decode_segment(data, start, end, f"{self.uri}/{path}")
        if len(frames) != length:
            raise LeRobotReadError(f"{self.uri}/{path}: {len(frames)} frames for episode {index} of {length} steps")
        return CameraStream.from_frames(frames, self.fps, "mp4", quality=95)

    @staticmethod
    def _frame_count(data: bytes) -> int:
        try:
            return video.count_frames(data)
        except video.VideoError:
            return -1  # decoded (and its errors named) on the slow path

    def read_episode(self, index: int, verify_videos: bool = False) -> Episode:
        """Episode ``index`` as a datapipe :class:`Episode`; ``verify_videos`` decodes every frame
        (a damaged video raises :class:`LeRobotReadError` naming the file)."""
        ep = self.episodes[index]
        table = self._frames(ep, index)
        T = table.num_rows
        steps: dict[str, np.ndarray] = {}
        mapped = {s for sources in self.feature_map.values() for s in sources}
        for name in table.column_names:
            spec = self.features.get(name)
            if name in DROPPED or name in mapped or spec is None or spec.get("dtype") in ("video", "image", "string"):
                continue
            arr = _column_array(table.column(name))
            if arr.ndim == 2 and list(spec.get("shape", [])) == [1]:
                arr = arr[:, 0]
            steps["reward" if name == "next.reward" else safe_name(name)] = arr
        for target, sources in self.feature_map.items():
            missing = [s for s in sources if s not in table.column_names]
            if missing:
                raise LeRobotReadError(f"{self.uri}/{self._data_path(ep, index)}: no column {missing} (feature_map)")
            parts = [_column_array(table.column(s)).reshape(T, -1) for s in sources]
            steps[target] = np.concatenate(parts, axis=1)
        own_ts, record = ep.get(layout.DATAPIPE_TIMESTAMP), ep.get(layout.DATAPIPE_COLUMN)
        if own_ts is not None:
            steps["timestamp"] = np.asarray(own_ts, dtype=np.float64)
        elif record:  # datapipe wrote frame_index / fps: recompute it in float64, as it was
            steps["timestamp"] = table.column("frame_index").to_numpy() / self.fps
        elif "timestamp" in table.column_names:
            steps["timestamp"] = table.column("timestamp").to_numpy().astype(np.float64)
        else:
            steps["timestamp"] = np.arange(T, dtype=np.float64) / self.fps
        for needed in ("observation.state", "action"):
            if needed not in steps:
                raise LeRobotReadError(
                    f"{self.uri}/{layout.INFO}: no {needed} feature (features: {sorted(self.features)}); "
                    f"map one with feature_map, e.g. {{{needed}: [<feature>, ...]}}"
                )
        for name in ("observation.state", "action"):
            if steps[name].ndim == 1:
                steps[name] = steps[name][:, None]
        steps.setdefault("is_intervention", np.zeros(T, dtype=bool))
        steps.setdefault("reward", np.zeros(T, dtype=np.float32))
        cameras, dropped = {}, {}
        for k in self.video_keys:
            path = self.video_path(ep, index, k)
            if self.on_missing_video == "drop" and not self.root.join(confined(path, self.uri)).exists():
                dropped[safe_name(layout.camera_name(k))] = path
                continue
            cameras[safe_name(layout.camera_name(k))] = self._camera(ep, index, k, T, verify_videos)
        if record:  # written by datapipe: the record as it was
            row = {
                **json.loads(record),
                "steps": [tensor_to_row(k, v) for k, v in steps.items()],
                "cameras": [
                    {
                        "name": k,
                        "encoding": c.encoding,
                        "width": c.width,
                        "height": c.height,
                        "n_frames": c.n_frames,
                        "data": list(c.data),
                    }
                    for k, c in cameras.items()
                ],
            }
            episode = row_to_episode(row)
            if self.absent_cameras:
                episode = episode.with_meta(lerobot_absent_cameras=self.absent_cameras)
            return episode.with_meta(lerobot_dropped_cameras=dropped) if dropped else episode
        renamed = {
            safe_name(layout.camera_name(k)): k
            for k in self.video_keys
            if safe_name(layout.camera_name(k)) != layout.camera_name(k)
        }
        renamed.update({safe_name(n): n for n in table.column_names if safe_name(n) != n and n in self.features})
        tasks = [str(t) for t in (ep.get("tasks") or [])]
        if not tasks and "task_index" in table.column_names and T:
            tasks = [self.tasks.get(int(table["task_index"][0].as_py()), "")]
        span = f"episode_index={index}"
        return Episode(
            episode_id=make_episode_id(self.uri, span, READER_VERSION),
            source=Source(kind="community", uri=self.uri, span=span),
            embodiment=Embodiment(
                robot=self.info.get("robot_type") or "unknown",
                action_names=_names(self.features.get("action", {})),
                state_names=_names(self.features.get("observation.state", {})),
                control_fps=self.fps,
            ),
            task=tuple(t for t in tasks if t) or ("",),
            fps=self.fps,
            steps=steps,
            cameras=cameras,
            meta={
                "lerobot": {
                    "codebase_version": self.version,
                    "episode_index": index,
                    **({"renamed": renamed} if renamed else {}),
                    **({"dropped_cameras": dropped} if dropped else {}),
                    **({"absent_cameras": self.absent_cameras} if self.absent_cameras else {}),
                    **({"warnings": list(self.warnings)} if self.warnings else {}),
                    **({"feature_map": self.feature_map} if self.feature_map else {}),
                }
            },
        )
