"""Does a clip look like first-person manipulation? Scores and decisions from hand tracks and frames.

Scores (each compared with a threshold of :class:`EgoThresholds`; all mean the same at any clip
length and frame rate):

- ``hand_ratio``: share of the clip's :data:`HAND_WINDOW_S` windows in which a hand is found (a
  share of time: at 5 fps a window holds 2 or 3 frames, at 30 fps 15, and one sighting counts);
- ``person_ratio``: share of sampled frames showing another person: a face found by MediaPipe's
  face detector (on the whole frame and on four overlapping tiles, so a small face in a large
  frame is found; upright and turned a quarter turn either way) that MediaPipe's pose model, run
  on the region around it, confirms as a person: its nose inside the face box, at least three
  face landmarks and both shoulders (below the nose) visible. One detector alone fires on hands,
  objects and fisheye edges in egocentric views; face and body together rarely do;
- ``face_ratio`` (recorded, not tested): share of sampled frames where the face detector alone
  fires;
- ``hands_low``: median wrist height in the image as a share of its height (0 top, 1 bottom): an
  egocentric camera sees the hands enter from below;
- ``hands_upright``: share of hand sightings pointing up the image (wrist to middle knuckle
  within 90 degrees of straight up), as hands reaching out from the viewer's own body do; hands
  seen from across a table or from above point down or sideways;
- ``hand_size``: median hand size (landmark bounding-box diagonal over the image diagonal);
- ``motion``: mean wrist speed while a hand is tracked, in image diagonals per second;
- ``sharpness``: median variance of the Laplacian of sampled grey frames (grey levels squared;
  low = blurred).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from datapipe.records import RecordError

HAND_WINDOW_S = 0.5  # the window hand presence is counted in, s
FACE_LANDMARKS = (0, 2, 5, 7, 8)  # pose: nose, eyes, ears
SHOULDERS = (11, 12)  # pose: left and right shoulder


@dataclass(frozen=True)
class EgoThresholds:
    """What a first-person manipulation clip must show (each test is recorded in meta)."""

    # keep: share of the clip's half-second windows (0..1) with a hand found, at least this
    min_hand_ratio: float = 0.3
    # keep: share of sampled frames (0..1) showing another person (a face the pose model confirms), at most this
    max_person_ratio: float = 0.1
    # keep: median wrist height, as a share of the image height from the top (0..1), at least this
    # (hands enter from below in first-person views)
    min_hands_low: float = 0.45
    # keep: share of hand sightings (0..1) pointing up the image (wrist below the middle knuckle), at least this
    min_hands_upright: float = 0.5
    # keep: median hand extent, as a share of the image diagonal, at least this
    min_hand_size: float = 0.04
    # keep: median hand extent, as a share of the image diagonal, at most this
    max_hand_size: float = 0.7
    # keep: mean wrist speed while a hand is tracked, image diagonals per second, at least this
    min_motion: float = 0.02
    # keep: median variance of the Laplacian of the grey sampled frames (grey levels squared), at least this
    min_sharpness: float = 5.0


def hand_scores(steps: dict[str, np.ndarray], height: int, width: int) -> dict[str, float]:
    """Scores that need only the hand tracks (``hand.<side>.image`` / ``present``, ``timestamp``)."""
    sides = [s for s in ("left", "right") if f"hand.{s}.present" in steps]
    if not sides:
        raise RecordError("no hand tracks in the episode: run perception.hand_pose first")
    t = np.asarray(steps["timestamp"], np.float64)
    any_hand = np.zeros(len(t), bool)
    lows, sizes, upright, speeds = [], [], [], []
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
        up = pts[present, 9] - pts[present, 0]  # wrist -> middle finger knuckle
        upright.extend((up[:, 1] < 0).tolist())
        pairs = present[1:] & present[:-1]
        if pairs.any():
            step = np.linalg.norm(np.diff(pts[:, 0], axis=0), axis=1)[pairs] / diag
            dt = np.maximum(np.diff(t)[pairs], 1e-6)
            speeds.extend((step / dt).tolist())
    windows = np.floor((t - t[0]) / HAND_WINDOW_S).astype(int)
    with_hand = {int(w) for w in windows[any_hand]}
    return {
        "hand_ratio": len(with_hand) / (int(windows.max()) + 1),
        "hands_low": float(np.median(lows)) if lows else 0.0,
        "hands_upright": float(np.mean(upright)) if upright else 0.0,
        "hand_size": float(np.median(sizes)) if sizes else 0.0,
        "motion": float(np.mean(speeds)) if speeds else 0.0,
    }


def sharpness(frames: np.ndarray) -> float:
    """Median variance of the Laplacian of the grey frames."""
    import cv2

    return float(np.median([cv2.Laplacian(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for f in frames]))


def _tiles(frame: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """The frame and four overlapping tiles (5/8 of each side), as (x, y, crop)."""
    h, w = frame.shape[:2]
    th, tw = h * 5 // 8, w * 5 // 8
    return [(0, 0, frame)] + [(x, y, frame[y : y + th, x : x + tw]) for y in (0, h - th) for x in (0, w - tw)]


class PersonDetector:
    """Another person in view: a face (MediaPipe's short-range face detector at several scales and
    three rotations) that MediaPipe's pose model confirms. See the module docs."""

    def __init__(
        self,
        min_face: float = 0.6,
        min_visibility: float = 0.5,
        quarter_turns: tuple[int, ...] = (0, 1, 3),
        confident_face: float = 0.8,
    ):
        import mediapipe as mp

        self.faces = mp.solutions.face_detection.FaceDetection(model_selection=0, min_detection_confidence=min_face)
        self.pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1, min_detection_confidence=0.5)
        self.min_visibility, self.quarter_turns = min_visibility, quarter_turns
        self.confident_face = confident_face  # faces at least this sure get a pose check of their own region

    def _face_boxes(self, frame: np.ndarray) -> list[tuple[float, float, float, float, float]]:
        """Face boxes (x, y, w, h in pixels, score), best first."""
        boxes = []
        for x0, y0, crop in _tiles(frame):
            h, w = crop.shape[:2]
            for d in self.faces.process(np.ascontiguousarray(crop)).detections or []:
                b = d.location_data.relative_bounding_box
                boxes.append((x0 + b.xmin * w, y0 + b.ymin * h, b.width * w, b.height * h, float(d.score[0])))
        return sorted(boxes, key=lambda b: -b[4])

    def _pose(self, image: np.ndarray) -> Any:
        result = self.pose.process(np.ascontiguousarray(image))
        return None if result.pose_landmarks is None else result.pose_landmarks.landmark

    def _person_at(self, lm: Any, box: tuple[float, ...], x0: float, y0: float, sx: float, sy: float) -> bool:
        """Pose landmarks ``lm`` (normalized to a region at (x0, y0) of sx by sy pixels) put a face
        in ``box``, above both shoulders."""
        if lm is None:
            return False
        x, y, bw, bh, _ = box
        nx, ny = x0 + lm[0].x * sx, y0 + lm[0].y * sy
        inside = x - 0.2 * bw <= nx <= x + 1.2 * bw and y - 0.2 * bh <= ny <= y + 1.2 * bh
        visible = sum(lm[k].visibility > self.min_visibility for k in FACE_LANDMARKS)
        shoulders = all(lm[k].visibility > self.min_visibility and lm[k].y > lm[0].y for k in SHOULDERS)
        return bool(inside and visible >= 3 and lm[0].visibility > self.min_visibility and shoulders)

    def _confirmed_small(self, frame: np.ndarray, box: tuple[float, ...]) -> bool:
        """The pose model on the region around a confident face ``box`` (a small face in a large
        frame, which the pose model misses on the whole frame)."""
        import cv2

        x, y, bw, bh, _ = box
        side = 3.0 * max(bw, bh)
        cx, cy = x + bw / 2, y + bh / 2
        x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2.5))
        x1, y1 = int(min(frame.shape[1], cx + side / 2)), int(min(frame.shape[0], cy + side * 0.6))
        crop = frame[y0:y1, x0:x1]
        if crop.size == 0:
            return False
        h, w = crop.shape[:2]
        scale = max(1.0, 256.0 / max(h, w))
        if scale > 1:
            crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        return self._person_at(self._pose(crop), box, x0, y0, w, h)

    def frame(self, frame: np.ndarray) -> tuple[bool, bool]:
        """(a face detected, a person confirmed) in one RGB frame ``(H, W, 3)``."""
        any_face = False
        for k in self.quarter_turns:  # upright, and a quarter turn either way (rotated screen captures)
            view = np.ascontiguousarray(np.rot90(frame, k))
            boxes = self._face_boxes(view)[:3]
            any_face |= bool(boxes)
            if not boxes:
                continue
            whole = self._pose(view)
            h, w = view.shape[:2]
            if any(self._person_at(whole, b, 0, 0, w, h) for b in boxes):
                return True, True
            if any(self._confirmed_small(view, b) for b in boxes if b[4] >= self.confident_face):
                return True, True
        return any_face, False

    def ratios(self, frames: np.ndarray) -> tuple[float, float]:
        """(face_ratio, person_ratio) over sampled frames ``(N, H, W, 3)``."""
        if not len(frames):
            return 0.0, 0.0
        found = [self.frame(f) for f in frames]
        return float(np.mean([f for f, _ in found])), float(np.mean([p for _, p in found]))


