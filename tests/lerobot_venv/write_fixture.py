"""Run by the separate LeRobot venv, not by pytest: write a LeRobot dataset with LeRobot's own
writer (``LeRobotDataset.create`` / ``add_frame`` / ``save_episode``) and save the values written,
for the test to compare with what datapipe reads.

LeRobot 0.4.4 (``.venv-lerobot``) writes v3.0; LeRobot 0.3.2 (on ``PYTHONPATH`` from
``.lerobot-v21``, same dependencies) writes v2.1.

Usage: python write_fixture.py ROOT SPEC_JSON OUT.npz

SPEC_JSON: {"fps": 10, "robot_type": "so100", "seed": 0, "lengths": [8, 12], "tasks": ["..."],
            "state_key": "observation.state", "action_key": "action", "dim": 6,
            "cameras": {"top": [16, 24]}}
"""

from __future__ import annotations

import inspect
import json
import sys

import numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset


def frames_for(rng: np.random.Generator, length: int, height: int, width: int) -> np.ndarray:
    """Smooth frames (a moving gradient and a square) that survive lossy video coding."""
    y, x = np.mgrid[0:height, 0:width]
    base = rng.integers(40, 200, 3)
    out = np.empty((length, height, width, 3), dtype=np.uint8)
    for t in range(length):
        img = np.stack([(x * 4 + t * 6 + base[0]) % 256, (y * 4 + base[1]) % 256, np.full_like(x, base[2])], -1)
        c = (t * 2) % max(1, width - 6)
        img[2:8, c : c + 6] = 255
        out[t] = img
    return out


def main() -> None:
    root, spec, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    rng = np.random.default_rng(spec.get("seed", 0))
    dim = spec.get("dim", 6)
    state_key, action_key = spec.get("state_key", "observation.state"), spec.get("action_key", "action")
    names = [f"joint{i}" for i in range(dim - 1)] + ["gripper"]
    features = {
        state_key: {"dtype": "float32", "shape": (dim,), "names": names},
        action_key: {"dtype": "float32", "shape": (dim,), "names": names},
    }
    for cam, (h, w) in spec.get("cameras", {}).items():
        features[f"observation.images.{cam}"] = {
            "dtype": "video",
            "shape": (h, w, 3),
            "names": ["height", "width", "channels"],
        }
    kwargs = {"vcodec": "h264"} if "vcodec" in inspect.signature(LeRobotDataset.create).parameters else {}
    ds = LeRobotDataset.create(
        repo_id="datapipe/fixture",
        fps=spec["fps"],
        features=features,
        root=root,
        robot_type=spec.get("robot_type", "so100"),
        use_videos=True,
        **kwargs,
    )
    task_in_frame = "task" not in inspect.signature(ds.add_frame).parameters
    saved: dict[str, list[np.ndarray]] = {}
    for e, length in enumerate(spec["lengths"]):
        task = spec["tasks"][e % len(spec["tasks"])]
        state = np.cumsum(rng.normal(0, 0.05, (length, dim)), axis=0).astype(np.float32)
        action = (state + 0.1).astype(np.float32)
        cams = {c: frames_for(rng, length, h, w) for c, (h, w) in spec.get("cameras", {}).items()}
        for t in range(length):
            frame = {state_key: state[t], action_key: action[t]}
            frame.update({f"observation.images.{c}": v[t] for c, v in cams.items()})
            if task_in_frame:
                ds.add_frame({**frame, "task": task})
            else:
                ds.add_frame(frame, task=task)
        ds.save_episode()
        saved.setdefault("state", []).append(state)
        saved.setdefault("action", []).append(action)
        for c, v in cams.items():
            saved.setdefault(f"frames_{c}", []).append(v)
    if hasattr(ds, "finalize"):
        ds.finalize()
    np.savez(out, **{f"{k}_{i}": a for k, arrays in saved.items() for i, a in enumerate(arrays)})
    print(json.dumps({"root": root, "episodes": len(spec["lengths"])}))


if __name__ == "__main__":
    main()
