"""The loop that every masked-camera augmentation shares (``augment.background``,
``augment.inpaint``): the cameras asked for, decoded once, their masks, and per variant a random
generator seeded by (seed, episode, variant), so a rerun gives the same variants."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from datapipe.records import CameraStream, Episode

MaskOf = Callable[[Episode, str, np.ndarray], "np.ndarray | None"]
"""``(episode, camera, frames (T, H, W, 3) uint8) -> mask (T, H, W) bool`` or None (no mask)."""


def masked_variants(
    episode: Episode, cameras: Sequence[str], mask_of: MaskOf, variants: int, seed: int, skip_empty: bool = False
) -> Iterator[tuple[int, np.random.Generator, dict[str, tuple[np.ndarray, np.ndarray]]]]:
    """``(variant index, its generator, {camera: (frames, mask)})`` for each variant; nothing when
    no camera (of ``cameras``, or all when empty) has a mask (with ``skip_empty``, a mask with
    pixels in it)."""
    names = [n for n in episode.cameras if not cameras or n in cameras]
    views = {}
    for name in names:
        frames = episode.cameras[name].frames()
        mask = mask_of(episode, name, frames)
        if mask is not None and (mask.any() or not skip_empty):
            views[name] = (frames, mask)
    if not views:
        return
    key = uuid.UUID(episode.episode_id).int % 2**63
    for i in range(variants):
        yield i, np.random.default_rng([seed, key, i]), views


def recoded(episode: Episode, camera: str, frames: np.ndarray) -> CameraStream:
    """New frames of ``camera`` in the camera's own encoding (high quality: they are re-encoded once)."""
    return CameraStream.from_frames(frames, episode.fps, episode.cameras[camera].encoding, quality=95)
