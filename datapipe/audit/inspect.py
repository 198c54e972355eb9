"""``datapipe inspect DATASET``: what a dataset is before it is standardized.

Detects the format (datapipe shards, LeRobot v2.0 / v2.1 / v3.0, robomimic / robosuite / ALOHA
HDF5, RLDS / TFDS), reads up to ``max_episodes`` episodes and reports episodes, frames, fps,
step arrays with dtypes and shapes, cameras and their sizes, the per-dimension range of the
actions and states, a guess at the units of angle-like dimensions and at the gripper convention,
and a draft ``standardize.embodiment`` config (YAML) to edit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from datapipe.errors import DatapipeError
from datapipe.formats.detect import FormatError, detect_format
from datapipe.records import Episode
from datapipe.standardize.action_space import detect_angle_units
from datapipe.standardize.camera_roles import camera_roles


def _episodes(path: str, fmt: str, limit: int) -> tuple[list[Episode], int, str]:
    """Up to ``limit`` episodes, the total count and the format's version."""
    if fmt == "webdataset":
        from datapipe.formats.shards.dataset import ShardDataset

        ds = ShardDataset(path)
        eps = []
        for ep in ds.iter_episodes():
            eps.append(ep)
            if len(eps) >= limit:
                break
        return eps, int(ds.manifest["episodes"]), str(ds.manifest.get("manifest_version"))
    if fmt == "lerobot":
        from datapipe.formats.lerobot.reader import LeRobotReader

        reader = LeRobotReader(path, on_missing_video="drop")
        idx = reader.episode_indices()
        return [reader.read_episode(i) for i in idx[:limit]], len(idx), str(reader.version)
    if fmt == "rlds":
        from datapipe.formats.rlds import RldsDataset

        ds = RldsDataset(path)
        eps = []
        for file in ds.files:
            for _, ep in ds.episodes(file):
                eps.append(ep)
                if len(eps) >= limit:
                    break
            if len(eps) >= limit:
                break
        shards = [s.get("shardLengths", []) for s in ds.info.get("splits", []) if s.get("name") == ds.split]
        total = sum(int(n) for s in shards for n in s) or len(eps)
        return eps, total, str(ds.info.get("version", ""))
    from datapipe.formats.hdf5 import Hdf5Demos

    demos = Hdf5Demos(path)
    keys = demos.keys()
    layout = eps[0].meta["hdf5"]["layout"] if (eps := [demos.read(k) for k in keys[:limit]]) else ""
    return eps, len(keys), layout


def _ranges(arrays: list[np.ndarray]) -> dict[str, list[float]]:
    a = np.concatenate([np.asarray(x, np.float64).reshape(len(x), -1) for x in arrays])
    return {
        "min": np.round(a.min(0), 5).tolist(),
        "max": np.round(a.max(0), 5).tolist(),
        "distinct_values": [int(min(len(np.unique(a[:, d])), 1000)) for d in range(a.shape[1])],
    }


def guess_gripper(action: dict[str, list]) -> dict[str, Any] | None:
    """The likely gripper dimension of an action (the last one that takes two values, else the
    last one) and its convention, from its range."""
    n = len(action["min"])
    if n == 0:
        return None
    binary = [d for d in range(n) if action["distinct_values"][d] <= 2]
    d = binary[-1] if binary else n - 1
    lo, hi = action["min"][d], action["max"][d]
    kind = "binary" if d in binary else "continuous"
    guess = {"index": d - n, "kind": kind, "range": [lo, hi]}
    if lo < 0 <= hi and kind == "binary":
        guess["open"] = "low"  # robosuite's convention: -1 open, 1 closed
        guess["note"] = "-1/1 grippers are usually -1 open (robosuite); check"
    else:
        guess["open"] = "high"
        guess["note"] = "assumed the high end is open; check against a video"
    return guess


def _space(ep: Episode) -> str:
    """The action space the reader knows (its action kinds), else joint_absolute (to check)."""
    kinds = ep.embodiment.action_kinds
    if any(k.startswith("ee_") and k.endswith("_delta") for k in kinds):
        return "ee_delta"
    if any(k in ("ee_position", "ee_rotation") for k in kinds):
        return "ee_absolute"
    return "joint_absolute"


