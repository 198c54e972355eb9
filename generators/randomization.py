"""Domain randomization: every scene value drawn from a seeded generator into a JSON-able dict.

The dict is the episode's ``meta["randomization"]``; :func:`datapipe.generators.scene.build_scene` builds
the same scene from it, so an episode is reproducible from its seed (or from its metadata alone).
Ranges are :class:`RandomizationRanges`; ``level=0`` gives the nominal scene.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

TABLE_HEIGHT = 0.75  # m, nominal table top above the floor


@dataclass(frozen=True)
class RandomizationRanges:
    """Half-widths of the uniform ranges (``level`` scales them all; 0 = nominal scene)."""

    level: float = 1.0
    table_height: float = 0.03  # m
    camera_pos: float = 0.03  # m per axis
    camera_lookat: float = 0.03  # m per axis
    camera_fovy: float = 5.0  # deg
    friction: float = 0.2  # fraction of nominal
    mass: float = 0.3  # fraction of nominal
    damping: float = 0.3  # fraction of nominal (arm joints)
    size: float = 0.15  # fraction of nominal object size
    robot_qpos: float = 0.05  # rad per arm joint
    max_distractors: int = 3
    max_lights: int = 3
    shadows: float = 0.0  # probability that an episode is rendered with shadows (about 10x a CPU frame)
    reflections: float = 0.0  # probability that an episode is rendered with reflections


def _rgb(rng: np.random.Generator, lo: float = 0.1, hi: float = 0.9) -> list[float]:
    return [round(float(x), 4) for x in rng.uniform(lo, hi, 3)]


def _jitter(rng: np.random.Generator, scale: float, n: int = 1) -> list[float]:
    return [round(float(x), 5) for x in rng.uniform(-scale, scale, n)]


def sample_scene(
    rng: np.random.Generator, ranges: RandomizationRanges, cameras: dict[str, dict[str, Any]], n_arm_joints: int
) -> dict[str, Any]:
    """Visual, physical and robot randomization of one episode (task values come from the task)."""
    lv = ranges.level
    top = TABLE_HEIGHT + _jitter(rng, ranges.table_height * lv)[0]
    n_lights = int(rng.integers(1, ranges.max_lights + 1)) if lv > 0 else 1
    lights = []
    for _ in range(n_lights):
        pos = (
            [float(rng.uniform(-1.0, 1.5)), float(rng.uniform(-1.5, 1.5)), float(rng.uniform(2.0, 3.0))]
            if lv > 0
            else [0.5, 0.0, 2.5]
        )
        intensity = float(rng.uniform(0.3, 0.9)) if lv > 0 else 0.7
        tint = _rgb(rng, 0.8, 1.0) if lv > 0 else [1.0, 1.0, 1.0]
        lights.append({"pos": [round(p, 4) for p in pos], "diffuse": [round(intensity * t, 4) for t in tint]})
    cams = {}
    for name, nominal in cameras.items():
        cams[name] = {
            "pos": [round(p + d, 5) for p, d in zip(nominal["pos"], _jitter(rng, ranges.camera_pos * lv, 3))],
            "lookat": [round(p + d, 5) for p, d in zip(nominal["lookat"], _jitter(rng, ranges.camera_lookat * lv, 3))],
            "fovy": round(nominal["fovy"] + _jitter(rng, ranges.camera_fovy * lv)[0], 4),
        }
    textures = ("checker", "gradient", "flat")
    return {
        "table": {
            "top": round(top, 5),
            "texture": textures[int(rng.integers(3))] if lv > 0 else "flat",
            "rgb1": _rgb(rng, 0.3, 0.9) if lv > 0 else [0.6, 0.5, 0.4],
            "rgb2": _rgb(rng, 0.2, 0.8) if lv > 0 else [0.5, 0.4, 0.3],
        },
        "floor": {"texture": "checker" if lv > 0 else "flat", "rgb1": _rgb(rng, 0.1, 0.6), "rgb2": _rgb(rng, 0.1, 0.6)},
        "lights": lights,
        "cameras": cams,
        "physics": {
            "friction_scale": round(1 + _jitter(rng, ranges.friction * lv)[0], 5),
            "mass_scale": round(1 + _jitter(rng, ranges.mass * lv)[0], 5),
            "damping_scale": round(1 + _jitter(rng, ranges.damping * lv)[0], 5),
            "size_scale": round(1 + _jitter(rng, ranges.size * lv)[0], 5),
        },
        "robot": {"qpos_noise": _jitter(rng, ranges.robot_qpos * lv, n_arm_joints)},
        "n_distractors": int(rng.integers(0, ranges.max_distractors + 1)) if lv > 0 else 0,
    }


def sample_effects(rng: np.random.Generator, ranges: RandomizationRanges) -> dict[str, bool]:
    """Costly lighting effects of one episode, drawn with the ranges' probabilities (a generator's
    own settings can still turn them on for every episode)."""
    return {"shadows": bool(rng.random() < ranges.shadows), "reflections": bool(rng.random() < ranges.reflections)}


def sample_distractors(
    rng: np.random.Generator,
    n: int,
    keep_out: list[tuple[float, float, float]],
    region: tuple[tuple[float, float], tuple[float, float]],
) -> list[dict[str, Any]]:
    """``n`` small objects on the table, at least their radius + ``r`` away from each ``(x, y, r)``
    in ``keep_out`` (task objects and targets)."""
    out: list[dict[str, Any]] = []
    for _ in range(n):
        for _attempt in range(50):
            x, y = float(rng.uniform(*region[0])), float(rng.uniform(*region[1]))
            size = float(rng.uniform(0.012, 0.022))
            if all((x - kx) ** 2 + (y - ky) ** 2 > (kr + size + 0.02) ** 2 for kx, ky, kr in keep_out):
                shape = "box" if rng.random() < 0.5 else "cylinder"
                out.append(
                    {
                        "pos": [round(x, 5), round(y, 5)],
                        "size": round(size, 5),
                        "shape": shape,
                        "rgba": _rgb(rng) + [1.0],
                        "yaw": round(float(rng.uniform(-np.pi, np.pi)), 5),
                    }
                )
                keep_out = [*keep_out, (x, y, size)]
                break
    return out
