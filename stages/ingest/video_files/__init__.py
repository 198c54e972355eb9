"""``ingest.video_files``: video files (local or remote globs) into clips, one episode per clip."""

from __future__ import annotations

import fnmatch
import glob
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

from datapipe.config import ConfigError, check
from datapipe.engine.stage import Resources, SourceStage, Wiring
from datapipe.records import CameraStream, Embodiment, Episode, Source, make_episode_id
from datapipe.records.video import Mp4Writer
from datapipe.stages.ingest.video_files.video_io import (
    VideoReadError,
    activity_spans,
    clip_spans,
    resample_stream,
    stream_video,
)
from datapipe.storage import resolve

CAMERA = "ego"
CLIP_CRF = 4  # x264 CRF of the clips (near lossless: they are decoded again for hand tracking)
ACTIVITY_CHUNK = 32  # sampled frames per hand-tracker call in the activity pass


@dataclass(frozen=True)
class VideoFilesConfig:
    # file globs: local paths or URIs (s3://bucket/videos/*.mp4, file:///data/*.mov)
    paths: tuple[str, ...] = ()
    # how to cut clips: fixed (every clip_seconds) or hand_activity (spans where hands are seen,
    # found with MediaPipe on every activity_stride-th frame; long spans are cut at clip_seconds)
    split: Literal["fixed", "hand_activity"] = "fixed"
    # clip length in seconds (0 = one clip per file, or per activity span)
    clip_seconds: float = 10.0
    # hand_activity: bridge gaps without hands up to this long, seconds
    activity_gap_seconds: float = 0.5
    # hand_activity: run the detector on every n-th frame
    activity_stride: int = 3
    # drop clips shorter than this, seconds
    min_clip_seconds: float = 1.0
    # resample to this frame rate, Hz (0 = keep the file's)
    fps: float = 0.0
    # downscale so the longer side is at most this many pixels (0 = keep)
    max_side: int = 720
    # the instruction given to every clip (human video has none of its own)
    task: str = "manipulate the objects with the hands"
    # no file matching the globs makes an empty source (true) rather than an error
    allow_empty: bool = False

    def __post_init__(self) -> None:
        check(bool(self.paths), "paths", "give at least one file glob")
        for name in ("clip_seconds", "fps", "max_side", "activity_gap_seconds", "min_clip_seconds"):
            check(getattr(self, name) >= 0, name, f"must be >= 0, got {getattr(self, name)}")
        check(self.split in ("fixed", "hand_activity"), "split", f"must be fixed or hand_activity, got {self.split!r}")
        check(self.activity_stride >= 1, "activity_stride", f"must be >= 1, got {self.activity_stride}")


def expand_glob(pattern: str) -> list[str]:
    """Files matching ``pattern`` (local glob, or a pattern in the last path component of a URI)."""
    if "://" not in pattern:
        return sorted(glob.glob(pattern))
    folder, name = posixpath.split(pattern)
    root = resolve(folder)
    return sorted(loc.uri for loc in root.list() if fnmatch.fnmatch(posixpath.basename(loc.path), name))


