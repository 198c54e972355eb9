"""Egocentric video: ingestion (clips, resampling, quarantine of broken files), hand pose on the
shared real clip, egocentric curation and arm retargeting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datapipe.engine.run import run_workflow
from datapipe.engine.workflow import load_workflow, parse_workflow
from datapipe.formats.shards.dataset import ShardDataset
from datapipe.generators.hands.one_euro import one_euro
from datapipe.records import CameraStream
from tests.conftest import REPO, SHARED_MEDIA

CLIP = SHARED_MEDIA / "hand_webcam_720p.mp4"
needs_media = pytest.mark.skipif(not CLIP.exists(), reason=f"shared media {CLIP} is absent")


@pytest.fixture(scope="module")
def ego_run(tmp_path_factory):
    """The ego_to_robot workflow on the shared clip (whole clip, 15 fps, 640 px), local runner."""
    if not CLIP.exists():
        pytest.skip(f"shared media {CLIP} is absent")
    tmp = tmp_path_factory.mktemp("ego")
    wf = load_workflow(
        REPO / "workflows" / "ego_to_robot.yaml",
        [
            f'videos.paths=["{CLIP}"]',
            "videos.clip_seconds=0",
            "ego.annotate_only=true",  # a hand raised before a webcam: not first-person, but retargetable
            f"shards.path={tmp / 'ds'}",
            "shards.val_fraction=0",
        ],
    )
    result = run_workflow(wf, out=str(tmp / "run"), runner="local", progress=False)
    assert result.ok, result.error
    (episode,) = list(ShardDataset(str(tmp / "ds")).iter_episodes())
    return result, episode


@needs_media
def test_right_hand_found_in_95_percent_of_frames_with_a_plausible_size(ego_run):
    _, ep = ego_run
    hands = ep.meta["hand_pose"]["hands"]
    assert hands["right"]["detection_rate"] >= 0.95
    assert hands["left"]["detection_rate"] < 0.05  # one right hand: labelled right, not left
    world = ep.steps["hand.right.world"][ep.steps["hand.right.present"]]
    d = np.linalg.norm(world[:, 0] - world[:, 9], axis=1)  # wrist to middle-finger knuckle
    assert 0.07 <= np.median(d) <= 0.12 and np.mean((d > 0.07) & (d < 0.12)) > 0.95
    assert hands["right"]["jitter_px_smoothed"] < hands["right"]["jitter_px_raw"]


@needs_media
def test_clip_curation_decision_is_recorded_with_scores_and_reasons(ego_run):
    from datapipe.stages.curate.egocentric.scores import TESTS

    _, ep = ego_run
    decision = ep.meta["egocentric"]
    assert decision["scores"]["hand_ratio"] > 0.95 and 0 <= decision["scores"]["person_ratio"] <= 1
    assert set(decision["tests"]) == set(TESTS) and decision["camera"] == "ego"
    assert decision["keep"] == (not decision["rejected_by"]) and len(decision["why"]) == len(decision["rejected_by"])


@needs_media
def test_retargeted_path_is_smooth_and_inside_the_workspace(ego_run):
    _, ep = ego_run
    q = ep.meta["retarget"]
    assert q["unreachable_frames"] == 0 and q["self_collision_frames"] == 0
    assert q["ik_position_error_mm"]["mean"] < 2.0
    ee = ep.steps["retarget.ee_achieved"][:, :3]
    acc = np.linalg.norm(np.diff(ee, n=2, axis=0), axis=1) * ep.fps**2
    assert acc.max() < 10.0, f"end-effector acceleration up to {acc.max():.1f} m/s^2"
    assert np.all(ee >= np.array([0.25, -0.4, 0.05]) - 0.01) and np.all(ee <= np.array([0.75, 0.4, 0.6]) + 0.01)
    assert ep.steps["action"].shape == (ep.length, 8) and ep.embodiment.robot == "datapipe_panda"
    assert set(np.unique(ep.steps["action"][:, -1])) <= {0.0, 1.0}


def _write_video(path: Path, frames: np.ndarray, fps: float = 10.0) -> None:
    path.write_bytes(CameraStream.from_frames(frames, fps).data[0])


def test_ingest_quarantines_a_corrupted_file_and_curation_rejects_a_clip_without_hands(tmp_path):
    rng = np.random.default_rng(0)
    frames = np.zeros((30, 96, 128, 3), np.uint8)
    for t in range(30):  # a moving bright square: motion and edges, but no hand
        frames[t, 30:60, 10 + 2 * t : 40 + 2 * t] = 255
    frames += rng.integers(0, 30, frames.shape, dtype=np.uint8)
    _write_video(tmp_path / "no_hands.mp4", frames)
    good = (tmp_path / "no_hands.mp4").read_bytes()
    (tmp_path / "broken.mp4").write_bytes(good[: len(good) // 3])  # truncated
    (tmp_path / "noise.mp4").write_bytes(b"this is not a video" * 100)
    doc = {
        "name": "egocheck",
        "defaults": {"max_error_rate": 1.0},
        "stages": [
            {
                "id": "videos",
                "uses": "ingest.video_files",
                "with": {"paths": [str(tmp_path / "*.mp4")], "clip_seconds": 0},
            },
            {"id": "hands", "uses": "perception.hand_pose", "needs": ["videos"]},
            {"id": "ego", "uses": "curate.egocentric", "needs": ["hands"]},
            {"id": "out", "uses": "sink.parquet", "needs": ["ego"], "with": {"path": str(tmp_path / "out")}},
        ],
    }
    result = run_workflow(
        parse_workflow(doc, "egocheck.yaml"), out=str(tmp_path / "run"), runner="local", progress=False
    )
    assert result.ok, result.error
    quarantined = result.plan.get("videos").read_quarantine().to_pylist()
    reasons = {Path(r["input_key"]).name: r["error_message"] for r in quarantined}
    assert set(reasons) >= {"noise.mp4"} and all("mp4" in m for m in reasons.values())
    assert result.counts("hands")["out"] >= 1  # the readable clip(s) went on
    assert result.counts("ego")["out"] == 0  # no hands: rejected


def test_one_euro_smooths_slow_noise_and_follows_fast_motion():
    rng = np.random.default_rng(1)
    t = np.arange(300) / 30
    slow = np.sin(t)[:, None] + rng.normal(0, 0.02, (300, 1))
    out = one_euro(slow, 30, min_cutoff=1.0, beta=0.0)
    assert np.std(np.diff(out, n=2, axis=0)) < 0.3 * np.std(np.diff(slow, n=2, axis=0))  # noise removed
    step = np.r_[np.zeros(30), np.ones(30)][:, None]
    fast = one_euro(step, 30, min_cutoff=1.0, beta=50.0)
    slow_follow = one_euro(step, 30, min_cutoff=1.0, beta=0.0)
    assert fast[35, 0] > slow_follow[35, 0]  # speed raises the cutoff: less lag


def test_workflow_file_is_valid():
    wf = load_workflow(REPO / "workflows" / "ego_to_robot.yaml")
    assert [s.uses for s in wf.stages] == [
        "ingest.video_files",
        "perception.hand_pose",
        "curate.egocentric",
        "retarget.arm_gripper",
        "retarget.dex_hand",
        "sink.webdataset",
    ]
    from datapipe.engine.workflow import check_wiring

    wiring = check_wiring(wf.path, list(wf.stages))
    assert {"hand.right.world", "dex.qpos", "action.ee_pose"} <= wiring["dex"].steps and wiring["dex"].cameras == {
        "ego"
    }


@needs_media
def test_dexterous_retargeting_on_the_clip_is_within_15_mm(ego_run):
    _, ep = ego_run
    meta = ep.meta["dex_retarget"]
    assert meta["tip_vector_error_mm"]["mean"] < 15.0 and len(meta["joints"]) >= 16
    assert ep.steps["dex.qpos"].shape == (ep.length, len(meta["joints"]))


def test_dexterous_retargeting_of_the_models_own_poses_is_within_10_mm():
    from datapipe.generators.retarget.dex import DexRetargeter

    d = DexRetargeter()
    assert d.model.njnt >= 16
    rng = np.random.default_rng(3)
    mid, amp = (d.lo + d.hi) / 2, (d.hi - d.lo) / 2 * 0.8
    phase = rng.uniform(0, 2 * np.pi, d.model.nq)
    prev, errors = d.q0.copy(), []
    for x in np.linspace(0, 2 * np.pi, 40):  # a smooth trajectory through most of the joint range
        target, _ = d._vectors_and_jacobian(mid + amp * np.sin(x + phase))
        prev = d.solve(target, prev)
        errors.append(np.linalg.norm(d.robot_tip_vectors(prev) - target[:5], axis=1).mean())
    assert np.mean(errors) < 0.010, f"mean fingertip-vector error {np.mean(errors) * 1000:.1f} mm"


@needs_media
def test_dexterous_retargeting_of_the_reference_joints_of_the_clip():
    """The clip's reference MediaPipe joints (shared npy) retarget within 15 mm as well."""
    from datapipe.generators.retarget.dex import DexRetargeter

    joints = SHARED_MEDIA / "hand_webcam_720p_joints_right.npy"
    worlds = np.load(joints).astype(np.float64)
    q, err, scale = DexRetargeter().retarget(worlds, np.ones(len(worlds), bool))
    assert np.nanmean(err) < 0.015 and 0.7 < scale < 1.4
    assert np.abs(np.diff(q, axis=0)).max() < 1.0  # warm-started: no wild jumps between frames


