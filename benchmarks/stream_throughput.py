"""Streaming throughput: ``datapipe.training.stream`` against a plain ``webdataset.WebDataset`` pipeline.

Both read the same shards (written once by ``sink.webdataset``) and produce the same training
samples: every step of every episode with its decoded camera frame (PyAV), state, a 4-step
action chunk with padding mask and the task text, through a 1000-sample shuffle buffer. The plain
pipeline is what a user would write with the webdataset library: ``WebDataset(urls)`` ->
decode members -> expand episodes to steps -> ``shuffle``. Each is timed ``BENCH_REPEATS`` times,
interleaved; medians are compared. Ratio = datapipe samples/s / plain samples/s (target >= 1.0).
The stream checks each sample's sha256 against ``episodes.parquet``; its cost is printed as
the ratio of the verified stream to ``verify=False``, measured in the same run.
Also prints the shards' size against the raw arrays and frames they hold.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

EPISODES = int(os.environ.get("BENCH_STREAM_EPISODES", "120"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
HORIZON = 4
BUFFER = 1000


def _write_dataset(tmp: Path) -> Path:
    from datapipe.engine.run import run_workflow
    from datapipe.engine.workflow import parse_workflow

    doc = {
        "name": "bench_stream",
        "stages": [
            {
                "id": "src",
                "uses": "source.synthetic",
                "with": {
                    "episodes": EPISODES,
                    "episodes_per_shard": 10,
                    "min_length": 40,
                    "max_length": 80,
                    "cameras": ["front"],
                    "image_size": [96, 96],
                },
            },
            {
                "id": "out",
                "uses": "sink.webdataset",
                "needs": ["src"],
                "with": {"path": str(tmp / "ds"), "shard_max_episodes": 20, "val_fraction": 0.0},
            },
        ],
    }
    result = run_workflow(parse_workflow(doc, "bench.yaml"), out=str(tmp / "run"), runner="local", progress=False)
    assert result.ok, result.error
    return tmp / "ds"


def _plain(urls: list[str]) -> int:
    import webdataset as wds

    from datapipe.formats.shards.sample import npy_array
    from datapipe.records import video

    def steps(src):
        for s in src:
            meta = json.loads(s["meta.json"])
            state = npy_array(s["observation.state.npy"]).astype(np.float32)
            action = npy_array(s["action.npy"]).astype(np.float32)
            ts = npy_array(s["timestamp.npy"])
            cam = meta["cameras"]["front"]
            frames = video.decode_mp4(s["front.mp4"], cam["width"], cam["height"])
            T = len(ts)
            for t in range(T):
                idx = t + np.arange(HORIZON)
                yield {
                    "episode_id": meta["episode_id"],
                    "frame_index": t,
                    "timestamp": float(ts[t]),
                    "task": s["task.txt"].decode(),
                    "observation.state": state[t].copy(),
                    "action": action[np.clip(idx, 0, T - 1)],
                    "action_is_pad": idx >= T,
                    "observation.images.front": frames[t].copy(),
                }

    pipeline = wds.DataPipeline(
        wds.SimpleShardList(urls),
        wds.shuffle(100, initial=100),
        wds.tarfile_to_samples(),
        steps,
        wds.shuffle(BUFFER, initial=BUFFER),
    )
    return sum(1 for _ in pipeline)


def _ours(path: Path, verify: bool = True) -> int:
    from datapipe.training.stream import ShardStream

    stream = ShardStream(str(path), shuffle_buffer=BUFFER, action_horizon=HORIZON, verify=verify)
    return sum(1 for _ in stream)


def _timed(fn, *args) -> float:
    started = time.perf_counter()
    n = fn(*args)
    return n / (time.perf_counter() - started)


def main() -> None:
    from datapipe.formats.shards.dataset import ShardDataset

    with tempfile.TemporaryDirectory() as d:
        path = _write_dataset(Path(d))
        ds = ShardDataset(str(path))
        urls = [str(path / s["name"]) for s in ds.shards()]
        _plain(urls), _ours(path)  # warm up imports and caches
        plain, ours, unverified = [], [], []
        for _ in range(REPEATS):
            plain.append(_timed(_plain, urls))
            ours.append(_timed(_ours, path))
            unverified.append(_timed(_ours, path, False))
        p, o, u = statistics.median(plain), statistics.median(ours), statistics.median(unverified)
        print(
            f"stream throughput, {ds.manifest['frames']} samples (96x96 frames, {HORIZON}-step chunks, "
            f"shuffle {BUFFER}): datapipe.training.stream {o:.0f} samples/s, plain webdataset {p:.0f} samples/s "
            f"(medians of {REPEATS}), ratio {o / p:.2f} (target >= 1.00)",
            flush=True,
        )
        print(
            f"per-sample sha256 check: datapipe.training.stream {o:.0f} samples/s verified, {u:.0f} with verify=False, "
            f"ratio {o / u:.3f} (the check's cost: {max(0.0, 1 - o / u):.1%})",
            flush=True,
        )
        shard_bytes = sum(s["bytes"] for s in ds.shards())
        frames = ds.manifest["frames"]
        f = ds.features
        raw = frames * sum(int(np.prod(v["shape"])) * np.dtype(v["dtype"]).itemsize for v in f.values())
        print(
            f"shard size: {shard_bytes / 2**20:.1f} MiB for {raw / 2**20:.1f} MiB of raw arrays and frames "
            f"(ratio {shard_bytes / raw:.3f})",
            flush=True,
        )


if __name__ == "__main__":
    main()
