"""Readers survive damaged samples: the stream, validate-dataset, the audit and
source.webdataset name the shard and member, skip or quarantine that sample only, and keep going."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest

from datapipe.cli import main
from datapipe.engine.run import run_workflow
from datapipe.engine.workflow import parse_workflow
from datapipe.formats.shards.dataset import DatasetError, ShardDataset
from datapipe.formats.shards.sample import SampleError
from datapipe.formats.shards.validate import validate_dataset
from datapipe.records.names import sample_key
from datapipe.records.video import encode_mp4
from datapipe.training.stream import ShardStream
from tests.damage import flip_byte_in_member, make_shards, rewrite_sample
from tests.helpers import read_sink


def _stream_ids(root, **kw) -> list[str]:
    return [s["episode_id"] for s in ShardStream(str(root), split=None, shuffle=False, **kw)]


def _lengths(root) -> dict[str, int]:
    return {r["episode_id"]: r["length"] for r in ShardDataset(str(root)).episode_rows()}


@pytest.fixture
def garbage_mp4(tmp_path):
    """A dataset whose sample 2 holds an mp4 of garbage inside an intact shard."""
    root = make_shards(tmp_path / "ds")
    shard, key = rewrite_sample(root, 2, lambda m: {**m, "front.mp4": b"\x00\x00\x00\x18ftypmp42" + b"\x13" * 400})
    return root, shard, key


def test_stream_skips_a_corrupted_video_and_names_it_otherwise(garbage_mp4):
    root, shard, key = garbage_mp4
    lengths = _lengths(root)
    bad = ShardDataset(str(root)).episode_rows()[2]["episode_id"]
    got = _stream_ids(root, on_error="skip")
    assert bad not in got and len(got) == sum(v for k, v in lengths.items() if k != bad)
    with pytest.raises(SampleError, match=f"{shard}:{key}.front.mp4"):
        _stream_ids(root)


def test_audit_reports_a_corrupted_video_as_a_finding_and_gates_ci(garbage_mp4, tmp_path, capsys):
    root, shard, key = garbage_mp4
    assert main(["audit", str(root), "--out", str(tmp_path / "a"), "--no-progress"]) == 0
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["episodes"] == 8 and (tmp_path / "a" / "report.html").exists()
    damaged = [f for f in summary["findings"] if f["kind"] == "damaged_video"]
    assert len(damaged) == 1 and f"{shard}:{key}.front.mp4" in damaged[0]["message"]
    assert main(["audit", str(root), "--out", str(tmp_path / "b"), "--no-progress", "--fail-on", "error"]) == 1
    assert "--fail-on error" in capsys.readouterr().err
    clean = make_shards(tmp_path / "clean")
    assert main(["audit", str(clean), "--out", str(tmp_path / "c"), "--no-progress", "--fail-on", "error"]) == 0


def test_validate_deep_decodes_video(garbage_mp4):
    root, shard, key = garbage_mp4
    assert validate_dataset(str(root)).ok  # the shard itself is intact
    problems = validate_dataset(str(root), deep=True).problems
    assert [(p.shard, p.member, p.kind) for p in problems] == [(shard, key, "video")]


def _copy(root, tmp_path):
    """Re-read a shard dataset with source.webdataset into a parquet sink (tmp_path / "copy")."""
    doc = {
        "name": "copy",
        "defaults": {"max_error_rate": 0.5},
        "stages": [
            {"id": "src", "uses": "source.webdataset", "with": {"path": str(root)}},
            {"id": "out", "uses": "sink.parquet", "needs": ["src"], "with": {"path": str(tmp_path / "copy")}},
        ],
    }
    return run_workflow(parse_workflow(doc, "copy.yaml"), out=str(tmp_path / "run"), runner="local", progress=False)


def test_source_webdataset_quarantines_only_the_damaged_sample(garbage_mp4, tmp_path):
    root, shard, key = garbage_mp4
    result = _copy(root, tmp_path)
    assert result.ok, result.error
    assert result.counts("src") == {**result.counts("src"), "in": 8, "out": 7, "failed": 1}
    q = result.plan.get("src").read_quarantine().to_pylist()
    assert len(q) == 1 and key in q[0]["input_key"] and "front.mp4" in q[0]["error_message"]
    assert len(read_sink(tmp_path / "copy")) == 7


def test_a_byte_flipped_after_writing_is_found_per_sample(tmp_path):
    root = make_shards(tmp_path / "ds")
    shard, key = flip_byte_in_member(root, 5, "action.npy")
    kinds = {(p.kind, p.member) for p in validate_dataset(str(root)).problems}
    assert ("sample_checksum", key) in kinds and ("checksum", None) in kinds
    result = _copy(root, tmp_path)
    assert result.ok and result.counts("src")["failed"] == 1 and len(read_sink(tmp_path / "copy")) == 7
    assert main(["audit", str(root), "--out", str(tmp_path / "a"), "--no-progress"]) == 0
    findings = json.loads((tmp_path / "a" / "summary.json").read_text())["findings"]
    bad = ShardDataset(str(root)).episode_rows()[5]["episode_id"]
    assert any(f["kind"] == "checksum_mismatch" and f["episode_ids"] == [bad] for f in findings)


def test_a_video_with_fewer_frames_than_steps_is_caught_everywhere(tmp_path):
    root = make_shards(tmp_path / "ds")
    short = encode_mp4(np.zeros((2, 16, 16, 3), np.uint8), 10.0)
    shard, key = rewrite_sample(root, 1, lambda m: {**m, "front.mp4": short})
    problems = validate_dataset(str(root), deep=True).problems
    assert [(p.kind, p.member) for p in problems] == [("video", key)] and "2 frames" in problems[0].message
    with pytest.raises(SampleError, match="2 frames for"):
        _stream_ids(root)
    bad = ShardDataset(str(root)).episode_rows()[1]["episode_id"]
    assert bad not in _stream_ids(root, on_error="skip")
    assert main(["audit", str(root), "--out", str(tmp_path / "a"), "--no-progress"]) == 0
    kinds = [f["kind"] for f in json.loads((tmp_path / "a" / "summary.json").read_text())["findings"]]
    assert "frame_count_mismatch" in kinds


@pytest.mark.parametrize(
    "meta",
    [{"fps": "fast"}, {"steps": 5}, {"cameras": {"front": {"width": "x"}}}, {"lineage": [{"nope": 1}]}, {"task": None}],
)
def test_bad_meta_fields_are_sample_problems_not_tracebacks(tmp_path, meta, capsys):
    root = make_shards(tmp_path / "ds")

    def mutate(m):
        doc = json.loads(m["meta.json"])
        doc.update(meta)
        return {**m, "meta.json": json.dumps(doc).encode()}

    shard, key = rewrite_sample(root, 0, mutate)
    assert main(["validate-dataset", str(root), "--deep", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{shard}:{key}.meta.json" in err and "Traceback" not in err
    assert main(["audit", str(root), "--out", str(tmp_path / "a"), "--no-progress"]) == 0
    findings = json.loads((tmp_path / "a" / "summary.json").read_text())["findings"]
    assert [f["kind"] for f in findings if f["severity"] == "error"] == ["damaged_sample"]


def test_validate_checks_episodes_parquet_and_boundary_truncation(tmp_path, capsys):
    root = make_shards(tmp_path / "ds")
    parquet = (root / "episodes.parquet").read_bytes()
    (root / "episodes.parquet").unlink()
    assert main(["validate-dataset", str(root), "--no-progress"]) == 2
    assert "episodes.parquet" in capsys.readouterr().err
    (root / "episodes.parquet").write_bytes(parquet[: len(parquet) // 2])
    assert main(["validate-dataset", str(root), "--no-progress"]) == 2
    (root / "episodes.parquet").write_bytes(parquet)
    assert main(["validate-dataset", str(root), "--no-progress"]) == 0
    # cut a shard exactly after its second sample: a valid tar of fewer samples
    shard = ShardDataset(str(root)).shards()[0]["name"]
    with tarfile.open(root / shard) as tar:
        members = tar.getmembers()
    keep = {m.name.split(".")[0] for m in members}
    first_two = sorted(keep, key=lambda k: [m.name.split(".")[0] for m in members].index(k))[:2]
    with tarfile.open(root / shard) as src, tarfile.open(tmp_path / "cut.tar", "w", format=tarfile.PAX_FORMAT) as dst:
        for m in src.getmembers():
            if m.name.split(".")[0] in first_two:
                dst.addfile(m, src.extractfile(m))
    (root / shard).write_bytes((tmp_path / "cut.tar").read_bytes())
    problems = validate_dataset(str(root)).problems
    assert any(p.shard == shard and p.kind == "truncated" for p in problems)


@pytest.mark.parametrize("name", ["../../../etc/passwd", "/etc/passwd", "sub/../../x.tar"])
def test_shard_names_outside_the_dataset_are_refused(tmp_path, name, capsys):
    root = make_shards(tmp_path / "ds")
    manifest = json.loads((root / "index.json").read_text())
    manifest["shards"][0]["name"] = name
    (root / "index.json").write_text(json.dumps(manifest))
    assert main(["validate-dataset", str(root), "--no-progress"]) == 2
    assert name in capsys.readouterr().err
    with pytest.raises(DatasetError, match="shards\\[0\\].name"):
        ShardStream(str(root))


def test_episode_ids_with_dots_slashes_and_length_round_trip(tmp_path):
    from datapipe.records import Episode, Source
    from datapipe.records.synthetic import synthetic_episode

    ids = ["run.1.ep.7", "../../evil", "/abs/path", "a" * 300, "ep 7 (retry)", "ünïcode/ö"]
    eps = [
        synthetic_episode(1, i, length=5, cameras=("front",), image_size=(16, 16)).replace(
            episode_id=eid, source=Source(kind="synthetic", uri=f"x://{i}")
        )
        for i, eid in enumerate(ids)
    ]
    assert all(isinstance(e, Episode) for e in eps)
    from datapipe.formats.shards.manifest import build_manifest
    from datapipe.formats.shards.writer import ShardOptions, write_part
    from datapipe.storage import resolve

    receipt = write_part(resolve(tmp_path / "ds"), eps, "part-00000000", ShardOptions(val_fraction=0))
    build_manifest(resolve(tmp_path / "ds"), [receipt], 0.0, "")
    assert validate_dataset(str(tmp_path / "ds"), deep=True).ok
    with tarfile.open(next((tmp_path / "ds").glob("*.tar"))) as tar:
        names = tar.getnames()
    assert all("/" not in n and ".." not in n.split(".")[0] for n in names)
    assert {sample_key(i) for i in ids} == {n.split(".")[0] for n in names}
    got = {s["episode_id"] for s in ShardStream(str(tmp_path / "ds"), split=None, shuffle=False)}
    assert got == set(ids)
    assert {e.episode_id for e in ShardDataset(str(tmp_path / "ds")).iter_episodes()} == set(ids)
