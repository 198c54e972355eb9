"""Background replacement (GreenAug-style): where a mask says background, a new background.

Masks ``(T, H, W)`` bool, true where the background is replaced, come from:

- ``segmentation``: an episode's ``segmentation.<camera>`` classes (from ``augment.sim_views``;
  see :data:`datapipe.generators.views.SEGMENT_CLASSES`), the classes named in ``replace``;
- ``chroma``: a colour key (a green screen by default), pixels whose hue lies within
  ``hue`` degrees of the key and whose saturation and value are high enough;
- ``person``: MediaPipe's selfie segmentation (bundled with mediapipe 0.10.14), background =
  where no person is, for human video.

Backgrounds are one image per episode, stable across its frames: a random image of a folder
(resized to cover the frame, centre-cropped), or a seeded procedural texture (value noise,
checker, stripes, gradient) in random colours.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from datapipe.errors import DatapipeError

TEXTURES = ("noise", "checker", "stripes", "gradient")
# per-pixel classes of segmentation.<camera> arrays (written by augment.sim_views, generators.views)
SEGMENT_CLASSES = {"background": 0, "table": 1, "robot": 2, "object": 3, "distractor": 4}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def composite(frames: np.ndarray, mask: np.ndarray, background: np.ndarray) -> np.ndarray:
    """``frames`` (T, H, W, 3) uint8 with ``background`` (H, W, 3) where ``mask`` (T, H, W) is
    true; other pixels are returned exactly as they were."""
    out = frames.copy()
    m = mask.astype(bool)
    out[m] = np.broadcast_to(background, frames.shape)[m]
    return out


def procedural(rng: np.random.Generator, height: int, width: int, kind: str | None = None) -> np.ndarray:
    """A ``(height, width, 3)`` uint8 texture of ``kind`` (random when None), random colours."""
    kind = kind or TEXTURES[int(rng.integers(len(TEXTURES)))]
    c1, c2 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    if kind == "noise":
        cells = int(rng.integers(4, 12))
        coarse = rng.uniform(0, 1, (cells + 1, cells + 1))
        import cv2

        s = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)[..., None]
    elif kind == "checker":
        size = int(rng.integers(4, max(5, min(height, width) // 3)))
        s = (((y // size) + (x // size)) % 2)[..., None]
    elif kind == "stripes":
        angle, period = rng.uniform(0, np.pi), rng.uniform(4, max(5, min(height, width) / 2))
        s = (0.5 + 0.5 * np.sin((x * np.cos(angle) + y * np.sin(angle)) * 2 * np.pi / period))[..., None]
    elif kind == "gradient":
        s = ((x / max(width - 1, 1) + y / max(height - 1, 1)) / 2)[..., None]
    else:
        raise ValueError(f"unknown texture {kind!r} (one of {TEXTURES})")
    return np.clip(c1 * (1 - s) + c2 * s, 0, 255).astype(np.uint8)


def folder_images(folder: str) -> list[Path]:
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DatapipeError(f"{folder}: no background images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def image_background(path: Path, height: int, width: int) -> np.ndarray:
    """An image resized to cover ``height`` x ``width`` and centre-cropped, RGB uint8."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DatapipeError(f"{path}: not a readable image")
    img = img[:, :, ::-1]
    scale = max(height / img.shape[0], width / img.shape[1])
    resized = cv2.resize(img, (max(width, round(img.shape[1] * scale)), max(height, round(img.shape[0] * scale))))
    top, left = (resized.shape[0] - height) // 2, (resized.shape[1] - width) // 2
    return np.ascontiguousarray(resized[top : top + height, left : left + width])


def chroma_mask(frames: np.ndarray, key_hue: float = 120.0, hue: float = 30.0, min_sat: float = 0.35) -> np.ndarray:
    """True where a pixel's hue is within ``hue`` degrees of ``key_hue`` (green: 120) and it is
    saturated and bright enough to be the screen."""
    import cv2

    hsv = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2HSV) for f in frames]).astype(np.float64)
    h, s, v = hsv[..., 0] * 2.0, hsv[..., 1] / 255.0, hsv[..., 2] / 255.0  # OpenCV hue is 0..180
    dist = np.abs((h - key_hue + 180.0) % 360.0 - 180.0)
    return (dist <= hue) & (s >= min_sat) & (v >= 0.2)


def episode_mask(
    ep: Any,
    camera: str,
    frames: np.ndarray,
    kind: str,
    replace: tuple[str, ...] = ("background",),
    key_hue: float = 120.0,
    hue_tolerance: float = 30.0,
    person: PersonSegmenter | None = None,
) -> np.ndarray | None:
    """The ``(T, H, W)`` bool mask of one camera of an episode (None when ``kind`` is
    ``segmentation`` and the episode has no ``segmentation.<camera>`` array)."""
    if kind == "segmentation":
        classes = ep.steps.get(f"segmentation.{camera}")
        if classes is None:
            return None
        return np.isin(np.asarray(classes), [SEGMENT_CLASSES[k] for k in replace])
    if kind == "chroma":
        return chroma_mask(frames, key_hue, hue_tolerance)
    if kind == "person":
        if person is None:
            raise ValueError("person masks need a PersonSegmenter")
        return person.background(frames)
    raise ValueError(f"unknown mask kind {kind!r} (segmentation, chroma, person)")


class PersonSegmenter:
    """MediaPipe's selfie segmentation (legacy API, model bundled in the 0.10.14 wheel)."""

    def __init__(self, threshold: float = 0.5):
        import mediapipe as mp

        self.threshold = threshold
        self._seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1)

    def background(self, frames: np.ndarray) -> np.ndarray:
        """True where no person is, per frame."""
        out = np.zeros(frames.shape[:3], dtype=bool)
        for t, f in enumerate(frames):
            result = self._seg.process(np.ascontiguousarray(f))
            out[t] = result.segmentation_mask < self.threshold
        return out

    def close(self) -> None:
        self._seg.close()
