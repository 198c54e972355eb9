"""Building a dataset's ``index.json`` and ``episodes.parquet`` from the receipts of its parts.

Run once when every part is written (``sink.webdataset``'s ``finalize``): shards of parts that
were never committed are deleted, feature specs are checked to agree, moments are merged, and
quantiles are computed from the arrays read back from the shards (exact up to
``max_quantile_rows`` rows per feature). ``index.json`` is written last, atomically: a dataset
without it is not finished.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import numpy as np
import pyarrow as pa

from datapipe.errors import DatapipeError
from datapipe.formats.ownership import OwnedOutput
from datapipe.formats.shards.sample import npy_array
from datapipe.formats.shards.stats import Moments, QuantileSample, feature_stats
from datapipe.formats.shards.writer import SPLITS, merge_feature_spec
from datapipe.schemas.episode import EPISODE_SCHEMA_VERSION
from datapipe.schemas.shard_manifest import EPISODES_NAME, MANIFEST_NAME, MANIFEST_VERSION
from datapipe.storage import Location

SHARD_NAME = re.compile(r"(train|val)-part-[0-9a-f]+-\d{4}\.tar")  # the shards write_part names

EPISODES_SCHEMA = pa.schema(
    [
        ("episode_id", pa.string()),
        ("split", pa.string()),
        ("shard", pa.string()),
        ("index_in_shard", pa.int64()),
        ("length", pa.int64()),
        ("fps", pa.float64()),
        ("task", pa.string()),
        ("success", pa.bool_()),
        ("source_kind", pa.string()),
        ("robot", pa.string()),
        ("sha256", pa.string()),  # of the sample's members (datapipe.formats.shards.sample.sample_digest)
        ("camera_shapes", pa.string()),  # JSON {camera: [height, width, 3]}; cameras may differ per episode
    ]
)


class ManifestError(DatapipeError):
    """The parts of a dataset do not fit together (features of different shapes...)."""


def _check_features(receipts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    features: dict[str, dict[str, Any]] = {}
    for r in receipts:
        for c in r.get("conflicts", []):
            raise ManifestError(
                f"feature {c['feature']!r} of episode {c['episode_id']} is {c['spec']}, "
                f"other episodes have {c['expected']}; write them to separate datasets"
            )
        for name, spec in r["features"].items():
            merged = merge_feature_spec(features.setdefault(name, spec), spec)
            if merged is None:
                raise ManifestError(
                    f"feature {name!r} is {spec} in one part and {features[name]} in another; "
                    f"write them to separate datasets"
                )
            features[name] = merged
    return features


def _quantile_values(
    root: Location, shards: list[dict[str, Any]], moments: dict[str, Moments], max_rows: int
) -> tuple[dict[str, np.ndarray | None], bool]:
    from datapipe.formats.shards.tar_io import iter_samples

    samples = {k: QuantileSample(m.count, max_rows) for k, m in moments.items()}
    wanted = {f"{k}.npy": k for k in moments}
    for shard in shards:
        loc = root.join(shard["name"])
        with loc.fs.open_input_stream(loc.path) as stream:
            for _, members in iter_samples(stream, shard["name"], lambda _k, s: s in wanted):
                for member, data in members.items():
                    arr = npy_array(data)
                    samples[wanted[member]].add(arr.reshape(arr.shape[0], -1).astype(np.float64))
    exact = all(s.exact for s in samples.values())
    return {k: s.values() for k, s in samples.items()}, exact


def build_manifest(
    root: Location, receipts: list[dict[str, Any]], val_fraction: float, salt: str, max_quantile_rows: int = 5_000_000
) -> dict[str, Any]:
    """Write ``episodes.parquet`` and ``index.json`` for the committed ``receipts``, then delete the
    files of the folder's owner that are not in it (shards of parts that never committed, an earlier
    output of the sink: :class:`~datapipe.formats.ownership.OwnedOutput`); return the manifest."""
    root.makedirs()
    features = _check_features(receipts)
    shards = sorted((s for r in receipts for s in r["shards"]), key=lambda s: s["name"])
    owned = OwnedOutput(root)
    keep = {s["name"] for s in shards} | {EPISODES_NAME, MANIFEST_NAME}
    stale = owned.removable(keep, own_name=SHARD_NAME.fullmatch)  # listed once, deleted after index.json
    rows = sorted((e for r in receipts for e in r["episodes"]), key=lambda e: (e["shard"], e["index_in_shard"]))
    frames_per_shard: dict[str, int] = {}
    for e in rows:
        frames_per_shard[e["shard"]] = frames_per_shard.get(e["shard"], 0) + e["length"]
    shards = [{**s, "frames": frames_per_shard.get(s["name"], 0)} for s in shards]
    moments: dict[str, Moments] = {}
    for r in receipts:
        for name, doc in r["moments"].items():
            m = Moments.from_json(doc)
            moments[name] = moments[name].merge(m) if name in moments else m
    values, exact = _quantile_values(root, shards, moments, max_quantile_rows)
    stats = {k: feature_stats(m, values[k], features[k]["shape"], exact) for k, m in sorted(moments.items())}
    root.join(EPISODES_NAME).write_parquet_atomic(pa.Table.from_pylist(rows, schema=EPISODES_SCHEMA))
    manifest = {
        "format": "datapipe.webdataset",
        "manifest_version": MANIFEST_VERSION,
        "episode_schema_version": EPISODE_SCHEMA_VERSION,
        "created_at": time.time(),
        "episodes": len(rows),
        "frames": sum(e["length"] for e in rows),
        "splits": {
            "method": "sha256(salt + episode_id) < val_fraction -> val",
            "val_fraction": val_fraction,
            "salt": salt,
            "counts": {s: sum(1 for e in rows if e["split"] == s) for s in SPLITS},
        },
        "shards": shards,
        "features": features,
        "stats": stats,
        "orphans_removed": len(stale),
    }
    root.join(MANIFEST_NAME).write_bytes_atomic(json.dumps(manifest, indent=1).encode())
    owned.complete(keep, stale=stale)
    return manifest