class VideoFiles(SourceStage):
    """Decode video files (PyAV) into clips of fixed length or spans of continuous hand activity,
    optionally resampled, as a stream (memory does not grow with the file's length); an unreadable
    or truncated file is quarantined with the reason and the run goes on."""

    name = "ingest.video_files"
    version = "1"
    Config = VideoFilesConfig
    input_fields = ("paths",)
    resources = Resources(cpus=1)

    @classmethod
    def produces(cls, config: VideoFilesConfig, upstream: Wiring) -> Wiring:
        return Wiring(cameras=frozenset({CAMERA}))

    @classmethod
    def input_paths(cls, config: VideoFilesConfig) -> list[str]:
        """The files the globs match now: a video added under a glob, or replaced, changes the hash."""
        return sorted({f for p in config.paths for f in expand_glob(p)})

    def shards(self) -> list[str]:
        files = self.input_paths(self.config)
        if not files and not self.config.allow_empty:
            raise ConfigError("paths", f"paths: no video files match {list(self.config.paths)}")
        return files

    def _frames(self, shard: str) -> tuple[float, Iterator[tuple[float, np.ndarray]]]:
        """The file's frames as a stream, resampled: ``(fps, iterator of (time s, frame))``."""
        c = self.config
        loc = resolve(shard)
        try:
            f = loc.fs.open_input_file(loc.path)
        except OSError as exc:
            raise VideoReadError(f"{shard}: cannot open ({exc})") from None
        fps, frames = stream_video(f, shard, c.max_side or None)
        out_fps = c.fps or fps
        return out_fps, resample_stream(frames, fps, c.fps or None)

    def _activity_spans(self, shard: str) -> list[tuple[int, int]]:
        """First pass (streamed): ``[start, stop)`` frame spans of hand activity, cut at
        ``clip_seconds``, from MediaPipe on every ``activity_stride``-th frame."""
        from datapipe.generators.hands.tracking import HandTracker

        c = self.config
        fps, frames = self._frames(shard)
        tracker = HandTracker(model_complexity=0)
        hits: list[bool] = []
        chunk: list[np.ndarray] = []
        n = 0

        def flush() -> None:
            if chunk:  # the tracker keeps its state across calls: one video, tracked in pieces
                tracks = tracker.track(np.stack(chunk))
                hits.extend(np.any([t.present for t in tracks.values()], axis=0).tolist())
                chunk.clear()

        try:
            for i, (_, img) in enumerate(frames):
                n = i + 1
                if i % c.activity_stride == 0:
                    chunk.append(img)
                    if len(chunk) == ACTIVITY_CHUNK:
                        flush()
            flush()
        finally:
            tracker.close()
        seen = np.zeros(n, bool)
        for k, hit in enumerate(hits):
            seen[k * c.activity_stride : (k + 1) * c.activity_stride] = hit
        spans = []
        for a, b in activity_spans(seen, fps, c.min_clip_seconds, c.activity_gap_seconds):
            spans += [(a + x, a + y) for x, y in clip_spans(b - a, fps, c.clip_seconds, c.min_clip_seconds)]
        return spans

    def read(self, shard: str) -> Iterable[Episode]:
        """Clips of one file, decoded and encoded as a stream: memory holds one frame and the
        encoded clip, whatever the file's length."""
        c = self.config
        spans = self._activity_spans(shard) if c.split == "hand_activity" else None
        fps, frames = self._frames(shard)
        size = max(1, int(round(c.clip_seconds * fps))) if c.clip_seconds > 0 else None
        clip: _Clip | None = None
        p = 0  # the next activity span
        for i, (t, img) in enumerate(frames):
            if spans is not None:
                while p < len(spans) and spans[p][1] <= i:
                    p += 1
                if p == len(spans):
                    break
                if i < spans[p][0]:
                    continue
            if clip is None:
                clip = _Clip(fps)
            clip.add(t, img)
            done = (i == spans[p][1] - 1) if spans is not None else (size is not None and clip.n == size)
            if done:
                yield self._episode(shard, clip)
                clip = None
        if clip is not None and clip.n / fps >= c.min_clip_seconds:
            yield self._episode(shard, clip)

    def _episode(self, shard: str, clip: _Clip) -> Episode:
        c = self.config
        times = np.asarray(clip.times)
        T, t0 = len(times), float(times[0])
        span = f"t={t0:.3f}-{float(times[-1]):.3f}s@{clip.fps:g}fps"
        h, w = clip.size
        return Episode(
            episode_id=make_episode_id(shard, span, self.version),
            source=Source(kind="ego_video", uri=shard, span=span),
            embodiment=Embodiment(robot="human_hands"),
            task=(c.task,),
            fps=clip.fps,
            steps={
                "timestamp": times - t0,
                "observation.state": np.zeros((T, 0), np.float32),
                "action": np.zeros((T, 0), np.float32),
                "is_intervention": np.zeros(T, bool),
                "reward": np.zeros(T, np.float32),
            },
            cameras={CAMERA: CameraStream(encoding="mp4", width=w, height=h, n_frames=T, data=(clip.close(),))},
            meta={
                "video": {
                    "uri": shard,
                    "clip_start_s": round(t0, 6),
                    "frames": T,
                    "width": w,
                    "height": h,
                    "fps": clip.fps,
                }
            },
        )


class _Clip:
    """One clip being cut: its frames' times, and the frames encoded as they come."""

    def __init__(self, fps: float):
        self.fps = fps
        self.times: list[float] = []
        self.writer = Mp4Writer(fps, crf=CLIP_CRF)

    @property
    def n(self) -> int:
        return len(self.times)

    @property
    def size(self) -> tuple[int, int]:
        return self.writer.size

    def add(self, t: float, img: np.ndarray) -> None:
        self.times.append(t)
        self.writer.add(img)

    def close(self) -> bytes:
        return self.writer.close()
