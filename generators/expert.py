"""The scripted expert: runs a task's plan with IK and records every control step.

Each waypoint is solved to arm joint targets with :class:`datapipe.generators.ik.ArmIK` (warm-started from
the current configuration); the commanded joints follow a smooth (cosine) interpolation from the
last command to the solution over the waypoint's steps, then hold. The gripper command switches
at the start of a waypoint. A phase check that fails (say, the block was not lifted) opens the
gripper, backs off upward and restarts the plan from the current state, at most ``max_retries``
times.

Recorded per control step ``t`` (observation before the command, command applied at ``t``):
arm joints (rad), gripper opening (m), end-effector pose (world), object poses, ``qpos``, ``qvel``,
``ctrl``, the joint-space action (arm targets + normalized gripper command) and, after the run,
the end-effector delta action (position change in m and rotation vector in rad from ``t`` to
``t + 1``, world frame, + gripper command).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from datapipe.generators.geometry import quat_conj, quat_mul, quat_to_axis_angle
from datapipe.generators.ik import ArmIK
from datapipe.generators.sim import Sim
from datapipe.generators.tasks.base import OPEN, ExpertStats, SimTask, Waypoint


@dataclass
class Recording:
    """Per-step arrays of one simulated episode (lists until :meth:`arrays`)."""

    initial_state: np.ndarray
    rows: dict[str, list[np.ndarray]] = field(default_factory=dict)
    stats: ExpertStats = field(default_factory=ExpertStats)

    def add(self, **values: Any) -> None:
        for k, v in values.items():
            self.rows.setdefault(k, []).append(np.asarray(v))

    def __len__(self) -> int:
        return len(self.rows.get("ctrl", []))

    def arrays(self) -> dict[str, np.ndarray]:
        out = {k: np.stack(v) for k, v in self.rows.items()}
        pos, quat = out["ee_pos"], out["ee_quat"]
        dpos = np.zeros_like(pos)
        drot = np.zeros_like(pos)
        dpos[:-1] = pos[1:] - pos[:-1]
        for t in range(len(pos) - 1):
            drot[t] = quat_to_axis_angle(quat_mul(quat[t + 1], quat_conj(quat[t])))
        out["action_ee"] = np.concatenate([dpos, drot, out["gripper_cmd"][:, None]], axis=1)
        return out


@dataclass(frozen=True)
class ExpertStyle:
    """How one demonstration is performed, so demonstrations vary like human ones: an overall
    speed (waypoint steps are divided by it), a speed factor per waypoint and extra hold steps per
    waypoint (both cycled over the plan's waypoints). Seeded per episode, recorded in meta."""

    speed: float = 1.0
    jitter: tuple[float, ...] = (1.0,)
    extra_hold: tuple[int, ...] = (0,)

    def timing(self, index: int, steps: int, hold: int) -> tuple[int, int]:
        """Steps and hold of the ``index``-th waypoint of a plan."""
        factor = self.speed * self.jitter[index % len(self.jitter)]
        return max(1, round(steps / factor)), hold + self.extra_hold[index % len(self.extra_hold)]

    def as_meta(self) -> dict[str, Any]:
        return {"speed": self.speed, "jitter": list(self.jitter), "extra_hold": list(self.extra_hold)}


def sample_style(rng: np.random.Generator, level: float = 1.0) -> ExpertStyle:
    """A seeded style; ``level`` scales the variation (0: the nominal expert)."""
    if level <= 0:
        return ExpertStyle()
    n = 16
    speed = float(np.exp(rng.uniform(-0.22, 0.22) * level))  # about 0.8x .. 1.25x
    jitter = tuple(float(x) for x in np.round(np.exp(rng.uniform(-0.1, 0.1, n) * level), 4))
    extra = tuple(int(x) for x in rng.integers(0, 1 + round(3 * level), n))
    return ExpertStyle(round(speed, 4), jitter, extra)


def gripper_ctrl(sim: Sim, command: float) -> float:
    """Actuator control of a normalized gripper command (1 open, 0 closed)."""
    r = sim.robot
    return r.gripper_closed + command * (r.gripper_open - r.gripper_closed)


class Expert:
    """Runs plans on one :class:`Sim` (reuse it across episodes of the same model)."""

    def __init__(self, sim: Sim, ik: ArmIK, max_retries: int = 2, style: ExpertStyle = ExpertStyle()):
        self.sim, self.ik, self.max_retries, self.style = sim, ik, max_retries, style
        self.command = sim.arm_q()
        self.gripper = OPEN
        self.waypoints_done = 0
        self.observe = lambda s: np.zeros(0, dtype=np.float32)  # the task's state, set by run()

    def record_step(self, rec: Recording, target: np.ndarray, gripper: float) -> None:
        sim = self.sim
        pos, quat = sim.ee_pose()
        rec.add(
            arm_q=sim.arm_q(),
            gripper_width=sim.gripper_width(),
            ee_pos=pos,
            ee_quat=quat,
            object_poses=sim.object_poses(),
            task_state=self.observe(sim),
            qpos=sim.data.qpos.copy(),
            qvel=sim.data.qvel.copy(),
            action_joint=np.concatenate([target, [gripper]]),
            gripper_cmd=gripper,
        )
        sim.control_step(target, gripper_ctrl(sim, gripper))
        rec.add(ctrl=sim.data.ctrl.copy())

    def move(self, rec: Recording, goal: np.ndarray, gripper: float, steps: int, hold: int) -> None:
        start = self.command.copy()
        for k in range(1, steps + 1):
            s = 0.5 - 0.5 * np.cos(np.pi * k / steps)
            self.record_step(rec, start + s * (goal - start), gripper)
        for _ in range(hold):
            self.record_step(rec, goal, gripper)
        self.command, self.gripper = goal.copy(), gripper

    def go_to(self, rec: Recording, wp: Waypoint) -> None:
        result = self.ik.solve(self.sim.data.qpos, wp.pos, wp.quat)
        if not result.converged:
            rec.stats.ik_failures += 1
        steps, hold = self.style.timing(self.waypoints_done, wp.steps, wp.hold)
        self.waypoints_done += 1
        self.move(rec, result.q, wp.gripper, steps, hold)

    def run(self, task: SimTask, params: dict[str, Any]) -> tuple[Recording, bool]:
        """Execute ``task``'s plan from the current state; return the recording and success."""
        sim = self.sim
        self.observe = lambda s: task.observation(s, params)
        self.command, self.gripper = sim.arm_q(), OPEN
        rec = Recording(initial_state=sim.get_state())
        for attempt in range(self.max_retries + 1):
            rec.stats.attempts = attempt + 1
            failed = False
            for phase in task.plan(sim, params):
                for wp in phase.waypoints:
                    self.go_to(rec, wp)
                if phase.check is not None and not phase.check(sim):
                    rec.stats.checks_failed.append(phase.name)
                    failed = True
                    break
            if not failed:
                break
            pos, quat = sim.ee_pose()  # back off: open and rise before trying again
            self.go_to(rec, Waypoint(pos, quat, OPEN, 1, 8))
            self.go_to(rec, Waypoint(pos + [0, 0, 0.1], quat, OPEN, 15, 0))
        self.record_step(rec, self.command, self.gripper)  # the final state, as a last step
        return rec, task.success(sim, params)
