"""Applying one episode's randomization to a compiled scene, without recompiling.

A generator compiles its scene once per worker (:class:`SceneTemplate`, from canonical
parameters that hold every light and distractor slot) and, per episode, writes the episode's
values into the compiled ``mujoco.MjModel``: table height and textures, lights, camera poses,
the robot's base height and joint damping, distractors, and each task's objects
(:meth:`datapipe.generators.tasks.base.SimTask.apply`). Every call writes the same set of fields from the
episode's parameters alone, so an episode does not depend on what the worker simulated before:
the same seed gives a bit-identical episode. Derived quantities (bounding radii and boxes,
inertias, ``mj_setConst``'s constants) are recomputed from the written values.

Frames and units as in :mod:`datapipe.generators.scene`: world z up, metres, quaternions (w, x, y, z).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import mujoco
import numpy as np

from datapipe.generators.scene import ROBOT_PREFIX, look_at_quat


@dataclass
class SceneTemplate:
    """A compiled scene and its nominal values that episodes scale."""

    model: mujoco.MjModel
    nominal: mujoco.MjModel  # an untouched copy of the compiled model
    arm_dofs: np.ndarray  # dof addresses of the arm joints
    nominal_damping: np.ndarray  # arm joint damping at damping_scale 1
    robot_root: int  # the robot's root body
    robot_base: np.ndarray  # its position with the table top at z = 0
    n_lights: int
    n_distractors: int
    textures_version: int = 0  # bumped whenever texture pixels change (renderers re-upload)


def yaw_quat(yaw: float) -> np.ndarray:
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def set_free_body(model: mujoco.MjModel, body: int, pos: list[float], quat: np.ndarray) -> None:
    """Initial pose of a free-floating body: its body frame and its free joint's ``qpos0``."""
    model.body_pos[body] = pos
    model.body_quat[body] = quat
    joint = model.body_jntadr[body]
    adr = model.jnt_qposadr[joint]
    model.qpos0[adr : adr + 3] = pos
    model.qpos0[adr + 3 : adr + 7] = quat


def set_geom_shape(model: mujoco.MjModel, geom: int, kind: mujoco.mjtGeom, size: list[float]) -> None:
    """Type and size of a box or cylinder geom, with its bounding radius and box."""
    model.geom_type[geom] = kind
    model.geom_size[geom] = size
    if kind == mujoco.mjtGeom.mjGEOM_BOX:
        half = np.asarray(size, dtype=np.float64)
        model.geom_rbound[geom] = float(np.linalg.norm(half))
    elif kind == mujoco.mjtGeom.mjGEOM_CYLINDER:
        half = np.array([size[0], size[0], size[1]], dtype=np.float64)
        model.geom_rbound[geom] = float(np.hypot(size[0], size[1]))
    else:
        raise ValueError(f"set_geom_shape: only boxes and cylinders, got {kind}")
    model.geom_aabb[geom] = [0.0, 0.0, 0.0, *half]


def set_body_inertia(model: mujoco.MjModel, body: int, kind: mujoco.mjtGeom, size: list[float], mass: float) -> None:
    """Mass (kg) and diagonal inertia (kg m^2) of a body made of one centred box (half sizes) or
    cylinder (radius, half height)."""
    if kind == mujoco.mjtGeom.mjGEOM_BOX:
        x, y, z = (2 * s for s in size)
        inertia = [mass * (y * y + z * z) / 12, mass * (x * x + z * z) / 12, mass * (x * x + y * y) / 12]
    else:
        r, h = size[0], 2 * size[1]
        side = mass * (3 * r * r + h * h) / 12
        inertia = [side, side, mass * r * r / 2]
    model.body_mass[body] = mass
    model.body_inertia[body] = inertia
    model.body_ipos[body] = 0.0
    model.body_iquat[body] = [1.0, 0.0, 0.0, 0.0]


def set_box_object(
    model: mujoco.MjModel,
    name: str,
    pos: list[float],
    yaw: float,
    half: list[float],
    rgba: list[float],
    mass: float,
    friction: float,
) -> None:
    """The values :func:`datapipe.generators.scene.add_box_object` gave body ``name`` and its geom."""
    body = model.body(name).id
    geom = model.geom(f"{name}_geom").id
    set_free_body(model, body, pos, yaw_quat(yaw))
    set_geom_shape(model, geom, mujoco.mjtGeom.mjGEOM_BOX, half)
    set_body_inertia(model, body, mujoco.mjtGeom.mjGEOM_BOX, half, mass)
    model.geom_rgba[geom] = rgba
    model.geom_friction[geom] = [friction, 0.01, 0.001]


