"""What a simulated task is: objects in the scene, sampled initial poses, a success predicate,
instruction templates and a scripted plan.

A plan is a list of :class:`Phase` objects, each a list of :class:`Waypoint` (end-effector
targets in the world frame) with an optional check run after it (for example "the object was
lifted"); the expert retries the plan from the current state when a check fails. Each waypoint
names the subtask segment it belongs to and the object whose frame it is defined in, which is
what demo multiplication (:mod:`datapipe.generators.multiply`) transforms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mujoco
import numpy as np

from datapipe.generators.sim import Sim

OPEN, CLOSED = 1.0, 0.0  # normalized gripper command


@dataclass(frozen=True)
class Waypoint:
    """An end-effector target: world position (m), quaternion (w, x, y, z), gripper command
    (1 open .. 0 closed), control steps to get there, steps to hold after, and its segment."""

    pos: np.ndarray
    quat: np.ndarray
    gripper: float
    steps: int
    hold: int = 0
    segment: str = ""
    ref: str | None = None  # object (or target) whose frame this waypoint is defined in


@dataclass(frozen=True)
class Phase:
    name: str
    waypoints: list[Waypoint]
    check: Callable[[Sim], bool] | None = None


@dataclass(frozen=True)
class Segment:
    """A subtask for demo multiplication: its name and the frame its waypoints are relative to
    (``"object:<body>"`` for an object body, ``"target:<name>"`` for a task target)."""

    name: str
    frame: str


class SimTask:
    """Base class of tasks (one class per file in ``generators/tasks``)."""

    name: str = ""
    templates: tuple[str, ...] = ()
    # instructions for evaluation under language shift: wordings no training template uses
    held_out_templates: tuple[str, ...] = ()
    segments: tuple[Segment, ...] = ()
    region: tuple[tuple[float, float], tuple[float, float]] = ((0.38, 0.62), (-0.2, 0.2))  # x, y of objects (m)

    def sample(self, rng: np.random.Generator, params: dict[str, Any]) -> dict[str, Any]:
        """Task values for one episode (object sizes, colours, poses, targets, instruction)."""
        raise NotImplementedError

    def build(self, spec: mujoco.MjSpec, params: dict[str, Any]) -> None:
        """Add the task's bodies, sites and visual markers to the scene."""
        raise NotImplementedError

    def apply(self, model: mujoco.MjModel, params: dict[str, Any], nominal: mujoco.MjModel) -> None:
        """Write the task's values of ``params`` into a compiled scene that :meth:`build` made
        from nominal values (``nominal``: an untouched copy of it): poses, sizes, colours, masses
        (see :mod:`datapipe.generators.scene_edit`)."""
        raise NotImplementedError

    def objects(self, params: dict[str, Any]) -> tuple[str, ...]:
        """Names of the bodies whose poses episodes record (``object.poses`` order)."""
        raise NotImplementedError

    def plan(self, sim: Sim, params: dict[str, Any]) -> list[Phase]:
        """The scripted plan from the current state."""
        raise NotImplementedError

    def success(self, sim: Sim, params: dict[str, Any]) -> bool:
        raise NotImplementedError

    def failure(self, sim: Sim, params: dict[str, Any]) -> str:
        """A task's own name for how an unsuccessful episode ended ("": none; evaluation then says
        whether the objects moved)."""
        return ""

    def frame_pose(self, sim: Sim, params: dict[str, Any], frame: str) -> tuple[np.ndarray, np.ndarray]:
        """World pose of a segment frame (see :class:`Segment`) in the current state."""
        kind, _, name = frame.partition(":")
        if kind == "object":
            return sim.body_pose(name)
        raise KeyError(f"task {self.name}: unknown frame {frame!r}")

    def keep_out(self, params: dict[str, Any]) -> list[tuple[float, float, float]]:
        """(x, y, radius) discs distractors must avoid."""
        return []

    def observation(self, sim: Sim, params: dict[str, Any]) -> np.ndarray:
        """The task's privileged low-dimensional state (``task.state``, float32), what a
        state-based policy needs besides the robot's own: per task object its position (m, world)
        and the cosine and sine of four times its yaw (a box looks the same every quarter turn),
        then the position of each target frame (``target:<name>`` segments)."""
        parts = []
        for name in self.objects(params):
            pos, quat = sim.body_pose(name)
            w, x, y, z = quat
            yaw = np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
            parts += [pos, [np.cos(4 * yaw), np.sin(4 * yaw)]]
        for seg in self.segments:
            if seg.frame.startswith("target:"):
                parts.append(self.frame_pose(sim, params, seg.frame)[0])
        return np.concatenate(parts).astype(np.float32)

    def templates_for(self, params: dict[str, Any]) -> tuple[str, ...]:
        """The training templates, or the held-out ones when ``params["shift"]["language"]``."""
        if not params.get("shift", {}).get("language"):
            return self.templates
        if not self.held_out_templates:
            from datapipe.errors import DatapipeError

            raise DatapipeError(f"task {self.name}: no held-out instructions for a language shift")
        return self.held_out_templates

    # -- helpers --------------------------------------------------------------------------------------
    @staticmethod
    def instruction(rng: np.random.Generator, templates: tuple[str, ...], **words: str) -> str:
        return templates[int(rng.integers(len(templates)))].format(**words)


