"""Which robots need the operator: a pluggable failure predictor and the help queue.

A predictor looks at a robot's :class:`RobotView` once per control step while a policy drives it
and returns an :class:`Alert` (or ``None``). The defaults:

- :class:`NoProgress`: neither the end-effector nor any task object moved more than ``min_move_m``
  in the last ``seconds``;
- :class:`ObjectDropped`: an object that was lifted ``lift_m`` above where it started fell back
  while the gripper was commanded closed, or an object fell below the table top;
- :class:`JointLimits`: an arm joint within ``margin`` (a fraction of its range) of a limit;
- :class:`PolicyUncertainty`: the policy reports an uncertainty (``policy.uncertainty``, a float)
  above ``threshold``.

A robot with an alert is put on hold and queued; the queue orders robots by severity, then by
how long they have waited. A custom predictor is any object with ``check(view) -> Alert | None``
and ``reset()``.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class RobotView:
    """What a predictor sees of one robot at one control step."""

    time_s: float  # simulated time since the episode started, s
    ee_pos: np.ndarray  # (3,) m, world
    object_pos: np.ndarray  # (n, 3) m, world
    object_start: np.ndarray  # (n, 3) m, world, at the episode's start
    table_top: float  # m
    gripper_command: float  # 1 open, 0 closed
    joint_fraction: np.ndarray  # (J,) each arm joint's position within its range, 0..1
    uncertainty: float | None = None


@dataclass(frozen=True)
class Alert:
    reason: str
    severity: int = 1  # higher: served first


class Predictor(Protocol):
    def check(self, view: RobotView) -> Alert | None: ...

    def reset(self) -> None: ...


@dataclass
class NoProgress:
    seconds: float = 4.0
    min_move_m: float = 0.005
    _history: deque = field(default_factory=deque)

    def reset(self) -> None:
        self._history.clear()

    def check(self, view: RobotView) -> Alert | None:
        points = np.concatenate([view.ee_pos[None], view.object_pos]).ravel()
        self._history.append((view.time_s, points))
        while self._history and self._history[0][0] < view.time_s - self.seconds:
            self._history.popleft()
        if view.time_s < self.seconds or self._history[0][0] > view.time_s - self.seconds + 0.2:
            return None
        spread = np.ptp(np.stack([p for _, p in self._history]).reshape(len(self._history), -1, 3), axis=0)
        if float(np.linalg.norm(spread, axis=1).max()) < self.min_move_m:
            return Alert(f"no progress for {self.seconds:g} s", 1)
        return None


@dataclass
class ObjectDropped:
    lift_m: float = 0.03
    _lifted: set = field(default_factory=set)

    def reset(self) -> None:
        self._lifted.clear()

    def check(self, view: RobotView) -> Alert | None:
        for i, (pos, start) in enumerate(zip(view.object_pos, view.object_start)):
            if pos[2] < view.table_top - 0.05:
                return Alert(f"object {i} fell off the table", 3)
            if pos[2] > start[2] + self.lift_m:
                self._lifted.add(i)
            elif i in self._lifted and pos[2] < start[2] + 0.005 and view.gripper_command < 0.5:
                self._lifted.discard(i)
                return Alert(f"object {i} dropped", 3)
        return None


@dataclass
class JointLimits:
    margin: float = 0.01

    def reset(self) -> None:
        pass

    def check(self, view: RobotView) -> Alert | None:
        near = np.flatnonzero((view.joint_fraction < self.margin) | (view.joint_fraction > 1 - self.margin))
        return Alert(f"joint {int(near[0]) + 1} at its limit", 2) if len(near) else None


@dataclass
class PolicyUncertainty:
    threshold: float = 0.5

    def reset(self) -> None:
        pass

    def check(self, view: RobotView) -> Alert | None:
        if view.uncertainty is not None and view.uncertainty > self.threshold:
            return Alert(f"policy uncertainty {view.uncertainty:.2f}", 2)
        return None


def default_predictors(stall_seconds: float = 4.0) -> list[Predictor]:
    return [NoProgress(stall_seconds), ObjectDropped(), JointLimits(), PolicyUncertainty()]


class Sentinel:
    """The predictors of one robot: the first alert of a step wins."""

    def __init__(self, predictors: list[Predictor]):
        self.predictors = predictors

    def reset(self) -> None:
        for p in self.predictors:
            p.reset()

    def check(self, view: RobotView) -> Alert | None:
        for p in self.predictors:
            alert = p.check(view)
            if alert is not None:
                return alert
        return None


class HelpQueue:
    """Robots waiting for the operator, most severe first, then longest waiting."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, float, int, int]] = []
        self._waiting: dict[int, tuple[Alert, float]] = {}
        self._tie = itertools.count()

    def push(self, robot: int, alert: Alert) -> None:
        if robot in self._waiting:
            return
        now = time.monotonic()
        self._waiting[robot] = (alert, now)
        heapq.heappush(self._heap, (-alert.severity, now, next(self._tie), robot))

    def discard(self, robot: int) -> None:
        self._waiting.pop(robot, None)  # the heap entry is skipped when it comes up

    def pop(self) -> int | None:
        while self._heap:
            *_, robot = heapq.heappop(self._heap)
            if robot in self._waiting:
                del self._waiting[robot]
                return robot
        return None

    def entries(self) -> list[dict]:
        """The waiting robots in the order they would be served."""
        order = sorted(self._waiting.items(), key=lambda kv: (-kv[1][0].severity, kv[1][1]))
        now = time.monotonic()
        return [
            {"robot": r, "reason": a.reason, "severity": a.severity, "waiting_s": round(now - t, 1)}
            for r, (a, t) in order
        ]
