"""Operator commands and the limits the server enforces on them (pure functions, no I/O).

Units and frames: positions in m, velocities in m/s and rad/s, world frame of the simulated scene
(z up; the robot base stands on the table at ``(0, 0, table_top)`` facing +x). The browser sends
end-effector *velocities* while a key, the pointer or a gamepad stick is held (hold-to-move): the
server integrates them into an end-effector target at the control rate, clamps each step
(:data:`MAX_STEP_M`, :data:`MAX_STEP_RAD`), keeps the target inside the workspace box, and
solves it to joint targets by IK. A command older than :data:`HOLD_AFTER_S` stops the robot.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from datapipe.errors import DatapipeError

MAX_LINEAR = 0.25  # m/s: fastest end-effector speed an operator can command
MAX_ANGULAR = 1.5  # rad/s: fastest yaw rate
HOLD_AFTER_S = 0.4  # a move command older than this stops the robot (hold-to-move)
HEARTBEAT_TIMEOUT_S = 2.0  # no message at all for this long: the robot is put on hold
MAX_TEXT_BYTES = 16 * 1024  # a text (JSON) message larger than this is refused
MAX_BINARY_BYTES = 2 * 1024 * 1024  # a binary message (a webcam JPEG) larger than this is refused
MODES = ("teleop", "autonomous", "paused", "correcting")
CONTROL_MODES = {"policy": 0, "human": 1, "correcting": 2}  # the per-step control_mode array's codes


class CommandError(DatapipeError):
    """A malformed message or an action the robot cannot take now: the reply names the field
    or the reason."""


@dataclass(frozen=True)
class Workspace:
    """The box the end-effector target is kept in (world frame, m)."""

    low: tuple[float, float, float]
    high: tuple[float, float, float]

    @classmethod
    def around_base(cls, table_top: float) -> Workspace:
        """In front of a robot standing on the table at ``(0, 0, table_top)``."""
        return cls((0.25, -0.45, table_top + 0.005), (0.80, 0.45, table_top + 0.60))

    def clip(self, pos: np.ndarray) -> np.ndarray:
        return np.clip(pos, self.low, self.high)


def _vector(msg: dict[str, Any], key: str, n: int, limit: float) -> np.ndarray:
    value = msg.get(key, [0.0] * n)
    if not isinstance(value, list) or len(value) != n:
        raise CommandError(f"{key}: expected a list of {n} numbers, got {str(value)[:60]}")
    out = np.zeros(n)
    for i, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or abs(v) > 1e6:
            raise CommandError(f"{key}[{i}]: expected a finite number, got {str(v)[:30]}")
        out[i] = float(v)
    norm = float(np.linalg.norm(out))
    return out * (limit / norm) if norm > limit else out


@dataclass(frozen=True)
class Move:
    """An end-effector velocity command: linear ``v`` (3,) m/s, yaw rate ``w`` rad/s, gripper
    command (1 open, 0 closed, None: unchanged)."""

    v: np.ndarray
    w: float
    gripper: float | None


def parse_message(raw: str) -> dict[str, Any]:
    """A client's JSON text message as a dict with a string ``type``; :class:`CommandError` else."""
    if len(raw) > MAX_TEXT_BYTES:
        raise CommandError(f"message of {len(raw)} bytes: at most {MAX_TEXT_BYTES}")
    try:
        msg = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise CommandError(f"not JSON: {exc}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise CommandError("expected a JSON object with a string 'type'")
    try:  # "\ud800" escapes decode to lone surrogates, which no reply or file could carry
        json.dumps(msg, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CommandError(f"text holds a lone surrogate (U+{ord(exc.object[exc.start]):04X})") from None
    return msg


def parse_move(msg: dict[str, Any], speed: float = 1.0) -> Move:
    """``{"type": "move", "v": [vx, vy, vz], "w": yaw_rate, "gripper": 0|1}``, each scaled by
    ``speed`` (0..1) and clamped to the speed limits."""
    v = _vector(msg, "v", 3, MAX_LINEAR) * speed
    w = float(_vector({"w": [msg.get("w", 0.0)]}, "w", 1, MAX_ANGULAR)[0]) * speed
    gripper = msg.get("gripper")
    if gripper is not None and gripper not in (0, 1):
        raise CommandError(f"gripper: expected 0 (closed), 1 (open) or null, got {str(gripper)[:30]}")
    return Move(v, w, None if gripper is None else float(gripper))


def parse_target(msg: dict[str, Any], workspace: Workspace) -> np.ndarray:
    """``{"type": "target", "pos": [x, y, z]}``: an end-effector position target (world, m),
    clipped to the workspace."""
    return workspace.clip(_vector(msg, "pos", 3, 1e3))


def step_towards(current: np.ndarray, goal: np.ndarray, max_step: float) -> np.ndarray:
    """``current`` moved towards ``goal`` by at most ``max_step`` (Euclidean)."""
    delta = np.asarray(goal, float) - current
    n = float(np.linalg.norm(delta))
    return current + (delta * (max_step / n) if n > max_step else delta)


def blend(previous: np.ndarray, wanted: np.ndarray, max_step: float) -> np.ndarray:
    """Joint targets at most ``max_step`` rad per joint from ``previous``: a handover from the
    operator to a policy (or back) moves the arm there smoothly, never in a jump."""
    return previous + np.clip(np.asarray(wanted, float) - previous, -max_step, max_step)
