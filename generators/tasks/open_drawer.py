"""``open_drawer``: pull a drawer out of a cabinet by its handle.

The cabinet (a bottom, two sides and a back, open at the top) stands on the table facing the
robot; the drawer is a tray on a slide joint along the cabinet's -x axis (toward the robot),
0 to 0.16 m, with a horizontal handle bar in front of its front panel. The expert comes down
from above with the fingers opening along the drawer axis, closes on the bar and pulls.
Success: the drawer is open by more than 0.10 m and the gripper has let go.
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np

from datapipe.generators.geometry import top_down_quat
from datapipe.generators.sim import Sim
from datapipe.generators.tasks.base import (
    CLOSED,
    COLOURS,
    OPEN,
    Phase,
    Segment,
    SimTask,
    Waypoint,
    pick_colours,
)

CABINET, DRAWER, HANDLE_SITE = "cabinet", "drawer", "drawer_handle"
SLIDE = "drawer_slide"
TRAVEL = 0.16  # m
OPEN_ENOUGH = 0.10  # m
DRAWER_MASS = 0.3  # kg, nominal; its bottom weighs half of it
DEPTH, HALF_WIDTH, HEIGHT = 0.2, 0.13, 0.1  # cabinet, m
BAR_OFFSET = 0.032  # m, handle bar centre in front of the front panel


class OpenDrawer(SimTask):
    name = "open_drawer"
    templates = (
        "open the {colour} drawer",
        "pull the {colour} drawer open",
        "slide the drawer of the {colour} cabinet out",
        "open the drawer",
    )
    segments = (Segment("grasp", f"object:{DRAWER}"), Segment("pull", f"object:{CABINET}"))

    def sample(self, rng: np.random.Generator, params: dict[str, Any]) -> dict[str, Any]:
        (colour,) = pick_colours(rng, 1)
        return {
            "cabinet": {
                "xy": [round(float(rng.uniform(0.56, 0.64)), 5), round(float(rng.uniform(-0.12, 0.12)), 5)],
                "yaw": round(float(rng.uniform(-0.25, 0.25)), 5),
                "colour": colour,
            },
            "drawer": {
                "damping": round(3.0 * params["physics"]["damping_scale"], 5),
                "mass": round(DRAWER_MASS * params["physics"]["mass_scale"], 5),
            },
            "instruction": self.instruction(rng, self.templates_for(params), colour=colour),
        }

    def build(self, spec: mujoco.MjSpec, params: dict[str, Any]) -> None:
        tp, top = params["task"], params["table"]["top"]
        c = tp["cabinet"]
        rgba = COLOURS[c["colour"]]
        yaw = c["yaw"]
        cab = spec.worldbody.add_body(
            name=CABINET, pos=[c["xy"][0], c["xy"][1], top], quat=[np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)]
        )
        t = 0.008  # wall thickness
        box = mujoco.mjtGeom.mjGEOM_BOX
        cab.add_geom(
            name="cabinet_floor", type=box, size=[DEPTH / 2, HALF_WIDTH, t / 2], pos=[DEPTH / 2, 0, t / 2], rgba=rgba
        )
        for side in (-1, 1):
            cab.add_geom(
                type=box,
                size=[DEPTH / 2, t / 2, HEIGHT / 2],
                pos=[DEPTH / 2, side * (HALF_WIDTH - t / 2), HEIGHT / 2],
                rgba=rgba,
            )
        cab.add_geom(type=box, size=[t / 2, HALF_WIDTH, HEIGHT / 2], pos=[DEPTH - t / 2, 0, HEIGHT / 2], rgba=rgba)
        drawer = cab.add_body(name=DRAWER, pos=[0, 0, t])
        drawer.add_joint(
            name=SLIDE,
            type=mujoco.mjtJoint.mjJNT_SLIDE,
            axis=[-1, 0, 0],
            range=[0, TRAVEL],
            damping=tp["drawer"]["damping"],
            frictionloss=0.2,
        )
        inner_w, inner_h = HALF_WIDTH - t - 0.004, 0.06
        wood = [0.8, 0.7, 0.55, 1]
        drawer.add_geom(
            type=box,
            size=[DEPTH / 2 - t, inner_w, t / 2],
            pos=[DEPTH / 2, 0, t / 2 + 0.002],
            rgba=wood,
            mass=tp["drawer"]["mass"] / 2,
        )
        for side in (-1, 1):
            drawer.add_geom(
                type=box,
                size=[DEPTH / 2 - t, t / 2, inner_h / 2],
                pos=[DEPTH / 2, side * (inner_w - t / 2), inner_h / 2 + 0.002],
                rgba=wood,
                mass=0.02,
            )
        drawer.add_geom(
            type=box,
            size=[t / 2, inner_w, inner_h / 2],
            pos=[DEPTH - 2 * t, 0, inner_h / 2 + 0.002],
            rgba=wood,
            mass=0.02,
        )
        panel_h = HEIGHT - 0.012
        drawer.add_geom(
            name="drawer_front",
            type=box,
            size=[t / 2, HALF_WIDTH, panel_h / 2],
            pos=[-t / 2, 0, panel_h / 2],
            rgba=rgba,
            mass=0.05,
        )
        bar_z = panel_h - 0.012
        for side in (-1, 1):  # standoffs
            drawer.add_geom(
                type=box,
                size=[BAR_OFFSET / 2, 0.005, 0.006],
                pos=[-t - BAR_OFFSET / 2, side * 0.045, bar_z],
                rgba=[0.3, 0.3, 0.3, 1],
                mass=0.005,
            )
        drawer.add_geom(
            name="handle_bar",
            type=box,
            size=[0.007, 0.055, 0.008],
            pos=[-t - BAR_OFFSET, 0, bar_z],
            rgba=[0.3, 0.3, 0.3, 1],
            mass=0.01,
            friction=[1.5, 0.02, 0.001],
            condim=4,
        )
        drawer.add_site(name=HANDLE_SITE, pos=[-t - BAR_OFFSET, 0, bar_z], size=[0.005, 0, 0], group=4)

    def apply(self, model: mujoco.MjModel, params: dict[str, Any], nominal: mujoco.MjModel) -> None:
        tp, top = params["task"], params["table"]["top"]
        c = tp["cabinet"]
        cab, drawer = model.body(CABINET).id, model.body(DRAWER).id
        model.body_pos[cab] = [c["xy"][0], c["xy"][1], top]
        model.body_quat[cab] = [np.cos(c["yaw"] / 2), 0, 0, np.sin(c["yaw"] / 2)]
        rgba = COLOURS[c["colour"]]
        for g in range(model.body_geomadr[cab], model.body_geomadr[cab] + model.body_geomnum[cab]):
            model.geom_rgba[g] = rgba
        model.geom_rgba[model.geom("drawer_front").id] = rgba
        model.dof_damping[model.jnt_dofadr[model.joint(SLIDE).id]] = tp["drawer"]["damping"]
        # the drawer's mass scales with its bottom's (the randomized part), its inertia with both
        scale = (nominal.body_mass[drawer] + (tp["drawer"]["mass"] - DRAWER_MASS) / 2) / nominal.body_mass[drawer]
        model.body_mass[drawer] = nominal.body_mass[drawer] * scale
        model.body_inertia[drawer] = nominal.body_inertia[drawer] * scale

    def objects(self, params: dict[str, Any]) -> tuple[str, ...]:
        return (DRAWER, CABINET)

    def keep_out(self, params: dict[str, Any]) -> list[tuple[float, float, float]]:
        c = params["task"]["cabinet"]["xy"]
        return [(c[0] - 0.1, c[1], 0.22), (c[0] + 0.1, c[1], 0.18)]

    def _opening(self, sim: Sim) -> float:
        j = sim.model.joint(SLIDE)
        return float(sim.data.qpos[j.qposadr[0]])

    def plan(self, sim: Sim, params: dict[str, Any]) -> list[Phase]:
        site = sim.model.site(HANDLE_SITE).id
        handle = sim.data.site_xpos[site].copy()
        cab_yaw = params["task"]["cabinet"]["yaw"]
        axis = np.array([-np.cos(cab_yaw), -np.sin(cab_yaw), 0.0])  # drawer pull direction, world
        down = top_down_quat(np.pi / 2 + cab_yaw)  # fingers open along the pull direction
        remaining = TRAVEL - 0.02 - self._opening(sim)
        grasp = [
            Waypoint(handle + [0, 0, 0.1], down, OPEN, 30, 0, "grasp", f"object:{DRAWER}"),
            Waypoint(handle + [0, 0, -0.002], down, OPEN, 20, 2, "grasp", f"object:{DRAWER}"),
            Waypoint(handle + [0, 0, -0.002], down, CLOSED, 1, 10, "grasp", f"object:{DRAWER}"),
        ]
        goal = handle + [0, 0, -0.002] + axis * max(remaining, 0.0)
        pull = [
            Waypoint(goal, down, CLOSED, max(20, int(remaining / 0.004)), 3, "pull", f"object:{CABINET}"),
            Waypoint(goal, down, OPEN, 1, 8, "pull", f"object:{CABINET}"),
            Waypoint(goal + [0, 0, 0.1], down, OPEN, 15, 0, "pull", f"object:{CABINET}"),
        ]

        def opened(s: Sim) -> bool:
            return self._opening(s) > OPEN_ENOUGH

        return [Phase("grasp", grasp), Phase("pull", pull, opened)]

    def success(self, sim: Sim, params: dict[str, Any]) -> bool:
        return bool(self._opening(sim) > OPEN_ENOUGH and sim.gripper_width() > 0.03)
