"""Evaluating a policy in a simulated task: rollouts over held-out seeds, success rate with a
confidence interval, lengths and failure modes, and the rollouts recorded as episodes.

A rollout builds the seed's scene (the same randomization as ``generate.sim``), settles it, then
each control step observes (``observation.state``: arm joints and gripper opening;
``object.poses``; ``task.state``; ``ee.pose``: end-effector position (m) and quaternion wxyz,
world), asks the policy for an action chunk, executes up to ``execute``
of its actions (arm joint targets; the gripper command thresholded at 0.5, 1 open / 0 closed, as
the simulated embodiment's gripper is binary), and stops at success or after ``max_steps``.
``timestamp`` (s since the start) is observed too. Failure modes are read off the task
objects: ``untouched`` (no object moved more than 1 cm) or ``moved, not placed``.

Held-out seeds: evaluation seeds start at :data:`EVAL_SEED_BASE`, away from the seeds
``generate.sim`` uses by default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

EVAL_SEED_BASE = 1_000_000


@dataclass
class Rollout:
    seed: int
    success: bool
    length: int
    failure: str
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a success rate (scipy's ``binomtest(...).proportion_ci``);
    (0, 1) without trials."""
    if n == 0:
        return (0.0, 1.0)
    from scipy.stats import binomtest

    ci = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))


def rollout(
    generator: Any,
    policy: Any,
    seed: int,
    max_steps: int = 400,
    execute: int = 1,
    record: bool = False,
    blank_instruction: bool = False,
) -> Rollout:
    """One episode of ``policy`` in the scene of ``seed`` (told an empty instruction with
    ``blank_instruction``: a policy that reads should then do no better than chance)."""
    from datapipe.generators.expert import (
        gripper_ctrl,
    )  # MuJoCo and the IK: not at import (the CLI imports this module)

    params = generator.scene_params(seed)
    sim = generator.build(params)
    task = generator.task
    instruction = "" if blank_instruction else params["task"]["instruction"]
    policy.reset(instruction, seed)
    start = sim.object_poses()
    rows: dict[str, list[np.ndarray]] = {}
    initial = sim.get_state()
    spec = getattr(policy, "spec", None)
    # {policy camera: simulator camera}, resolved once: rendered only when the policy asks, at its size
    views = sim_cameras(generator, spec.cameras, spec.camera_sources) if spec is not None and spec.cameras else {}
    step, success = 0, False
    while step < max_steps and not success:
        state = np.concatenate([sim.arm_q(), [sim.gripper_width()]]).astype(np.float32)
        observation = {
            "observation.state": state,
            "object.poses": sim.object_poses().astype(np.float32),
            "task.state": task.observation(sim, params),
            "ee.pose": np.concatenate(sim.ee_pose()).astype(np.float32),
            "timestamp": np.float32(step / generator.settings.control_fps),
            "task": instruction,
            "step": step,
        }
        if views:
            observation.update(camera_observation(generator, sim, params, views, spec.image_size))
        chunk = np.atleast_2d(policy.act(observation))
        for action in chunk[: max(1, execute)]:
            if record:
                for key, value in (
                    ("state", state),
                    ("action", action),
                    ("qpos", sim.data.qpos.copy()),
                    ("qvel", sim.data.qvel.copy()),
                    ("objects", sim.object_poses()),
                    ("task_state", task.observation(sim, params)),
                    ("ee_pose", np.concatenate(sim.ee_pose())),
                ):
                    rows.setdefault(key, []).append(np.asarray(value))
            arm = np.asarray(action[:-1], dtype=np.float64)
            sim.control_step(arm, gripper_ctrl(sim, 1.0 if action[-1] >= 0.5 else 0.0))  # a binary gripper
            step += 1
            success = task.success(sim, params)
            if success or step >= max_steps:
                break
            state = np.concatenate([sim.arm_q(), [sim.gripper_width()]]).astype(np.float32)
    moved = float(np.max(np.linalg.norm(sim.object_poses()[:, :3] - start[:, :3], axis=1))) if len(start) else 0.0
    failure = "" if success else task.failure(sim, params) or ("untouched" if moved < 0.01 else "moved, not placed")
    arrays = {k: np.stack(v) for k, v in rows.items()}
    if record:
        arrays["initial_state"] = initial
    return Rollout(seed, success, step, failure, arrays, params)