TESTS = {  # test -> (score, threshold field, "min" or "max", what it means)
    "enough_hands": ("hand_ratio", "min_hand_ratio", "min", "share of half-second windows with a hand"),
    "no_person": ("person_ratio", "max_person_ratio", "max", "share of sampled frames with a confirmed face"),
    "hands_from_below": ("hands_low", "min_hands_low", "min", "median wrist height (0 top, 1 bottom)"),
    "hands_upright": ("hands_upright", "min_hands_upright", "min", "share of hands pointing up the image"),
    "big_enough_hands": ("hand_size", "min_hand_size", "min", "median hand size (image diagonals)"),
    "small_enough_hands": ("hand_size", "max_hand_size", "max", "median hand size (image diagonals)"),
    "enough_motion": ("motion", "min_motion", "min", "mean wrist speed (image diagonals per second)"),
    "sharp": ("sharpness", "min_sharpness", "min", "variance of the Laplacian (grey levels squared)"),
}


def decide(scores: dict[str, float], th: EgoThresholds) -> dict[str, Any]:
    """Each test's verdict and reason, the overall decision and the thresholds used."""
    limits = asdict(th)
    tests, why = {}, []
    for name, (score, field, kind, meaning) in TESTS.items():
        value, limit = scores[score], limits[field]
        ok = value >= limit if kind == "min" else value <= limit
        tests[name] = bool(ok)
        if not ok:
            why.append(f"{name}: {meaning} {value:.3g} {'<' if kind == 'min' else '>'} {limit:g} ({field})")
    return {
        "keep": all(tests.values()),
        "tests": tests,
        "rejected_by": [k for k, v in tests.items() if not v],
        "why": why,
        "scores": {k: round(v, 5) for k, v in scores.items()},
        "thresholds": limits,
        # what each tested score must be, beside it in reports: ">= 0.3"
        "score_limits": {
            score: f"{'>=' if kind == 'min' else '<='} {limits[field]:g}" for score, field, kind, _ in TESTS.values()
        },
    }
