"""Egocentric curation: scores that mean the same at every clip length and frame rate (synthetic
tracks), the labelled development set (``../shared/media/ego_devset``, skipped where absent), the
audit's view of the decisions, and annotate-only runs that finish on clips without hands."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.ego_curation import DEVSET, RIGHT_REASONS, devset_decisions
from datapipe.cli import main as cli_main
from datapipe.engine.run import run_workflow
from datapipe.engine.workflow import load_workflow
from datapipe.formats.shards.dataset import ShardDataset
from datapipe.records import CameraStream
from datapipe.stages.curate.egocentric.scores import TESTS, EgoThresholds, decide, hand_scores
from tests.conftest import REPO, SHARED_MEDIA

W, H = 640, 480
DIAG = float(np.hypot(W, H))


def _tracks(fps: float, seconds: float, speed: float, seen=lambda t: True, up: bool = True) -> dict:
    """One right hand, low in the image, its wrist moving right at ``speed`` diagonals/s."""
    T = int(round(fps * seconds))
    t = np.arange(T) / fps
    present = np.array([seen(i) for i in range(T)])
    hand = np.zeros((T, 21, 2))
    wrist = np.stack([200 + speed * DIAG * t, np.full(T, 400.0)], 1)
    hand[:] = wrist[:, None]
    hand[:, 9] = wrist + (np.array([0, -60]) if up else np.array([0, 60]))  # middle knuckle above/below
    hand[:, 12] = wrist + (np.array([20, -110]) if up else np.array([20, 110]))
    hand[~present] = np.nan
    none = np.zeros(T, bool)
    return {
        "timestamp": t,
        "hand.right.present": present,
        "hand.right.image": hand,
        "hand.left.present": none,
        "hand.left.image": np.full_like(hand, np.nan),
    }


def _decide(steps: dict) -> dict:
    scores = hand_scores(steps, H, W)
    scores.update(face_ratio=0.0, person_ratio=0.0, sharpness=100.0)
    return decide(scores, EgoThresholds())


def test_a_short_clip_of_slow_manipulation_is_kept_and_motion_is_per_second():
    slow = _decide(_tracks(15, 2.0, speed=0.05))
    assert slow["keep"], slow["why"]
    assert slow["scores"]["motion"] == pytest.approx(0.05, rel=1e-3)
    # the same hand over 10 s, or at 5 fps, scores the same: per second, not per clip or frame
    assert _decide(_tracks(15, 10.0, 0.05))["scores"]["motion"] == pytest.approx(0.05, rel=1e-3)
    assert _decide(_tracks(5, 2.0, 0.05))["scores"]["motion"] == pytest.approx(0.05, rel=1e-3)
    still = _decide(_tracks(15, 2.0, speed=0.0))
    assert not still["keep"] and still["rejected_by"] == ["enough_motion"]
    assert "diagonals per second" in still["why"][0]


def test_a_clip_at_5_fps_with_hands_in_most_frames_is_kept():
    steps = _tracks(5, 3.0, 0.1, seen=lambda i: i % 5 != 2)  # 4 frames of 5, as a 5 fps tracker drops
    decision = _decide(steps)
    assert decision["keep"], decision["why"]
    assert decision["scores"]["hand_ratio"] == 1.0  # every half second holds a sighting
    sparse = _decide(_tracks(15, 4.0, 0.1, seen=lambda i: i < 8))  # only in the first half second
    assert sparse["scores"]["hand_ratio"] == pytest.approx(1 / 8) and "enough_hands" in sparse["rejected_by"]


def test_hands_reaching_down_into_the_view_fail_the_upright_test():
    decision = _decide(_tracks(15, 2.0, 0.1, up=False))
    assert decision["rejected_by"] == ["hands_upright"] and decision["scores"]["hands_upright"] == 0.0
    assert set(decision["thresholds"]) >= {"min_hand_ratio", "max_person_ratio", "min_motion"}


@pytest.fixture(scope="module")
def devset(tmp_path_factory):
    if not DEVSET.is_dir():
        pytest.skip(f"{DEVSET} is absent (the shared media folder)")
    out = tmp_path_factory.mktemp("devset")
    return out, devset_decisions(DEVSET, out)


def test_devset_no_hands_and_third_person_clips_are_rejected(devset):
    _, rows = devset
    # every clip of every class folder is decided (the shared devset grows: count what is there)
    classes = sorted(p.name for p in DEVSET.iterdir() if p.is_dir())
    by = {c: [d for k, _, d in rows if k == c] for c in classes}
    assert {c: len(v) for c, v in by.items()} == {c: len(list((DEVSET / c).glob("*.mp4"))) for c in classes}
    assert {"ego", "third_person", "no_hands"} <= set(classes)
    for c in classes:  # no clip of another class (third person, no hands, robot only...) is kept
        assert c == "ego" or not any(d["keep"] for d in by[c]), c
    # for the right reason: a person (face and body together) or body geometry, for 6 of 8; the
    # two screen recordings with tiny or rotated faces are rejected for too few hands only
    right = [name for c, name, d in rows if c == "third_person" and RIGHT_REASONS & set(d["rejected_by"])]
    assert len(right) >= 6, right
    for _, _, d in rows:  # every decision explained: its scores, thresholds and reasons
        assert set(d["tests"]) == set(TESTS) and set(d["scores"]) >= {"person_ratio", "face_ratio", "motion"}
        assert len(d["why"]) == len(d["rejected_by"]) and d["thresholds"] == EgoThresholds().__dict__


def test_devset_egocentric_clips_are_kept_and_no_face_detector_false_alarm_rejects_them(devset):
    _, rows = devset
    ego = {name: d for c, name, d in rows if c == "ego"}
    kept = [n for n, d in ego.items() if d["keep"]]
    # 4 of 6 (target: 90%): the two the hand tracker barely sees (fingertips only; small hands
    # in a 384x288 GIF) are not kept
    assert len(kept) >= 4, {n: d["why"] for n, d in ego.items()}
    assert all(d["scores"]["person_ratio"] <= 0.1 for d in ego.values())
    assert any(d["scores"]["face_ratio"] > 0.5 for d in ego.values())  # the face detector alone fires


def test_the_audit_report_shows_each_clips_decision_beside_its_frames(devset):
    out, rows = devset
    assert cli_main(["audit", str(out / "ds"), "--out", str(out / "audit"), "--no-progress"]) == 0
    summary = json.loads((out / "audit" / "summary.json").read_text())
    assert summary["curation"]["clips"] == len(rows)
    assert summary["curation"]["kept"] == sum(d["keep"] for _, _, d in rows)
    html = (out / "audit" / "report.html").read_text()
    assert "Egocentric curation" in html and "no_person" in html and html.count('class="clip-frame"') >= 4 * len(rows)


def test_annotate_only_runs_finish_on_clips_without_hands(tmp_path):
    clip = SHARED_MEDIA / "hand_webcam_720p.mp4"
    if not clip.exists():
        pytest.skip(f"shared media {clip} is absent")
    rng = np.random.default_rng(0)
    empty = tmp_path / "empty_table.mp4"  # a textured table and no hands at all
    frames = np.repeat(rng.integers(60, 200, (1, 120, 160, 3), dtype=np.uint8), 30, axis=0)
    empty.write_bytes(CameraStream.from_frames(frames, 10.0).data[0])
    wf = load_workflow(
        REPO / "workflows" / "ego_to_robot.yaml",
        [
            f'videos.paths=["{clip}", "{empty}"]',
            "videos.clip_seconds=0",
            "ego.annotate_only=true",
            f"shards.path={tmp_path / 'ds'}",
            "shards.val_fraction=0",
        ],
    )
    result = run_workflow(wf, out=str(tmp_path / "run"), runner="local", progress=False)
    assert result.ok, result.error
    (episode,) = list(ShardDataset(str(tmp_path / "ds")).iter_episodes())
    assert "egocentric" in episode.meta and "retarget" in episode.meta
    counts = result.counts("robot")
    assert counts["in"] == 2 and counts["out"] == 1 and counts["failed"] == 0  # filtered, not failed
