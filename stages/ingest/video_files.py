"""``ingest.video_files``: video files (local or remote globs) into clips, one episode per clip."""

from __future__ import annotations

import fnmatch
import glob
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from datapipe.config import check
from datapipe.records import CameraStream, Embodiment, Episode, Source, make_episode_id
from datapipe.stage import Resources, SourceStage
from datapipe.storage import resolve
from stages.ego.video_io import activity_spans, clip_spans, decode_video, resample

CAMERA = "ego"


@dataclass(frozen=True)
class VideoFilesConfig:
    # file globs: local paths or URIs (s3://bucket/videos/*.mp4, file:///data/*.mov)
    paths: tuple[str, ...] = ()
    # how to cut clips: fixed (every clip_seconds) or hand_activity (spans where hands are seen,
    # found with MediaPipe on every activity_stride-th frame; long spans are cut at clip_seconds)
    split: str = "fixed"
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
    optionally resampled; an unreadable or truncated file is quarantined with the reason and the
    run goes on."""

    name = "ingest.video_files"
    version = "1"
    Config = VideoFilesConfig
    resources = Resources(cpus=1)

    def shards(self) -> list[str]:
        files = sorted({f for p in self.config.paths for f in expand_glob(p)})
        if not files:
            raise FileNotFoundError(f"no video files match {list(self.config.paths)}")
        return files

    def _spans(self, frames: np.ndarray, fps: float) -> list[tuple[int, int]]:
        c = self.config
        if c.split == "fixed":
            return clip_spans(len(frames), fps, c.clip_seconds, c.min_clip_seconds)
        from stages.ego.hands import HandTracker

        sampled = np.arange(0, len(frames), c.activity_stride)
        tracker = HandTracker(model_complexity=0)
        tracks = tracker.track(frames[sampled])
        tracker.close()
        seen = np.zeros(len(frames), bool)
        hit = np.any([t.present for t in tracks.values()], axis=0)
        for i, s in enumerate(sampled):
            seen[s:s + c.activity_stride] = hit[i]
        spans = []
        for a, b in activity_spans(seen, fps, c.min_clip_seconds, c.activity_gap_seconds):
            spans += [(a + x, a + y) for x, y in clip_spans(b - a, fps, c.clip_seconds, c.min_clip_seconds)]
        return spans

    def read(self, shard: str) -> Iterable[Episode]:
        c = self.config
        data = resolve(shard).read_bytes()
        video = resample(decode_video(data, shard, c.max_side or None), c.fps or None)
        for start, stop in self._spans(video.frames, video.fps):
            frames = video.frames[start:stop]
            T = len(frames)
            t0 = float(video.times[start])
            span = f"t={t0:.3f}-{float(video.times[stop - 1]):.3f}s@{video.fps:g}fps"
            yield Episode(
                episode_id=make_episode_id(shard, span, self.version),
                source=Source(kind="ego_video", uri=shard, span=span),
                embodiment=Embodiment(robot="human_hands"),
                task=(c.task,),
                fps=video.fps,
                steps={"timestamp": video.times[start:stop] - t0,
                       "observation.state": np.zeros((T, 0), np.float32),
                       "action": np.zeros((T, 0), np.float32),
                       "is_intervention": np.zeros(T, bool), "reward": np.zeros(T, np.float32)},
                cameras={CAMERA: CameraStream.from_frames(frames, video.fps, quality=92)},
                meta={"video": {"uri": shard, "clip_start_s": round(t0, 6), "frames": T,
                                "width": int(frames.shape[2]), "height": int(frames.shape[1]),
                                "fps": video.fps}},
            )
