"""Rendering kept episodes after simulation: set each recorded state, render each camera.

Rendering is off-screen on the CPU through EGL (``MUJOCO_GL=egl``, set here unless the caller
chose another backend) and is the expensive part, so it runs only for episodes that are kept.
"""

from __future__ import annotations

import os

import mujoco
import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")


def render_states(
    model: mujoco.MjModel, qpos: np.ndarray, qvel: np.ndarray, cameras: list[str], size: tuple[int, int]
) -> dict[str, np.ndarray]:
    """RGB frames ``(T, height, width, 3)`` uint8 per camera for the recorded states ``qpos`` (T, nq)."""
    h, w = size
    data = mujoco.MjData(model)
    frames = {c: np.empty((len(qpos), h, w, 3), dtype=np.uint8) for c in cameras}
    with mujoco.Renderer(model, h, w) as renderer:
        for t in range(len(qpos)):
            data.qpos[:] = qpos[t]
            data.qvel[:] = qvel[t]
            mujoco.mj_forward(model, data)
            for cam in cameras:
                renderer.update_scene(data, camera=cam)
                frames[cam][t] = renderer.render()
    return frames
