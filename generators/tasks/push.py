"""``push``: push a block across the table into a goal region, without grasping it.

The expert closes the gripper, lowers it behind the block (opposite the goal) and pushes along
the line through the block's centre to the goal, re-planning from where the block ended up if it
is not in the region yet. Success: the block's centre is within the goal radius and it rests on
the table.
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
    Phase,
    Segment,
    SimTask,
    Waypoint,
    box_args,
    pick_colours,
    sample_xy,
    set_marker,
)

BLOCK = "puck"
GOAL_RADIUS = 0.05  # m


class Push(SimTask):
    name = "push"
    templates = (
        "push the {colour} block into the {goal} region",
        "slide the {colour} cube to the {goal} area",
        "push the {colour} block onto the {goal} mark",
        "nudge the {colour} block over to the {goal} circle",
    )
    segments = (Segment("approach", f"object:{BLOCK}"), Segment("push", "target:goal"))
    region = ((0.42, 0.6), (-0.15, 0.15))

    def sample(self, rng: np.random.Generator, params: dict[str, Any]) -> dict[str, Any]:
        scale = params["physics"]["size_scale"]
        block_xy = sample_xy(rng, self.region, [], 0)
        for _ in range(200):
            angle, dist = float(rng.uniform(-np.pi, np.pi)), float(rng.uniform(0.1, 0.16))
            goal = [block_xy[0] + dist * np.cos(angle), block_xy[1] + dist * np.sin(angle)]
            if 0.36 <= goal[0] <= 0.66 and -0.22 <= goal[1] <= 0.22:
                break
        colour, goal_colour = pick_colours(rng, 2)
        return {
            "block": {
                "xy": block_xy,
                "yaw": round(float(rng.uniform(-np.pi, np.pi)), 5),
                "half": round(0.025 * scale, 5),
                "colour": colour,
                "mass": round(0.15 * params["physics"]["mass_scale"], 5),
            },
            "goal": {"xy": [round(goal[0], 5), round(goal[1], 5)], "radius": GOAL_RADIUS, "colour": goal_colour},
            "instruction": self.instruction(rng, self.templates_for(params), colour=colour, goal=goal_colour),
        }

    def build(self, spec: mujoco.MjSpec, params: dict[str, Any]) -> None:
        tp, top = params["task"], params["table"]["top"]
        b = tp["block"]
        add_box_object(spec, *box_args(BLOCK, b, top, 0.5 * params["physics"]["friction_scale"]))
        g = tp["goal"]
        spec.worldbody.add_geom(
            name="goal",
            type=mujoco.mjtGeom.mjGEOM_CYLINDER,
            size=[g["radius"], 0.0008, 0],
            pos=[g["xy"][0], g["xy"][1], top + 0.0008],
            rgba=COLOURS[g["colour"]][:3] + [0.6],
            contype=0,
            conaffinity=0,
        )

    def apply(self, model: mujoco.MjModel, params: dict[str, Any], nominal: mujoco.MjModel) -> None:
        tp, top = params["task"], params["table"]["top"]
        b = tp["block"]
        set_box_object(model, *box_args(BLOCK, b, top, 0.5 * params["physics"]["friction_scale"]))
        set_marker(model, "goal", tp["goal"], top)

    def objects(self, params: dict[str, Any]) -> tuple[str, ...]:
        return (BLOCK,)

    def keep_out(self, params: dict[str, Any]) -> list[tuple[float, float, float]]:
        tp = params["task"]
        b, g = np.array(tp["block"]["xy"]), np.array(tp["goal"]["xy"])
        mid = (b + g) / 2
        return [(*b, 0.1), (*g, GOAL_RADIUS + 0.03), (*mid, float(np.linalg.norm(g - b) / 2 + 0.03))]

    def frame_pose(self, sim: Sim, params: dict[str, Any], frame: str) -> tuple[np.ndarray, np.ndarray]:
        if frame == "target:goal":
            g = params["task"]["goal"]
            return np.array([g["xy"][0], g["xy"][1], params["table"]["top"]]), np.array([1.0, 0, 0, 0])
        return super().frame_pose(sim, params, frame)

    def plan(self, sim: Sim, params: dict[str, Any]) -> list[Phase]:
        tp, top = params["task"], params["table"]["top"]
        half = tp["block"]["half"]
        pos, _ = sim.body_pose(BLOCK)
        goal = np.array(tp["goal"]["xy"])
        d = goal - pos[:2]
        dist = float(np.linalg.norm(d))
        d = d / max(dist, 1e-6)
        yaw = float(np.arctan2(d[1], d[0]))  # fingers across the push direction
        down = top_down_quat(yaw)
        z = top + 0.022
        start = pos[:2] - d * (half * 1.5 + 0.03)
        end = goal - d * (half * 1.5 + 0.012)
        approach = [
            Waypoint(np.array([start[0], start[1], z + 0.1]), down, CLOSED, 30, 0, "approach", f"object:{BLOCK}"),
            Waypoint(np.array([start[0], start[1], z]), down, CLOSED, 20, 2, "approach", f"object:{BLOCK}"),
        ]
        n = max(20, int(np.linalg.norm(end - start) / 0.004))  # about 8 cm/s
        push = [
            Waypoint(np.array([end[0], end[1], z]), down, CLOSED, n, 5, "push", "target:goal"),
            Waypoint(np.array([end[0], end[1], z + 0.1]), down, CLOSED, 15, 0, "push", "target:goal"),
        ]

        def arrived(s: Sim) -> bool:
            return bool(np.linalg.norm(s.body_pose(BLOCK)[0][:2] - goal) < 0.6 * GOAL_RADIUS)

        return [Phase("approach", approach), Phase("push", push, arrived)]

    def success(self, sim: Sim, params: dict[str, Any]) -> bool:
        tp, top = params["task"], params["table"]["top"]
        pos, _ = sim.body_pose(BLOCK)
        inside = np.linalg.norm(pos[:2] - np.array(tp["goal"]["xy"])) < tp["goal"]["radius"]
        resting = abs(pos[2] - (top + tp["block"]["half"])) < 0.01
        return bool(inside and resting)
