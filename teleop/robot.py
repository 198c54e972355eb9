"""One simulated robot of a teleoperation session, on its own simulation thread.

The thread steps the scene at the control rate (``fps``, 20 Hz by default), renders the ``front``
camera after every step (the EGL context belongs to this thread), encodes it as JPEG and
publishes it as the latest frame. Everything that changes the simulation (a rewind, the end of
an episode, a mode switch) is submitted to the thread and runs between two steps; velocity
commands and heartbeats are plain attribute writes the next step reads.

Modes: ``teleop`` (the operator drives), ``autonomous`` (the policy drives), ``paused`` (the
robot holds and the simulation does not advance: a waiting robot, an e-stop, a lost heartbeat),
``correcting`` (the operator drives after a rewind). A handover never jumps: joint targets move
at most :data:`MAX_JOINT_STEP` rad per step towards whatever the new controller wants, and the
operator's end-effector target starts where the end effector is.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from datapipe.generators.expert import gripper_ctrl
from datapipe.generators.geometry import top_down_quat
from datapipe.teleop.control import (
    CONTROL_MODES,
    HEARTBEAT_TIMEOUT_S,
    HOLD_AFTER_S,
    MAX_ANGULAR,
    MAX_LINEAR,
    Move,
    Workspace,
    blend,
    step_towards,
)
from datapipe.teleop.operator_actions import OperatorActions, RobotStatus
from datapipe.teleop.recording import DatasetRecorder, EpisodeBuffer, StepRow
from datapipe.teleop.sentinel import Alert, RobotView, Sentinel

MAX_JOINT_STEP = 0.06  # rad per control step: how fast joint targets may change (1.2 rad/s at 20 Hz)


@dataclass(frozen=True)
class RobotSettings:
    task: str = "pick_place"
    robot: str = "franka_emika_panda"
    fps: float = 20.0  # control and frame rate, Hz
    image_size: tuple[int, int] = (240, 320)  # rendered view (height, width), pixels
    jpeg_quality: int = 80
    rewind_s: float = 30.0  # how far back the ring buffer of physics states reaches, s
    policy: str = ""  # expert, a checkpoint folder, a ws:// URL; empty: no policy
    seed_base: int = 2_000_000  # robot i's episodes use seeds seed_base + 1000 * i + n
    session: str = ""
    operator: str = "operator"


@dataclass
class Snapshot:
    """A ring-buffer entry: the state before step ``step`` and the controller's memory."""

    step: int
    state: np.ndarray
    command: np.ndarray
    gripper: float
    target: np.ndarray
    yaw: float


@dataclass
class Frame:
    jpeg: bytes
    time_ms: float  # wall clock when rendered, ms since the epoch
    step: int


