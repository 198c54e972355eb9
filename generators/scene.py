"""Building a scene with ``mujoco.MjSpec``: floor, table, lights, cameras, the robot, task objects
and distractors, all from one randomization dict (see :mod:`datapipe.generators.randomization`).

World frame: z up, floor at z = 0, table top at ``params["table"]["top"]``; the robot base stands
on the table at ``(0, 0, top)`` (plus the robot config's ``base_pos``), facing +x, so task objects
sit at x of about 0.35 to 0.7 m.
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np

from datapipe.generators.geometry import quat_from_mat
from datapipe.generators.lod import reduce_visual_meshes
from datapipe.generators.robots.config import RobotConfig
from datapipe.generators.robots.registry import load_robot_spec

ROBOT_PREFIX = "robot/"
DEFAULT_CAMERAS = {
    "front": {"pos": [1.35, 0.0, 0.7], "lookat": [0.4, 0.0, 0.1], "fovy": 50.0},
    "side": {"pos": [0.5, -0.85, 0.45], "lookat": [0.5, 0.0, 0.0], "fovy": 55.0},
}  # positions relative to the table top centre line (z from the top)


def look_at_quat(pos: np.ndarray, target: np.ndarray) -> list[float]:
    """Camera quaternion looking from ``pos`` at ``target`` with world z up (MuJoCo cameras look
    along their -z axis, x to the right, y up)."""
    forward = np.asarray(target, float) - np.asarray(pos, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return quat_from_mat(np.stack([right, up, -forward], axis=1)).tolist()


def _texture_material(
    spec: mujoco.MjSpec, name: str, kind: str, rgb1: list[float], rgb2: list[float], repeat: float
) -> str:
    builtin = {
        "checker": mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
        "gradient": mujoco.mjtBuiltin.mjBUILTIN_GRADIENT,
    }.get(kind, mujoco.mjtBuiltin.mjBUILTIN_FLAT)  # other kinds' pixels are written per episode (scene_edit)
    spec.add_texture(
        name=f"{name}_tex",
        type=mujoco.mjtTexture.mjTEXTURE_2D,
        builtin=builtin,
        rgb1=rgb1,
        rgb2=rgb2,
        width=64,
        height=64,
    )
    mat = spec.add_material(name=f"{name}_mat", texrepeat=[repeat, repeat])
    mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = f"{name}_tex"
    return f"{name}_mat"


def add_box_object(
    spec: mujoco.MjSpec,
    name: str,
    pos: list[float],
    yaw: float,
    half: list[float],
    rgba: list[float],
    mass: float,
    friction: float,
) -> None:
    """A free-floating box body ``name`` (half sizes in m) resting at ``pos``."""
    body = spec.worldbody.add_body(name=name, pos=pos, quat=[np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)])
    body.add_freejoint(name=f"{name}_free")
    body.add_geom(
        name=f"{name}_geom",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=half,
        rgba=rgba,
        mass=mass,
        friction=[friction, 0.01, 0.001],
        condim=4,
        solref=[0.01, 1],
    )


def build_scene(robot: RobotConfig, params: dict[str, Any], task: Any, lod_reduction: float = 0.0) -> mujoco.MjSpec:
    """The scene spec for ``params`` (randomization dict with the task's values under ``task``);
    the robot's visual meshes reduced by ``lod_reduction`` (see :mod:`datapipe.generators.lod`)."""
    spec = mujoco.MjSpec()
    spec.modelname = f"datapipe_{task.name}"
    spec.compiler.degree = False
    spec.option.timestep = 0.002
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = 10.0
    spec.visual.global_.offwidth, spec.visual.global_.offheight = 640, 640
    spec.visual.headlight.ambient = [0.25, 0.25, 0.25]
    top = float(params["table"]["top"])
    world = spec.worldbody
    floor_mat = _texture_material(
        spec, "floor", params["floor"]["texture"], params["floor"]["rgb1"], params["floor"]["rgb2"], 4
    )
    # a plane is drawn as a grid of size[2] spacing: 1 m keeps it to 36 quads (0.1 m: 3600, a quarter
    # of a CPU-rendered frame)
    world.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[3, 3, 1.0], material=floor_mat)
    t = params["table"]
    table_mat = _texture_material(spec, "table", t["texture"], t["rgb1"], t["rgb2"], 3)
    world.add_geom(
        name="table",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[0.55, 0.6, top / 2],
        pos=[0.45, 0.0, top / 2],
        material=table_mat,
        friction=[1.0, 0.01, 0.001],
    )
    for i, light in enumerate(params["lights"]):
        world.add_light(
            name=f"light{i}",
            pos=light["pos"],
            dir=[0.5 - light["pos"][0], -light["pos"][1], -1.0],
            diffuse=light["diffuse"],
            castshadow=i == 0,
        )
    for name, cam in params["cameras"].items():
        pos = np.array(cam["pos"]) + [0, 0, top]
        lookat = np.array(cam["lookat"]) + [0, 0, top]
        world.add_camera(name=name, pos=pos.tolist(), quat=look_at_quat(pos, lookat), fovy=cam["fovy"])
    robot_spec = load_robot_spec(robot)
    if lod_reduction > 0:
        reduce_visual_meshes(robot_spec, lod_reduction)
    frame = world.add_frame(pos=[robot.base_pos[0], robot.base_pos[1], robot.base_pos[2] + top])
    spec.attach(robot_spec, prefix=ROBOT_PREFIX, frame=frame)
    phys = params["physics"]
    for joint in robot.arm_joints:
        j = spec.joint(ROBOT_PREFIX + joint)
        j.damping = np.asarray(j.damping, dtype=float) * phys["damping_scale"]
    task.build(spec, params)
    distractors = params.get("distractors", [])
    for i in range(max(len(distractors), int(params.get("distractor_slots", 0)))):
        # Every slot gets a body, so all episodes of a setting have the same qpos size; unused slots
        # are parked: invisible, weightless, colliding with nothing.
        active = i < len(distractors)
        d = (
            distractors[i]
            if active
            else {"pos": [-1.0, 1.0 + 0.1 * i], "size": 0.01, "shape": "box", "rgba": [0, 0, 0, 0], "yaw": 0.0}
        )
        body = world.add_body(
            name=f"distractor{i}",
            pos=[d["pos"][0], d["pos"][1], top + d["size"]],
            quat=[np.cos(d["yaw"] / 2), 0, 0, np.sin(d["yaw"] / 2)],
        )
        body.add_freejoint()
        if not active:
            body.gravcomp = 1.0
        kind = mujoco.mjtGeom.mjGEOM_BOX if d["shape"] == "box" else mujoco.mjtGeom.mjGEOM_CYLINDER
        size = [d["size"]] * 3 if d["shape"] == "box" else [d["size"], d["size"], 0]
        body.add_geom(type=kind, size=size, rgba=d["rgba"], mass=0.05, contype=int(active), conaffinity=int(active))
    return spec