COLOURS = {
    "red": [0.85, 0.1, 0.1, 1],
    "green": [0.1, 0.7, 0.2, 1],
    "blue": [0.1, 0.3, 0.9, 1],
    "yellow": [0.95, 0.85, 0.1, 1],
    "orange": [1.0, 0.5, 0.05, 1],
    "purple": [0.55, 0.2, 0.7, 1],
}


def pick_colours(rng: np.random.Generator, n: int) -> list[str]:
    names = list(COLOURS)
    return [names[i] for i in rng.permutation(len(names))[:n]]


def sample_xy(
    rng: np.random.Generator,
    region: tuple[tuple[float, float], tuple[float, float]],
    avoid: list[tuple[float, float]],
    min_dist: float,
) -> list[float]:
    """A point of ``region`` at least ``min_dist`` from every point of ``avoid``."""
    for _ in range(200):
        p = [float(rng.uniform(*region[0])), float(rng.uniform(*region[1]))]
        if all((p[0] - a[0]) ** 2 + (p[1] - a[1]) ** 2 >= min_dist**2 for a in avoid):
            return [round(p[0], 5), round(p[1], 5)]
    raise RuntimeError("could not place an object: region too small for the distances asked")


def grasp_yaw(quat: np.ndarray) -> float:
    """Yaw (rad) of a top-down grasp across a box with orientation ``quat``: the box's yaw folded
    into [-pi/4, pi/4] (a box looks the same every quarter turn)."""
    w, x, y, z = quat
    yaw = np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return float((yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4)


def box_args(name: str, box: dict[str, Any], top: float, friction: float) -> tuple:
    """The arguments after the spec (or model) of :func:`datapipe.generators.scene.add_box_object` and
    :func:`datapipe.generators.scene_edit.set_box_object` for a cube task object ``box`` (``xy``, ``yaw``,
    ``half``, ``colour``, ``mass``) resting on the table top ``top``."""
    half = box["half"]
    return (
        name,
        [box["xy"][0], box["xy"][1], top + half],
        box["yaw"],
        [half] * 3,
        COLOURS[box["colour"]],
        box["mass"],
        friction,
    )


def set_marker(model: mujoco.MjModel, geom: str, marker: dict[str, Any], top: float) -> None:
    """Place a flat target disc (a zone or goal geom with ``xy`` and ``colour``) on the table."""
    g = model.geom(geom).id
    model.geom_pos[g] = [marker["xy"][0], marker["xy"][1], top + 0.0008]
    model.geom_rgba[g] = COLOURS[marker["colour"]][:3] + [0.6]


@dataclass
class ExpertStats:
    attempts: int = 0
    ik_failures: int = 0
    checks_failed: list[str] = field(default_factory=list)
