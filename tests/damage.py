"""Damaged datasets for tests: made with datapipe's own writers, then broken the way real damage
or a buggy tool would break them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from datapipe.engine.run import run_workflow
from datapipe.engine.workflow import parse_workflow
from datapipe.formats.shards.dataset import ShardDataset
from datapipe.formats.shards.sample import sample_digest
from datapipe.formats.shards.tar_io import ShardWriter, iter_samples
from datapipe.storage import resolve

SYN = {
    "episodes": 8,
    "episodes_per_shard": 4,
    "seed": 3,
    "min_length": 6,
    "max_length": 10,
    "cameras": ["front"],
    "image_size": [16, 16],
}


def make_shards(root: Path, **syn) -> Path:
    """A clean shard dataset of 8 episodes in 2 shards (4 each), one 16x16 camera."""
    doc = {
        "name": "clean",
        "stages": [
            {"id": "src", "uses": "source.synthetic", "with": {**SYN, **syn}},
            {
                "id": "out",
                "uses": "sink.webdataset",
                "needs": ["src"],
                "with": {"path": str(root), "shard_max_episodes": 4, "val_fraction": 0.0},
            },
        ],
    }
    result = run_workflow(
        parse_workflow(doc, "clean.yaml"), out=str(root.parent / f"{root.name}-run"), runner="local", progress=False
    )
    assert result.ok, result.error
    return root


def rewrite_sample(root: Path, index: int, mutate: Callable[[dict[str, bytes]], dict[str, bytes]]) -> tuple[str, str]:
    """Rewrite sample ``index`` (in episodes.parquet order) through ``mutate(members)``, keeping
    index.json and episodes.parquet consistent with the new bytes: damage that happened before the
    write (a buggy tool), invisible to checksums. Returns (shard name, sample key)."""
    ds = ShardDataset(str(root))
    rows = ds.episode_rows()
    target = rows[index]
    shard = next(s for s in ds.shards() if s["name"] == target["shard"])
    with open(root / shard["name"], "rb") as f:
        samples = list(iter_samples(f, shard["name"]))
    key = samples[target["index_in_shard"]][0]
    writer = ShardWriter(resolve(root / shard["name"]))
    for k, members in samples:
        if k == key:
            members = mutate(dict(members))
            target["sha256"] = sample_digest(members)
        writer.add_sample(k, members)
    entry = writer.close()
    manifest = json.loads((root / "index.json").read_text())
    for s in manifest["shards"]:
        if s["name"] == shard["name"]:
            s.update(bytes=entry["bytes"], sha256=entry["sha256"])
    (root / "index.json").write_text(json.dumps(manifest))
    table = pq.read_table(root / "episodes.parquet")
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), root / "episodes.parquet")
    return shard["name"], key


def flip_byte_in_member(root: Path, index: int, suffix: str) -> tuple[str, str]:
    """Flip one byte in the middle of member ``<key>.<suffix>`` of sample ``index`` on disk, leaving
    the manifests as they were (damage after the write). Returns (shard name, sample key)."""
    ds = ShardDataset(str(root))
    row = ds.episode_rows()[index]
    path = root / row["shard"]
    data = bytearray(path.read_bytes())
    with open(path, "rb") as f:
        key = [k for k, _ in iter_samples(f, row["shard"])][row["index_in_shard"]]
    from datapipe.records.names import sample_key

    assert key == sample_key(row["episode_id"])
    name = f"{key}.{suffix}".encode()
    header = data.index(name)  # the member's tar header; its data follows 512 bytes later
    size = int(data[header + 124 : header + 135].decode().strip("\0 ") or "0", 8)
    data[header + 512 + size // 2] ^= 0x5A
    path.write_bytes(bytes(data))
    return row["shard"], key