def texture_pixels(kind: str, rgb1: list[float], rgb2: list[float], height: int, width: int) -> np.ndarray:
    """``(height, width, 3)`` uint8 texture: a 2x2 checker, a vertical gradient from ``rgb1`` to
    ``rgb2``, flat ``rgb1``, or (held out for evaluation under visual shift, see
    :mod:`datapipe.generators.shift`) 8 horizontal ``stripes`` or 8 ``diagonal`` bands."""
    c1, c2 = np.asarray(rgb1, dtype=np.float64), np.asarray(rgb2, dtype=np.float64)
    if kind == "checker":
        rows = (np.arange(height) < height / 2)[:, None]
        cols = (np.arange(width) < width / 2)[None, :]
        mask = (rows == cols)[..., None]
        img = np.where(mask, c1, c2)
    elif kind == "gradient":
        s = (np.arange(height) / max(height - 1, 1))[:, None, None]
        img = np.broadcast_to(c1 * (1 - s) + c2 * s, (height, width, 3))
    elif kind == "flat":
        img = np.broadcast_to(c1, (height, width, 3))
    elif kind in ("stripes", "diagonal"):
        rows, cols = np.mgrid[0:height, 0:width]
        phase = rows / height if kind == "stripes" else (rows / height + cols / width) / 2
        img = np.where(((phase * 8).astype(int) % 2 == 0)[..., None], c1, c2)
    else:
        raise ValueError(f"unknown texture kind {kind!r} (checker, gradient, flat, stripes, diagonal)")
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def set_texture(model: mujoco.MjModel, name: str, spec: dict[str, Any]) -> None:
    tex = model.texture(name).id
    h, w, c = model.tex_height[tex], model.tex_width[tex], model.tex_nchannel[tex]
    pixels = texture_pixels(spec["texture"], spec["rgb1"], spec["rgb2"], h, w)
    adr = model.tex_adr[tex]
    model.tex_data[adr : adr + h * w * c] = pixels[..., :c].reshape(-1)


def apply_scene(template: SceneTemplate, params: dict[str, Any], task: Any) -> mujoco.MjModel:
    """Write ``params`` (one episode's randomization) into the template's model; returns the model."""
    model = template.model
    top = float(params["table"]["top"])
    table = model.geom("table").id
    set_geom_shape(model, table, mujoco.mjtGeom.mjGEOM_BOX, [0.55, 0.6, top / 2])
    model.geom_pos[table] = [0.45, 0.0, top / 2]
    set_texture(model, "table_tex", params["table"])
    set_texture(model, "floor_tex", params["floor"])
    template.textures_version += 1
    lights = params["lights"]
    if len(lights) > template.n_lights:
        raise ValueError(f"{len(lights)} lights but the scene has {template.n_lights} light slots")
    for i in range(template.n_lights):
        light = model.light(f"light{i}").id
        on = i < len(lights)
        model.light_active[light] = on
        if on:
            pos = np.asarray(lights[i]["pos"], dtype=np.float64)
            direction = np.array([0.5 - pos[0], -pos[1], -1.0])
            model.light_pos[light] = pos
            model.light_dir[light] = direction / np.linalg.norm(direction)
            model.light_diffuse[light] = lights[i]["diffuse"]
    for name, cam in params["cameras"].items():
        camera = model.camera(name).id
        pos = np.array(cam["pos"], dtype=np.float64) + [0, 0, top]
        lookat = np.array(cam["lookat"], dtype=np.float64) + [0, 0, top]
        model.cam_pos[camera] = pos
        model.cam_quat[camera] = look_at_quat(pos, lookat)
        model.cam_fovy[camera] = cam["fovy"]
    model.body_pos[template.robot_root] = template.robot_base + [0, 0, top]
    model.dof_damping[template.arm_dofs] = template.nominal_damping * params["physics"]["damping_scale"]
    _apply_distractors(model, params.get("distractors", []), template.n_distractors, top)
    task.apply(model, params, template.nominal)
    return model


def _apply_distractors(model: mujoco.MjModel, distractors: list[dict[str, Any]], slots: int, top: float) -> None:
    if len(distractors) > slots:
        raise ValueError(f"{len(distractors)} distractors but the scene has {slots} slots")
    for i in range(slots):
        active = i < len(distractors)
        d = distractors[i] if active else {"pos": [-1.0, 1.0 + 0.1 * i], "size": 0.01, "shape": "box", "yaw": 0.0}
        body = model.body(f"distractor{i}").id
        geom = model.body_geomadr[body]
        box = d["shape"] == "box"
        kind = mujoco.mjtGeom.mjGEOM_BOX if box else mujoco.mjtGeom.mjGEOM_CYLINDER
        size = [d["size"]] * 3 if box else [d["size"], d["size"], 0.0]
        set_free_body(model, body, [d["pos"][0], d["pos"][1], top + d["size"]], yaw_quat(d["yaw"]))
        set_geom_shape(model, geom, kind, size)
        set_body_inertia(model, body, kind, size, 0.05)
        model.geom_rgba[geom] = d["rgba"] if active else [0, 0, 0, 0]
        model.geom_contype[geom] = model.geom_conaffinity[geom] = int(active)
        model.body_gravcomp[body] = 0.0 if active else 1.0


def make_template(model: mujoco.MjModel, robot: Any, n_lights: int, n_distractors: int, top: float) -> SceneTemplate:
    """The :class:`SceneTemplate` of a scene compiled with table top ``top`` and damping scale 1."""
    dofs = np.array([model.jnt_dofadr[model.joint(ROBOT_PREFIX + j).id] for j in robot.arm_joints])
    root = model.joint(ROBOT_PREFIX + robot.arm_joints[0]).id
    body = int(model.jnt_bodyid[root])
    while model.body_parentid[body] != 0:  # up to the body attached to the world
        body = int(model.body_parentid[body])
    return SceneTemplate(
        model=model,
        nominal=copy.copy(model),
        arm_dofs=dofs,
        nominal_damping=model.dof_damping[dofs].copy(),
        robot_root=body,
        robot_base=model.body_pos[body] - [0, 0, top],
        n_lights=n_lights,
        n_distractors=n_distractors,
    )
