"""``pick_place``: pick a block up and put it down inside a target zone on the table.

Success: the block rests on the table (its centre within 1.5 cm of its resting height) with its
centre within the zone's radius, and the gripper no longer holds it.
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np

from datapipe.generators.geometry import top_down_quat
from datapipe.generators.scene import add_box_object
from datapipe.generators.scene_edit import set_box_object
from datapipe.generators.sim import Sim
from datapipe.generators.tasks.base import (
    CLOSED,
    COLOURS,
    OPEN,
    Phase,
    Segment,
    SimTask,
    Waypoint,
    box_args,
    grasp_yaw,
    pick_colours,
    sample_xy,
    set_marker,
)

BLOCK = "block"
ZONE_RADIUS = 0.06  # m


class PickPlace(SimTask):
    name = "pick_place"
    templates = (
        "put the {colour} block in the {zone} zone",
        "pick up the {colour} block and place it on the {zone} circle",
        "move the {colour} cube into the {zone} area",
        "place the {colour} block on the {zone} target",
    )
    held_out_templates = (
        "transfer the {colour} brick onto the {zone} disc",
        "could you bring the {colour} box over to the {zone} spot",
        "relocate the {colour} piece to the {zone} mark",
    )
    segments = (Segment("grasp", f"object:{BLOCK}"), Segment("place", "target:zone"))

    def sample(self, rng: np.random.Generator, params: dict[str, Any]) -> dict[str, Any]:
        scale = params["physics"]["size_scale"]
        half = round(0.022 * scale, 5)
        block_xy = sample_xy(rng, self.region, [], 0)
        zone_xy = sample_xy(rng, self.region, [block_xy], 0.15)
        colour, zone_colour = pick_colours(rng, 2)
        return {
            "block": {
                "xy": block_xy,
                "yaw": round(float(rng.uniform(-np.pi, np.pi)), 5),
                "half": half,
                "colour": colour,
                "mass": round(0.08 * params["physics"]["mass_scale"], 5),
            },
            "zone": {"xy": zone_xy, "radius": ZONE_RADIUS, "colour": zone_colour},
            "instruction": self.instruction(rng, self.templates_for(params), colour=colour, zone=zone_colour),
        }

    def build(self, spec: mujoco.MjSpec, params: dict[str, Any]) -> None:
        tp, top = params["task"], params["table"]["top"]
        b = tp["block"]
        add_box_object(spec, *box_args(BLOCK, b, top, params["physics"]["friction_scale"]))
        add_zone(spec, tp["zone"], top)

    def apply(self, model: mujoco.MjModel, params: dict[str, Any], nominal: mujoco.MjModel) -> None:
        tp, top = params["task"], params["table"]["top"]
        b = tp["block"]
        set_box_object(model, *box_args(BLOCK, b, top, params["physics"]["friction_scale"]))
        set_marker(model, "zone", tp["zone"], top)

    def objects(self, params: dict[str, Any]) -> tuple[str, ...]:
        return (BLOCK,)

    def keep_out(self, params: dict[str, Any]) -> list[tuple[float, float, float]]:
        tp = params["task"]
        return [(*tp["block"]["xy"], 0.05), (*tp["zone"]["xy"], ZONE_RADIUS)]

    def frame_pose(self, sim: Sim, params: dict[str, Any], frame: str) -> tuple[np.ndarray, np.ndarray]:
        if frame == "target:zone":
            return zone_pose(params)
        return super().frame_pose(sim, params, frame)

    def plan(self, sim: Sim, params: dict[str, Any]) -> list[Phase]:
        tp = params["task"]
        return pick_and_place(sim, BLOCK, tp["block"]["half"], tp["zone"]["xy"], params["table"]["top"])

    def success(self, sim: Sim, params: dict[str, Any]) -> bool:
        tp, top = params["task"], params["table"]["top"]
        half = tp["block"]["half"]
        released = sim.gripper_width() > 2 * half + 0.01
        return placed_in_zone(sim, BLOCK, half, tp["zone"], top) and released


def pick_and_place(sim: Sim, body: str, half: float, zone_xy: list[float], top: float) -> list[Phase]:
    """The scripted plan that picks the box ``body`` (half size ``half``, m) from where it is now,
    top-down across its faces, and sets it down at ``zone_xy`` on the table top ``top`` (m):
    a grasp phase checked by "lifted 5 cm", then a place phase (segments ``grasp`` in the frame
    ``object:<body>`` and ``place`` in ``target:zone``)."""
    pos, quat = sim.body_pose(body)
    down = top_down_quat(grasp_yaw(quat))
    z_grasp = top + max(half, 0.026)
    above = 0.12
    obj = f"object:{body}"
    grasp = [
        Waypoint(np.array([pos[0], pos[1], z_grasp + above]), down, OPEN, 30, 0, "grasp", obj),
        Waypoint(np.array([pos[0], pos[1], z_grasp]), down, OPEN, 20, 2, "grasp", obj),
        Waypoint(np.array([pos[0], pos[1], z_grasp]), down, CLOSED, 1, 12, "grasp", obj),
        Waypoint(np.array([pos[0], pos[1], z_grasp + 0.15]), down, CLOSED, 20, 0, "grasp", obj),
    ]
    zx, zy = zone_xy
    place = [
        Waypoint(np.array([zx, zy, z_grasp + 0.15]), down, CLOSED, 30, 0, "place", "target:zone"),
        Waypoint(np.array([zx, zy, z_grasp + 0.008]), down, CLOSED, 20, 2, "place", "target:zone"),
        Waypoint(np.array([zx, zy, z_grasp + 0.008]), down, OPEN, 1, 10, "place", "target:zone"),
        Waypoint(np.array([zx, zy, z_grasp + 0.12]), down, OPEN, 15, 0, "place", "target:zone"),
    ]

    def lifted(s: Sim) -> bool:
        return bool(s.body_pose(body)[0][2] > top + half + 0.05)

    return [Phase("grasp", grasp, lifted), Phase("place", place)]


def placed_in_zone(sim: Sim, body: str, half: float, zone: dict[str, Any], top: float, resting: bool = True) -> bool:
    """The box ``body`` has its centre inside ``zone`` (``xy``, ``radius``, m) and, with
    ``resting``, rests on the table (centre within 1.5 cm of its resting height)."""
    pos, _ = sim.body_pose(body)
    rests = abs(pos[2] - (top + half)) < 0.015
    return bool((rests or not resting) and np.linalg.norm(pos[:2] - np.array(zone["xy"])) < zone["radius"])


def add_zone(spec: mujoco.MjSpec, zone: dict[str, Any], top: float) -> None:
    """The flat target disc ``zone`` (``xy``, ``radius`` in m, ``colour``) on the table top ``top``:
    seen, never touched (no contacts)."""
    spec.worldbody.add_geom(
        name="zone",
        type=mujoco.mjtGeom.mjGEOM_CYLINDER,
        size=[zone["radius"], 0.0008, 0],
        pos=[zone["xy"][0], zone["xy"][1], top + 0.0008],
        rgba=COLOURS[zone["colour"]][:3] + [0.6],
        contype=0,
        conaffinity=0,
    )


def zone_pose(params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """World pose of the ``target:zone`` frame: the zone's centre on the table, unrotated."""
    z = params["task"]["zone"]
    return np.array([z["xy"][0], z["xy"][1], params["table"]["top"]]), np.array([1.0, 0, 0, 0])
