"""Resampling an episode to another frame rate (nearest step; cameras re-encoded)."""

from __future__ import annotations

import numpy as np

from datapipe.records import CameraStream, Episode


def resample(ep: Episode, fps: float) -> Episode:
    """``ep`` at ``fps``: for each new step ``k`` (time ``k / fps``), the nearest original step;
    camera frames alike (re-encoded)."""
    if abs(ep.fps - fps) < 1e-9:
        return ep
    n = max(1, int(round(ep.length * fps / ep.fps)))
    idx = np.clip(np.round(np.arange(n) * ep.fps / fps).astype(int), 0, ep.length - 1)
    steps = {k: v[idx] for k, v in ep.steps.items()}
    steps["timestamp"] = np.arange(n, dtype=np.float64) / fps
    cams = {k: CameraStream.from_frames(c.frames()[idx], fps) for k, c in ep.cameras.items()}
    return ep.replace(fps=float(fps), steps=steps, cameras=cams, meta={**ep.meta, "resampled_from_fps": ep.fps})