@needs_media
def test_hand_activity_split_finds_the_span_with_the_hand(tmp_path):
    """The clip with 2 s of blank frames before it: hand_activity clips start where the hand does."""
    from datapipe.stages.ingest.video_files import VideoFiles, VideoFilesConfig
    from datapipe.stages.ingest.video_files.video_io import decode_video

    video = decode_video(CLIP.read_bytes(), CLIP.name, 320)
    frames = np.concatenate([np.full((60, *video.frames.shape[1:]), 40, np.uint8), video.frames[:150]])
    _write_video(tmp_path / "late_hand.mp4", frames, fps=30.0)
    stage = VideoFiles(VideoFilesConfig(paths=(str(tmp_path / "*.mp4"),), split="hand_activity", clip_seconds=0))
    (shard,) = stage.shards()
    clips = list(stage.read(shard))
    assert len(clips) == 1
    start = clips[0].meta["video"]["clip_start_s"]
    assert 1.8 <= start <= 2.2 and 4.0 <= clips[0].duration_s <= 5.2


def test_globs_expand_on_local_paths_and_uris(tmp_path):
    from datapipe.stages.ingest.video_files import expand_glob

    for name in ("a.mp4", "b.mp4", "c.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [Path(p).name for p in expand_glob(str(tmp_path / "*.mp4"))] == ["a.mp4", "b.mp4"]
    uris = expand_glob(f"file://{tmp_path}/*.mp4")
    assert [u.rsplit("/", 1)[-1] for u in uris] == ["a.mp4", "b.mp4"] and all(u.startswith("file://") for u in uris)


def test_dexterous_retargeting_loads_a_configured_mjcf_hand(tmp_path):
    """A hand given as an MJCF file with its own site names goes through the same solver."""
    from datapipe.generators.retarget.dex import DexRetargeter
    from datapipe.generators.robots.dex_hand import FINGERS, HandModelConfig, dex_hand_spec

    xml = dex_hand_spec().to_xml()
    for f in FINGERS:  # rename the sites as another hand model would name them
        xml = xml.replace(f'"{f}_tip"', f'"{f}_fingertip"').replace(f'"{f}_knuckle"', f'"{f}_base_site"')
    (tmp_path / "hand.xml").write_text(xml)
    hand = HandModelConfig(
        mjcf=str(tmp_path / "hand.xml"),
        knuckle_sites=tuple(f"{f}_base_site" for f in FINGERS),
        tip_sites=tuple(f"{f}_fingertip" for f in FINGERS),
    )
    d = DexRetargeter(hand)
    q_true = np.clip(d.q0 + 0.3, d.lo, d.hi)
    target, _ = d._vectors_and_jacobian(q_true)
    q = d.solve(target, d.q0)
    assert np.linalg.norm(d.robot_tip_vectors(q) - target[:5], axis=1).mean() < 0.005


def test_no_matching_video_is_an_error_unless_an_empty_source_is_allowed(tmp_path):
    from datapipe.config import ConfigError, build_config
    from datapipe.stages.ingest.video_files import VideoFiles

    pattern = str(tmp_path / "ego" / "*.mp4")
    with pytest.raises(ConfigError, match="paths: no video files match"):
        VideoFiles(build_config(VideoFiles.Config, {"paths": [pattern]})).shards()
    assert VideoFiles(build_config(VideoFiles.Config, {"paths": [pattern], "allow_empty": True})).shards() == []
