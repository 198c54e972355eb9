"""Seeded synthetic episodes: smooth random joint trajectories and optional rendered cameras.

Pure functions, no stage machinery: :func:`synthetic_episode` is deterministic in
``(seed, index)`` and is what ``source.synthetic`` yields, tests build fixtures with, and
benchmarks time.
"""

from __future__ import annotations

import numpy as np

from datapipe.records import CameraStream, Embodiment, Episode, Source, make_episode_id

DEFAULT_TASKS = (
    "pick up the red block",
    "push the cup to the left",
    "open the top drawer",
    "stack the green block on the blue block",
)


def synthetic_frames(rng: np.random.Generator, length: int, height: int, width: int) -> np.ndarray:
    """RGB uint8 frames ``(length, height, width, 3)``: a coloured disc moving over a gradient."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xx / max(width - 1, 1), yy / max(height - 1, 1), np.full_like(xx, 0.3)], -1) * 200
    colour = rng.uniform(60, 255, 3)
    start, end = rng.uniform(0.2, 0.8, 2), rng.uniform(0.2, 0.8, 2)
    radius = 0.15 * min(height, width)
    frames = np.empty((length, height, width, 3), np.uint8)
    for t in range(length):
        a = t / max(length - 1, 1)
        cy, cx = (start + a * (end - start)) * (height, width)
        disc = ((yy - cy) ** 2 + (xx - cx) ** 2) <= radius**2
        img = base.copy()
        img[disc] = colour
        frames[t] = img.astype(np.uint8)
    return frames


def synthetic_episode(
    seed: int,
    index: int,
    *,
    length: int,
    fps: float = 10.0,
    state_dim: int = 7,
    action_dim: int = 7,
    cameras: tuple[str, ...] = (),
    image_size: tuple[int, int] = (64, 64),
    camera_encoding: str = "mp4",
    tasks: tuple[str, ...] = DEFAULT_TASKS,
    robot: str = "synthetic_arm",
    stage_version: str = "1",
) -> Episode:
    """One synthetic episode; the same ``(seed, index)`` always gives the same episode.

    ``observation.state`` (T, state_dim) are joint positions in rad following a smooth random walk;
    ``action`` (T, action_dim) is the next state (absolute joint targets, rad).
    """
    rng = np.random.default_rng([seed, index])
    vel = np.cumsum(rng.normal(0, 0.02, (length + 1, state_dim)), axis=0)
    state = np.cumsum(vel, axis=0) / fps
    obs = state[:-1].astype(np.float32)
    act = (
        state[1:, :action_dim].astype(np.float32)
        if action_dim <= state_dim
        else np.concatenate([state[1:], rng.normal(0, 1, (length, action_dim - state_dim))], 1).astype(np.float32)
    )
    steps = {
        "timestamp": np.arange(length, dtype=np.float64) / fps,
        "observation.state": obs,
        "action": act,
        "is_intervention": np.zeros(length, bool),
        "reward": np.zeros(length, np.float32),
    }
    success = bool(rng.random() < 0.8)
    if success:
        steps["reward"][-1] = 1.0
    cams = {
        name: CameraStream.from_frames(synthetic_frames(rng, length, *image_size), fps, camera_encoding)
        for name in cameras
    }
    uri = f"synthetic://seed={seed}"
    span = f"index={index}"
    return Episode(
        episode_id=make_episode_id(uri, span, stage_version),
        source=Source(kind="synthetic", uri=uri, span=span, licence="CC0-1.0"),
        embodiment=Embodiment(
            robot=robot,
            action_names=tuple(f"joint{i}" for i in range(action_dim)),
            action_units=("rad",) * action_dim,
            action_frame="joint",
            state_names=tuple(f"joint{i}" for i in range(state_dim)),
            control_fps=fps,
            action_kinds=("joint_position",) * action_dim,
        ),
        task=(tasks[int(rng.integers(len(tasks)))],),
        fps=fps,
        steps=steps,
        cameras=cams,
        success=success,
        meta={"seed": seed, "index": index, "quality": round(float(rng.random()), 4)},
    )
