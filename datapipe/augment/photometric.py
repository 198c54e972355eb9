"""Photometric augmentation with kornia: colour, brightness, contrast, blur and crop.

:class:`PhotometricRanges` are the uniform ranges parameters are drawn from; presets follow the
training recipes they are named after (:data:`PRESETS`: OpenVLA's and Octo's image
augmentations, and a light one). :func:`sample_params` draws one parameter set (a plain dict,
recorded in ``meta``); :func:`apply` applies it to RGB frames ``(T, H, W, 3)`` uint8 (the same
parameters for every frame, so an episode stays consistent), returning the same shape.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PhotometricRanges:
    brightness: float = 0.1  # additive, +- (of 1)
    contrast: tuple[float, float] = (0.9, 1.1)  # multiplicative
    saturation: tuple[float, float] = (0.9, 1.1)
    hue: float = 0.05  # +- (of a full turn)
    blur_sigma: tuple[float, float] = (0.0, 0.0)  # pixels
    crop_scale: tuple[float, float] = (1.0, 1.0)  # kept area, of the frame
    crop_ratio: tuple[float, float] = (1.0, 1.0)  # aspect change of the kept area


PRESETS = {
    # OpenVLA (prismatic image_aug): random resized crop of 90% area, brightness 0.2, contrast and
    # saturation 0.8..1.2, hue 0.05
    "openvla": PhotometricRanges(0.2, (0.8, 1.2), (0.8, 1.2), 0.05, (0.0, 0.0), (0.9, 0.9), (1.0, 1.0)),
    # Octo: random resized crop 0.8..1.0 area, ratio 0.9..1.1, brightness 0.1, contrast and
    # saturation 0.9..1.1, hue 0.05
    "octo": PhotometricRanges(0.1, (0.9, 1.1), (0.9, 1.1), 0.05, (0.0, 0.0), (0.8, 1.0), (0.9, 1.1)),
    "light": PhotometricRanges(0.05, (0.95, 1.05), (0.95, 1.05), 0.02, (0.0, 0.5), (0.95, 1.0), (1.0, 1.0)),
}


def ranges_of(preset: str | PhotometricRanges) -> PhotometricRanges:
    if isinstance(preset, PhotometricRanges):
        return preset
    if preset not in PRESETS:
        raise ValueError(f"unknown photometric preset {preset!r} (one of {sorted(PRESETS)})")
    return PRESETS[preset]


def sample_params(rng: np.random.Generator, ranges: PhotometricRanges) -> dict[str, float]:
    """One parameter set: brightness, contrast, saturation, hue, blur sigma and a crop box as
    fractions of the frame (top, left, height, width)."""
    scale = float(rng.uniform(*ranges.crop_scale))
    ratio = float(np.exp(rng.uniform(np.log(ranges.crop_ratio[0]), np.log(ranges.crop_ratio[1]))))
    h = min(1.0, float(np.sqrt(scale / ratio)))
    w = min(1.0, float(np.sqrt(scale * ratio)))
    return {
        "brightness": float(rng.uniform(-ranges.brightness, ranges.brightness)),
        "contrast": float(rng.uniform(*ranges.contrast)),
        "saturation": float(rng.uniform(*ranges.saturation)),
        "hue": float(rng.uniform(-ranges.hue, ranges.hue)),
        "blur_sigma": float(rng.uniform(*ranges.blur_sigma)),
        "crop_top": float(rng.uniform(0, 1 - h)),
        "crop_left": float(rng.uniform(0, 1 - w)),
        "crop_height": h,
        "crop_width": w,
    }


def apply(frames: np.ndarray, params: dict[str, float]) -> np.ndarray:
    """``frames`` (T, H, W, 3) or (H, W, 3) uint8 with ``params`` applied (same shape and dtype)."""
    import kornia
    import torch

    params = {k: float(v) for k, v in params.items()}
    single = frames.ndim == 3
    x = torch.from_numpy(np.ascontiguousarray(frames[None] if single else frames)).permute(0, 3, 1, 2).float() / 255
    T, _, H, W = x.shape
    top, left = round(params["crop_top"] * H), round(params["crop_left"] * W)
    ch, cw = max(1, round(params["crop_height"] * H)), max(1, round(params["crop_width"] * W))
    if (ch, cw) != (H, W):
        x = kornia.geometry.transform.resize(x[:, :, top : top + ch, left : left + cw], (H, W), antialias=True)
    x = kornia.enhance.adjust_brightness(x, params["brightness"])
    x = kornia.enhance.adjust_contrast(x, params["contrast"])
    x = kornia.enhance.adjust_saturation(x, params["saturation"])
    x = kornia.enhance.adjust_hue(x, params["hue"] * 2 * np.pi)
    sigma = params["blur_sigma"]
    if sigma > 0.05:
        k = max(3, int(2 * round(3 * sigma) + 1))
        x = kornia.filters.gaussian_blur2d(x, (k, k), (sigma, sigma))
    out = (x.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return out[0] if single else out


def describe(ranges: PhotometricRanges) -> dict[str, Any]:
    return asdict(ranges)
