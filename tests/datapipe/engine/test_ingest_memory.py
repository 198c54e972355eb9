"""Ingest memory is bounded by what is in flight, not by a video's length: a chain takes its
source's episodes a slice at a time (``datapipe.engine.execution.SLICE_BYTES``), writes its part file a
row group per slice, and a sink's batches are capped in bytes (``BATCH_BYTES``), so the clips of a
long video never sit in memory together. Nothing is lost or duplicated on the way."""

from __future__ import annotations

import json
import weakref

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datapipe.engine import execution
from datapipe.engine.run import run_workflow
from datapipe.engine.runners.common import batched_tables
from datapipe.engine.workflow import parse_workflow
from datapipe.formats.shards.dataset import ShardDataset
from datapipe.records import CameraStream
from datapipe.records.arrow import episode_to_row
from datapipe.schemas.episode import EPISODE_SCHEMA
from datapipe.stages.ingest.video_files import VideoFiles
from tests.helpers import expected_synthetic

SECONDS, FPS = 8, 10


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    """An 8 s textured video (noise does not compress: each 1 s clip is a sizeable payload)."""
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 255, (SECONDS * FPS, 96, 128, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    path.write_bytes(CameraStream.from_frames(frames, FPS).data[0])
    return path


def _workflow(video, out):
    return parse_workflow(
        {
            "name": "long",
            "stages": [
                {"id": "videos", "uses": "ingest.video_files", "with": {"paths": [str(video)], "clip_seconds": 1}},
                {"id": "shards", "uses": "sink.webdataset", "needs": ["videos"], "with": {"path": str(out)}},
            ],
        },
        "long.yaml",
    )


def _count_live_clips(monkeypatch) -> list[int]:
    """Record, each time the source makes a clip, how many clips it made are still alive."""
    live = [0]
    counts: list[int] = []
    make = VideoFiles._episode

    def tracked(self, shard, clip):
        episode = make(self, shard, clip)
        live[0] += 1
        weakref.finalize(episode, lambda: live.__setitem__(0, live[0] - 1))
        counts.append(live[0])
        return episode

    monkeypatch.setattr(VideoFiles, "_episode", tracked)
    return counts


def test_clips_of_one_video_go_through_a_slice_at_a_time_and_all_arrive(long_video, tmp_path, monkeypatch):
    monkeypatch.setattr(execution, "SLICE_BYTES", 1)  # a slice per clip
    monkeypatch.setattr(execution, "BATCH_BYTES", 1)  # a sink batch per clip
    live = _count_live_clips(monkeypatch)
    result = run_workflow(_workflow(long_video, tmp_path / "data"), out=str(tmp_path / "run"), runner="local")
    assert result.ok, result.error
    assert len(live) == SECONDS and max(live) <= 2, live  # today: all 8 clips alive together
    (part,) = (tmp_path / "run").glob("stages/videos-*/parts/part-*.parquet")
    assert pq.ParquetFile(part).num_row_groups == SECONDS  # written a row group per slice
    ds = ShardDataset(str(tmp_path / "data"))
    starts = sorted(ep.meta["video"]["clip_start_s"] for ep in ds.iter_episodes())
    assert starts == pytest.approx(list(range(SECONDS)))  # every clip once, none lost
    receipts = [json.loads(p.read_text()) for p in (tmp_path / "run").glob("stages/shards-*/parts/*.json")]
    assert sum(len(r["sinks"]) for r in receipts) == SECONDS


def test_sliced_and_whole_batches_make_the_same_dataset(long_video, tmp_path, monkeypatch):
    whole = run_workflow(_workflow(long_video, tmp_path / "whole"), out=str(tmp_path / "r1"), runner="local")
    monkeypatch.setattr(execution, "SLICE_BYTES", 1)
    monkeypatch.setattr(execution, "BATCH_BYTES", 1)
    sliced = run_workflow(_workflow(long_video, tmp_path / "sliced"), out=str(tmp_path / "r2"), runner="local")
    assert whole.ok and sliced.ok
    a = {ep.episode_id: ep.cameras["ego"].data[0] for ep in ShardDataset(str(tmp_path / "whole")).iter_episodes()}
    b = {ep.episode_id: ep.cameras["ego"].data[0] for ep in ShardDataset(str(tmp_path / "sliced")).iter_episodes()}
    assert len(a) == SECONDS and a == b


def test_batches_are_capped_in_bytes_and_keep_every_row():
    episodes = expected_synthetic(10, seed=1, min_length=50, max_length=50)  # equal sizes
    table = pa.Table.from_pylist([episode_to_row(e) for e in episodes], schema=EPISODE_SCHEMA)
    row_bytes = table.slice(0, 1).nbytes
    assert row_bytes > 1000 and abs(table.slice(5, 1).nbytes - row_bytes) < 50  # a slice counts its own bytes
    batches = list(batched_tables(iter([table]), batch_size=256, max_bytes=int(2.5 * row_bytes)))
    assert [b.num_rows for b in batches] == [3, 3, 3, 1]
    ids = [e.episode_id for e in episodes]
    assert [i for b in batches for i in b.column("episode_id").to_pylist()] == ids
    assert [b.num_rows for b in batched_tables(iter([table]), batch_size=4, max_bytes=10**12)] == [4, 4, 2]