def sim_cameras(
    generator: Any, cameras: tuple[str, ...], sources: dict[str, tuple[str, ...]] | None = None
) -> dict[str, str]:
    """``{policy camera: simulator camera}``: the camera itself where the simulator has it, else
    the first camera it was standardized from (``primary`` <- ``front``) that the simulator has;
    :class:`~datapipe.training.vision_language.ObservationError` names a camera it cannot render."""
    out = {}
    for cam in cameras:
        candidates = (cam, *(sources or {}).get(cam, ()))
        found = next((c for c in candidates if generator.has_camera(c)), None)
        if found is None:
            from datapipe.training.vision_language import ObservationError

            tried = ", ".join(candidates)
            raise ObservationError(f"the policy sees camera {cam!r}; the simulator has no camera {tried}")
        out[cam] = found
    return out


def camera_observation(
    generator: Any, sim: Any, params: dict[str, Any], cameras: dict[str, str], size: tuple[int, int] | None
) -> dict[str, np.ndarray]:
    """``observation.images.<camera>``: a frame ``(H, W, 3)`` uint8 of the running ``sim`` for
    each policy camera from its simulator camera (``cameras``: see :func:`sim_cameras`), rendered
    at the generator's image size (the size the training data was rendered at) and resized to
    ``size`` the way the training stream resizes (``cv2.INTER_AREA``)."""
    import cv2

    out = {}
    for cam, rendered in cameras.items():
        frame = generator.live_frame(sim, params, rendered)
        if size is not None and tuple(frame.shape[:2]) != tuple(size):
            frame = cv2.resize(frame, (int(size[1]), int(size[0])), interpolation=cv2.INTER_AREA)
        out[f"observation.images.{cam}"] = frame
    return out


def summarize(rollouts: list[Rollout]) -> dict[str, Any]:
    n = len(rollouts)
    k = sum(r.success for r in rollouts)
    lo, hi = wilson_interval(k, n)
    lengths = [r.length for r in rollouts]
    failures: dict[str, int] = {}
    for r in rollouts:
        if not r.success:
            failures[r.failure] = failures.get(r.failure, 0) + 1
    return {
        "episodes": n,
        "successes": k,
        "success_rate": round(k / n, 4) if n else 0.0,
        "confidence_95": [round(lo, 4), round(hi, 4)],
        "length": {
            "mean": round(float(np.mean(lengths)), 2) if n else 0.0,
            "min": int(min(lengths)) if n else 0,
            "max": int(max(lengths)) if n else 0,
        },
        "failure_modes": failures,
        "seeds": [r.seed for r in rollouts],
        "per_episode": [
            {"seed": r.seed, "success": r.success, "length": r.length, "failure": r.failure} for r in rollouts
        ],
    }


def rollout_episode(generator: Any, r: Rollout, policy_name: str, render: bool = False) -> Any:
    """A recorded rollout (``rollout(..., record=True)``) as an :class:`Episode`, like the expert's
    (source kind ``sim``; ``meta.rollout`` names the policy)."""
    a = r.arrays
    steps = {
        "observation.state": a["state"].astype(np.float32),
        "action": a["action"].astype(np.float32),
        "object.poses": a["objects"],
        "task.state": a["task_state"],
        "ee.pose": a["ee_pose"],
        "sim.qpos": a["qpos"],
        "sim.qvel": a["qvel"],
    }
    meta = {
        "rollout": {"policy": policy_name, "failure": r.failure},
        "sim": {"initial_state": np.asarray(a["initial_state"]).tolist(), "state_spec": "mjSTATE_FULLPHYSICS"},
    }
    uri = f"sim://{generator.task.name}?robot={generator.robot.name}&policy={policy_name}"
    return generator.sim_episode(r.seed, r.params, steps, r.success, uri, "rollout-1", meta, render)
