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


_GL_RENDERER: str | None = None


def gl_renderer() -> str:
    """The OpenGL renderer string of this process's off-screen backend (for example
    ``llvmpipe (LLVM 19.1.7, 256 bits)`` for Mesa's CPU renderer); "unknown" when it cannot be read."""
    global _GL_RENDERER
    if _GL_RENDERER is None:
        try:
            from mujoco import gl_context
            from OpenGL import GL

            ctx = gl_context.GLContext(8, 8)
            ctx.make_current()
            try:
                _GL_RENDERER = GL.glGetString(GL.GL_RENDERER).decode()
            finally:
                ctx.free()
        except Exception:
            _GL_RENDERER = "unknown"
    return _GL_RENDERER


def software_rendering() -> bool:
    """Whether frames are drawn by a CPU rasterizer (llvmpipe, softpipe, swrast) or the backend is
    unknown: then datasets render level-of-detail meshes (:mod:`datapipe.generators.lod`)."""
    name = gl_renderer().lower()
    return name == "unknown" or any(cpu in name for cpu in ("llvmpipe", "softpipe", "swrast", "software"))


class SceneRenderer:
    """One off-screen renderer for a model that episodes edit in place (see
    :mod:`datapipe.generators.scene_edit`), reused across episodes: textures are uploaded again when their
    pixels changed (``textures_version``). An EGL context belongs to the thread that made it, so
    a call from another thread gets a renderer of its own."""

    def __init__(self, model: mujoco.MjModel, size: tuple[int, int], quality: RenderQuality):
        self.model, self.size, self.quality = model, size, quality
        self._renderer: mujoco.Renderer | None = None
        self._thread: int | None = None
        self._uploaded = -1

    def _current(self, textures_version: int) -> mujoco.Renderer:
        import threading

        if self._renderer is None or self._thread != threading.get_ident():
            self.close()
            samples = self.model.vis.quality.offsamples
            self.model.vis.quality.offsamples = MULTISAMPLES if self.quality.antialias else 0
            try:
                self._renderer = mujoco.Renderer(self.model, *self.size)
            finally:
                self.model.vis.quality.offsamples = samples
            self._thread, self._uploaded = threading.get_ident(), textures_version
        elif self._uploaded != textures_version:
            context = self._renderer._mjr_context
            self._renderer._gl_context.make_current()
            for tex in range(self.model.ntex):
                mujoco.mjr_uploadTexture(self.model, context, tex)
            self._uploaded = textures_version
        return self._renderer

    def render(
        self,
        qpos: np.ndarray,
        qvel: np.ndarray,
        cameras: list[str],
        textures_version: int = 0,
        effects: RenderQuality | None = None,
    ) -> dict[str, np.ndarray]:
        """RGB frames ``(T, height, width, 3)`` uint8 per camera for the states ``qpos`` (T, nq);
        ``effects`` overrides shadows and reflections for this call (an episode's own)."""
        effects = effects or self.quality
        renderer = self._current(textures_version)
        h, w = self.size
        data = mujoco.MjData(self.model)
        frames = {c: np.empty((len(qpos), h, w, 3), dtype=np.uint8) for c in cameras}
        for t in range(len(qpos)):
            data.qpos[:] = qpos[t]
            data.qvel[:] = qvel[t]
            mujoco.mj_forward(self.model, data)
            for cam in cameras:
                renderer.update_scene(data, camera=cam)
                renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = effects.shadows
                renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = effects.reflections
                renderer.render(out=frames[cam][t])
        return frames

    def render_live(
        self, data: mujoco.MjData, camera: str, textures_version: int = 0, effects: RenderQuality | None = None
    ) -> np.ndarray:
        """One RGB frame ``(height, width, 3)`` uint8 of a running simulation's ``data`` (already
        forward-computed: no copy, no ``mj_forward``), as a live view needs."""
        effects = effects or self.quality
        renderer = self._current(textures_version)
        renderer.update_scene(data, camera=camera)
        renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = effects.shadows
        renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = effects.reflections
        return renderer.render()

    def segment(self, qpos: np.ndarray, cameras: list[str], textures_version: int = 0) -> dict[str, np.ndarray]:
        """Geom ids ``(T, height, width)`` int32 per camera (-1 where no geom is seen) for the
        states ``qpos`` (T, nq)."""
        renderer = self._current(textures_version)
        h, w = self.size
        data = mujoco.MjData(self.model)
        out = {c: np.full((len(qpos), h, w), -1, dtype=np.int32) for c in cameras}
        renderer.enable_segmentation_rendering()
        try:
            for t in range(len(qpos)):
                data.qpos[:] = qpos[t]
                mujoco.mj_forward(self.model, data)
                for cam in cameras:
                    renderer.update_scene(data, camera=cam)
                    seg = renderer.render()
                    geom = seg[..., 1] == mujoco.mjtObj.mjOBJ_GEOM
                    out[cam][t][geom] = seg[..., 0][geom]
        finally:
            renderer.disable_segmentation_rendering()
        return out

    def close(self) -> None:
        if self._renderer is not None:
            try:
                self._renderer.close()
            except Exception:
                pass  # a context of another thread may not be freed from here
            self._renderer = None
