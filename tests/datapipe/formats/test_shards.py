"""WebDataset shards: episodes -> sink.webdataset -> source.webdataset / stream, the manifest's
statistics against numpy, splits, atomic writes, corrupted shards and validate-dataset."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from datapipe.cli import main as cli_main
from datapipe.engine.run import run_workflow
from datapipe.engine.workflow import parse_workflow
from datapipe.formats.shards.dataset import ShardDataset
from datapipe.formats.shards.tar_io import ShardError, ShardWriter
from datapipe.formats.shards.writer import split_of
from datapipe.storage import resolve
from datapipe.training.stream import ShardStream
from tests.helpers import expected_synthetic, read_sink, synthetic_raw_frames

N, SEED = 24, 4
SYN = {
    "episodes": N,
    "episodes_per_shard": 6,
    "seed": SEED,
    "min_length": 6,
    "max_length": 14,
    "cameras": ["front"],
    "image_size": [32, 48],
}


def _write(tmp: Path, runner: str = "local", **sink) -> Path:
    out = tmp / "ds"
    doc = {
        "name": "wds",
        "stages": [
            {"id": "src", "uses": "source.synthetic", "with": SYN},
            {
                "id": "out",
                "uses": "sink.webdataset",
                "needs": ["src"],
                "with": {"path": str(out), "shard_max_episodes": 5, "val_fraction": 0.25, **sink},
            },
            # the episodes exactly as the source made them (x264 need not give the same bytes twice)
            {"id": "copy", "uses": "sink.parquet", "needs": ["src"], "with": {"path": str(tmp / "copy")}},
        ],
    }
    result = run_workflow(parse_workflow(doc, "wds.yaml"), out=str(tmp / "run"), runner=runner, progress=False)
    assert result.ok, result.error
    return out


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return _write(tmp_path_factory.mktemp("wds"))


def _expected():
    return {
        e.episode_id: e
        for e in expected_synthetic(N, seed=SEED, min_length=6, max_length=14, cameras=("front",), image_size=(32, 48))
    }


def test_episodes_round_trip_bit_exactly_through_shards(dataset):
    assert sorted(_expected()) == sorted(e.episode_id for e in read_sink(dataset.parent / "copy"))
    expected = {e.episode_id: e for e in read_sink(dataset.parent / "copy")}
    got = list(ShardDataset(str(dataset)).iter_episodes())
    assert sorted(e.episode_id for e in got) == sorted(expected)
    for ep in got:
        exp = expected[ep.episode_id]
        assert exp.replace(lineage=ep.lineage).equals(ep)  # arrays bit-exact, mp4 bytes identical
        assert [x.stage for x in ep.lineage] == ["source.synthetic"]


def test_source_webdataset_rereads_a_dataset_on_ray(ray_session, dataset, tmp_path):
    doc = {
        "name": "reread",
        "stages": [
            {"id": "src", "uses": "source.webdataset", "with": {"path": f"file://{dataset}", "split": "val"}},
            {"id": "out", "uses": "sink.parquet", "needs": ["src"], "with": {"path": str(tmp_path / "pq")}},
        ],
    }
    result = run_workflow(parse_workflow(doc, "r.yaml"), out=str(tmp_path / "run"), progress=False)
    assert result.ok, result.error
    from tests.helpers import read_sink

    val = {e for e in _expected() if split_of(e, 0.25) == "val"}
    assert {e.episode_id for e in read_sink(tmp_path / "pq")} == val and val


def test_manifest_lists_shards_splits_and_features(dataset):
    ds = ShardDataset(str(dataset))
    m = ds.manifest
    assert m["episodes"] == N and m["splits"]["counts"]["train"] + m["splits"]["counts"]["val"] == N
    for shard in m["shards"]:
        path = dataset / shard["name"]
        assert path.stat().st_size == shard["bytes"] and 1 <= shard["samples"] <= 5
        import hashlib

        assert hashlib.sha256(path.read_bytes()).hexdigest() == shard["sha256"]
    assert m["features"]["action"]["shape"] == [7] and m["features"]["action"]["dtype"] == "<f4"
    assert m["features"]["front"] == {**m["features"]["front"], "kind": "video", "shape": [32, 48, 3]}
    splits = {e: split_of(e, 0.25) for e in _expected()}
    rows = ds.episodes.to_pylist()
    assert {r["episode_id"]: r["split"] for r in rows} == splits
    assert all(r["shard"].startswith(r["split"] + "-") for r in rows)


def test_manifest_statistics_equal_numpy(dataset):
    stats = ShardDataset(str(dataset)).stats
    eps = list(_expected().values())
    for name in ("action", "observation.state", "reward"):
        v = np.concatenate([e.steps[name].reshape(e.length, -1).astype(np.float64) for e in eps])
        st = stats[name]
        np.testing.assert_allclose(st["min"], v.min(0), rtol=0, atol=0)
        np.testing.assert_allclose(st["max"], v.max(0), rtol=0, atol=0)
        np.testing.assert_allclose(st["mean"], v.mean(0), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(st["std"], v.std(0), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(st["q01"], np.quantile(v, 0.01, axis=0), rtol=0, atol=0)
        np.testing.assert_allclose(st["q99"], np.quantile(v, 0.99, axis=0), rtol=0, atol=0)
        assert st["count"] == len(v) and st["quantiles_exact"]


def test_stream_reproduces_steps_and_frames_within_codec_error(dataset):
    expected = _expected()
    seen = 0
    for s in ShardStream(str(dataset), split=None, shuffle=False):
        ep = expected[s["episode_id"]]
        t = s["frame_index"]
        assert s["observation.state"].tobytes() == ep.steps["observation.state"][t].tobytes()
        assert s["action"].tobytes() == ep.steps["action"][t].tobytes()
        assert s["timestamp"] == ep.steps["timestamp"][t] and s["task"] == ep.task[0]
        idx = int(ep.meta["index"])
        raw = synthetic_raw_frames(SEED, idx, ep.length, (32, 48))[t]
        err = np.abs(s["observation.images.front"].astype(int) - raw.astype(int)).mean()
        assert err < 6, f"mean abs frame error {err:.1f} over codec tolerance"
        seen += 1
    assert seen == sum(e.length for e in expected.values())


def test_history_chunks_pads_and_normalisation(dataset):
    ds = ShardDataset(str(dataset))
    stream = ShardStream(ds, split=None, shuffle=False, state_history=3, action_horizon=4, normalize="q01_q99")
    expected = _expected()
    st = ds.stats["action"]
    lo, hi = np.asarray(st["q01"]), np.asarray(st["q99"])
    for s in stream:
        ep, t = expected[s["episode_id"]], s["frame_index"]
        assert s["observation.state"].shape == (3, 7) and s["action"].shape == (4, 7)
        assert s["observation.state_is_pad"].tolist() == [t - 2 < 0, t - 1 < 0, False]
        assert s["action_is_pad"].tolist() == [t + k >= ep.length for k in range(4)]
        want = np.clip(2 * (ep.steps["action"][min(t + 1, ep.length - 1)] - lo) / (hi - lo) - 1, -1, 1)
        np.testing.assert_allclose(s["action"][1], want, rtol=1e-5, atol=1e-5)
        assert np.abs(s["action"]).max() <= 1.0
    y = stream.normalize("action", expected[s["episode_id"]].steps["action"])
    inside = (np.abs(y) < 1).all(axis=1)
    np.testing.assert_allclose(
        stream.unnormalize("action", y)[inside], expected[s["episode_id"]].steps["action"][inside], rtol=1e-5, atol=1e-5
    )


def test_shards_roll_by_size(tmp_path):
    out = _write(tmp_path, shard_max_mb=0.01)  # ~10 KiB: about one episode per shard
    m = ShardDataset(str(out)).manifest
    assert len(m["shards"]) > 10 and sum(s["samples"] for s in m["shards"]) == N


def test_failed_shard_write_leaves_no_final_name(tmp_path):
    target = resolve(tmp_path / "x.tar")
    with pytest.raises(RuntimeError):
        with ShardWriter(target) as w:
            w.add_sample("a", {"meta.json": b"{}"})
            raise RuntimeError("crash mid-shard")
    assert list(tmp_path.iterdir()) == []


def _truncate_mid_member(path: Path) -> str:
    """Cut a shard in the middle of its 3rd member's data; return that member's name."""
    with tarfile.open(path) as tar:
        member = tar.getmembers()[2]
    data = path.read_bytes()
    path.write_bytes(data[: member.offset_data + member.size // 2])
    return member.name


def test_truncated_shard_is_reported_by_name(tmp_path, capsys):
    out = _write(tmp_path)
    ds = ShardDataset(str(out))
    shard = ds.shards("train")[0]
    member = _truncate_mid_member(out / shard["name"])
    with pytest.raises(ShardError) as info:
        list(ShardStream(str(out), shuffle=False))
    assert shard["name"] in str(info.value) and info.value.member == member
    # skip: the rest of that shard is dropped with a warning, everything else streams
    lost = {r["episode_id"] for r in ds.episodes.to_pylist() if r["shard"] == shard["name"]}
    keys = {s["episode_id"] for s in ShardStream(str(out), shuffle=False, on_error="skip")}
    train = {r["episode_id"] for r in ds.episodes.to_pylist() if r["split"] == "train"}
    assert train - lost <= keys <= train and keys != train
    # validate-dataset finds it by the manifest's size and sha256, and names the member
    assert cli_main(["validate-dataset", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert shard["name"] in err and "checksum" in err and member in err


def test_validate_dataset_passes_a_clean_dataset(dataset, capsys):
    assert cli_main(["validate-dataset", str(dataset), "--deep", "--no-progress"]) == 0
    assert "ok" in capsys.readouterr().out


def test_plain_webdataset_library_reads_the_shards(dataset):
    import webdataset as wds

    ds = ShardDataset(str(dataset))
    urls = [str(dataset / s["name"]) for s in ds.shards()]
    samples = list(wds.WebDataset(urls, shardshuffle=False, empty_check=False))
    assert len(samples) == N
    s = samples[0]
    meta = json.loads(s["meta.json"])
    assert s["__key__"] == meta["episode_id"] and "action.npy" in s and "front.mp4" in s
    assert s["task.txt"].decode() == meta["task"][0]


def test_stream_over_http_equals_local(dataset):
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(dataset))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        remote = [(s["episode_id"], s["frame_index"], s["action"].tobytes()) for s in ShardStream(url, seed=3)]
        local = [(s["episode_id"], s["frame_index"], s["action"].tobytes()) for s in ShardStream(str(dataset), seed=3)]
        assert remote == local and remote
    finally:
        server.shutdown()


def test_run_dir_sink_and_stream_on_s3(monkeypatch, tmp_path):
    """A local S3 server (moto): the run directory and the shards on s3://, streamed back."""
    import logging

    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    for k, v in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        boto3.client("s3", endpoint_url=f"http://{host}:{port}").create_bucket(Bucket="lab")
        query = f"?endpoint_override={host}:{port}&scheme=http&region=us-east-1"
        doc = {
            "name": "s3",
            "stages": [
                {"id": "src", "uses": "source.synthetic", "with": {**SYN, "episodes": 8}},
                {
                    "id": "out",
                    "uses": "sink.webdataset",
                    "needs": ["src"],
                    "with": {"path": f"s3://lab/ds{query}", "val_fraction": 0.0},
                },
            ],
        }
        result = run_workflow(
            parse_workflow(doc, "s3.yaml"), out=f"s3://lab/run{query}", runner="local", progress=False
        )
        assert result.ok, result.error
        expected = {
            e.episode_id: e
            for e in expected_synthetic(
                8, seed=SEED, min_length=6, max_length=14, cameras=("front",), image_size=(32, 48)
            )
        }
        samples = list(ShardStream(f"s3://lab/ds{query}", shuffle=False))
        assert len(samples) == sum(e.length for e in expected.values())
        for s in samples:
            assert s["action"].tobytes() == expected[s["episode_id"]].steps["action"][s["frame_index"]].tobytes()
    finally:
        server.stop()


def test_cli_process_exits_cleanly(dataset):
    """As a separate process: exit code 0 and no abort at interpreter exit (pyarrow threads)."""
    import subprocess
    import sys

    for args in (
        ["validate-dataset", str(dataset), "--no-progress"],
        ["audit", str(dataset), "--out", str(dataset.parent / "audit"), "--no-progress", "--no-cameras"],
    ):
        proc = subprocess.run([sys.executable, "-m", "datapipe", *args], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, (args, proc.returncode, proc.stderr[-2000:])
        assert "terminate called" not in proc.stderr
