"""New views of simulated episodes: camera poses and visual-only changes drawn around an
episode's stored randomization, and per-pixel segmentation classes.

A simulated episode stores every randomized value (``meta.randomization``) and its per-step
``sim.qpos``, so it can be rendered again exactly: the same values give the same frames, and
changed cameras or visuals (table and floor textures and colours, lights, distractor colours;
never the geometry, the task objects' colours or what the instruction names) give a new view
of the same motion.

Segmentation classes (:data:`SEGMENT_CLASSES`): the robot, task objects and markers, the table,
distractors, and the background (floor, sky).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import mujoco
import numpy as np

from datapipe.augment.backgrounds import SEGMENT_CLASSES
from datapipe.generators.randomization import RandomizationRanges, sample_scene
from datapipe.generators.scene import ROBOT_PREFIX


@dataclass(frozen=True)
class ViewRanges:
    """Half-widths of the uniform changes around the stored camera pose, and whether visuals are
    drawn again."""

    camera_pos: float = 0.05  # m per axis
    camera_lookat: float = 0.03  # m per axis
    camera_fovy: float = 5.0  # deg
    visuals: bool = True


def sample_view(rng: np.random.Generator, params: dict[str, Any], ranges: ViewRanges) -> dict[str, Any]:
    """A copy of an episode's randomization with new camera poses and (``ranges.visuals``) new
    table and floor textures, lights and distractor colours."""
    out = copy.deepcopy(params)
    for cam in out["cameras"].values():
        cam["pos"] = [round(p + float(d), 5) for p, d in zip(cam["pos"], rng.uniform(-1, 1, 3) * ranges.camera_pos)]
        cam["lookat"] = [
            round(p + float(d), 5) for p, d in zip(cam["lookat"], rng.uniform(-1, 1, 3) * ranges.camera_lookat)
        ]
        cam["fovy"] = round(cam["fovy"] + float(rng.uniform(-1, 1)) * ranges.camera_fovy, 4)
    if ranges.visuals:
        fresh = sample_scene(rng, RandomizationRanges(max_lights=len(params["lights"]) or 1), {}, 0)
        top = out["table"]["top"]
        out["table"] = {**fresh["table"], "top": top}
        out["floor"] = fresh["floor"]
        out["lights"] = fresh["lights"][: max(1, len(params["lights"]))]
        for d in out.get("distractors", []):
            d["rgba"] = [round(float(x), 4) for x in rng.uniform(0.1, 0.9, 3)] + [1.0]
    return out


def geom_classes(model: mujoco.MjModel, objects: tuple[str, ...]) -> np.ndarray:
    """``(ngeom,)`` uint8 class of every geom of a scene (see :data:`SEGMENT_CLASSES`)."""
    object_bodies = {model.body(n).id for n in objects}
    out = np.zeros(model.ngeom, dtype=np.uint8)
    for g in range(model.ngeom):
        body = int(model.geom_bodyid[g])
        name = model.body(body).name
        chain = body
        while chain > 0 and chain not in object_bodies:
            chain = int(model.body_parentid[chain])
        if name.startswith(ROBOT_PREFIX):
            out[g] = SEGMENT_CLASSES["robot"]
        elif chain in object_bodies:
            out[g] = SEGMENT_CLASSES["object"]
        elif name.startswith("distractor"):
            out[g] = SEGMENT_CLASSES["distractor"]
        elif model.geom(g).name == "table":
            out[g] = SEGMENT_CLASSES["table"]
        elif body == 0 and model.geom(g).name != "floor":
            out[g] = SEGMENT_CLASSES["object"]  # task markers on the table (zones, goals)
    return out


def classes_of(geom_ids: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Class masks (uint8, same shape) of rendered geom ids (-1: background)."""
    out = np.zeros(geom_ids.shape, dtype=np.uint8)
    seen = geom_ids >= 0
    out[seen] = classes[geom_ids[seen]]
    return out
