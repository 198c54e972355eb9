"""Resizing an episode's cameras to one size (datasets mixing sources whose cameras differ)."""

from __future__ import annotations

import numpy as np

from datapipe.records import CameraStream, Episode


def center_crop(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """``frames`` ``(T, H, W, C)`` cropped about their centre to the aspect ratio ``height:width``."""
    H, W = frames.shape[1:3]
    if H * width > W * height:  # too tall
        h = max(1, round(W * height / width))
        return frames[:, (H - h) // 2 : (H - h) // 2 + h]
    w = max(1, round(H * width / height))
    return frames[:, :, (W - w) // 2 : (W - w) // 2 + w]


def resized_cameras(ep: Episode, height: int, width: int, fit: str = "stretch") -> Episode:
    """``ep`` with every camera at ``height`` x ``width`` (re-encoded only where it differs).
    ``fit``: ``stretch`` (the whole frame, aspect ratio changed) or ``crop`` (the centre at the
    target's aspect ratio, then scaled)."""
    from datapipe.records import video

    if fit not in ("stretch", "crop"):
        raise ValueError(f"fit must be stretch or crop, got {fit!r}")
    changed = {k: c for k, c in ep.cameras.items() if (c.height, c.width) != (height, width)}
    if not changed:
        return ep
    cameras = dict(ep.cameras)
    for name, cam in changed.items():
        frames = cam.frames()
        if fit == "crop":
            frames = center_crop(frames, height, width)
        cameras[name] = CameraStream.from_frames(
            video.resize_frames(frames, height, width), ep.fps, cam.encoding, quality=95
        )
    original = {k: [c.height, c.width] for k, c in changed.items()}
    return ep.replace(cameras=cameras).with_meta(resized_cameras={**ep.meta.get("resized_cameras", {}), **original})
