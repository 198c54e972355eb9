"""Replaying the recorded simulator states of a foreign MJCF model (robosuite's raw
demonstrations): the recorder's XML with its asset paths moved onto a local copy of the assets,
each step's state set and forwarded, cameras rendered and a site's pose read.

robosuite stores each demonstration's model as XML (``model_file``) whose ``file=`` attributes
are absolute paths on the recorder's machine (``/Users/.../robosuite/models/assets/robots/...``)
and each step's state flattened as ``[time, qpos (nq), qvel (nv)]`` (``states``, ``(T, 1 + nq +
nv)``). :func:`remap_assets` points every path that passes through ``ASSET_MARKER`` at ``assets``
(a folder holding what robosuite's ``models/assets`` holds, such as the one in robosuite's wheel).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from datapipe.errors import DatapipeError
from datapipe.generators.render import RenderQuality, render_states

ASSET_MARKER = "robosuite/models/assets/"
_FILE_ATTR = re.compile(r'file="([^"]*)"')


class ReplayError(DatapipeError):
    """A recorded model that cannot be replayed here: names the file, camera or site."""


def remap_assets(xml: str, assets: str | Path, where: str = "model_file") -> str:
    """``xml`` with every ``file="...robosuite/models/assets/X"`` pointing at ``assets/X``; a path
    that is missing there raises :class:`ReplayError` naming it."""
    root = Path(assets)
    missing: list[str] = []

    def local(m: re.Match[str]) -> str:
        path = m.group(1)
        if ASSET_MARKER not in path:
            return m.group(0)
        target = root / path.split(ASSET_MARKER, 1)[1]
        if not target.is_file():
            missing.append(str(target))
        return f'file="{target.resolve()}"'

    out = _FILE_ATTR.sub(local, xml)
    if missing:
        raise ReplayError(f"{where}: {len(missing)} asset file(s) not under {root}, e.g. {missing[0]}")
    return out


@dataclass(frozen=True)
class Replayed:
    """What a replay gives: frames per model camera ``(T, H, W, 3)`` uint8 and the site's pose per
    step in the base body's frame (``(T, 7)``: position m, quaternion w x y z)."""

    frames: dict[str, np.ndarray]
    site_pose: np.ndarray


class StateReplay:
    """A recorded MJCF model (``xml`` after :func:`remap_assets`) to replay states in."""

    def __init__(self, xml: str, where: str = "model_file"):
        try:
            self.model = mujoco.MjModel.from_xml_string(xml)
        except ValueError as exc:
            raise ReplayError(f"{where}: MuJoCo cannot compile it: {exc}") from None
        self.where = where

    def split(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(qpos (T, nq), qvel (T, nv))`` of flattened ``[time, qpos, qvel]`` states."""
        nq, nv = self.model.nq, self.model.nv
        if states.ndim != 2 or states.shape[1] != 1 + nq + nv:
            raise ReplayError(
                f"{self.where}: states have shape {states.shape}; the model needs (T, {1 + nq + nv}) = [time, qpos "
                f"({nq}), qvel ({nv})]"
            )
        return states[:, 1 : 1 + nq], states[:, 1 + nq :]

    def _id(self, kind: mujoco.mjtObj, name: str, what: str) -> int:
        i = mujoco.mj_name2id(self.model, kind, name)
        if i < 0:
            n = {mujoco.mjtObj.mjOBJ_CAMERA: self.model.ncam, mujoco.mjtObj.mjOBJ_SITE: self.model.nsite}.get(kind, 0)
            names = [mujoco.mj_id2name(self.model, kind, j) for j in range(n)] if n else []
            raise ReplayError(f"{self.where}: no {what} {name!r}" + (f" (it has {', '.join(names)})" if names else ""))
        return i

    def replay(
        self,
        states: np.ndarray,
        cameras: list[str],
        size: tuple[int, int],
        site: str,
        base_body: str,
        quality: RenderQuality = RenderQuality(),
    ) -> Replayed:
        """Render the model's ``cameras`` at ``size`` (height, width) and read ``site``'s pose
        relative to ``base_body`` at every state."""
        qpos, qvel = self.split(np.asarray(states, np.float64))
        for cam in cameras:
            self._id(mujoco.mjtObj.mjOBJ_CAMERA, cam, "camera")
        sid = self._id(mujoco.mjtObj.mjOBJ_SITE, site, "site")
        bid = self._id(mujoco.mjtObj.mjOBJ_BODY, base_body, "body")
        data = mujoco.MjData(self.model)
        pose = np.zeros((len(qpos), 7))
        for t in range(len(qpos)):
            data.qpos[:] = qpos[t]
            mujoco.mj_kinematics(self.model, data)
            r_base = data.xmat[bid].reshape(3, 3)
            pose[t, :3] = r_base.T @ (data.site_xpos[sid] - data.xpos[bid])
            mujoco.mju_mat2Quat(pose[t, 3:], (r_base.T @ data.site_xmat[sid].reshape(3, 3)).reshape(-1))
        frames = render_states(self.model, qpos, qvel, list(cameras), size, quality) if cameras else {}
        return Replayed(frames, pose)
