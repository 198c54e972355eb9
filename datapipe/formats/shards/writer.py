"""Writing episodes into WebDataset shards: split assignment, shard rolling, per-part receipts.

:func:`write_part` writes one batch of episodes (a committed part of a run) into its own shards,
named ``<split>-<part>-<k>.tar`` so that a retried part replaces its shards and parts written in
parallel never collide. Each split gets its own shards; a shard is closed when the next episode
would take it past ``max_bytes`` or when it holds ``max_episodes``. The receipt lists the shards
(name, samples, bytes, sha256), one row per episode, the feature specs and the exact, mergeable
moments of every numeric feature; :mod:`datapipe.formats.shards.manifest` turns receipts into ``index.json``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from datapipe.formats.shards.sample import episode_members, sample_digest
from datapipe.formats.shards.stats import Moments, stats_features
from datapipe.formats.shards.tar_io import ShardWriter
from datapipe.records import Episode
from datapipe.records.names import sample_key
from datapipe.storage import Location

SPLITS = ("train", "val")
TAR_OVERHEAD = 512  # bytes of tar header per member


def split_of(episode_id: str, val_fraction: float, salt: str = "") -> str:
    """``"val"`` for a ``val_fraction`` share of episode ids, ``"train"`` otherwise.

    Decided by the sha256 of ``salt + episode_id``, so an episode keeps its split when the
    dataset grows or is rewritten, and different salts give independent splits."""
    h = int.from_bytes(hashlib.sha256(f"{salt}{episode_id}".encode()).digest()[:8], "big")
    return "val" if h / 2**64 < val_fraction else "train"


@dataclass(frozen=True)
class ShardOptions:
    """How to shard: size limits, validation split, JPEG transcoding quality."""

    max_bytes: int = 512 * 2**20
    max_episodes: int = 1000
    val_fraction: float = 0.05
    split_salt: str = ""
    jpeg_crf: int = 18


def feature_specs(ep: Episode) -> dict[str, dict[str, Any]]:
    """dtype, per-step shape and dimension names of each step array, and camera sizes."""
    names = {"action": list(ep.embodiment.action_names), "observation.state": list(ep.embodiment.state_names)}
    specs: dict[str, dict[str, Any]] = {
        k: {"kind": "array", "dtype": v.dtype.str, "shape": list(v.shape[1:]), "names": names.get(k) or None}
        for k, v in ep.steps.items()
    }
    for name, cam in ep.cameras.items():
        specs[name] = {
            "kind": "video",
            "dtype": "|u1",
            "shape": [cam.height, cam.width, 3],
            "names": None,
            "codec": "h264",
        }
    return specs


def merge_feature_spec(known: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any] | None:
    """The spec of a feature seen as ``known`` and now as ``spec``; None if they conflict. Cameras
    of different sizes agree (sources differ): ``shapes`` lists every size, and ``shape`` is the
    size when there is one, else None (each episode's sizes are in ``episodes.parquet``)."""
    if known == spec:
        return known
    if known.get("kind") == spec.get("kind") == "video":
        shapes = sorted({tuple(s) for s in known.get("shapes", [known["shape"]]) + spec.get("shapes", [spec["shape"]])})
        return {**known, "shape": list(shapes[0]) if len(shapes) == 1 else None, "shapes": [list(s) for s in shapes]}
    return None


def write_part(
    root: Location, episodes: list[Episode], part: str, options: ShardOptions, reject: Any = None
) -> dict[str, Any]:
    """Write ``episodes`` into shards under ``root``; return the part's receipt (JSON-able).

    An episode whose members cannot be made (a malformed record, an mp4 whose frames do not
    match its steps) is handed to ``reject(episode, error)`` and left out; without ``reject`` the
    error is raised."""
    open_writers: dict[str, ShardWriter] = {}
    counters = dict.fromkeys(SPLITS, 0)
    shards: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    moments: dict[str, Moments] = {}
    specs: dict[str, dict[str, Any]] = {}
    conflicts: list[dict[str, Any]] = []  # episodes whose features differ from the part's first
    try:
        for ep in episodes:
            split = split_of(ep.episode_id, options.val_fraction, options.split_salt)
            try:
                members = episode_members(ep, options.jpeg_crf)
            except Exception as exc:
                if reject is None:
                    raise
                reject(ep, exc)
                continue
            size = sum(len(v) + TAR_OVERHEAD for v in members.values())
            w = open_writers.get(split)
            if w is not None and (w.samples >= options.max_episodes or w.bytes_written + size > options.max_bytes):
                shards.append({**open_writers.pop(split).close(), "split": split})
                w = None
            if w is None:
                name = f"{split}-{part}-{counters[split]:04d}.tar"
                counters[split] += 1
                w = open_writers[split] = ShardWriter(root.join(name))
            rows.append(
                {
                    "episode_id": ep.episode_id,
                    "split": split,
                    "shard": w.target.path.rsplit("/", 1)[-1],
                    "index_in_shard": w.samples,
                    "length": ep.length,
                    "fps": float(ep.fps),
                    "task": ep.task[0],
                    "success": ep.success,
                    "source_kind": ep.source.kind,
                    "robot": ep.embodiment.robot,
                }
            )
            rows[-1]["sha256"] = sample_digest(members)
            rows[-1]["camera_shapes"] = json.dumps({k: [c.height, c.width, 3] for k, c in sorted(ep.cameras.items())})
            w.add_sample(sample_key(ep.episode_id), members)
            for name, spec in feature_specs(ep).items():
                merged = merge_feature_spec(specs.setdefault(name, spec), spec)
                if merged is None:
                    conflicts.append(
                        {"feature": name, "episode_id": ep.episode_id, "spec": spec, "expected": specs[name]}
                    )
                else:
                    specs[name] = merged
            for name, values in stats_features(dict(ep.steps)).items():
                m = Moments.of(values)
                if name in moments and moments[name].mean.shape == m.mean.shape:
                    moments[name] = moments[name].merge(m)
                elif name not in moments:
                    moments[name] = m
        for split, w in list(open_writers.items()):
            shards.append({**w.close(), "split": split})
            del open_writers[split]
    finally:
        for w in open_writers.values():
            w.abort()
    return {
        "shards": shards,
        "episodes": rows,
        "features": specs,
        "conflicts": conflicts,
        "moments": {k: m.to_json() for k, m in moments.items()},
    }
