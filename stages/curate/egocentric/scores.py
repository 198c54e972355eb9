"""Does a clip look like first-person manipulation? Scores and decisions from hand tracks and frames.

Scores (each compared with a threshold of :class:`EgoThresholds`):

- ``hand_ratio``: fraction of frames with at least one hand present;
- ``face_ratio``: fraction of sampled frames where a face is detected (egocentric views show none);
- ``hands_low``: median wrist height in the image as a fraction of its height (0 top, 1 bottom):
  an egocentric camera sees the hands enter from below;
- ``hand_size``: median hand size (landmark bounding-box diagonal over the image diagonal);
- ``motion``: wrist path length over the clip, in image diagonals;
- ``sharpness``: median variance of the Laplacian of sampled grey frames (low = blurred).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class EgoThresholds:
    """What a first-person manipulation clip must show (each test is recorded in meta)."""

    # keep: share of frames (0..1) in which at least one hand is found
    min_hand_ratio: float = 0.5
    # keep: share of sampled frames (0..1) with a face at most this
    max_face_ratio: float = 0.1
    # keep: median wrist height, as a share of the image height from the top (0..1), at least this
    # (hands enter from below in first-person views)
    min_hands_low: float = 0.45
    # keep: median hand extent, as a share of the image diagonal, at least this
    min_hand_size: float = 0.04
    # keep: median hand extent, as a share of the image diagonal, at most this
    max_hand_size: float = 0.7
    # keep: wrist path length over the clip, in image diagonals, at least this
    min_motion: float = 0.05
    # keep: median variance of the Laplacian of the grey sampled frames at least this (blur test)
    min_sharpness: float = 20.0


def hand_scores(steps: dict[str, np.ndarray], height: int, width: int) -> dict[str, float]:
    """Scores that need only the hand tracks (``hand.<side>.image`` / ``present``)."""
    sides = [s for s in ("left", "right") if f"hand.{s}.present" in steps]
    if not sides:
        raise KeyError("no hand tracks in the episode: run perception.hand_pose first")
    T = len(steps["timestamp"])
    any_hand = np.zeros(T, bool)
    lows, sizes, motion = [], [], 0.0
    diag = float(np.hypot(width, height))
    for s in sides:
        present = np.asarray(steps[f"hand.{s}.present"], bool)
        pts = np.asarray(steps[f"hand.{s}.image"], np.float64)
        any_hand |= present
        if not present.any():
            continue
        wrist = pts[present, 0]
        lows.extend((wrist[:, 1] / height).tolist())
        span = pts[present].max(axis=1) - pts[present].min(axis=1)
        sizes.extend((np.hypot(span[:, 0], span[:, 1]) / diag).tolist())
        if len(wrist) > 1:
            motion = max(motion, float(np.linalg.norm(np.diff(wrist, axis=0), axis=1).sum() / diag))
    return {
        "hand_ratio": float(any_hand.mean()),
        "hands_low": float(np.median(lows)) if lows else 0.0,
        "hand_size": float(np.median(sizes)) if sizes else 0.0,
        "motion": motion,
    }


def sharpness(frames: np.ndarray) -> float:
    """Median variance of the Laplacian of the grey frames."""
    import cv2

    return float(np.median([cv2.Laplacian(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for f in frames]))


class FaceDetector:
    """MediaPipe face detection, short-range model (faces within about 2 m) from the wheel. (The
    full-range model fires on close-up hands with scores of 0.6-0.75, so it is not used.)"""

    def __init__(self, min_confidence: float = 0.6):
        import mediapipe as mp

        self._det = mp.solutions.face_detection.FaceDetection(
            model_selection=0, min_detection_confidence=min_confidence
        )

    def face_ratio(self, frames: np.ndarray) -> float:
        hits = [bool(self._det.process(np.ascontiguousarray(f)).detections) for f in frames]
        return float(np.mean(hits)) if hits else 0.0


def decide(scores: dict[str, float], th: EgoThresholds) -> dict[str, Any]:
    """Each test's verdict, the overall decision and the thresholds used."""
    tests = {
        "enough_hands": scores["hand_ratio"] >= th.min_hand_ratio,
        "no_face": scores["face_ratio"] <= th.max_face_ratio,
        "hands_from_below": scores["hands_low"] >= th.min_hands_low,
        "plausible_size": th.min_hand_size <= scores["hand_size"] <= th.max_hand_size,
        "enough_motion": scores["motion"] >= th.min_motion,
        "sharp": scores["sharpness"] >= th.min_sharpness,
    }
    return {
        "keep": all(tests.values()),
        "tests": tests,
        "rejected_by": [k for k, v in tests.items() if not v],
        "scores": {k: round(v, 5) for k, v in scores.items()},
        "thresholds": asdict(th),
    }
