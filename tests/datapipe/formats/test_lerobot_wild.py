"""source.lerobot on LeRobot datasets as found in the wild, written by LeRobot's own writer (0.4.4
for v3.0, 0.3.2 for v2.1; v2.0 is v2.1 with the difference LeRobot's v2.0 -> v2.1 converter
describes undone) and then made messy: gapped episode indices, totals that disagree with the
files, missing videos, a ``video/`` folder, no ``frame_index`` column, other feature names, one
broken episode."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from datapipe.audit.datasets import audit_dataset
from datapipe.engine.run import run_workflow
from datapipe.engine.workflow import parse_workflow
from datapipe.formats.lerobot.reader import LeRobotReader, LeRobotReadError
from tests.community_fixtures import run_lerobot_writer

SPEC = {"fps": 10, "lengths": [8, 12, 6], "tasks": ["pick the cube", "stack the cups"], "cameras": {"top": [16, 24]}}


def write_fixture(root: Path, version: str, **spec) -> dict[str, np.ndarray]:
    """A dataset written by LeRobot itself (``version``: v3.0 or v2.1) and the values written."""
    try:
        out = run_lerobot_writer(root, {**SPEC, **spec}, version)
    except FileNotFoundError as exc:
        pytest.skip(f"{exc} (make test builds it)")
    assert json.loads((root / "meta" / "info.json").read_text())["codebase_version"] == version
    with np.load(out) as z:
        return dict(z)


@pytest.fixture(scope="module")
def v21(tmp_path_factory):
    root = tmp_path_factory.mktemp("wild") / "v21"
    return root, write_fixture(root, "v2.1")


@pytest.fixture(scope="module")
def v30(tmp_path_factory):
    root = tmp_path_factory.mktemp("wild") / "v30"
    return root, write_fixture(root, "v3.0")


def _copy(root: Path, tmp_path: Path, name: str) -> Path:
    out = tmp_path / name
    shutil.copytree(root, out)
    return out


def _info(root: Path, **changes) -> None:
    path = root / "meta" / "info.json"
    info = json.loads(path.read_text())
    info.update(changes)
    path.write_text(json.dumps(info))


@pytest.mark.parametrize("version", ["v2.0", "v2.1", "v3.0"])
def test_every_version_reads_what_lerobot_wrote(version, v21, v30, tmp_path):
    root, written = v30 if version == "v3.0" else v21
    if version == "v2.0":  # v2.0 -> v2.1 added per-episode stats; v2.0 has one meta/stats.json
        root = _copy(root, tmp_path, "v20")
        (root / "meta" / "episodes_stats.jsonl").unlink()
        (root / "meta" / "stats.json").write_text(json.dumps({"action": {"mean": [0.0] * 6}}))
        _info(root, codebase_version="v2.0")
    reader = LeRobotReader(str(root))
    assert reader.episode_indices() == [0, 1, 2] and not reader.warnings
    for i in reader.episode_indices():
        ep = reader.read_episode(i, verify_videos=True)
        assert np.array_equal(ep.steps["observation.state"], written[f"state_{i}"])
        assert np.array_equal(ep.steps["action"], written[f"action_{i}"])
        frames = ep.cameras["top"].frames()
        assert frames.shape == written[f"frames_top_{i}"].shape
        assert np.abs(frames.astype(int) - written[f"frames_top_{i}"]).mean() < 15  # lossy video
        assert ep.task == (SPEC["tasks"][i % 2],) and ep.meta["lerobot"]["codebase_version"] == version


def test_gapped_indices_and_wrong_totals_trust_the_files(v21, v30, tmp_path):
    root = _copy(v21[0], tmp_path, "gapped21")
    lines = (root / "meta" / "episodes.jsonl").read_text().splitlines()
    (root / "meta" / "episodes.jsonl").write_text("\n".join(lines[0:1] + lines[2:]) + "\n")
    (root / "data" / "chunk-000" / "episode_000001.parquet").unlink()
    reader = LeRobotReader(str(root))
    assert reader.episode_indices() == [0, 2]
    assert any("total_episodes 3, the files hold 2" in w for w in reader.warnings)
    ep = reader.read_episode(2)
    assert np.array_equal(ep.steps["action"], v21[1]["action_2"])
    assert any("total_episodes" in w for w in ep.meta["lerobot"]["warnings"])
    root = _copy(v30[0], tmp_path, "totals30")
    _info(root, total_frames=999)
    assert any("total_frames 999, the files hold 26" in w for w in LeRobotReader(str(root)).warnings)


def test_missing_videos_error_names_the_file_or_are_dropped(v21, v30, tmp_path):
    root = _copy(v21[0], tmp_path, "novideo21")
    missing = root / "videos" / "chunk-000" / "observation.images.top" / "episode_000002.mp4"
    missing.unlink()
    with pytest.raises(LeRobotReadError, match="episode_000002.mp4: missing"):
        LeRobotReader(str(root)).read_episode(2)
    ep = LeRobotReader(str(root), on_missing_video="drop").read_episode(2)
    assert ep.cameras == {} and ep.meta["lerobot"]["dropped_cameras"] == {"top": str(missing.relative_to(root))}
    assert np.array_equal(ep.steps["observation.state"], v21[1]["state_2"])
    # v3.0: every episode's video lives in one file; the audit still audits the numeric data
    root = _copy(v30[0], tmp_path, "novideo30")
    shutil.rmtree(root / "videos")
    _, summary = audit_dataset(str(root), check_cameras=False)
    assert summary["episodes"] == 3
    missing_files = [f for f in summary["findings"] if f["kind"] == "missing_file"]
    assert len(missing_files) == 3 and all("file-000.mp4" in f["message"] for f in missing_files)


def test_third_party_layout_video_folder_no_frame_index_and_other_feature_names(tmp_path):
    root = tmp_path / "thirdparty"
    written = write_fixture(root, "v3.0", state_key="observation.joints", action_key="action.joints")
    (root / "videos").rename(root / "video")
    info = json.loads((root / "meta" / "info.json").read_text())
    _info(root, video_path=info["video_path"].replace("videos/", "video/", 1))
    data = root / "data" / "chunk-000" / "file-000.parquet"
    pq.write_table(pq.read_table(data).drop(["frame_index"]), data)
    with pytest.raises(LeRobotReadError, match="no observation.state feature.*feature_map"):
        LeRobotReader(str(root)).read_episode(0)
    mapping = {"observation.state": ["observation.joints"], "action": ["action.joints"]}
    reader = LeRobotReader(str(root), feature_map=mapping)
    for i in reader.episode_indices():
        ep = reader.read_episode(i, verify_videos=True)
        assert np.array_equal(ep.steps["observation.state"], written[f"state_{i}"])
        assert np.array_equal(ep.steps["action"], written[f"action_{i}"])
        assert ep.cameras["top"].n_frames == ep.length and ep.meta["lerobot"]["feature_map"] == mapping
    with pytest.raises(LeRobotReadError, match="feature_map observation.state: no feature"):
        LeRobotReader(str(root), feature_map={"observation.state": ["observation.nope"]})


def test_one_broken_episode_is_quarantined_not_the_dataset(ray_session, v21, tmp_path):
    root = _copy(v21[0], tmp_path, "broken21")
    (root / "data" / "chunk-000" / "episode_000001.parquet").write_bytes(b"PAR1 not really")
    doc = {
        "name": "wild",
        "stages": [
            {
                "id": "src",
                "uses": "source.lerobot",
                "with": {"path": str(root), "episodes_per_shard": 3},
                "max_error_rate": 0.5,
            },
            {"id": "out", "uses": "sink.parquet", "needs": ["src"], "with": {"path": str(tmp_path / "pq")}},
        ],
    }
    result = run_workflow(parse_workflow(doc, "wild.yaml"), out=str(tmp_path / "run"), progress=False)
    assert result.ok, result.error
    counts = result.counts("src")
    assert counts["out"] == 2 and counts["failed"] == 1
