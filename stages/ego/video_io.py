"""Reading video files into clips: decoding with PyAV, optional resampling and downscaling.

A clip is a span of frames ``[start, stop)`` of one file, resampled to ``fps`` by taking, for
each output time ``k / fps``, the last decoded frame at or before it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from datapipe.errors import DatapipeError


class VideoReadError(DatapipeError, OSError):
    """A video cannot be read (missing, truncated, not a video); names the file."""


@dataclass(frozen=True)
class DecodedVideo:
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    times: np.ndarray  # (T,) seconds from the start of the file
    fps: float  # the stream's average rate


def decode_video(data: bytes, name: str, max_side: int | None = None) -> DecodedVideo:
    """Every frame of a video file held in memory (downscaled so the longer side is at most
    ``max_side`` pixels, if given)."""
    import av
    import cv2

    frames, times = [], []
    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.video:
                raise VideoReadError(f"{name}: no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or 30)
            for frame in container.decode(stream):
                img = frame.to_ndarray(format="rgb24")
                if max_side and max(img.shape[:2]) > max_side:
                    s = max_side / max(img.shape[:2])
                    img = cv2.resize(img, (int(round(img.shape[1] * s)) // 2 * 2, int(round(img.shape[0] * s)) // 2 * 2),
                                     interpolation=cv2.INTER_AREA)
                frames.append(img)
                times.append(float(frame.time) if frame.time is not None else len(times) / fps)
    except VideoReadError:
        raise
    except Exception as exc:  # PyAV raises several error types for broken files
        raise VideoReadError(f"{name}: cannot decode ({type(exc).__name__}: {exc})") from exc
    if not frames:
        raise VideoReadError(f"{name}: no frames could be decoded (truncated or empty)")
    t = np.asarray(times)
    return DecodedVideo(np.stack(frames), t - t[0], fps)


def resample(video: DecodedVideo, fps: float | None) -> DecodedVideo:
    """``video`` at ``fps`` (None: unchanged): for each time ``k / fps`` the last frame at or before it."""
    if not fps or abs(fps - video.fps) < 1e-6:
        return video
    n = int(np.floor(video.times[-1] * fps + 1e-9)) + 1
    out_t = np.arange(n) / fps
    idx = np.clip(np.searchsorted(video.times, out_t + 1e-6, side="right") - 1, 0, len(video.times) - 1)
    return DecodedVideo(video.frames[idx], out_t, fps)


def clip_spans(n_frames: int, fps: float, clip_seconds: float, min_seconds: float) -> list[tuple[int, int]]:
    """``[start, stop)`` frame spans of fixed length ``clip_seconds`` (0: one clip of the whole
    video); a last span shorter than ``min_seconds`` is dropped."""
    if clip_seconds <= 0:
        return [(0, n_frames)] if n_frames / fps >= min_seconds else []
    size = max(1, int(round(clip_seconds * fps)))
    spans = [(s, min(s + size, n_frames)) for s in range(0, n_frames, size)]
    return [(a, b) for a, b in spans if (b - a) / fps >= min_seconds]


def activity_spans(active: np.ndarray, fps: float, min_seconds: float, max_gap_seconds: float) -> list[tuple[int, int]]:
    """``[start, stop)`` spans where ``active`` (T,) holds, gaps up to ``max_gap_seconds`` bridged,
    spans shorter than ``min_seconds`` dropped."""
    spans: list[list[int]] = []
    gap = int(round(max_gap_seconds * fps))
    for t in np.flatnonzero(active):
        if spans and t - spans[-1][1] <= gap:
            spans[-1][1] = t + 1
        else:
            spans.append([int(t), int(t) + 1])
    return [(a, b) for a, b in spans if (b - a) / fps >= min_seconds]
