"""LLaRA-style conversations about an episode, built from ground truth rather than guessed.

:func:`conversations` returns question-answer pairs (``{"from": "human"|"gpt", "value": ...}``
turns) about one episode, from what it records: the instruction; subtask segments cut at the
gripper's close and open events (a binary or continuous gripper in the action's last dimension,
1 = open, as datapipe's convention has it); success; and, for simulated episodes, where each task
object is at the start and the end (``object.poses``, robot base frame: the base stands at the
table top, ``meta.randomization.table.top``), and how far it moved.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from datapipe.records import Episode


def gripper_events(ep: Episode) -> list[tuple[int, str]]:
    """(step, "close" | "open") where the gripper command crosses 0.5, if the action's last
    dimension is a gripper."""
    kinds = ep.embodiment.action_kinds
    if not kinds or not kinds[-1].startswith("gripper"):
        return []
    g = np.asarray(ep.steps["action"], np.float64).reshape(ep.length, -1)[:, -1] >= 0.5
    return [(int(t), "open" if g[t] else "close") for t in np.flatnonzero(g[1:] != g[:-1]) + 1]


def segments(ep: Episode) -> list[tuple[int, int, str]]:
    """Subtasks (first step, last step, name) between gripper events: reach, grasp-and-move,
    release-and-retreat..."""
    events = gripper_events(ep)
    bounds = [0] + [t for t, _ in events] + [ep.length]
    names = ["reach"] + [
        ("move the grasped object" if kind == "close" else "release and retreat") for _, kind in events
    ]
    return [(bounds[i], bounds[i + 1] - 1, names[i]) for i in range(len(names)) if bounds[i + 1] > bounds[i]]


def _object_names(ep: Episode) -> list[tuple[int, str]]:
    """(index in object.poses, description) of a simulated episode's task objects."""
    params = ep.meta.get("randomization", {}).get("task", {})
    out = []
    for i, name in enumerate(ep.meta.get("objects", [])):
        key = next(
            (k for k in (name, name.split("_")[-1], "block", "cabinet") if isinstance(params.get(k), dict)), None
        )
        colour = params.get(key, {}).get("colour", "") if key else ""
        noun = name.replace("block_", "").replace("_", " ")
        noun = "block" if noun in ("top", "bottom", "puck") else noun
        out.append((i, f"the {colour} {noun}".replace("  ", " ").strip()))
    return out


def conversations(ep: Episode) -> list[dict[str, Any]]:
    """Question-answer conversations about ``ep`` (each a list of two turns)."""
    task = ep.task[0]
    out: list[dict[str, Any]] = []

    def qa(question: str, answer: str, kind: str) -> None:
        out.append({"kind": kind, "turns": [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]})

    segs = segments(ep)
    if segs:
        plan = "; ".join(f"{name} (steps {a} to {b})" for a, b, name in segs)
        qa(f"The task is: {task}. What are the steps of this demonstration?", plan, "subtasks")
        first_close = next((t for t, kind in gripper_events(ep) if kind == "close"), None)
        if first_close is not None:
            qa(f"When does the robot grasp while doing: {task}?", f"at step {first_close} of {ep.length}", "grasp_time")
    if ep.success is not None:
        qa(f"Did the robot complete the task: {task}?", "yes" if ep.success else "no", "success")
    poses = ep.steps.get("object.poses")
    if poses is not None and "randomization" in ep.meta:
        top = float(ep.meta["randomization"]["table"]["top"])
        p = np.asarray(poses, np.float64)
        for i, name in _object_names(ep):
            start, end = p[0, i, :3] - [0, 0, top], p[-1, i, :3] - [0, 0, top]
            qa(
                f"Where is {name} at the start? Answer in metres in the robot base frame.",
                f"x {start[0]:.2f}, y {start[1]:.2f}, z {start[2]:.2f}",
                "object_position",
            )
            moved = float(np.linalg.norm(end - start))
            qa(f"How far does {name} move during: {task}?", f"{moved:.2f} m", "object_motion")
    return out
