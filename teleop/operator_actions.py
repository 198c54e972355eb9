"""What the operator does to a robot: switch modes, the e-stop, rewind-and-correct, label and
write an episode, and the robot's state for the page. A mixin of
:class:`datapipe.teleop.robot.RobotSession`; every method here runs on the robot's simulation thread
(through ``RobotSession.submit``), between two control steps."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from datapipe.generators.robots.config import arm_gripper_embodiment
from datapipe.teleop.control import CONTROL_MODES, MODES, CommandError
from datapipe.teleop.recording import StepRow


@dataclass
class Branch:
    """An abandoned future (cut off by a rewind), kept as a failed episode."""

    at_step: int
    steps: int
    episode_id: str


@dataclass
class RobotStatus:
    mode: str = "paused"
    reason: str = ""
    estop: bool = False
    branches: list[Branch] = field(default_factory=list)


class OperatorActions:
    """Operator actions on a :class:`datapipe.teleop.robot.RobotSession` (see the module docs)."""

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise CommandError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
        if mode == "autonomous" and self.policy is None:
            raise CommandError("no policy to hand over to (start the server with --policy)")
        if self.status.estop and mode != "paused":
            raise CommandError("the e-stop is engaged: release it first")
        if mode in ("teleop", "correcting"):  # the operator starts where the end effector is
            self._target_at_ee()
            self.move_time = 0.0
        self.chunk = []
        self.status.mode, self.status.reason = mode, ""
        self.last_seen = time.monotonic()

    def estop(self, engaged: bool) -> None:
        self.status.estop = engaged
        if engaged:
            self.status.mode, self.status.reason = "paused", "e-stop"
        else:
            self.status.reason = "e-stop released"

    def rewind(self, step: int) -> dict[str, Any]:
        """Restore the physics state before ``step`` (within the ring buffer); the steps after it
        are written as a failed branch episode, and the operator corrects from there."""
        available = [s.step for s in self.ring]
        if not available or not (available[0] <= step < len(self.buffer)):
            lo = available[0] if available else 0
            raise CommandError(f"step {step}: can rewind to steps {lo}..{max(lo, len(self.buffer) - 1)}")
        snap = next(s for s in self.ring if s.step == step)
        full = list(self.buffer.rows)
        self.buffer.cut(step)
        while self.ring and self.ring[-1].step >= step:
            self.ring.pop()
        branch_id = self._write(full, success=False, branch_at=step)
        self.status.branches.append(Branch(step, len(full) - step, branch_id))
        self.sim.set_state(snap.state)
        self.command, self.gripper = snap.command.copy(), snap.gripper
        self._target_at_ee(snap.yaw)
        self.chunk, self.move_time = [], 0.0
        self.sentinel.reset()
        self.status.mode, self.status.reason = "correcting", f"rewound to step {step}"
        self.last_seen = time.monotonic()
        self.sim_success = bool(self.generator.task.success(self.sim, self.params))
        return {"step": step, "branch": branch_id}

    def finish(self, success: bool) -> dict[str, Any]:
        """Label the episode in progress, write it, and start the next scene."""
        if not len(self.buffer):
            raise CommandError("nothing recorded yet: drive the robot first")
        episode_id = self._write(self.buffer.rows, success=success)
        self.episode_number += 1
        self._new_episode()
        return {"episode": episode_id, "success": success}

    def _write(self, rows: list[StepRow], success: bool, branch_at: int | None = None) -> str:
        span = self.span if branch_at is None else f"{self.span};branch={len(self.status.branches)}"
        meta = {
            "seed": self.seed,
            "sim_task": self.generator.task.name,
            "randomization": self.params,
            "objects": list(self.generator.task.objects(self.params)),
            "teleop": {
                "operator": self.settings.operator,
                "session": self.settings.session,
                "robot": self.index,
                "policy": self.settings.policy or None,
                "labelled_success": success,
                "sim_success": bool(self.sim_success) if branch_at is None else None,
                "control_modes": {v: k for k, v in CONTROL_MODES.items()},
                "branch_of": None if branch_at is None else self.span,
                "abandoned_at_step": branch_at,
                "branches": [b.episode_id for b in self.status.branches] if branch_at is None else [],
            },
        }
        ep = self.buffer.episode(
            rows,
            self.settings.fps,
            arm_gripper_embodiment(self.generator.robot, self.settings.fps),
            self.instruction,
            success,
            f"teleop://{self.generator.task.name}?robot={self.generator.robot.name}",
            span,
            meta,
        )
        if self.recorder is not None:
            self.recorder.write(ep)
        self.written.append(ep.episode_id)
        return ep.episode_id

    def describe(self) -> dict[str, Any]:
        """The robot's state for the page (JSON)."""
        pos, _ = self.sim.ee_pose()
        oldest = self.ring[0].step if self.ring else 0
        return {
            "robot": self.index,
            "mode": self.status.mode,
            "reason": self.status.reason,
            "estop": self.status.estop,
            "step": len(self.buffer),
            "rewind_from": oldest,
            "instruction": self.instruction,
            "episodes_written": len(self.written),
            "branches": len(self.status.branches),
            "sim_success": self.sim_success,
            "controller": self.controller,
            "policy": self.settings.policy or None,
            "ee": [round(float(v), 4) for v in pos],
            "target": [round(float(v), 4) for v in self.target],
            "objects": [[round(float(v), 4) for v in p[:3]] for p in self.sim.object_poses()],
            "gripper": self.gripper,
            "seed": self.seed,
        }
