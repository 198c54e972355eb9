"""LeRobot v3.0 export (sink.lerobot) and import (source.lerobot, v2.1 and v3.0): round trips,
format errors, and LeRobot's own LeRobotDataset loading an export (in the separate LeRobot venv)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datapipe.engine.run import run_workflow
from datapipe.engine.workflow import parse_workflow
from datapipe.formats.lerobot.reader import LeRobotReader
from datapipe.records import CameraStream
from tests.conftest import REPO
from tests.helpers import expected_synthetic, read_sink, synthetic_raw_frames

SYN = {
    "episodes": 10,
    "episodes_per_shard": 4,
    "seed": 6,
    "min_length": 5,
    "max_length": 12,
    "cameras": ["front", "wrist"],
    "image_size": [32, 48],
}
LEROBOT_PY = REPO / ".venv-lerobot" / "bin" / "python"


def _run(doc: dict, run: Path, runner: str = "local"):
    return run_workflow(parse_workflow(doc, f"{doc['name']}.yaml"), out=str(run), runner=runner, progress=False)


def _export(tmp: Path, runner: str = "local", **sink) -> Path:
    doc = {
        "name": "export",
        "stages": [
            {"id": "src", "uses": "source.synthetic", "with": SYN},
            {"id": "out", "uses": "sink.lerobot", "needs": ["src"], "with": {"path": str(tmp / "lr"), **sink}},
            # the episodes exactly as the source made them (x264 need not give the same bytes twice)
            {"id": "copy", "uses": "sink.parquet", "needs": ["src"], "with": {"path": str(tmp / "copy")}},
        ],
    }
    result = _run(doc, tmp / "run-export", runner)
    assert result.ok, result.error
    return tmp / "lr"


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    return _export(tmp_path_factory.mktemp("lerobot"))


def _expected():
    return {
        e.episode_id: e
        for e in expected_synthetic(
            10, seed=6, min_length=5, max_length=12, cameras=("front", "wrist"), image_size=(32, 48)
        )
    }


def test_export_has_the_v3_layout(export):
    info = json.loads((export / "meta" / "info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["total_episodes"] == 10 and info["fps"] == 10.0
    assert info["features"]["observation.images.front"]["dtype"] == "video"
    assert info["features"]["action"]["shape"] == [7] and info["features"]["action"]["names"]
    for path in (
        "meta/stats.json",
        "meta/tasks.parquet",
        "meta/episodes/chunk-000/file-000.parquet",
        "data/chunk-000/file-000.parquet",
        "videos/observation.images.wrist/chunk-000/file-000.mp4",
    ):
        assert (export / path).exists(), path
    stats = json.loads((export / "meta" / "stats.json").read_text())
    eps = list(_expected().values())
    actions = np.concatenate([e.steps["action"] for e in eps]).astype(np.float64)
    np.testing.assert_allclose(stats["action"]["mean"], actions.mean(0), rtol=1e-9)
    assert np.asarray(stats["observation.images.front"]["mean"]).shape == (3, 1, 1)
    data = pq.read_table(export / "data" / "chunk-000" / "file-000.parquet")
    assert data.num_rows == info["total_frames"] == sum(e.length for e in eps)
    assert data.column("index").to_pylist() == list(range(data.num_rows))


def test_export_round_trips_through_source_lerobot_on_ray(ray_session, export, tmp_path):
    doc = {
        "name": "reimport",
        "stages": [
            {"id": "src", "uses": "source.lerobot", "with": {"path": str(export), "episodes_per_shard": 3}},
            {"id": "out", "uses": "sink.parquet", "needs": ["src"], "with": {"path": str(tmp_path / "pq")}},
        ],
    }
    result = _run(doc, tmp_path / "run", runner="ray")
    assert result.ok, result.error
    got = {e.episode_id: e for e in read_sink(tmp_path / "pq")}
    assert set(got) == set(_expected())
    expected = {e.episode_id: e.replace(lineage=()) for e in read_sink(export.parent / "copy")}
    assert set(got) == set(expected)
    for eid, ep in got.items():
        assert [x.stage for x in ep.lineage] == ["source.synthetic", "source.lerobot"]
        assert expected[eid].replace(lineage=ep.lineage).equals(ep)  # arrays, meta, videos: equal


def test_foreign_v3_dataset_reads_as_community_episodes(export, tmp_path):
    import shutil

    root = tmp_path / "foreign"
    shutil.copytree(export, root)
    path = root / "meta" / "episodes" / "chunk-000" / "file-000.parquet"
    table = pq.read_table(path)
    pq.write_table(table.select([c for c in table.column_names if not c.startswith("datapipe/")]), path)
    reader = LeRobotReader(str(root))
    ep = reader.read_episode(3)
    assert ep.source.kind == "community" and ep.source.span == "episode_index=3"
    assert ep.episode_id == LeRobotReader(str(root)).read_episode(3).episode_id  # deterministic
    original = LeRobotReader(str(export)).read_episode(3)
    assert ep.steps["action"].tobytes() == original.steps["action"].tobytes()
    assert np.allclose(ep.steps["timestamp"], original.steps["timestamp"], atol=1e-6)
    assert set(ep.cameras) == {"front", "wrist"} and ep.task == original.task


def test_different_fps_is_refused_then_resampled_when_asked(tmp_path):
    def doc(sink_with):
        return {
            "name": "mixed",
            "stages": [
                {"id": "a", "uses": "source.synthetic", "with": {"episodes": 3, "fps": 10.0, "seed": 1}},
                {"id": "b", "uses": "source.synthetic", "with": {"episodes": 3, "fps": 20.0, "seed": 2}},
                {
                    "id": "out",
                    "uses": "sink.lerobot",
                    "needs": ["a", "b"],
                    "with": {"path": str(tmp_path / "lr"), **sink_with},
                },
            ],
        }

    failed = _run(doc({}), tmp_path / "run1")
    assert not failed.ok and "fps" in failed.error and "resample" in failed.error
    resampled = _run(doc({"fps": 10.0}), tmp_path / "run2")
    assert resampled.ok, resampled.error
    reader = LeRobotReader(str(tmp_path / "lr"))
    eps = [reader.read_episode(i) for i in reader.episode_indices()]
    assert len(eps) == 6 and all(e.fps == 10.0 for e in eps)
    assert sorted(e.meta.get("resampled_from_fps", 0) for e in eps) == [0, 0, 0, 20.0, 20.0, 20.0]


def test_v21_dataset_is_read(tmp_path):
    """A hand-made v2.1 directory: one parquet and one mp4 per episode, jsonl metadata."""
    root = tmp_path / "v21"
    fps, lengths = 15.0, [6, 9]
    info = {
        "codebase_version": "v2.1",
        "robot_type": "so100",
        "fps": fps,
        "chunks_size": 1000,
        "total_episodes": 2,
        "total_frames": sum(lengths),
        "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
        "video_path": "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4",
        "features": {
            "observation.state": {"dtype": "float32", "shape": [2], "names": {"motors": ["a", "b"]}},
            "action": {"dtype": "float32", "shape": [2], "names": {"motors": ["a", "b"]}},
            "observation.images.top": {"dtype": "video", "shape": [16, 16, 3], "names": None},
            "timestamp": {"dtype": "float32", "shape": [1]},
            "frame_index": {"dtype": "int64", "shape": [1]},
            "episode_index": {"dtype": "int64", "shape": [1]},
            "index": {"dtype": "int64", "shape": [1]},
            "task_index": {"dtype": "int64", "shape": [1]},
        },
    }
    (root / "meta").mkdir(parents=True)
    (root / "meta" / "info.json").write_text(json.dumps(info))
    (root / "meta" / "tasks.jsonl").write_text('{"task_index": 0, "task": "fold the towel"}\n')
    (root / "meta" / "episodes.jsonl").write_text(
        "".join(
            json.dumps({"episode_index": i, "tasks": ["fold the towel"], "length": n}) + "\n"
            for i, n in enumerate(lengths)
        )
    )
    rng = np.random.default_rng(0)
    for i, n in enumerate(lengths):
        state = rng.normal(size=(n, 2)).astype(np.float32)
        cols = {
            "observation.state": pa.FixedSizeListArray.from_arrays(pa.array(state.reshape(-1)), 2),
            "action": pa.FixedSizeListArray.from_arrays(pa.array(state.reshape(-1) + 1), 2),
            "timestamp": pa.array((np.arange(n) / fps).astype(np.float32)),
            "frame_index": pa.array(np.arange(n)),
            "episode_index": pa.array(np.full(n, i)),
            "index": pa.array(np.arange(n) + sum(lengths[:i])),
            "task_index": pa.array(np.zeros(n, int)),
        }
        (root / "data" / "chunk-000").mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(cols), root / "data" / "chunk-000" / f"episode_{i:06d}.parquet")
        video = root / "videos" / "chunk-000" / "observation.images.top" / f"episode_{i:06d}.mp4"
        video.parent.mkdir(parents=True, exist_ok=True)
        frames = rng.integers(0, 255, (n, 16, 16, 3), dtype=np.uint8)
        video.write_bytes(CameraStream.from_frames(frames, fps).data[0])
    reader = LeRobotReader(str(root))
    eps = [reader.read_episode(i) for i in reader.episode_indices()]
    assert [e.length for e in eps] == lengths and all(e.fps == fps for e in eps)
    assert eps[1].task == ("fold the towel",) and eps[1].embodiment.action_names == ("a", "b")
    assert eps[1].cameras["top"].n_frames == 9 and eps[1].steps["observation.state"].shape == (9, 2)
    assert eps[0].embodiment.robot == "so100" and eps[0].source.kind == "community"


@pytest.mark.slow
def test_lerobot_loads_the_export_with_every_frame_and_timestamp(export, tmp_path):
    if not LEROBOT_PY.exists():
        pytest.skip("the LeRobot venv is missing: run `make lerobot-venv` (make test builds it)")
    out = tmp_path / "frames.npz"
    proc = subprocess.run(
        [str(LEROBOT_PY), str(REPO / "tests" / "lerobot_venv" / "load_check.py"), str(export), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    got = np.load(out)
    expected = _expected()
    reader = LeRobotReader(str(export))
    by_index = {i: reader.episodes[i] for i in reader.episode_indices()}
    assert summary["frames"] == sum(e.length for e in expected.values()) == len(got["index"])
    assert summary["episodes"] == 10
    for k in range(summary["frames"]):
        ep_row = by_index[int(got["episode_index"][k])]
        ep = expected[json.loads(ep_row["datapipe/episode"])["episode_id"]]
        t = int(got["frame_index"][k])
        assert abs(float(got["timestamp"][k]) - t / ep.fps) < 1e-5
        assert got["action"][k].tobytes() == ep.steps["action"][t].tobytes()
        assert got["task"][k] == ep.task[0]
        raw = synthetic_raw_frames(6, int(ep.meta["index"]), ep.length, (32, 48))
        err = np.abs(got["observation.images.front"][k].astype(int) - raw[t].astype(int)).mean()
        assert err < 6, f"frame {k}: mean abs error {err:.1f} against the frame that was encoded"


def test_a_mixture_exports_its_standard_arrays_only_when_asked(tmp_path):
    from datapipe.config import build_config
    from datapipe.stages.sink.lerobot import LeRobotSink

    eps = expected_synthetic(4, seed=3, min_length=5, max_length=8)
    eps[0] = eps[0].with_steps(**{"task.state": np.zeros((eps[0].length, 3), np.float32)})  # one source's extra

    def export(path, **kw):
        sink = LeRobotSink(build_config(LeRobotSink.Config, {"path": str(path), **kw}))
        return sink.finalize([sink.write(eps, "part-00000000000000c1")])

    with pytest.raises(Exception, match="task.state"):
        export(tmp_path / "all")
    result = export(tmp_path / "standard", steps=[])
    assert result["episodes"] == 4
    features = json.loads((tmp_path / "standard" / "meta" / "info.json").read_text())["features"]
    assert "task.state" not in features and {"observation.state", "action"} <= set(features)
    assert LeRobotSink.describe(result)[0].startswith("LeRobot v3.0: 4 episodes")


def test_a_declared_camera_with_no_videos_anywhere_is_left_out_once_up_front(tmp_path, caplog):
    """GR00T's published demo data declares two cameras and ships one: ingest what exists."""
    doc = {
        "name": "two",
        "stages": [
            {
                "id": "src",
                "uses": "source.synthetic",
                "with": {"episodes": 3, "cameras": ["front", "wrist"], "image_size": [16, 16]},
            },
            {"id": "out", "uses": "sink.lerobot", "needs": ["src"], "with": {"path": str(tmp_path / "lr")}},
        ],
    }
    assert _run(doc, tmp_path / "run1").ok
    (wrist,) = [p for p in (tmp_path / "lr" / "videos").iterdir() if "wrist" in p.name]
    shutil.rmtree(wrist)
    with caplog.at_level("WARNING"):
        reader = LeRobotReader(str(tmp_path / "lr"))
    assert reader.absent_cameras == [wrist.name]
    assert sum("no video file for any episode" in r.getMessage() for r in caplog.records) == 1
    again = {
        "name": "again",
        "stages": [
            {"id": "src", "uses": "source.lerobot", "with": {"path": str(tmp_path / "lr")}},
            {"id": "out", "uses": "sink.parquet", "needs": ["src"], "with": {"path": str(tmp_path / "pq")}},
        ],
    }
    result = _run(again, tmp_path / "run2")
    assert result.ok and result.counts("src") == {**result.counts("src"), "out": 3, "failed": 0}
    eps = read_sink(tmp_path / "pq")
    assert all(set(e.cameras) == {"front"} for e in eps)
    assert all(e.meta["lerobot_absent_cameras"] == [wrist.name] for e in eps)  # recorded in meta