def inspect_dataset(path: str, max_episodes: int = 20) -> dict[str, Any]:
    import pyarrow as pa

    fmt = detect_format(path)
    try:
        eps, total, version = _episodes(path, fmt, max_episodes)
    except DatapipeError:
        raise
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:  # a damaged file of the dataset
        raise FormatError(f"{path}: unreadable {fmt} dataset: {type(exc).__name__}: {exc}") from exc
    if not eps:
        raise FormatError(f"{path}: {fmt} dataset with no episodes")
    first = eps[0]
    steps = {
        k: {"dtype": np.asarray(v).dtype.str, "shape": list(np.asarray(v).shape[1:])} for k, v in first.steps.items()
    }
    cameras: dict[str, dict[str, int]] = {}
    for ep in eps:
        for name, cam in ep.cameras.items():
            size = f"{cam.height}x{cam.width}"
            cameras.setdefault(name, {})[size] = cameras.setdefault(name, {}).get(size, 0) + 1
    action = _ranges([e.steps["action"] for e in eps])
    state = _ranges([e.steps["observation.state"] for e in eps])
    gripper = guess_gripper(action)
    arm = [d for d in range(len(action["min"])) if gripper is None or d != gripper["index"] % len(action["min"])]
    units = detect_angle_units(np.array([[action["min"][d], action["max"][d]] for d in arm])) if arm else "unknown"
    report = {
        "path": path,
        "format": fmt,
        "version": version,
        "version_of": VERSION_MEANING.get(fmt, fmt),
        "episodes": total,
        "episodes_read": len(eps),
        "frames_read": int(sum(e.length for e in eps)),
        "fps": sorted({float(e.fps) for e in eps}),
        "robot": first.embodiment.robot,
        "tasks": sorted({t for e in eps for t in e.task})[:20],
        "steps": steps,
        "cameras": cameras,
        "action": action,
        "observation.state": state,
        "guess": {"angle_units_if_joints": units, "gripper": gripper, "space": _space(first)},
    }
    report["draft_config"] = draft_config(report)
    return report


VERSION_MEANING = {
    "webdataset": "datapipe shards manifest version",
    "lerobot": "LeRobot codebase_version",
    "rlds": "TFDS dataset version (the dataset's own, not the format's)",
    "hdf5": "HDF5 demo layout",
}
"""What the ``version`` of each format's report is."""


def describe_fps(fps: list[float]) -> str:
    """``30`` for one rate, ``mixed: 15, 30`` for several, ``unknown`` for none."""
    if not fps:
        return "unknown"
    return f"{fps[0]:g}" if len(fps) == 1 else "mixed: " + ", ".join(f"{f:g}" for f in fps)


def draft_config(report: dict[str, Any]) -> str:
    """A ``standardize.embodiment`` config for the report's dataset, to check and edit."""
    g = report["guess"]["gripper"]
    cams = camera_roles(list(report["cameras"]))
    units = report["guess"]["angle_units_if_joints"]
    lines = [
        f"# draft from `datapipe inspect {report['path']}`: check every line against the dataset's documentation",
        f"dataset: {Path(report['path']).stem or 'dataset'}",
        f"robot: {report['robot']}",
        "cameras: {" + ", ".join(f"{c}: {r}" for c, r in cams.items()) + "}  # roles: primary, secondary, wrist, drop",
        "state: [observation.state]",
        "action:",
        "  keys: [action]",
        f"  space: {report['guess']['space']}  # joint_absolute, joint_delta, ee_absolute or ee_delta: check",
        f"  units: {'auto' if units == 'ambiguous' else units}  # joint ranges look like: {units}",
    ]
    if g is not None:
        lines.append(
            f"gripper: {{index: {g['index']}, kind: {g['kind']}, range: [{g['range'][0]:g}, {g['range'][1]:g}], "
            f"open: {g['open']}, output: binary}}  # {g['note']}"
        )
    lines += ["drop_noops: true", f"fps: {report['fps'][0]:g}" if report["fps"] else "fps: 0"]
    return "\n".join(lines) + "\n"
