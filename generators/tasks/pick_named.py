"""``pick_named``: three blocks of different colours and a zone; the instruction names one block,
and only that one belongs in the zone.

A policy has to read: the scene alone does not say which block to move, so one that ignores the
instruction succeeds about one time in :data:`BLOCKS`. Success: the named block rests inside the
zone, released, and no other block is in the zone.

The named block is the body ``block`` (the others ``other0``, ``other1``), so the privileged
``task.state`` and ``object.poses`` list it first; what a camera sees is only colours. Training
instructions come from :attr:`PickNamed.templates`; :attr:`PickNamed.held_out_templates` (other
verbs and nouns, never in training) are what a language-shift evaluation asks with.
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np

from datapipe.generators.scene import add_box_object
from datapipe.generators.scene_edit import set_box_object
from datapipe.generators.sim import Sim
from datapipe.generators.tasks.base import (
    Phase,
    Segment,
    SimTask,
    box_args,
    pick_colours,
    sample_xy,
    set_marker,
)
from datapipe.generators.tasks.pick_place import ZONE_RADIUS, add_zone, pick_and_place, placed_in_zone, zone_pose

BLOCK = "block"  # the named block
BLOCKS = 3  # blocks on the table, the named one among them
OTHERS = tuple(f"other{i}" for i in range(BLOCKS - 1))


class PickNamed(SimTask):
    name = "pick_named"
    templates = (
        "put the {colour} block in the {zone} zone",
        "pick up the {colour} block and place it on the {zone} circle",
        "move the {colour} cube into the {zone} area",
        "place the {colour} block on the {zone} target",
        "take the {colour} cube and set it down in the {zone} zone",
    )
    # for evaluation under language shift: verbs and nouns no training instruction uses
    held_out_templates = (
        "transfer the {colour} brick onto the {zone} disc",
        "could you bring the {colour} box over to the {zone} spot",
        "relocate the {colour} piece to the {zone} mark",
    )
    segments = (Segment("grasp", f"object:{BLOCK}"), Segment("place", "target:zone"))

    def sample(self, rng: np.random.Generator, params: dict[str, Any]) -> dict[str, Any]:
        scale, mass = params["physics"]["size_scale"], params["physics"]["mass_scale"]
        half = round(0.022 * scale, 5)
        spots: list[list[float]] = []
        for _ in range(BLOCKS):
            spots.append(sample_xy(rng, self.region, spots, 0.085))
        zone_xy = sample_xy(rng, self.region, spots, 0.13)
        *colours, zone_colour = pick_colours(rng, BLOCKS + 1)
        blocks = {
            name: {
                "xy": xy,
                "yaw": round(float(rng.uniform(-np.pi, np.pi)), 5),
                "half": half,
                "colour": colour,
                "mass": round(0.08 * mass, 5),
            }
            for name, xy, colour in zip((BLOCK, *OTHERS), spots, colours, strict=True)
        }
        return {
            "blocks": blocks,
            "zone": {"xy": zone_xy, "radius": ZONE_RADIUS, "colour": zone_colour},
            "instruction": self.instruction(rng, self.templates_for(params), colour=colours[0], zone=zone_colour),
        }

    def build(self, spec: mujoco.MjSpec, params: dict[str, Any]) -> None:
        tp, top = params["task"], params["table"]["top"]
        for name, b in tp["blocks"].items():
            add_box_object(spec, *box_args(name, b, top, params["physics"]["friction_scale"]))
        add_zone(spec, tp["zone"], top)

    def apply(self, model: mujoco.MjModel, params: dict[str, Any], nominal: mujoco.MjModel) -> None:
        tp, top = params["task"], params["table"]["top"]
        for name, b in tp["blocks"].items():
            set_box_object(model, *box_args(name, b, top, params["physics"]["friction_scale"]))
        set_marker(model, "zone", tp["zone"], top)

    def objects(self, params: dict[str, Any]) -> tuple[str, ...]:
        return (BLOCK, *OTHERS)

    def keep_out(self, params: dict[str, Any]) -> list[tuple[float, float, float]]:
        tp = params["task"]
        return [*((*b["xy"], 0.05) for b in tp["blocks"].values()), (*tp["zone"]["xy"], ZONE_RADIUS)]

    def frame_pose(self, sim: Sim, params: dict[str, Any], frame: str) -> tuple[np.ndarray, np.ndarray]:
        if frame == "target:zone":
            return zone_pose(params)
        return super().frame_pose(sim, params, frame)

    def plan(self, sim: Sim, params: dict[str, Any]) -> list[Phase]:
        tp = params["task"]
        return pick_and_place(sim, BLOCK, tp["blocks"][BLOCK]["half"], tp["zone"]["xy"], params["table"]["top"])

    def success(self, sim: Sim, params: dict[str, Any]) -> bool:
        tp, top = params["task"], params["table"]["top"]
        half = tp["blocks"][BLOCK]["half"]
        released = sim.gripper_width() > 2 * half + 0.01
        others_out = not any(
            placed_in_zone(sim, o, tp["blocks"][o]["half"], tp["zone"], top, resting=False) for o in OTHERS
        )
        return placed_in_zone(sim, BLOCK, half, tp["zone"], top) and released and others_out

    def failure(self, sim: Sim, params: dict[str, Any]) -> str:
        placed = self.placed(sim, params)
        return "placed another block" if placed not in (None, BLOCK) else ""

    def placed(self, sim: Sim, params: dict[str, Any]) -> str | None:
        """The block in the zone (``block`` is the named one; an ``other*`` is a wrong pick), or None."""
        tp, top = params["task"], params["table"]["top"]
        for name, b in tp["blocks"].items():
            if placed_in_zone(sim, name, b["half"], tp["zone"], top, resting=False):
                return name
        return None
