"""Run by the separate LeRobot venv (``make lerobot-venv``), not by pytest: load a dataset with
LeRobot's own ``LeRobotDataset`` and save every frame it returns, for the test to compare.

Usage: python load_check.py DATASET_ROOT OUT.npz
"""

from __future__ import annotations

import json
import sys

import numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset


def main() -> None:
    root, out = sys.argv[1], sys.argv[2]
    ds = LeRobotDataset("datapipe/export-check", root=root, video_backend="torchcodec")
    arrays: dict[str, list] = {}
    for i in range(len(ds)):
        item = ds[i]
        for key, value in item.items():
            if hasattr(value, "numpy"):
                v = value.numpy()
                if key.startswith("observation.images."):
                    v = np.round(v * 255).astype(np.uint8).transpose(1, 2, 0)  # CHW float -> HWC uint8
                arrays.setdefault(key, []).append(v)
            else:
                arrays.setdefault(key, []).append(str(value))
    np.savez(out, **{k: np.stack(v) if not isinstance(v[0], str) else np.array(v) for k, v in arrays.items()})
    print(json.dumps({"frames": len(ds), "episodes": ds.num_episodes, "fps": ds.fps}))


if __name__ == "__main__":
    main()
