"""``stack``: put one block on top of another.

Success: the top block rests on the bottom block (centres within 60% of the bottom block's half
size in x and y, heights within 1.5 cm of stacked), the bottom block rests on the table, and the
gripper no longer holds the top block.
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
    OPEN,
    Phase,
    Segment,
    SimTask,
    Waypoint,
    box_args,
    grasp_yaw,
    pick_colours,
    sample_xy,
)

TOP, BOTTOM = "block_top", "block_bottom"


class Stack(SimTask):
    name = "stack"
    templates = (
        "stack the {top} block on the {bottom} block",
        "put the {top} cube on top of the {bottom} cube",
        "place the {top} block onto the {bottom} one",
        "pick up the {top} block and stack it on the {bottom} block",
    )
    segments = (Segment("grasp", f"object:{TOP}"), Segment("place", f"object:{BOTTOM}"))

    def sample(self, rng: np.random.Generator, params: dict[str, Any]) -> dict[str, Any]:
        scale = params["physics"]["size_scale"]
        top_xy = sample_xy(rng, self.region, [], 0)
        bottom_xy = sample_xy(rng, self.region, [top_xy], 0.14)
        top_c, bottom_c = pick_colours(rng, 2)
        mass = params["physics"]["mass_scale"]
        return {
            "top": {
                "xy": top_xy,
                "yaw": round(float(rng.uniform(-np.pi, np.pi)), 5),
                "half": round(0.02 * scale, 5),
                "colour": top_c,
                "mass": round(0.06 * mass, 5),
            },
            "bottom": {
                "xy": bottom_xy,
                "yaw": round(float(rng.uniform(-np.pi, np.pi)), 5),
                "half": round(0.026 * scale, 5),
                "colour": bottom_c,
                "mass": round(0.2 * mass, 5),
            },
            "instruction": self.instruction(rng, self.templates_for(params), top=top_c, bottom=bottom_c),
        }

    def build(self, spec: mujoco.MjSpec, params: dict[str, Any]) -> None:
        tp, top = params["task"], params["table"]["top"]
        for name, key in ((TOP, "top"), (BOTTOM, "bottom")):
            b = tp[key]
            add_box_object(spec, *box_args(name, b, top, params["physics"]["friction_scale"]))

    def apply(self, model: mujoco.MjModel, params: dict[str, Any], nominal: mujoco.MjModel) -> None:
        tp, top = params["task"], params["table"]["top"]
        for name, key in ((TOP, "top"), (BOTTOM, "bottom")):
            b = tp[key]
            set_box_object(model, *box_args(name, b, top, params["physics"]["friction_scale"]))

    def objects(self, params: dict[str, Any]) -> tuple[str, ...]:
        return (TOP, BOTTOM)

    def keep_out(self, params: dict[str, Any]) -> list[tuple[float, float, float]]:
        tp = params["task"]
        return [(*tp["top"]["xy"], 0.05), (*tp["bottom"]["xy"], 0.06)]

    def plan(self, sim: Sim, params: dict[str, Any]) -> list[Phase]:
        tp, top = params["task"], params["table"]["top"]
        ht, hb = tp["top"]["half"], tp["bottom"]["half"]
        pos, quat = sim.body_pose(TOP)
        down = top_down_quat(grasp_yaw(quat))
        z_grasp = top + max(ht, 0.024)
        grasp = [
            Waypoint(np.array([pos[0], pos[1], z_grasp + 0.12]), down, OPEN, 30, 0, "grasp", f"object:{TOP}"),
            Waypoint(np.array([pos[0], pos[1], z_grasp]), down, OPEN, 20, 2, "grasp", f"object:{TOP}"),
            Waypoint(np.array([pos[0], pos[1], z_grasp]), down, CLOSED, 1, 12, "grasp", f"object:{TOP}"),
            Waypoint(np.array([pos[0], pos[1], z_grasp + 0.16]), down, CLOSED, 20, 0, "grasp", f"object:{TOP}"),
        ]
        bpos, bquat = sim.body_pose(BOTTOM)
        # the grasp holds the top block square to the fingers: turn it square to the bottom block
        place_down = top_down_quat(grasp_yaw(bquat))
        z_place = z_grasp + 2 * hb + 0.006
        place = [
            Waypoint(
                np.array([bpos[0], bpos[1], z_place + 0.1]), place_down, CLOSED, 30, 0, "place", f"object:{BOTTOM}"
            ),
            Waypoint(np.array([bpos[0], bpos[1], z_place]), place_down, CLOSED, 25, 4, "place", f"object:{BOTTOM}"),
            Waypoint(np.array([bpos[0], bpos[1], z_place]), place_down, OPEN, 1, 10, "place", f"object:{BOTTOM}"),
            Waypoint(np.array([bpos[0], bpos[1], z_place + 0.1]), place_down, OPEN, 15, 0, "place", f"object:{BOTTOM}"),
        ]

        def lifted(s: Sim) -> bool:
            return bool(s.body_pose(TOP)[0][2] > top + ht + 0.06)

        return [Phase("grasp", grasp, lifted), Phase("place", place)]

    def success(self, sim: Sim, params: dict[str, Any]) -> bool:
        tp, top = params["task"], params["table"]["top"]
        ht, hb = tp["top"]["half"], tp["bottom"]["half"]
        pt, _ = sim.body_pose(TOP)
        pb, _ = sim.body_pose(BOTTOM)
        aligned = bool(np.all(np.abs(pt[:2] - pb[:2]) < 0.6 * hb + ht * 0.3))
        stacked = abs(pt[2] - (pb[2] + hb + ht)) < 0.015
        bottom_rests = abs(pb[2] - (top + hb)) < 0.01
        released = sim.gripper_width() > 2 * ht + 0.01
        return bool(aligned and stacked and bottom_rests and released)
