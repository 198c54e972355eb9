"""Reading video files into clips: decoding with PyAV, optional resampling and downscaling.

A clip is a span of frames ``[start, stop)`` of one file, resampled to ``fps`` by taking, for
each output time ``k / fps``, the last decoded frame at or before it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from datapipe.errors import DatapipeError


class VideoReadError(DatapipeError, OSError):
    """A video cannot be read (missing, truncated, not a video); names the file."""


@dataclass(frozen=True)
class DecodedVideo:
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    times: np.ndarray  # (T,) seconds from the start of the file
    fps: float  # the stream's average rate


def _scaled(img: np.ndarray, max_side: int | None) -> np.ndarray:
    import cv2

    if max_side and max(img.shape[:2]) > max_side:
        k = max_side / max(img.shape[:2])
        size = (int(round(img.shape[1] * k)) // 2 * 2, int(round(img.shape[0] * k)) // 2 * 2)
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    return img


def stream_video(
    source: Any, name: str, max_side: int | None = None
) -> tuple[float, Iterator[tuple[float, np.ndarray]]]:
    """Open a video (bytes, or a seekable binary file) and decode it lazily, one frame at a time.

    Returns the stream's average rate (Hz) and an iterator of ``(seconds since the first frame,
    RGB frame (H, W, 3) uint8)``, downscaled so the longer side is at most ``max_side`` pixels.
    Memory stays that of one frame whatever the file's length. Errors (no video stream, a
    truncated or corrupted file) raise :class:`VideoReadError` naming ``name``.
    """
    import av

    try:
        container = av.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
    except Exception as exc:  # PyAV raises several error types for broken files
        raise VideoReadError(f"{name}: cannot open ({type(exc).__name__}: {exc})") from exc
    if not container.streams.video:
        container.close()
        raise VideoReadError(f"{name}: no video stream")
    stream = container.streams.video[0]
    fps = float(stream.average_rate or 30)

    def frames() -> Iterator[tuple[float, np.ndarray]]:
        t0, n = None, 0
        try:
            for frame in container.decode(stream):
                t = float(frame.time) if frame.time is not None else n / fps
                t0 = t if t0 is None else t0
                n += 1
                yield t - t0, _scaled(frame.to_ndarray(format="rgb24"), max_side)
        except VideoReadError:
            raise
        except Exception as exc:
            raise VideoReadError(f"{name}: cannot decode after {n} frames ({type(exc).__name__}: {exc})") from exc
        finally:
            container.close()
            if hasattr(source, "close"):
                source.close()  # a file opened for this stream
        if n == 0:
            raise VideoReadError(f"{name}: no frames could be decoded (truncated or empty)")

    return fps, frames()


def resample_stream(
    frames: Iterator[tuple[float, np.ndarray]], fps_in: float, fps_out: float | None
) -> Iterator[tuple[float, np.ndarray]]:
    """``frames`` at ``fps_out`` (None: unchanged), as a stream: for each time ``k / fps_out`` the
    last frame at or before it."""
    if not fps_out or abs(fps_out - fps_in) < 1e-6:
        yield from frames
        return
    k, prev, prev_t = 0, None, 0.0
    for t, img in frames:
        if prev is not None:
            while k / fps_out + 1e-6 < t:
                yield k / fps_out, prev
                k += 1
        prev, prev_t = img, t
    if prev is not None:
        while k <= prev_t * fps_out + 1e-9:
            yield k / fps_out, prev
            k += 1


def decode_video(data: bytes, name: str, max_side: int | None = None) -> DecodedVideo:
    """Every frame of a video file held in memory (downscaled so the longer side is at most
    ``max_side`` pixels, if given). For long files use :func:`stream_video`."""
    fps, frames = stream_video(data, name, max_side)
    times, images = [], []
    for t, img in frames:
        times.append(t)
        images.append(img)
    return DecodedVideo(np.stack(images), np.asarray(times), fps)


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
