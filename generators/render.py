"""Rendering kept episodes after simulation: set each recorded state, render each camera.

Rendering is off-screen on the CPU through EGL (``MUJOCO_GL=egl``, set here unless the caller
chose another backend) and is the expensive part, so it runs only for episodes that are kept.

On the CPU (Mesa's llvmpipe) shadows, reflections and multisample anti-aliasing cost about 30x
(a 128x128 frame of pick_place: 53 ms with them, 1.8 ms without), so they are off unless asked for
(:class:`RenderQuality`); and each process's llvmpipe uses one thread (``LP_NUM_THREADS=1``, set
here unless the caller chose), as several workers share the cores.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import mujoco
import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("LP_NUM_THREADS", "1")

MULTISAMPLES = 4  # offscreen samples with anti-aliasing


@dataclass(frozen=True)
class RenderQuality:
    """The costly lighting effects, off by default (each recorded in an episode's meta)."""

    shadows: bool = False
    reflections: bool = False
    antialias: bool = False

    def as_meta(self) -> dict[str, Any]:
        return asdict(self)


def render_states(
    model: mujoco.MjModel,
    qpos: np.ndarray,
    qvel: np.ndarray,
    cameras: list[str],
    size: tuple[int, int],
    quality: RenderQuality = RenderQuality(),
) -> dict[str, np.ndarray]:
    """RGB frames ``(T, height, width, 3)`` uint8 per camera for the recorded states ``qpos`` (T, nq)."""
    h, w = size
    data = mujoco.MjData(model)
    frames = {c: np.empty((len(qpos), h, w, 3), dtype=np.uint8) for c in cameras}
    samples = model.vis.quality.offsamples
    model.vis.quality.offsamples = MULTISAMPLES if quality.antialias else 0
    try:
        with mujoco.Renderer(model, h, w) as renderer:
            for t in range(len(qpos)):
                data.qpos[:] = qpos[t]
                data.qvel[:] = qvel[t]
                mujoco.mj_forward(model, data)
                for cam in cameras:
                    renderer.update_scene(data, camera=cam)
                    renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = quality.shadows
                    renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = quality.reflections
                    frames[cam][t] = renderer.render()
    finally:
        model.vis.quality.offsamples = samples
    return frames
