"""What ``datapipe train`` observes: the flags checked against the dataset, and a choice when
no flag says.

The robot's own state (``observation.state``: joints and gripper) cannot solve a task alone: it
does not say where the objects are. With neither ``--state-keys`` nor ``--camera`` the trainer
picks observations that can, from what the dataset holds, in this order:

1. the task's state where the dataset records it (``task.state``: object and goal positions of
   a simulated task), with ``ee.pose`` (end-effector position, m, and quaternion wxyz) and
   ``timestamp`` (s since the episode's start) where present: the recipe measured in
   ``python -m benchmarks usefulness``;
2. else object poses (``object.poses``), with the same two;
3. else a camera (the scene camera by name, ``front`` before ``wrist``, through the same roles as
   ``datapipe inspect --draft``);
4. else the robot's state alone, with a warning that the policy cannot see the scene.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WITH_SCENE_STATE = ("ee.pose", "timestamp")
"""Step arrays added to a scene state where the dataset has them."""


@dataclass(frozen=True)
class ObservationChoice:
    """What to observe beyond ``observation.state``, and why (one line for the user)."""

    state_keys: tuple[str, ...]
    camera: str
    reason: str
    warning: str = ""


def _arrays(features: dict[str, dict[str, Any]]) -> set[str]:
    return {k for k, f in features.items() if f.get("kind") == "array"}


def _cameras(features: dict[str, dict[str, Any]]) -> list[str]:
    return sorted(k for k, f in features.items() if f.get("kind") == "video")


def choose_observations(features: dict[str, dict[str, Any]]) -> ObservationChoice:
    """The observations of a dataset with manifest ``features`` that can solve its task."""
    arrays, cameras = _arrays(features), _cameras(features)
    for scene, what in (("task.state", "the task's state"), ("object.poses", "object poses")):
        if scene in arrays:
            keys = (scene, *(k for k in WITH_SCENE_STATE if k in arrays))
            return ObservationChoice(keys, "", f"{what} is recorded in the dataset")
    if cameras:
        from datapipe.standardize.camera_roles import camera_roles

        roles = camera_roles(cameras)
        camera = next((n for role in ("primary", "secondary", "wrist") for n, r in roles.items() if r == role))
        return ObservationChoice((), camera, f"the dataset has no scene state; {camera!r} is its scene camera")
    return ObservationChoice(
        (),
        "",
        "the dataset has no scene state and no camera",
        warning="the policy sees only the robot's own state: it cannot know where objects are",
    )


def describe_choice(choice: ObservationChoice) -> str:
    """``observing observation.state + task.state, ... (why; --state-keys or --camera to choose)``."""
    seen = ["observation.state", *choice.state_keys] + ([f"camera {choice.camera}"] if choice.camera else [])
    line = f"observing {' + '.join(seen)} ({choice.reason}; --state-keys or --camera to choose)"
    return line + (f"\nwarning: {choice.warning}" if choice.warning else "")


def check_inputs(dataset: str, features: dict[str, dict[str, Any]], camera: str, state_keys: tuple[str, ...]) -> None:
    """``--camera`` and ``--state-keys`` name what the dataset holds (else a one-line error)."""
    from datapipe.errors import DatapipeError
    from datapipe.training.stream_config import StreamConfigError, check_wanted

    try:  # the stream's own check, with the flags named
        check_wanted(features, (camera,) if camera else (), state_keys)
    except StreamConfigError as exc:
        have = ", ".join(sorted(exc.available))
        if exc.field == "cameras":
            raise DatapipeError(
                f"--camera {camera!r}: {dataset} has no such camera (it has: {have or 'none'})"
            ) from None
        raise DatapipeError(
            f"--state-keys {','.join(exc.missing)}: not step arrays of {dataset} (it has: {have})"
        ) from None