class RobotSession(OperatorActions):
    """A simulated robot, its recording and its controller state (see the module docs)."""

    def __init__(
        self,
        index: int,
        settings: RobotSettings,
        recorder: DatasetRecorder | None,
        sentinel: Sentinel,
        on_alert: Callable[[int, Alert], None],
    ):
        from datapipe.generators.generator import SimGenerator, SimSettings
        from datapipe.generators.robots.registry import resolve_robot

        self.index, self.settings, self.recorder, self.sentinel = index, settings, recorder, sentinel
        self.on_alert = on_alert
        sim_settings = SimSettings(
            task=settings.task, control_fps=settings.fps, cameras=("front",), image_size=tuple(settings.image_size)
        )
        robot = resolve_robot(settings.robot)
        self.generator = SimGenerator(sim_settings, robot)
        self._policy_generator = (SimGenerator(sim_settings, robot), settings.policy) if settings.policy else None
        self.policy: Any = None
        self.status = RobotStatus()
        self.episode_number = 0
        self.written: list[str] = []  # episode ids written by this robot
        self.move = Move(np.zeros(3), 0.0, None)
        self.move_time = 0.0
        self.goal: np.ndarray | None = None  # an end-effector position target (pointer, webcam)
        self.goal_yaw: float | None = None
        self.goal_gripper: float | None = None  # the webcam hand's gripper command
        self.last_seen = time.monotonic()
        self.controller: str | None = None  # the client id that controls this robot
        self.instruction_override = ""
        self.frame: Frame | None = None
        self.sim_success = False
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._subscribers: set[Callable[[], None]] = set()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"robot-{index}", daemon=True)

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        self.thread.start()
        self._ready.wait(120)
        if self._error is not None:
            raise RuntimeError(f"robot {self.index} failed to start: {self._error}") from self._error

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(10)

    def submit(self, fn: Callable[[], Any]) -> concurrent.futures.Future:
        """Run ``fn`` on the simulation thread between two steps; its future."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._jobs.put((fn, future))
        return future

    def subscribe(self, notify: Callable[[], None]) -> Callable[[], None]:
        """Call ``notify()`` (from the simulation thread) whenever a new frame is published."""
        self._subscribers.add(notify)
        return lambda: self._subscribers.discard(notify)

    def _run(self) -> None:
        try:
            if self._policy_generator is not None:
                from datapipe.generators.policy import load_policy

                self.policy = load_policy(self._policy_generator[1], self._policy_generator[0])
            self._new_episode()
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        period = 1.0 / self.settings.fps
        next_t = time.perf_counter()
        while not self._stop.is_set():
            changed = self._run_jobs()
            if self.status.mode != "paused" and not self.status.estop:
                self._check_heartbeat()
            if self.status.mode != "paused" and not self.status.estop:
                self._step()
                changed = True
            if changed or self.frame is None:
                self._publish()
            next_t += period
            delay = next_t - time.perf_counter()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_t = time.perf_counter()  # running late: do not try to catch up

    def _run_jobs(self) -> bool:
        ran = False
        while True:
            try:
                fn, future = self._jobs.get_nowait()
            except queue.Empty:
                return ran
            ran = True
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:
                    future.set_exception(exc)

    # -- episodes -----------------------------------------------------------------------------------
    @property
    def seed(self) -> int:
        return self.settings.seed_base + 1000 * self.index + self.episode_number

    @property
    def span(self) -> str:
        return f"session={self.settings.session};robot={self.index};seed={self.seed}"

    def _new_episode(self) -> None:
        gen = self.generator
        self.params = gen.scene_params(self.seed)
        self.sim = gen.build(self.params)
        self.ik = gen.ik(self.sim)
        self.table_top = float(self.params["table"]["top"])
        self.workspace = Workspace.around_base(self.table_top)
        self.buffer = EpisodeBuffer()
        self.ring: deque[Snapshot] = deque(maxlen=max(1, int(self.settings.rewind_s * self.settings.fps)))
        self.command = self.sim.arm_q()
        self.gripper = 1.0
        self._target_at_ee()
        self.object_start = self.sim.object_poses()[:, :3].copy()
        self.policy_ran = False
        self.chunk: list[np.ndarray] = []
        self.sim_success = False
        self.status.branches = []
        self.sentinel.reset()
        if self.policy is not None:
            self.policy.reset(self.instruction, self.seed)
        self.status.mode = "autonomous" if self.policy is not None else "teleop"
        self.status.reason = ""
        self._publish()  # the first observation's frame

    @property
    def instruction(self) -> str:
        return self.instruction_override or self.params["task"]["instruction"]

    def _target_at_ee(self, yaw: float | None = None) -> None:
        """Put the operator's end-effector target where the end effector is (its yaw, unless
        ``yaw`` is given) and clear pointer and webcam goals: a takeover starts here, never with a
        jump."""
        pos, _ = self.sim.ee_pose()
        self.target = self.workspace.clip(pos)
        self.yaw = self.ee_yaw() if yaw is None else float(yaw)
        self.goal = self.goal_yaw = self.goal_gripper = None

    def ee_yaw(self) -> float:
        """The yaw (rad, about world z) of the end effector's x axis."""
        R = self.sim.data.site_xmat[self.sim.index.ee_site].reshape(3, 3)
        return float(np.arctan2(R[1, 0], R[0, 0]))

    # -- one control step ---------------------------------------------------------------------------
    def _check_heartbeat(self) -> None:
        human = self.status.mode in ("teleop", "correcting")
        if human and self.controller is not None and time.monotonic() - self.last_seen > HEARTBEAT_TIMEOUT_S:
            self.status.mode, self.status.reason = "paused", "heartbeat lost"

    def _observation(self) -> dict[str, Any]:
        sim = self.sim
        return {
            "observation.state": np.concatenate([sim.arm_q(), [sim.gripper_width()]]).astype(np.float32),
            "object.poses": sim.object_poses().astype(np.float32),
            "task.state": self.generator.task.observation(sim, self.params),
            "ee.pose": np.concatenate(sim.ee_pose()).astype(np.float32),
            "timestamp": np.float32(len(self.buffer) / self.settings.fps),
            "task": self.instruction,
            "step": len(self.buffer),
        }

    def _human_command(self, dt: float) -> None:
        move = self.move if time.monotonic() - self.move_time < HOLD_AFTER_S else Move(np.zeros(3), 0.0, None)
        if self.goal is not None:
            self.target = step_towards(self.target, self.goal, MAX_LINEAR * dt)
        self.target = self.workspace.clip(self.target + move.v * dt)
        if self.goal_yaw is not None:
            self.yaw += float(np.clip(self.goal_yaw - self.yaw, -MAX_ANGULAR * dt, MAX_ANGULAR * dt))
        self.yaw += move.w * dt
        if move.gripper is not None:
            self.gripper = move.gripper
        elif self.goal_gripper is not None:
            self.gripper = self.goal_gripper
        result = self.ik.solve(self.sim.data.qpos, self.target, top_down_quat(self.yaw), max_iters=20)
        self.command = blend(self.command, result.q, MAX_JOINT_STEP)

    def _step(self) -> None:
        sim, dt = self.sim, 1.0 / self.settings.fps
        obs = self._observation()
        qpos, qvel = sim.data.qpos.copy(), sim.data.qvel.copy()
        t = len(self.buffer)
        self.ring.append(Snapshot(t, sim.get_state(), self.command.copy(), self.gripper, self.target.copy(), self.yaw))
        mode = self.status.mode
        policy_action = np.full(len(self.command) + 1, np.nan)
        if mode == "autonomous":
            if not self.chunk:
                self.chunk = list(np.atleast_2d(self.policy.act(obs)))
            wanted = np.asarray(self.chunk.pop(0), float)
            policy_action = wanted.copy()
            self.command = blend(self.command, wanted[:-1], MAX_JOINT_STEP)
            self.gripper = 1.0 if wanted[-1] >= 0.5 else 0.0
            self.policy_ran = True
            self._target_at_ee()  # a takeover starts here
        else:
            self.chunk = []
            self._human_command(dt)
        control = "policy" if mode == "autonomous" else ("correcting" if mode == "correcting" else "human")
        frame = self.frame.jpeg  # the view of this observation (published after the last change)
        sim.control_step(self.command, gripper_ctrl(sim, self.gripper))
        self.buffer.rows.append(
            StepRow(
                state=obs["observation.state"],
                action=np.concatenate([self.command, [self.gripper]]),
                ee_pose=obs["ee.pose"],
                objects=obs["object.poses"],
                task_state=obs["task.state"],
                qpos=qpos,
                qvel=qvel,
                control_mode=CONTROL_MODES[control],
                is_intervention=control != "policy" and self.policy_ran,
                policy_action=policy_action,
                jpeg=frame,
            )
        )
        self.sim_success = bool(self.generator.task.success(sim, self.params))
        if mode == "autonomous":
            self._watch(t)

    def _watch(self, t: int) -> None:
        sim = self.sim
        lo, hi = self._joint_range()
        view = RobotView(
            time_s=t / self.settings.fps,
            ee_pos=sim.ee_pose()[0],
            object_pos=sim.object_poses()[:, :3],
            object_start=self.object_start,
            table_top=self.table_top,
            gripper_command=self.gripper,
            joint_fraction=(sim.arm_q() - lo) / np.maximum(hi - lo, 1e-9),
            uncertainty=getattr(self.policy, "uncertainty", None),
        )
        alert = self.sentinel.check(view)
        if alert is not None and not self.sim_success:
            self.status.mode, self.status.reason = "paused", alert.reason
            self.on_alert(self.index, alert)

    def _joint_range(self) -> tuple[np.ndarray, np.ndarray]:
        if not hasattr(self, "_range"):
            model = self.sim.model
            ids = [model.jnt_qposadr.tolist().index(a) for a in self.sim.index.arm_qpos]
            self._range = model.jnt_range[ids].T.copy()
        return self._range[0], self._range[1]

    def _publish(self) -> None:
        rgb = self.generator.live_frame(self.sim, self.params, "front")
        ok, jpeg = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, self.settings.jpeg_quality])
        self.frame = Frame(jpeg.tobytes(), time.time() * 1000.0, len(self.buffer))
        for notify in list(self._subscribers):
            notify()
