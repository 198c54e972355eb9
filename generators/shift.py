"""Held-out scenes and instructions for evaluation under shift (``datapipe evaluate --shift``).

Training seeds draw from :mod:`datapipe.generators.randomization`'s space; a shifted evaluation
draws from a part of it that no training seed reaches, so a policy is judged on what it has never
seen:

- ``visual``: table and floor textures of kinds training never draws (:data:`HELD_OUT_TEXTURES`);
  table, floor and distractor colours with a channel beyond every training range
  (:data:`EXTREME_CHANNEL`: training draws every channel within [0.1, 0.9]); lights brighter than
  any training light and tinted where training tints are near white; camera positions, look-at
  points and fields of view jittered beyond the training range (:data:`CAMERA_BEYOND` times
  it). The task itself (block colours, poses, zone) is the seed's own, so a shifted scene and an
  unshifted one of the same seed pose the same problem (paired seeds).
- ``language``: instructions from the task's held-out templates (``SimTask.held_out_templates``:
  verbs and nouns no training template uses).
- ``both``: the two together.

The draws come from their own random stream (seed, 53): the training draws of a seed are the same
with and without a shift. :func:`held_out_space` describes what is held out (the evaluation
result records it).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from datapipe.generators.randomization import RandomizationRanges

Shift = Literal["none", "visual", "language", "both"]
SHIFTS: tuple[str, ...] = ("none", "visual", "language", "both")
HELD_OUT_TEXTURES = ("stripes", "diagonal")
EXTREME_CHANNEL = ((0.0, 0.06), (0.95, 1.0))  # one channel of each held-out colour falls in one of these
LIGHT_INTENSITY = (0.95, 1.2)  # training: 0.3 .. 0.9
LIGHT_TINT_CHANNEL = (0.35, 0.6)  # one channel of a held-out light's tint (training: 0.8 .. 1.0)
CAMERA_BEYOND = (1.2, 1.9)  # held-out camera jitter per axis, in multiples of the training half-width


def parts(shift: str) -> dict[str, bool]:
    """``{"visual": bool, "language": bool}`` of a shift name."""
    if shift not in SHIFTS:
        from datapipe.errors import DatapipeError

        raise DatapipeError(f"shift {shift!r}: expected one of {', '.join(SHIFTS)}")
    return {"visual": shift in ("visual", "both"), "language": shift in ("language", "both")}


def _extreme_rgb(rng: np.random.Generator) -> list[float]:
    rgb = rng.uniform(0.0, 1.0, 3)
    lo, hi = EXTREME_CHANNEL[int(rng.integers(2))]
    rgb[int(rng.integers(3))] = rng.uniform(lo, hi)
    return [round(float(x), 4) for x in rgb]


def _beyond(rng: np.random.Generator, half_width: float, n: int) -> np.ndarray:
    magnitude = rng.uniform(*CAMERA_BEYOND, n) * half_width
    return np.where(rng.random(n) < 0.5, -magnitude, magnitude)


def shift_scene(
    rng: np.random.Generator,
    params: dict[str, Any],
    ranges: RandomizationRanges,
    nominal_cameras: dict[str, dict[str, Any]],
) -> None:
    """Replace the visual values of one episode's ``params`` by held-out ones (in place)."""
    for surface in ("table", "floor"):
        params[surface]["texture"] = HELD_OUT_TEXTURES[int(rng.integers(len(HELD_OUT_TEXTURES)))]
        params[surface]["rgb1"], params[surface]["rgb2"] = _extreme_rgb(rng), _extreme_rgb(rng)
    for light in params["lights"]:
        intensity = float(rng.uniform(*LIGHT_INTENSITY))
        tint = rng.uniform(0.8, 1.0, 3)
        tint[int(rng.integers(3))] = rng.uniform(*LIGHT_TINT_CHANNEL)
        light["diffuse"] = [round(intensity * float(t), 4) for t in tint]
    lv = max(ranges.level, 1e-3)
    for name, cam in params["cameras"].items():
        nominal = nominal_cameras[name]
        cam["pos"] = [round(float(p + d), 5) for p, d in zip(nominal["pos"], _beyond(rng, ranges.camera_pos * lv, 3))]
        cam["lookat"] = [
            round(float(p + d), 5) for p, d in zip(nominal["lookat"], _beyond(rng, ranges.camera_lookat * lv, 3))
        ]
        cam["fovy"] = round(float(nominal["fovy"] + _beyond(rng, ranges.camera_fovy * lv, 1)[0]), 4)
    for d in params.get("distractors", []):
        d["rgba"] = _extreme_rgb(rng) + [1.0]


def held_out_space(shift: str, ranges: RandomizationRanges, task: Any) -> dict[str, Any]:
    """What a shifted evaluation draws from that training does not (recorded with its result)."""
    out: dict[str, Any] = {}
    if parts(shift)["visual"]:
        lv = ranges.level
        out["visual"] = {
            "textures": list(HELD_OUT_TEXTURES),
            "colour_channel_in": [list(r) for r in EXTREME_CHANNEL],
            "light_intensity": list(LIGHT_INTENSITY),
            "light_tint_channel": list(LIGHT_TINT_CHANNEL),
            "camera_pos_jitter_m": [round(x * ranges.camera_pos * lv, 4) for x in CAMERA_BEYOND],
            "camera_lookat_jitter_m": [round(x * ranges.camera_lookat * lv, 4) for x in CAMERA_BEYOND],
            "camera_fovy_jitter_deg": [round(x * ranges.camera_fovy * lv, 3) for x in CAMERA_BEYOND],
        }
    if parts(shift)["language"]:
        out["language"] = {"templates": list(getattr(task, "held_out_templates", ()))}
    return out
